// What the commands share: loading the config (never making a development
// store on the side), opening the store, option values and the token listing.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildConfig, loadConfigFile, resolveConfigPath, type LoadedConfig } from "../config/load.ts";
import { DEVELOPMENT_DATA_DIR, developmentConfig } from "../config/development.ts";
import type { GatehouseConfig } from "../config/schema.ts";
import { redactSecrets, redactUrl } from "../store/pg/url.ts";
import type { StoreBackend } from "../store/backend.ts";
import { openBackend } from "../store/open.ts";
import type { Scopes } from "../identity/user.ts";
import type { TokenView } from "../tokens/service.ts";
import { describeScopes, splitScope } from "../tokens/scopes.ts";

/** A config loader: --config FILE, else the environment, else ./config.yaml, else (as each loader says) the development default. */
export type LoadConfig = (path: string | undefined) => Promise<LoadedConfig>;

/** A mistake of the caller's, said in one line with exit code 2 (main.ts prints it). */
export class UsageError extends Error {}

/**
 * `serve`'s config: with no config file at all, the development default, made
 * (its admin account and secrets under ./data) the first time. Only `serve` may make it.
 */
export const loadServeConfig: LoadConfig = async (path) => {
  const resolved = resolveConfigPath(path, process.env);
  if (resolved) return loadConfigFile(resolved.path);
  return buildConfig(await developmentConfig(), "development default");
};

/** The development default `serve` made in this folder earlier (never made here). */
export const existingDevelopmentDefault = () => existsSync(join(DEVELOPMENT_DATA_DIR, "development-secrets.json"));

/**
 * Every other command's config: the file, else the development default that
 * `gatehouse serve` made in this folder; else a UsageError (a command never
 * makes a store nobody serves: finding 2.1 of issue 26).
 */
export const loadExistingConfig: LoadConfig = async (path) => {
  const resolved = resolveConfigPath(path, process.env);
  if (resolved) return loadConfigFile(resolved.path);
  if (existingDevelopmentDefault()) return buildConfig(await developmentConfig(), "development default");
  throw new UsageError(
    "no config: give --config FILE (or set GATEHOUSE_CONFIG, or put a config.yaml in this folder); " +
      "without one only `gatehouse serve` runs, on a development default it makes in ./data",
  );
};

/** Where the config came from, in words: "/etc/gatehouse/config.yaml (--config)". */
export function configOrigin(path: string | undefined, loaded: LoadedConfig): string {
  if (loaded.source === "development default") return `the development default (no config file; made by gatehouse serve in ${resolve(DEVELOPMENT_DATA_DIR)})`;
  const how = path ? "--config" : process.env.GATEHOUSE_CONFIG ? "$GATEHOUSE_CONFIG" : process.env.AOT_CONFIG_PATH ? "$AOT_CONFIG_PATH" : "found in this folder";
  return `${resolve(loaded.source)} (${how})`;
}

/** The store a config names, in words, a PostgreSQL password hidden; a SQLite file not there yet said so. */
export function storeDescription(store: GatehouseConfig["store"]): string {
  if (store.type === "postgres") return `PostgreSQL ${redactUrl(store.url ?? "")}`;
  const path = resolve(store.path);
  return `SQLite ${path}${existsSync(path) ? "" : " (does not exist yet: made now)"}`;
}

/**
 * The config of a command that works on the store, having said on stderr which
 * config and which store it uses; null (having said why) when the store is disabled.
 */
export async function storeConfig(path: string | undefined, command: string): Promise<GatehouseConfig | null> {
  let loaded: LoadedConfig;
  try {
    loaded = await loadExistingConfig(path);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`gatehouse ${command}: ${error.message}`);
    return null;
  }
  if (!loaded.config.store.enabled) {
    console.error(`${command}: the store is disabled (store.enabled: false in ${loaded.source})`);
    return null;
  }
  console.error(`${command}: config ${configOrigin(path, loaded)}; store ${storeDescription(loaded.config.store)}`);
  return loaded.config;
}

/**
 * The store the config names (SQLite or PostgreSQL, migrated), or null having
 * said which store could not be opened and why (a PostgreSQL URL's password
 * hidden). The caller closes it: a PostgreSQL pool and listener would keep the
 * process alive.
 */
export async function openCommandStore(config: GatehouseConfig, command: string): Promise<StoreBackend | null> {
  try {
    return await openBackend(config.store);
  } catch (error) {
    const postgres = config.store.type === "postgres";
    const where = postgres ? redactUrl(config.store.url ?? "") : config.store.path;
    const message = (error as Error)?.message ?? String(error);
    console.error(`${command}: cannot open the store ${where}: ${postgres ? redactSecrets(message, config.store.url) : message}`);
    return null;
  }
}

/**
 * `--scope ecflow:read --scope tiled:read:data` → {ecflow: ["read"], tiled: ["read:data"]} (split at the
 * first colon, as Tiled's scopes hold one); a bare `service` grants it with no scopes.
 */
export function parseScopeArguments(values: readonly string[]): Scopes | string {
  // Without a prototype: `--scope __proto__:read` is an unknown service for the token service to name, not Object.prototype.
  const scopes: Scopes = Object.create(null);
  for (const value of values) {
    const [service, scope] = splitScope(value);
    if (service === "" || scope === "") return `--scope ${value}: expected service:scope`;
    const list = (scopes[service] ??= []);
    if (scope !== null) list.push(scope);
  }
  return scopes;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * A duration of the command line, always with its unit ("3600s", "90m", "12h",
 * "30d"), or "never" where `never` is allowed; a string is the problem. A bare
 * number is refused: `--expires-in 30` meant 30 seconds, silently (the HTTP API
 * keeps plain seconds, as documented).
 */
export function parseDuration(flag: string, value: string, options: { never?: boolean; zero?: boolean } = {}): number | null | string {
  if (value === "never" && options.never) return null;
  const match = /^(\d{1,9})([smhd])$/.exec(value);
  const example = "3600s, 90m, 12h or 30d";
  if (/^\d+$/.test(value)) return `${flag} ${value}: give a unit: ${value}s, ${value}m, ${value}h or ${value}d`;
  if (!match || (Number(match[1]) === 0 && !options.zero)) return `${flag} ${value}: expected a duration with its unit, such as ${example}${options.never ? ", or never" : ""}`;
  return Number(match[1]) * UNITS[match[2]];
}

/** `--expires-in`: a duration with its unit, or "never"; a string is the problem. */
export const parseExpiresIn = (value: string) => parseDuration("--expires-in", value, { never: true });

/** Tokens as a table: id, owner, status, expiry, last use, scopes, note. */
export function tokenTable(tokens: readonly TokenView[]): string {
  if (tokens.length === 0) return "no tokens";
  const day = (iso: string | null) => (iso === null ? "-" : iso.slice(0, 16).replace("T", " "));
  return table(
    ["ID", "OWNER", "STATUS", "EXPIRES", "LAST USED", "SCOPES", "NOTE"],
    tokens.map((token) => [
      token.id,
      `${token.username}@${token.realm}`,
      token.rotated_to ? `${token.status} (rotated to ${token.rotated_to})` : token.expiring_soon ? `${token.status} (expiring soon)` : token.status,
      token.expires_at === null ? "never" : day(token.expires_at),
      token.last_used_at === null ? "never" : `${day(token.last_used_at)} ${token.last_used_address ?? ""}`.trimEnd(),
      token.scopes === null ? "all" : describeScopes(token.scopes),
      token.note,
    ]),
  );
}

/** Rows under a header, in columns padded to the widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd()).join("\n");
}

/**
 * Progress of long work on a terminal: one line on stderr, rewritten in place;
 * nothing at all when stderr is not a terminal (scripts and CI keep clean logs).
 */
export function progress(label: string, stream: NodeJS.WriteStream = process.stderr) {
  const shown = stream.isTTY === true;
  const started = Date.now();
  let last = 0;
  let written = false;
  return {
    /** What is done so far ("120/500", "tokens: 2000 rows"), after the label and the time spent; `force`: drawn even within 100 ms of the last. */
    update(detail = "", force = false) {
      const now = Date.now();
      if (!shown || (!force && now - last < 100)) return; // at most ten redraws a second
      last = now;
      stream.write(`\r\x1b[K${label}${detail ? ` ${detail}` : ""} (${Math.round((now - started) / 1000)} s)`);
      written = true;
    },
    /** Clears the line (the command then prints its result as usual). */
    end() {
      if (shown && written) stream.write("\r\x1b[K");
    },
  };
}
