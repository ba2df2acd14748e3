// Which store the behavioural suites run on, and what it holds, whichever it is.
//
// GATEHOUSE_TEST_STORE=postgres serves every app startApp starts (and every
// server spawnGatehouse starts) from PostgreSQL: one private server for this
// test process, started on first use (test/helpers/postgres.ts) and stopped
// when the process exits; one database per store.path (a fresh one for each
// path; two apps on one path share it, as they share the file on SQLite); one
// master key for all (GATEHOUSE_MASTER_KEY). Configs with `store.enabled:
// false` are left as they are. Unset, the suites run on SQLite as written.
//
// Tests read what is stored through this module, never by opening the SQLite
// file: `storedRows(app, sql, ...params)` runs one query (`?` placeholders,
// portable SQL) on the app's store, while it runs or after it stopped, and
// `storedText(app)` is everything stored as text, for the scans proving that
// no secret is kept in clear. What is genuinely about SQLite (the file, WAL,
// PRAGMAs, data_version) stays SQLite-only: `test.skipIf(storeIsPostgres)`.
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse, stringify } from "yaml";
import { SqliteBackend } from "../../src/store/sqlite-backend.ts";
import { TABLES } from "./store-dump.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./postgres.ts";

export const storeIsPostgres = process.env.GATEHOUSE_TEST_STORE === "postgres";

/** The master key every PostgreSQL-served app of this process shares (managed keys need one; instances agree on it). */
export const TEST_MASTER_KEY = process.env.GATEHOUSE_MASTER_KEY ?? "gatehouse-test-master-key-0123456789abcdef";

if (storeIsPostgres) {
  if (!postgresAvailable) {
    console.warn("\n#### WARNING: GATEHOUSE_TEST_STORE=postgres but PostgreSQL is missing: every app these suites start FAILS to start ####\n");
  }
  // Set for this process (keys/open.ts reads it) and inherited by the servers and commands it spawns.
  process.env.GATEHOUSE_MASTER_KEY ??= TEST_MASTER_KEY;
}

/** Where an app's store is: enough to read it again, even after the app stopped (but for SQLite's ":memory:", read while it runs). */
export type StoreLocation = { type: "sqlite"; path: string; memory?: Database } | { type: "postgres"; url: string } | { type: "disabled" };

let server: Promise<Postgres> | null = null;
const databases = new Map<string, string>();
let created = 0;

function postgres(): Promise<Postgres> {
  if (!postgresAvailable) throw new Error("GATEHOUSE_TEST_STORE=postgres: PostgreSQL (Debian package postgresql) is not installed");
  server ??= startPostgres("gatehouse_suites").then((pg) => {
    // One server for the whole process, gone with it (bun test runs every file of a run in one process).
    pg.destroyWithProcess();
    return pg;
  });
  return server;
}

/** The database serving this SQLite path on PostgreSQL: created the first time the path is seen (":memory:" is never shared). */
async function databaseFor(path: string): Promise<string> {
  const pg = await postgres();
  const key = path === ":memory:" ? `:memory:${created}` : resolve(path);
  let url = databases.get(key);
  if (!url) {
    // A fresh name for each attempt: on a loaded machine createdb has been seen to die of a signal, the database made or not.
    for (let attempt = 1; !url; attempt++) {
      try {
        url = pg.createDatabase(`app_${++created}`);
      } catch (error) {
        if (attempt === 3) throw error;
      }
    }
    databases.set(key, url);
  }
  return url;
}

/**
 * A raw config as the test store serves it: unchanged on SQLite; on PostgreSQL the
 * store is `{ type: postgres, url }` (the same database for the same store.path)
 * unless it is disabled. `env` gains the master key the config check asks for.
 */
export async function onTestStore<T extends Record<string, any>>(raw: T, env: Record<string, string> = {}): Promise<{ raw: T; env: Record<string, string> }> {
  if (!storeIsPostgres) return { raw, env };
  const store = (raw.store ?? {}) as Record<string, any>;
  if (store.enabled === false || store.type === "postgres") return { raw, env: { GATEHOUSE_MASTER_KEY: TEST_MASTER_KEY, ...env } };
  const path = env.GATEHOUSE_STORE__PATH ?? store.path ?? "./data/gatehouse.db";
  const url = await databaseFor(path);
  // A small pool: a suite starts dozens of apps on one server (max_connections 100).
  const replaced = { ...store, type: "postgres", url, pool_size: store.pool_size ?? 4 };
  return { raw: { ...raw, store: replaced }, env: { GATEHOUSE_MASTER_KEY: TEST_MASTER_KEY, ...env } };
}

/** The same for a YAML config text (spawnGatehouse): unchanged on SQLite, or when it has no store section to move. */
export async function yamlOnTestStore(text: string, cwd: string): Promise<string> {
  if (!storeIsPostgres) return text;
  const raw = parse(text) as Record<string, any> | null;
  if (!raw || typeof raw !== "object") return text;
  const store = { ...(raw.store ?? {}) };
  store.path = resolve(cwd, typeof store.path === "string" ? store.path : "./data/gatehouse.db");
  const moved = await onTestStore({ ...raw, store });
  return stringify(moved.raw);
}

/** Where a built config's store is (`backend`: the app's, for a SQLite store in memory). */
export function locationOf(store: { enabled: boolean; type: string; path: string; url?: string }, backend?: unknown): StoreLocation {
  if (!store.enabled) return { type: "disabled" };
  if (store.type === "postgres") return { type: "postgres", url: store.url! };
  const memory = store.path === ":memory:" && backend instanceof SqliteBackend ? backend.store.sqlite : undefined;
  return { type: "sqlite", path: store.path, memory };
}

type Located = { storeLocation: StoreLocation } | StoreLocation;
const where = (of: Located): StoreLocation => ("storeLocation" in of ? of.storeLocation : of);

/** `?` placeholders to PostgreSQL's `$1`, `$2`… (none of the suites' queries has a `?` inside a string). */
const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

/** int8 columns arrive as bigint: numbers, as SQLite and drizzle give them. */
const plain = (row: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === "bigint" ? Number(value) : value]));

/** The rows one query finds in an app's store (snake_case columns, as stored). Works after the app stopped too. */
export async function storedRows<T = any>(of: Located, sql: string, ...params: unknown[]): Promise<T[]> {
  const location = where(of);
  if (location.type === "disabled") throw new Error("this app has no store");
  if (location.type === "sqlite") {
    if (location.memory) return location.memory.query(sql).all(...(params as never[])) as T[];
    const database = new Database(location.path, { readonly: true });
    try {
      return database.query(sql).all(...(params as never[])) as T[];
    } finally {
      database.close();
    }
  }
  const client = new SQL({ url: location.url, max: 1, bigint: true });
  try {
    const rows = (await client.unsafe(numbered(sql), params as never[])) as Record<string, unknown>[];
    return [...rows].map(plain) as T[];
  } finally {
    await client.close();
  }
}

/** The first row of `storedRows`, or undefined. */
export async function storedRow<T = any>(of: Located, sql: string, ...params: unknown[]): Promise<T | undefined> {
  return (await storedRows<T>(of, sql, ...params))[0];
}

/**
 * Everything the store keeps, as text, for scans of secrets kept in clear. SQLite: the bytes
 * of the database file and its WAL (deleted rows and free pages included). PostgreSQL:
 * every row of every table, each as its text form.
 */
export async function storedText(of: Located): Promise<string> {
  const location = where(of);
  if (location.type === "disabled") throw new Error("this app has no store");
  if (location.type === "sqlite") {
    if (location.memory) return Buffer.from(location.memory.serialize()).toString("latin1");
    return [location.path, `${location.path}-wal`]
      .filter((path) => existsSync(path))
      .map((path) => readFileSync(path).toString("latin1"))
      .join("");
  }
  const client = new SQL({ url: location.url, max: 1 });
  try {
    const parts: string[] = [];
    for (const table of Object.values(TABLES)) {
      const rows = (await client.unsafe(`SELECT t::text AS row FROM ${table} t`)) as { row: string }[];
      parts.push(`${table}:`, ...[...rows].map((r) => r.row));
    }
    return parts.join("\n");
  } finally {
    await client.close();
  }
}

/**
 * Runs statements on an app's store as an operator would (a trigger to simulate a failure, say):
 * `sql` for SQLite and PostgreSQL alike, or one text for each where their dialects differ.
 */
export async function storedExec(of: Located, sql: string | { sqlite: string; postgres: string }): Promise<void> {
  const location = where(of);
  if (location.type === "disabled") throw new Error("this app has no store");
  if (location.type === "sqlite") {
    const text = typeof sql === "string" ? sql : sql.sqlite;
    if (location.memory) return void location.memory.exec(text);
    const database = new Database(location.path);
    try {
      database.exec(text);
    } finally {
      database.close();
    }
    return;
  }
  const client = new SQL({ url: location.url, max: 1 });
  try {
    await client.unsafe(typeof sql === "string" ? sql : sql.postgres).simple();
  } finally {
    await client.close();
  }
}
