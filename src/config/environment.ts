// Environment handling for the config: `${VAR}` substitution inside values,
// GATEHOUSE_SECTION__KEY / AOT_SECTION__KEY overrides, and secrets read from
// files (`secret_file:` next to `secret:`, and `*_FILE` variables).
import { readFileSync } from "node:fs";
import type { SecretFile } from "../secret-files.ts";

export type Env = Record<string, string | undefined>;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Config keys whose value may instead be read from a file named by `<key>_file`. */
export const SECRET_FILE_KEYS = [
  "secret",
  "password",
  "ldap_password",
  "client_secret",
  "private_client_secret",
  "bind_password",
  "url",
  "private_key",
  "public_key",
];
/** Prefixes of the variables that set a key (GATEHOUSE_SERVER__PORT, auth-o-tron's AOT_SERVER__PORT); the first wins. */
export const OVERRIDE_PREFIXES = ["GATEHOUSE_", "AOT_"];
/** Read from a file like the secrets, but not secret: its file's mode is not checked. */
const NOT_SECRET = new Set(["public_key"]);

export function readSecretFile(path: string): string {
  // A trailing newline from `echo secret > file` is not part of the secret.
  return readFileSync(path, "utf8").replace(/\r?\n$/, "");
}

/** Replaces `${VAR}` and `${VAR:-default}` in every string value; `$${` keeps a literal `${`. */
export function substituteVariables(value: Json, env: Env, path: string, problems: string[]): Json {
  if (typeof value === "string") {
    return value.replace(/\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (match, name: string, fallback?: string) => {
      if (match.startsWith("$$")) return match.slice(1);
      const found = env[name];
      if (found !== undefined) return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${path || "(root)"}: environment variable ${name} is not set`);
      return match; // left as written, so no second problem is reported for the same value
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => substituteVariables(item, env, `${path}[${index}]`, problems));
  if (value && typeof value === "object") {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = substituteVariables(item, env, joinPath(path, key), problems);
    return out;
  }
  return value;
}

/** Replaces `<key>_file: PATH` by `<key>: <file content>` for the secret keys; `read` gets each secret file read. */
export function resolveSecretFiles(value: Json, path: string, problems: string[], read: SecretFile[] = []): Json {
  if (Array.isArray(value)) return value.map((item, index) => resolveSecretFiles(item, `${path}[${index}]`, problems, read));
  if (!value || typeof value !== "object") return value;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) out[key] = resolveSecretFiles(item, joinPath(path, key), problems, read);
  for (const key of SECRET_FILE_KEYS) {
    const file = out[`${key}_file`];
    if (typeof file !== "string") continue;
    delete out[`${key}_file`];
    try {
      out[key] = readSecretFile(file);
      if (!NOT_SECRET.has(key)) read.push({ field: joinPath(path, `${key}_file`), path: file });
    } catch (error) {
      // The file name is not secret; its content never appears in a message.
      problems.push(`${joinPath(path, `${key}_file`)}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
    }
  }
  return out;
}

function parseEnvValue(raw: string): Json {
  const trimmed = raw.trim();
  if ((trimmed.startsWith("[") && trimmed.endsWith("]")) || (trimmed.startsWith("{") && trimmed.endsWith("}"))) {
    try {
      return JSON.parse(trimmed) as Json;
    } catch {
      return raw;
    }
  }
  return raw; // numbers and booleans are converted by the schema
}

function setAt(root: JsonObject, segments: string[], value: Json): void {
  let node: Json = root;
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index];
    const last = index === segments.length - 1;
    const key: string | number = Array.isArray(node) && /^\d+$/.test(segment) ? Number(segment) : segment;
    const container = node as Record<string | number, Json>;
    if (last) {
      container[key] = value;
      return;
    }
    const next = container[key];
    if (next === undefined || next === null || typeof next !== "object") {
      container[key] = /^\d+$/.test(segments[index + 1]) ? [] : {};
    }
    node = container[key];
  }
}

/**
 * Applies GATEHOUSE_A__B=value (and AOT_A__B) to `root`: `__` separates nested
 * keys, numeric segments index lists, names are lower-cased. Only variables
 * whose first segment is a known top-level key are taken, so GATEHOUSE_MASTER_KEY,
 * AOT_CONFIG_PATH and friends are never mistaken for overrides. `config` is
 * itself a top-level key (the `config` section), so the single-segment
 * GATEHOUSE_CONFIG (the config file's path) and AOT_CONFIG are excluded
 * explicitly. GATEHOUSE_ wins over AOT_.
 * A variable ending in _FILE reads its value from that file (`read` gets each secret one).
 */
export function applyEnvOverrides(root: JsonObject, env: Env, topLevelKeys: Set<string>, problems: string[], read: SecretFile[] = []): void {
  for (const prefix of [...OVERRIDE_PREFIXES].reverse()) {
    for (const [name, raw] of Object.entries(env)) {
      if (!name.startsWith(prefix) || raw === undefined) continue;
      let segments = name.slice(prefix.length).toLowerCase().split("__");
      if (!topLevelKeys.has(segments[0])) continue;
      if (segments.length === 1 && segments[0] === "config") continue; // GATEHOUSE_CONFIG names the file, not the `config` section
      let value: Json;
      const last = segments[segments.length - 1];
      if (last.endsWith("_file") && SECRET_FILE_KEYS.includes(last.slice(0, -"_file".length))) {
        segments = [...segments.slice(0, -1), last.slice(0, -"_file".length)];
        try {
          value = readSecretFile(raw);
          if (!NOT_SECRET.has(segments.at(-1)!)) read.push({ field: name, path: raw });
        } catch (error) {
          problems.push(`${name}: cannot read ${raw}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
          continue;
        }
      } else {
        value = parseEnvValue(raw);
      }
      setAt(root, segments, value);
    }
  }
}

export function joinPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
