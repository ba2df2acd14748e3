// Keys the config does not know: a typo (`augmentors:`, `server: {prot: 9000}`)
// must not pass unnoticed, since the setting it meant silently keeps its
// default. Each one is reported with its path and the nearest known key;
// `config check` and `serve` say the same (a warning, an error with
// `--strict` or `config.strict: true`). Objects whose schema is closed
// (additionalProperties: false: the access rules, tls…) refuse them always.
//
// Keys that auth-o-tron reads and Gatehouse ignores on purpose are listed
// here and never reported (docs/configuring.md lists them too).
import type { TSchema } from "@sinclair/typebox";
import { joinPath } from "./environment.ts";

/** Keys auth-o-tron reads that Gatehouse ignores on purpose; `[]` stands for any index. */
export const AUTH_O_TRON_IGNORED_KEYS: { path: string; type?: string; why: string }[] = [
  { path: "store.uri", why: "auth-o-tron 0.3's MongoDB store; Gatehouse keeps its store in SQLite or PostgreSQL (tokens import brings MongoDB's tokens over)" },
  { path: "store.database", why: "auth-o-tron 0.3's MongoDB database name" },
  { path: "augmenters[].ldap_user", type: "ldap", why: "auth-o-tron's LDAP augmenter before 0.3 derived its bind DN from it; Gatehouse asks for bind_dn itself" },
];

const ignored = new Set(AUTH_O_TRON_IGNORED_KEYS.map((entry) => entry.path));
const anyIndex = (path: string) => path.replace(/\[\d+\]/g, "[]");

export interface UnknownKey {
  path: string;
  message: string;
  /** In an object that admits no other key (additionalProperties: false): always an error. */
  closed: boolean;
}

type Schema = TSchema & {
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
};

/**
 * The keys of `value` its schema does not know, at any depth. `skip` names
 * paths walked elsewhere (providers and augmenters, against their own type's
 * schema).
 */
export function findUnknownKeys(schema: TSchema, value: unknown, path = "", skip: ReadonlySet<string> = new Set()): UnknownKey[] {
  const found: UnknownKey[] = [];
  walk(schema as Schema, value, path, skip, found);
  return found;
}

function walk(schema: Schema, value: unknown, path: string, skip: ReadonlySet<string>, found: UnknownKey[]): void {
  if (skip.has(path) || value === null || typeof value !== "object") return;
  if (schema.anyOf) {
    const branch = bestBranch(schema.anyOf, value);
    if (branch) walk(branch, value, path, skip, found);
    return;
  }
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((item, index) => walk(schema.items!, item, `${path}[${index}]`, skip, found));
    return;
  }
  if (schema.patternProperties) {
    const [itemSchema] = Object.values(schema.patternProperties);
    for (const [key, item] of Object.entries(value)) walk(itemSchema!, item, joinPath(path, key), skip, found);
    return;
  }
  const properties = schema.properties;
  if (!properties) return;
  for (const [key, item] of Object.entries(value)) {
    const itemPath = joinPath(path, key);
    const known = properties[key];
    if (known) walk(known, item, itemPath, skip, found);
    else if (!ignored.has(anyIndex(itemPath))) {
      found.push({ path: itemPath, message: unknownKeyMessage(itemPath, key, Object.keys(properties)), closed: schema.additionalProperties === false });
    }
  }
}

/** The object branch of a union that knows the most of the value's keys (a provider's `type` decides first). */
function bestBranch(branches: Schema[], value: object): Schema | undefined {
  if (Array.isArray(value)) return branches.find((branch) => branch.items);
  const keys = Object.keys(value);
  const objects = branches.filter((branch) => branch.properties);
  const type = (value as { type?: unknown }).type;
  const typed = objects.find((branch) => (branch.properties!.type as { const?: unknown } | undefined)?.const === type);
  if (typed) return typed;
  let best: Schema | undefined;
  let score = -1;
  for (const branch of objects) {
    const known = keys.filter((key) => key in branch.properties!).length;
    if (known > score) [best, score] = [branch, known];
  }
  return best;
}

function unknownKeyMessage(path: string, key: string, known: string[]): string {
  const nearest = nearestKey(key, known);
  // Path first, as every other problem: "augmentors: unknown key; did you mean augmenters?"
  if (nearest) return `${path}: unknown key; did you mean ${nearest}?`;
  if (known.length <= 12) return `${path}: unknown key; the keys here are ${known.join(", ")}`;
  return `${path}: unknown key (gatehouse config schema lists the keys)`;
}

/** The known key closest to `key` (few edits, or one contains the other), if any is close enough. */
function nearestKey(key: string, known: string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(key.length / 3))) return best;
  if (lower.length >= 4) return known.find((candidate) => candidate.startsWith(lower) || lower.startsWith(candidate.toLowerCase()));
  return undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours (`prot` → `port`). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i]![j] = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i]![j] = Math.min(rows[i]![j]!, rows[i - 2]![j - 2]! + 1);
    }
  }
  return rows[a.length]![b.length]!;
}
