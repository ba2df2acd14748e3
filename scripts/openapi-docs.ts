// Writes the API reference in docs/api/: openapi.json (the OpenAPI 3.1
// description) and README.md (the same, rendered for people), from the route
// table of a Gatehouse with every feature on (REFERENCE_CONFIG). Nothing is
// written by hand: test/openapi.test.ts fails when these files are stale.
//
//   bun run scripts/openapi-docs.ts           # (npm run docs:api) rewrite docs/api/
//   bun run scripts/openapi-docs.ts --check   # exit 1 when docs/api/ is stale
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildConfig } from "../src/config/load.ts";
import { createGatehouse } from "../src/app.ts";
import { createLogger } from "../src/log.ts";
import { NAME, VERSION } from "../src/version.ts";
import { openApiDocument, type OpenApiDocument } from "../src/modules/openapi/document.ts";

export const API_DOCS_DIR = resolve(import.meta.dir, "../docs/api");

/** Every feature on, so that every route is described: the store, the portal, an identity provider, managed keys, regulation, metrics. */
export const REFERENCE_CONFIG = {
  version: "2.0.0",
  providers: [
    { type: "plain", name: "local", realm: "local", users: [{ username: "admin", password: "reference-only-password", roles: ["admin"] }] },
    {
      type: "oidc",
      name: "idp",
      realm: "idp",
      issuer: "https://idp.example.org",
      client_id: "gatehouse",
      client_secret: "reference-only-client-secret",
      authorization_endpoint: "https://idp.example.org/authorize",
      token_endpoint: "https://idp.example.org/token",
      jwks_uri: "https://idp.example.org/jwks",
    },
  ],
  jwt: { iss: "https://gatehouse.example.org", alg: "ES256" },
  store: { enabled: true, path: ":memory:" },
  portal: { enabled: true },
  regulation: { enabled: true },
  metrics: { enabled: true, port: 0 },
  public_url: "https://gatehouse.example.org",
};

/** The description of REFERENCE_CONFIG's routes (without `servers`: where it is served is each instance's). */
export async function referenceDocument(): Promise<OpenApiDocument> {
  const { config } = buildConfig(structuredClone(REFERENCE_CONFIG), "reference", {});
  const gatehouse = await createGatehouse(config, createLogger({ level: "error", format: "json", write: () => {} }));
  try {
    return openApiDocument(gatehouse.app.routes, { title: NAME, version: VERSION });
  } finally {
    await gatehouse.close();
  }
}

// ---- Markdown ----------------------------------------------------------------

type Json = Record<string, any>;

/** A schema in a few words: `string or null`, `array of object`, `"a" | "b"`. */
function typeOf(schema: Json | undefined): string {
  if (!schema || Object.keys(schema).length === 0) return "any";
  if ("const" in schema) return `\`${JSON.stringify(schema.const)}\``;
  if (Array.isArray(schema.enum)) return schema.enum.map((value: unknown) => `\`${JSON.stringify(value)}\``).join(" | ");
  if (Array.isArray(schema.anyOf)) return schema.anyOf.map(typeOf).join(" or ");
  const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type ?? "object"];
  return types
    .map((type) => {
      if (type === "array") return `array of ${typeOf(schema.items)}`;
      if (type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object" && !schema.properties) {
        return `map of ${typeOf(schema.additionalProperties)}`;
      }
      return type;
    })
    .join(" or ");
}

/** An answer's body in a few words: an object by its fields (`{error}`, `{detail}`), anything else by its type. */
function shapeOf(schema: Json | undefined): string {
  const fields = (object: Json) => {
    const names = Object.keys(object.properties);
    return `{${names.slice(0, 4).join(", ")}${names.length > 4 ? ", …" : ""}}`;
  };
  if (schema?.properties) return `${fields(schema)}${Array.isArray(schema.type) && schema.type.includes("null") ? " or null" : ""}`;
  if (Array.isArray(schema?.anyOf)) return schema.anyOf.map(shapeOf).join(" or ");
  if (schema?.type === "array" && schema.items?.properties) return `array of ${fields(schema.items)}`;
  return typeOf(schema);
}

const cell = (text: unknown) => String(text ?? "").replace(/\|/g, "\\|").replace(/\n+/g, " ");

/** The fields of an object schema, nested ones as `a.b` and list items as `a[].b`, three levels deep. */
function fieldRows(schema: Json | undefined, prefix = "", depth = 0): string[] {
  const target = schema?.type === "array" || (Array.isArray(schema?.type) && schema.type.includes("array")) ? schema?.items : schema;
  const listPrefix = target !== schema ? `${prefix}[]` : prefix;
  const objects = Array.isArray(target?.anyOf) ? target.anyOf.filter((branch: Json) => branch.properties) : target?.properties ? [target] : [];
  const rows: string[] = [];
  for (const object of objects) {
    const required = new Set<string>(object.required ?? []);
    for (const [name, field] of Object.entries<Json>(object.properties)) {
      const path = listPrefix ? `${listPrefix}.${name}` : name;
      rows.push(`| \`${path}\` | ${cell(typeOf(field))} | ${required.has(name) ? "yes" : ""} | ${cell(field.description)} |`);
      if (depth < 2) rows.push(...fieldRows(field, path, depth + 1));
    }
  }
  return rows;
}

function fieldsTable(schema: Json | undefined): string[] {
  const rows = fieldRows(schema);
  if (rows.length === 0) return [`${typeOf(schema)}${schema?.description ? `: ${schema.description}` : ""}`, ""];
  return ["| field | type | required | description |", "|---|---|---|---|", ...rows, ""];
}

function security(operation: Json): string {
  const requirements: Json[] | undefined = operation.security;
  if (!requirements) return "anyone";
  const named = requirements
    .filter((requirement) => Object.keys(requirement).length > 0)
    .map((requirement) =>
      Object.entries<string[]>(requirement)
        .map(([scheme, roles]) => `${scheme}${roles.length > 0 ? ` (${roles.join(", ")})` : ""}`)
        .join(" and "),
    );
  const optional = requirements.some((requirement) => Object.keys(requirement).length === 0);
  return `${named.join(", ")}${optional ? "; or none" : ""}`;
}

function operationSection(methods: string[], path: string, operation: Json): string[] {
  const lines = [`<a id="${operation.operationId}"></a>`, `### \`${methods.map((method) => method.toUpperCase()).join(" ")} ${path}\``, ""];
  if (operation.summary) lines.push(`${operation.summary}.`, "");
  if (operation.description) lines.push(operation.description, "");
  lines.push(`Credentials: ${security(operation)}.`, "");
  const parameters: Json[] = operation.parameters ?? [];
  if (parameters.length > 0) {
    lines.push("| parameter | in | type | required | description |", "|---|---|---|---|---|");
    for (const parameter of parameters) {
      lines.push(`| \`${parameter.name}\` | ${parameter.in} | ${cell(typeOf(parameter.schema))} | ${parameter.required ? "yes" : ""} | ${cell(parameter.description ?? parameter.schema?.description)} |`);
    }
    lines.push("");
  }
  if (operation.requestBody) {
    const content: Json = operation.requestBody.content;
    lines.push(`Request body (${Object.keys(content).map((type) => `\`${type}\``).join(" or ")})${operation.requestBody.required ? "" : ", optional"}:`, "");
    lines.push(...fieldsTable(Object.values(content)[0]?.schema));
  }
  lines.push("| status | answer |", "|---|---|");
  for (const [status, response] of Object.entries<Json>(operation.responses)) {
    const media = Object.entries<Json>(response.content ?? {});
    const body = media.length === 0 ? "no body" : media.map(([type, { schema }]) => `\`${type}\` ${cell(shapeOf(schema))}`).join("; ");
    const headers = Object.keys(response.headers ?? {});
    lines.push(`| ${status} | ${cell(response.description)} (${body}${headers.length > 0 ? `; headers ${headers.map((name) => `\`${name}\``).join(", ")}` : ""}) |`);
  }
  lines.push("");
  for (const [status, response] of Object.entries<Json>(operation.responses)) {
    const json = response.content?.["application/json"]?.schema;
    if (Number(status) >= 400 || !json || fieldRows(json).length === 0) continue;
    lines.push(`${status} body:`, "", ...fieldsTable(json));
  }
  return lines;
}

/** The document for people: its description, the credentials, then every operation by tag. */
export function renderMarkdown(document: OpenApiDocument): string {
  const lines = [
    `# ${document.info.title} HTTP API ${document.info.version}`,
    "",
    "<!-- Generated by scripts/openapi-docs.ts from the routes' own models: do not edit (npm run docs:api rewrites it). -->",
    "",
    "Generated from the code (`npm run docs:api`); the machine-readable description is [openapi.json](openapi.json), and every instance serves its own, for the routes its configuration switches on, at `GET /openapi.json`.",
    "",
    String(document.info.description),
    "",
    "## Credentials",
    "",
    "| scheme | kind | description |",
    "|---|---|---|",
    ...Object.entries<Json>((document.components as Json).securitySchemes).map(
      ([name, scheme]) => `| \`${name}\` | ${scheme.type === "http" ? `HTTP ${scheme.scheme}` : `${scheme.in} \`${scheme.name}\``} | ${cell(scheme.description)} |`,
    ),
    "",
    "A requirement's list names the roles and the `gatehouse` scopes a credential must carry (a password or a session carries no scopes; a scoped API token only those it was given).",
    "",
  ];
  const sections = new Map<string, string[]>();
  const contents = new Map<string, string[]>();
  for (const [path, operations] of Object.entries(document.paths)) {
    // Methods that are answered the same (/authenticate's) are shown once.
    const groups: { methods: string[]; operation: Json; key: string }[] = [];
    for (const [method, operation] of Object.entries<Json>(operations)) {
      const key = JSON.stringify({ ...operation, operationId: undefined });
      const same = groups.find((group) => group.key === key);
      if (same) same.methods.push(method);
      else groups.push({ methods: [method], operation, key });
    }
    for (const { methods, operation } of groups) {
      const tag = operation.tags?.[0] ?? "general";
      if (!sections.has(tag)) {
        sections.set(tag, []);
        contents.set(tag, []);
      }
      sections.get(tag)!.push(...operationSection(methods, path, operation));
      contents.get(tag)!.push(`  - [\`${methods.map((method) => method.toUpperCase()).join(" ")} ${path}\`](#${operation.operationId}) ${operation.summary ?? ""}`.trimEnd());
    }
  }
  const tagDescription = (name: string) => (document.tags as Json[]).find((tag) => tag.name === name)?.description;
  lines.push("## Contents", "");
  for (const [tag, entries] of contents) lines.push(`- ${tag}${tagDescription(tag) ? `: ${tagDescription(tag)}` : ""}`, ...entries);
  lines.push("");
  for (const [tag, section] of sections) {
    lines.push(`## ${tag}`, "");
    if (tagDescription(tag)) lines.push(`${tagDescription(tag)}.`, "");
    lines.push(...section);
  }
  return `${lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd()}\n`;
}

/** The files of docs/api/, by name. */
export async function apiDocsFiles(): Promise<Record<string, string>> {
  const document = await referenceDocument();
  return { "openapi.json": `${JSON.stringify(document, null, 2)}\n`, "README.md": renderMarkdown(document) };
}

if (import.meta.main) {
  const files = await apiDocsFiles();
  if (process.argv.includes("--check")) {
    const stale = Object.entries(files).filter(([name, text]) => {
      try {
        return readFileSync(join(API_DOCS_DIR, name), "utf8") !== text;
      } catch {
        return true;
      }
    });
    for (const [name] of stale) console.error(`docs/api/${name} is stale: run npm run docs:api`);
    process.exit(stale.length > 0 ? 1 : 0);
  }
  mkdirSync(API_DOCS_DIR, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(API_DOCS_DIR, name), text);
  console.log(`wrote docs/api/openapi.json and docs/api/README.md (${Object.keys(files).length} files)`);
}
