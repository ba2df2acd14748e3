// Writes docs/configuration.md, the configuration reference, from the schema
// that validates the file (documentedSchema() of src/config/schema.ts, which
// spells out each provider's and augmenter's own schema from their
// registries): every key with its path, type, default, description and
// environment variable, by section. Nothing in it is written by hand but the
// introduction: test/config-docs.test.ts fails when the page is stale.
//
//   bun run scripts/config-docs.ts           # (npm run docs:config) rewrite docs/configuration.md
//   bun run scripts/config-docs.ts --check   # exit 1 when docs/configuration.md is stale
import { join } from "node:path";
import { documentedSchema } from "../src/config/schema.ts";
import { OVERRIDE_PREFIXES, SECRET_FILE_KEYS } from "../src/config/environment.ts";
import { SESSION_LIFETIMES } from "../src/config/load.ts";
import { AUTH_O_TRON_IGNORED_KEYS } from "../src/config/unknown-keys.ts";
import { PROJECT_ROOT, cellCode, code, inline, pageText, table, writeGenerated } from "./markdown.ts";

export const CONFIG_DOCS_FILE = join(PROJECT_ROOT, "docs/configuration.md");

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
};

/** One key of the configuration, as the page shows it. */
export interface KeyRow {
  /** Its whole path, a list's items as `[]`: `server.port`, `providers[].users[].username`. */
  path: string;
  /** For a key of a provider or an augmenter entry: the entry's `type`. */
  entryType?: string;
  type: string;
  /** As JSON; undefined when it has none. */
  default?: string;
  required: boolean;
  description: string;
  /** The variable that sets it (list indexes as <N>, <M>); undefined for a key Gatehouse ignores. */
  variable?: string;
  /** Other variables that set it (Tiled's names). */
  aliases: string[];
}

const ignoredPaths = new Set(AUTH_O_TRON_IGNORED_KEYS.map((entry) => entry.path));
const INDEXES = ["N", "M", "K"];

/** GATEHOUSE_SERVER__PORT for server.port; GATEHOUSE_PROVIDERS__<N>__USERS__<M>__USERNAME for providers[].users[].username. */
export function environmentVariable(path: string): string {
  let lists = 0;
  const parts = path.split(".").flatMap((segment) => {
    const name = segment.replace(/\[\]$/, "").toUpperCase();
    return segment.endsWith("[]") ? [name, `<${INDEXES[lists++]}>`] : [name];
  });
  return `${OVERRIDE_PREFIXES[0]}${parts.join("__")}`;
}

/** A schema's type in a few words: `integer, 0–65535`, `list of string`, `one of "a", "b"`. */
function typeOf(schema: Schema): string {
  if (schema.const !== undefined) return code(JSON.stringify(schema.const));
  if (schema.anyOf) {
    if (schema.anyOf.every((branch) => branch.const !== undefined)) return `one of ${schema.anyOf.map(typeOf).join(", ")}`;
    return schema.anyOf.map(typeOf).join(" or ");
  }
  switch (schema.type) {
    case "integer":
    case "number": {
      const { minimum, maximum } = schema;
      if (minimum !== undefined && maximum !== undefined) return `${schema.type}, ${minimum}–${maximum}`;
      if (minimum !== undefined) return `${schema.type} ≥ ${minimum}`;
      return maximum !== undefined ? `${schema.type} ≤ ${maximum}` : schema.type;
    }
    case "string": {
      const limits = [
        schema.minLength !== undefined && schema.minLength > 1 ? `at least ${schema.minLength} characters` : "",
        schema.maxLength !== undefined ? `at most ${schema.maxLength} characters` : "",
        schema.pattern ? `matching ${code(schema.pattern)}` : "",
      ];
      return ["string", ...limits.filter(Boolean)].join(", ");
    }
    case "array":
      return `list of ${schema.items ? typeOf(schema.items) : "any"}${schema.minItems ? ` (at least ${schema.minItems})` : ""}`;
    case "object":
      if (schema.patternProperties) return `map of ${typeOf(Object.values(schema.patternProperties)[0]!)}`;
      return "object";
    case undefined:
      return "any";
    default:
      return String(schema.type);
  }
}

function row(schema: Schema, path: string, required: boolean, entryType?: string): KeyRow {
  const ignored = ignoredPaths.has(path) && schema.type === undefined && schema.anyOf === undefined;
  const lifetime = SESSION_LIFETIMES.find((name) => path === `authentication.${name}`);
  const isSection = schema.type === "object" && schema.properties !== undefined;
  return {
    path,
    entryType,
    type: ignored ? "ignored" : typeOf(schema),
    // A section's default ({}) only says it may be left out: its keys have their own.
    default: schema.default === undefined || isSection ? undefined : JSON.stringify(schema.default),
    required,
    description: schema.description ?? "",
    variable: ignored ? undefined : environmentVariable(path),
    aliases: lifetime ? [`GATEHOUSE_${lifetime.toUpperCase()}`, `TILED_${lifetime.toUpperCase()}`] : [],
  };
}

/** The rows of an object's keys and of the keys below them (a list of objects: its items', as `key[].sub`). */
function keyRows(object: Schema, path: string, entryType?: string): KeyRow[] {
  const required = new Set(object.required ?? []);
  return Object.entries(object.properties ?? {}).flatMap(([key, schema]) => {
    const keyPath = path ? `${path}.${key}` : key;
    return [row(schema, keyPath, required.has(key), entryType), ...below(schema, keyPath, entryType)];
  });
}

function below(schema: Schema, path: string, entryType?: string): KeyRow[] {
  if (schema.properties) return keyRows(schema, path, entryType);
  if (schema.items?.properties) return keyRows(schema.items, `${path}[]`, entryType);
  return [];
}

export interface Section {
  /** The top-level key; "" for the keys at the top level that are no section. */
  name: string;
  description?: string;
  required: boolean;
  rows: KeyRow[];
}

export interface Plugin {
  type: string;
  description: string;
  rows: KeyRow[];
}

/** The whole reference as data: the sections in the file's order, then each provider and augmenter type. */
export function configReference(): { topLevel: Section; sections: Section[]; providers: Plugin[]; augmenters: Plugin[] } {
  const schema = documentedSchema() as unknown as Schema;
  const required = new Set(schema.required ?? []);
  const topLevel: Section = { name: "", required: false, rows: [] };
  const sections: Section[] = [];
  const plugins: Record<string, Plugin[]> = { providers: [], augmenters: [] };
  for (const [name, section] of Object.entries(schema.properties!)) {
    if (name in plugins) {
      for (const entry of section.items!.anyOf!) {
        const type = String(entry.properties!.type!.const);
        plugins[name]!.push({ type, description: entry.description ?? "", rows: keyRows(entry, `${name}[]`, type) });
      }
    } else if (section.properties || section.items?.properties) {
      const rows = section.properties ? keyRows(section, name) : [row(section, name, required.has(name)), ...below(section, name)];
      sections.push({ name, description: section.description, required: required.has(name), rows });
    } else {
      topLevel.rows.push(row(section, name, required.has(name)));
    }
  }
  return { topLevel, sections, providers: plugins.providers!, augmenters: plugins.augmenters! };
}

/** Every key of the reference, providers' and augmenters' included. */
export function configRows(): KeyRow[] {
  const { topLevel, sections, providers, augmenters } = configReference();
  return [...topLevel.rows, ...sections.flatMap((section) => section.rows), ...[...providers, ...augmenters].flatMap((plugin) => plugin.rows)];
}

// ---- Markdown ----------------------------------------------------------------

/** The environment variables Gatehouse reads that set no key of the file. */
const OTHER_VARIABLES: [string, string][] = [
  ["GATEHOUSE_CONFIG", "The config file, when `--config` is not given"],
  ["AOT_CONFIG_PATH", "auth-o-tron's name for the same, read when `GATEHOUSE_CONFIG` is not set"],
  ["GATEHOUSE_MASTER_KEY", "The master key that encrypts private keys (signing keys, identity providers' refresh tokens) at rest; wins over `keys.master_key_file`. Any text: it goes through HKDF-SHA256. Every instance on one PostgreSQL store needs the same"],
  ["GATEHOUSE_DEBUG", "Set (to anything), an unexpected error is printed with its stack trace, for a bug report, instead of one line"],
  ["GATEHOUSE_SERVER, GATEHOUSE_CA_FILE, ECF_AUTHTOKENS", "Read by `gatehouse client` and `gatehouse login`: see [the command line](cli.md#client)"],
];

function keyTable(rows: KeyRow[], shown: (path: string) => string): string[] {
  return table(
    ["key", "type", "default", "environment variable", "description"],
    rows.map((key) => [
      cellCode(shown(key.path)),
      inline(key.type, true),
      key.default !== undefined ? cellCode(key.default) : key.required ? "**required**" : "",
      key.variable ? [code(key.variable), ...key.aliases.map(code)].join("<br>") : "",
      inline(key.description, true),
    ]),
  );
}

const sectionAnchor = (name: string) => `section-${name.replace(/_/g, "-")}`;
const pluginAnchor = (kind: string, type: string) => `${kind}-${type.replace(/_/g, "-")}`;

function introduction(): string[] {
  const secretKeys = SECRET_FILE_KEYS.map(code).join(", ");
  return [
    "# Configuration reference",
    "",
    "<!-- Generated by scripts/config-docs.ts from the config schema: do not edit (npm run docs:config rewrites it). -->",
    "",
    "Every key Gatehouse reads, generated from the schema that validates the file (`npm run docs:config`). " +
      "`gatehouse config schema` prints the same schema as JSON Schema, for editors; `gatehouse config check FILE` checks a file against it.",
    "",
    "## Where a value comes from",
    "",
    "- **The file**, in YAML: `--config FILE`, else `$GATEHOUSE_CONFIG`, else `$AOT_CONFIG_PATH`, else `./config.yaml`. " +
      "auth-o-tron's files (`version: 1.0.0` and `2.0.0`) load unchanged. A key Gatehouse does not know is a warning, with the nearest known key " +
      "(an error with `config check --strict` or `config.strict: true`, and always in a section that admits no other key).",
    "- **`${VAR}` in any value** is replaced by that environment variable; `${VAR:-default}` when it may be unset; `$${` keeps a literal `${`.",
    `- **An environment variable for each key**, named in the tables: \`${OVERRIDE_PREFIXES[0]}\` and the key's path in capitals, \`__\` between its parts ` +
      `(\`server.port\`: \`${environmentVariable("server.port")}\`); the items of a list by their index from 0 (\`<N>\` in the tables: ` +
      `\`${environmentVariable("providers[].ldap_password").replace("<N>", "0")}\`); a list or a mapping as JSON (\`${environmentVariable("regulation.trusted_proxies")}='["10.0.0.0/8"]'\`), ` +
      `numbers and booleans as text. It wins over the file. auth-o-tron's prefix works for every key as well (\`${OVERRIDE_PREFIXES[1]}SERVER__PORT\`); ` +
      `\`${OVERRIDE_PREFIXES[0]}\` wins when both are set.`,
    `- **Secrets from files**: each of ${secretKeys} may be given as \`<key>_file: PATH\` instead (the tables list them), ` +
      `or in the environment as its variable with \`_FILE\` (\`${environmentVariable("jwt.secret_file")}=/run/secrets/jwt\`). A trailing newline is not part of the value.`,
    `- **Tiled's names** for the session lifetimes: ${SESSION_LIFETIMES.map((name) => `\`GATEHOUSE_${name.toUpperCase()}\``).join(", ")} ` +
      `(else Tiled's \`TILED_…\`) set \`authentication.*\`; the key's own variable wins over both.`,
    "",
    "Other environment variables:",
    "",
    ...table(["variable", "what it does"], OTHER_VARIABLES.map(([names, what]) => [names.split(", ").map(code).join(", "), what])),
  ];
}

export function renderConfigReference(): string {
  const { topLevel, sections, providers, augmenters } = configReference();
  const lines = introduction();
  lines.push(
    "## Contents",
    "",
    "- [Top-level keys](#top-level-keys)",
    ...sections.map((section) => `- [\`${section.name}\`](#${sectionAnchor(section.name)})${section.description ? `: ${inline(section.description)}` : ""}`),
    `- [Providers](#providers): ${providers.map((plugin) => `[\`${plugin.type}\`](#${pluginAnchor("provider", plugin.type)})`).join(", ")}`,
    `- [Augmenters](#augmenters): ${augmenters.map((plugin) => `[\`${plugin.type}\`](#${pluginAnchor("augmenter", plugin.type)})`).join(", ")}`,
    "",
    "## Top-level keys",
    "",
    ...keyTable(topLevel.rows, (path) => path),
  );
  for (const section of sections) {
    lines.push(`<a id="${sectionAnchor(section.name)}"></a>`, "", `## \`${section.name}\``, "");
    if (section.description) lines.push(`${inline(section.description)}.`, "");
    if (section.required) lines.push("This section is required.", "");
    lines.push(...keyTable(section.rows, (path) => path));
  }
  for (const [kind, title, plugins] of [
    ["provider", "Providers", providers],
    ["augmenter", "Augmenters", augmenters],
  ] as const) {
    const list = `${kind}s`;
    lines.push(
      `## ${title}`,
      "",
      `\`${list}\` is a list of entries, each with its \`type\` and the keys of that type; ` +
        (kind === "provider"
          ? "each authenticates one kind of credential for the users of its `realm`."
          : "each adds roles or attributes to the users of its `realm` once a provider has authenticated them.") +
        ` Keys below are relative to the entry (\`${list}[<N>]\`).`,
      "",
    );
    for (const plugin of plugins) {
      lines.push(`<a id="${pluginAnchor(kind, plugin.type)}"></a>`, "", `### \`${plugin.type}\``, "");
      if (plugin.description) lines.push(`${inline(plugin.description)}.`, "");
      lines.push(...keyTable(plugin.rows, (path) => path.slice(`${list}[].`.length)));
    }
  }
  return pageText(lines);
}

if (import.meta.main) process.exit(writeGenerated(CONFIG_DOCS_FILE, renderConfigReference(), "docs:config"));
