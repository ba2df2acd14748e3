// Every row of every table of a store, SQLite or PostgreSQL, in one shape
// (drizzle's mapping: numbers, parsed JSON), sorted by primary key: two stores
// holding the same rows dump equal.
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import type { PgTable } from "drizzle-orm/pg-core";
import * as sqliteSchema from "../../src/store/schema.ts";
import * as pgSchema from "../../src/store/pg/schema.ts";
import type { Store } from "../../src/store/database.ts";
import type { PgDb } from "../../src/store/pg/database.ts";

/** Schema export name → table name. */
export const TABLES = {
  users: "users",
  userProfiles: "user_profiles",
  tokens: "tokens",
  tokenFirstEight: "token_first_eight",
  sessions: "sessions",
  refreshTokens: "refresh_tokens",
  signingKeys: "signing_keys",
  regulationCounters: "regulation_counters",
  auditLog: "audit_log",
} as const;

export type Dump = Record<string, Record<string, unknown>[]>;

const keyOf = (row: Record<string, unknown>) =>
  JSON.stringify([row.id ?? row.kid ?? row.userId ?? row.tokenId ?? null, row.kind ?? null, row.subject ?? null]);
const sorted = (rows: Record<string, unknown>[]) => rows.toSorted((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));

export function dumpSqlite(store: Store): Dump {
  const dump: Dump = {};
  for (const [name, table] of Object.entries(TABLES)) {
    dump[table] = sorted(store.db.select().from(sqliteSchema[name as keyof typeof TABLES] as SQLiteTable).all() as Record<string, unknown>[]);
  }
  return dump;
}

export async function dumpPg(db: PgDb): Promise<Dump> {
  const dump: Dump = {};
  for (const [name, table] of Object.entries(TABLES)) {
    dump[table] = sorted((await db.select().from(pgSchema[name as keyof typeof TABLES] as PgTable)) as Record<string, unknown>[]);
  }
  return dump;
}
