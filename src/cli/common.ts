// What `gatehouse tokens` and `gatehouse client` share: option values and the token listing.
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import type { LoadedConfig } from "../config/load.ts";
import type { GatehouseConfig } from "../config/schema.ts";
import { redactSecrets, redactUrl } from "../store/pg/url.ts";
import type { StoreBackend } from "../store/backend.ts";
import { openBackend } from "../store/open.ts";
import type { Scopes } from "../identity/user.ts";
import type { TokenView } from "../tokens/service.ts";
import { describeScopes, splitScope } from "../tokens/scopes.ts";

/** main.ts's config loading: --config FILE, else the environment, else ./config.yaml, else the development default. */
export type LoadConfig = (path: string | undefined) => Promise<LoadedConfig>;

/**
 * A command's arguments, parsed; or, for --help or a mistake, the usage shown
 * and the exit code to return (0 or 2).
 */
export function parseCommand<const O extends ParseArgsOptionsConfig>(args: string[], options: O, usage: string) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (!(parsed.values as { help?: boolean }).help) return parsed;
  console.log(usage);
  return 0;
}

/** The config of a command that works on the store, or null (having said why) when the store is disabled. */
export async function storeConfig(path: string | undefined, loadConfig: LoadConfig, command: string): Promise<GatehouseConfig | null> {
  const loaded = await loadConfig(path);
  if (!loaded.config.store.enabled) {
    console.error(`${command}: the store is disabled (store.enabled: false in ${loaded.source})`);
    return null;
  }
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

/** `--expires-in`: seconds ("3600"), with a unit ("90m", "12h", "30d"), or "never"; a string is the problem. */
export function parseExpiresIn(value: string): number | null | string {
  if (value === "never") return null;
  const match = /^(\d+)([smhd]?)$/.exec(value);
  if (!match || Number(match[1]) === 0) return `--expires-in ${value}: expected seconds, a number with s/m/h/d, or never`;
  return Number(match[1]) * UNITS[match[2] || "s"];
}

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
