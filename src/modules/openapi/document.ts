// The OpenAPI 3.1 description of a Gatehouse, made from its own route table
// (Elysia's `app.routes`): every route but the portal's pages, each with the
// TypeBox models it declares (params, query, body, responses: TypeBox
// schemas are JSON Schema already) and its `detail` (summary, description,
// and what a model cannot say: a 204, a redirect, an HTML page, headers).
// What every route shares is added here, once:
//
// - who may call it: the caller plugin's macros add `security` and the
//   refusals they answer themselves (./security.ts);
// - its error shape, `{"error": …}` or Tiled's `{"detail": …}`, read from
//   its module's error handler (modules/errors.ts: errorShapeOf), for every
//   4xx that a model does not describe;
// - the refusals of its body parser (400, 413, 415) and of validation (400);
// - its media types, from the body parser it declares.
//
// A route added later is described as soon as it is mounted: nothing here
// lists routes. Elysia's own plugin (@elysiajs/openapi) walks the same table;
// it is not used because it leaves out /.well-known (as static files),
// describes our bodies with no media type and as required, repeats one
// operation id over every method of /authenticate, and cannot add the
// caller's refusals to a route that declares its own answers.
import { errorShapeOf, parseFormOrJsonObject, parseJsonObject, parseRawText, type ErrorShape } from "../errors.ts";
import { SECURITY_SCHEMES } from "./security.ts";

/** A route as Elysia's `app.routes` lists it. */
export interface RouteEntry {
  method: string;
  path: string;
  hooks?: Record<string, unknown> | null;
}

export interface DocumentInfo {
  title: string;
  version: string;
}

type Json = Record<string, unknown>;
export interface OpenApiDocument {
  openapi: string;
  info: Json;
  tags: Json[];
  paths: Record<string, Record<string, Json>>;
  components: Json;
}

/** What an Elysia `.all()` route is described with: the methods a client or proxy may send. */
export const ANY_METHODS = ["get", "head", "post", "put", "patch", "delete", "options"] as const;

/** The portal's pages are HTML for people, described in docs/portal.md, not here. */
export const isPortalPage = (path: string) => path === "/portal" || path.startsWith("/portal/");

const DESCRIPTION = `Gatehouse's HTTP API: the auth_request contract (\`/authenticate\`), auth-o-tron's routes, API tokens, Tiled's sessions and API keys, signing keys, the audit log.

This document describes the routes this instance serves (generated from its route table): a route switched off by the configuration is absent. The portal's pages (\`/portal/\`, HTML) are not described. The metrics port (\`metrics.port\`) serves \`GET /metrics\`, \`/health\` and \`/ready\` on its own listener.

**Credentials.** Every route that needs a caller runs the configured providers on the request's credential as \`/authenticate\` would: HTTP Basic, a Bearer token (Gatehouse's API tokens and session access tokens, or what a provider checks), or the portal's session cookie.

**Errors.** JSON, \`{"error": "…"}\`; the routes of Tiled's API (\`/api/v1/\` and \`/api/v1/auth/…\`) answer \`{"detail": "…"}\`, where Tiled's clients read it. \`/authenticate\` answers with an empty body and headers only. A JSON body must be an object sent as \`application/json\` (else 400, or 415 for another media type); an empty body means every default; bodies are limited to 64 KiB (413).`;

const STATUS_TEXT: Record<string, string> = {
  "200": "OK",
  "201": "Created",
  "202": "Accepted",
  "204": "No content",
  "302": "Found: to the Location",
  "303": "See other: to the Location",
  "400": "The request is invalid: the message says what to fix",
  "401": "Unauthorized",
  "403": "Forbidden",
  "404": "Not found",
  "409": "Conflict",
  "413": "The request body is larger than 64 KiB",
  "415": "The request body's media type is not accepted",
  "429": "Too many failed attempts",
  "500": "Internal server error",
  "502": "An upstream service refused or failed",
  "503": "A service it needs is switched off or unavailable",
  "504": "An upstream service did not answer in time",
};

const ERROR_SCHEMAS: Record<ErrorShape, Json> = {
  error: { type: "object", required: ["error"], properties: { error: { type: "string" } }, description: "Every failure answers with a message" },
  detail: { type: "object", required: ["detail"], properties: { detail: { type: "string" } }, description: "Tiled's shape: the message under `detail`" },
};

/** The media types of a request body, by the route's body parser (modules/errors.ts); an unknown parser: JSON. */
const BODY_MEDIA = new Map<unknown, string[]>([
  [parseJsonObject, ["application/json"]],
  [parseFormOrJsonObject, ["application/x-www-form-urlencoded", "application/json"]],
  [parseRawText, ["application/json"]],
]);
/** What a body parser refuses, besides validation's 400. */
const PARSER_REFUSALS = new Map<unknown, string[]>([
  [parseJsonObject, ["400", "413", "415"]],
  [parseFormOrJsonObject, ["400", "413", "415"]],
  [parseRawText, ["413"]],
]);

// ---- JSON Schema from TypeBox ------------------------------------------------

const SCHEMA_MAPS = ["properties", "patternProperties", "$defs", "dependentSchemas"];
const SCHEMA_LISTS = ["anyOf", "oneOf", "allOf", "prefixItems"];
const SCHEMA_ONES = ["items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems"];
/** Elysia's coercing types: `t.Integer()` also accepts a numeric string (for query strings), as the first or second branch. */
const COERCED_FORMATS = new Set(["integer", "numeric", "boolean"]);

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A TypeBox schema as plain JSON Schema (2020-12, OpenAPI 3.1's dialect), made easier to read:
 * Elysia's coercing types as the type they coerce to, `t.Record` as additionalProperties, a union
 * of literals as an enum, a nullable scalar as a type list; Elysia's `error` messages dropped.
 */
export function jsonSchema(schema: unknown): Json {
  // Through JSON: TypeBox's symbols (Kind, Optional) and anything else not JSON are left behind.
  return tidy(JSON.parse(JSON.stringify(schema ?? {})));
}

/**
 * An object takes no other fields than it names: Elysia strips them from bodies and answers. Said of
 * every object, because Elysia writes it into a model itself when it first validates with one (the
 * document would otherwise depend on which routes had answered before it was made).
 */
function closed(schema: Json): Json {
  const object = schema.type === "object" || (Array.isArray(schema.type) && schema.type.includes("object"));
  return object && !("additionalProperties" in schema) && !("patternProperties" in schema) ? { ...schema, additionalProperties: false } : schema;
}

function tidy(schema: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "error" && typeof value === "string") continue; // Elysia's validation message
    if (SCHEMA_MAPS.includes(key) && isObject(value)) out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, isObject(sub) ? tidy(sub) : sub]));
    else if (SCHEMA_LISTS.includes(key) && Array.isArray(value)) out[key] = value.map((sub) => (isObject(sub) ? tidy(sub) : sub));
    else if (SCHEMA_ONES.includes(key) && isObject(value)) out[key] = tidy(value);
    else out[key] = value;
  }
  return simplify(out);
}

function simplify(given: Json): Json {
  const schema = closed(given);
  const { anyOf, ...rest } = schema;
  if (Array.isArray(anyOf)) {
    const branches = anyOf as Json[];
    // Elysia's t.Integer / t.Numeric / t.BooleanString: [coerced string, the real type].
    const coerced = branches.filter((branch) => branch.type === "string" && COERCED_FORMATS.has(branch.format as string));
    if (branches.length === 2 && coerced.length === 1) {
      const real = branches.find((branch) => branch !== coerced[0])!;
      return simplify({ ...rest, ...real });
    }
    if (branches.length > 0 && branches.every((branch) => "const" in branch && typeof branch.const === typeof branches[0].const && Object.keys(branch).every((k) => k === "const" || k === "type"))) {
      return { ...rest, type: typeof branches[0].const === "number" ? "number" : typeof branches[0].const, enum: branches.map((branch) => branch.const) };
    }
    const nulls = branches.filter((branch) => branch.type === "null" && Object.keys(branch).length === 1);
    const others = branches.filter((branch) => !nulls.includes(branch));
    if (nulls.length === 1 && others.length === 1 && typeof others[0].type === "string" && !("anyOf" in others[0]) && !("const" in others[0]) && !("enum" in others[0])) {
      return { ...rest, ...others[0], type: [others[0].type, "null"] };
    }
  }
  // t.Record(t.String(), X): "any key" is what additionalProperties says, and renderers show it.
  const pattern = schema.patternProperties;
  if (isObject(pattern) && Object.keys(pattern).length === 1 && "^(.*)$" in pattern && !("properties" in schema)) {
    const { patternProperties: _, ...others } = schema;
    return { ...others, additionalProperties: pattern["^(.*)$"] };
  }
  return schema;
}

// ---- Operations --------------------------------------------------------------

/** A tag for each family of routes, by path, so that a new route joins its family (or names one) unlisted. */
function tagOf(path: string): string {
  if (path === "/authenticate") return "authenticate";
  if (/^\/tokens?(\/|$)/.test(path) || path.startsWith("/api/v1/tokens")) return "tokens";
  if (path === "/api/v1/" || path.startsWith("/api/v1/auth/")) return "sessions";
  if (path.startsWith("/.well-known/") || path.startsWith("/api/v1/keys")) return "keys";
  const family = path.match(/^\/api\/v\d+\/([^/]+)/);
  return family ? family[1] : "general";
}

const TAGS: Record<string, string> = {
  authenticate: "The auth_request contract: nginx asks, Gatehouse answers with headers",
  tokens: "API tokens: auth-o-tron's routes and the REST API",
  sessions: "Sessions, logins and API keys in Tiled's shape, and command-line sign-in (device code)",
  keys: "Signing keys: the public JWKS for backends, and their rotation",
  audit: "The audit log",
  general: "Health, readiness, what is configured, who is calling, this document",
};

/** getApiV1TokensById, postApiV1AuthProviderByNameToken, getIndex: unique, since a path has each method once. */
function operationId(method: string, path: string): string {
  const words = path
    .split("/")
    .map((part) => (part.startsWith(":") ? `by ${part.slice(1)}` : part))
    .join(" ")
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
  if (words.length === 0) words.push("index");
  return [method.toLowerCase(), ...words].map((word, index) => (index === 0 ? word : word[0].toUpperCase() + word.slice(1))).join("");
}

/** The response models of a route as a status map (a single model is the 200's). */
function responseModels(response: unknown): Record<string, unknown> {
  if (!isObject(response)) return {};
  const single = "type" in response || "anyOf" in response || "$ref" in response || "const" in response;
  return single ? { "200": response } : response;
}

const mediaOf = (schema: Json) => (schema.type === "string" ? "text/plain" : "application/json");

function parameters(hooks: Json, path: string): Json[] {
  const list: Json[] = [];
  const params = isObject(hooks.params) ? jsonSchema(hooks.params) : null;
  for (const match of path.matchAll(/:([^/]+)/g)) {
    const name = match[1];
    const schema = (isObject(params?.properties) && (params.properties as Json)[name]) || { type: "string" };
    list.push({ name, in: "path", required: true, schema });
  }
  if (isObject(hooks.query)) {
    const query = jsonSchema(hooks.query);
    const required = new Set((query.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries((query.properties as Json) ?? {})) {
      const { description, ...rest } = schema as Json;
      list.push({ name, in: "query", required: required.has(name), ...(description ? { description } : {}), schema: rest });
    }
  }
  return list;
}

/** A route's parse hooks, as Elysia keeps them ({fn} records or functions). */
const parsersOf = (hooks: Json): unknown[] => (Array.isArray(hooks.parse) ? hooks.parse : hooks.parse ? [hooks.parse] : []).map((entry) => (isObject(entry) ? entry.fn : entry));

function requestBody(hooks: Json, parsers: unknown[]): Json | undefined {
  if (!isObject(hooks.body)) return undefined;
  const schema = jsonSchema(hooks.body);
  const media = parsers.map((parser) => BODY_MEDIA.get(parser)).find(Boolean) ?? ["application/json"];
  // Gatehouse's parsers read an empty body as {}: a body is required only when its model requires a field.
  const required = Array.isArray(schema.required) && schema.required.length > 0;
  return { required, content: Object.fromEntries(media.map((type) => [type, { schema }])) };
}

/** A `content` map written in a route's detail, its schemas (TypeBox) as JSON Schema. */
const contentOf = (content: unknown): Json =>
  Object.fromEntries(Object.entries(isObject(content) ? content : {}).map(([type, media]) => [type, isObject(media) && media.schema ? { ...media, schema: jsonSchema(media.schema) } : media]));

function responses(hooks: Json, detail: Json, parsers: unknown[], shape: ErrorShape): Record<string, Json> {
  const errorContent = { "application/json": { schema: ERROR_SCHEMAS[shape] } };
  const answers: Record<string, Json> = {};
  for (const [status, model] of Object.entries(responseModels(hooks.response))) {
    const schema = jsonSchema(model);
    // A success is described by its model; a refusal by its status (its model is the module's one error shape).
    const described = Number(status) >= 400 ? (STATUS_TEXT[status] ?? schema.description) : (schema.description ?? STATUS_TEXT[status]);
    answers[status] = { description: (described as string | undefined) ?? `Status ${status}`, content: { [mediaOf(schema)]: { schema } } };
  }
  const refusals = new Set<string>(parsers.flatMap((parser) => PARSER_REFUSALS.get(parser) ?? []));
  if (isObject(hooks.body) || isObject(hooks.query) || isObject(hooks.params)) refusals.add("400");
  for (const status of refusals) answers[status] ??= { description: STATUS_TEXT[status], content: errorContent };
  for (const [status, given] of Object.entries(isObject(detail.responses) ? detail.responses : {})) {
    const documented = given as Json;
    const merged: Json = { ...answers[status], ...documented };
    if (isObject(documented.content)) merged.content = contentOf(documented.content);
    // A 4xx without a media type gets the route's error shape; `content: {}` says there is no body.
    if (!merged.content && Number(status) >= 400) merged.content = errorContent;
    if (isObject(merged.content) && Object.keys(merged.content).length === 0) delete merged.content;
    merged.description ??= STATUS_TEXT[status] ?? `Status ${status}`;
    answers[status] = merged;
  }
  if (Object.keys(answers).length === 0) answers["200"] = { description: "OK" };
  return Object.fromEntries(Object.entries(answers).sort(([a], [b]) => a.localeCompare(b)));
}

function operation(route: RouteEntry, method: string): Json {
  const hooks = (route.hooks ?? {}) as Json;
  const { hide: _hide, responses: _responses, parameters: extraParameters, requestBody: givenBody, security, ...detail } = (hooks.detail ?? {}) as Json;
  const parsers = parsersOf(hooks);
  const shape = errorShapeOf(Array.isArray(hooks.error) ? hooks.error : []) ?? "error";
  const params = [...parameters(hooks, route.path), ...((extraParameters as Json[] | undefined) ?? [])];
  const body = isObject(givenBody)
    ? { ...givenBody, content: contentOf(givenBody.content) }
    : method === "get" || method === "head"
      ? undefined
      : requestBody(hooks, parsers);
  return {
    tags: [tagOf(route.path)],
    ...detail,
    operationId: (detail.operationId as string | undefined) ?? operationId(method, route.path),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(body ? { requestBody: body } : {}),
    responses: responses(hooks, (hooks.detail ?? {}) as Json, parsers, shape),
    ...(security ? { security } : {}),
  };
}

/** The OpenAPI 3.1 document of these routes (Elysia's `app.routes`), in the order they are mounted. */
export function openApiDocument(routes: readonly RouteEntry[], info: DocumentInfo): OpenApiDocument {
  const paths: OpenApiDocument["paths"] = {};
  for (const route of routes) {
    if (isPortalPage(route.path) || (route.hooks?.detail as { hide?: boolean } | undefined)?.hide) continue;
    const openApiPath = route.path.replace(/:([^/]+)/g, "{$1}");
    const methods = route.method.toUpperCase() === "ALL" ? ANY_METHODS : [route.method.toLowerCase()];
    paths[openApiPath] ??= {};
    for (const method of methods) paths[openApiPath][method] = operation(route, method);
  }
  const used = new Set(Object.values(paths).flatMap((ops) => Object.values(ops).flatMap((op) => op.tags as string[])));
  return {
    openapi: "3.1.1",
    info: { title: info.title, version: info.version, description: DESCRIPTION, license: { name: "Apache-2.0", identifier: "Apache-2.0" } },
    tags: [...used].map((name) => ({ name, ...(TAGS[name] ? { description: TAGS[name] } : {}) })),
    paths,
    components: { securitySchemes: SECURITY_SCHEMES },
  };
}
