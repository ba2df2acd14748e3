// What the PostgreSQL queries of every table family (../<family>/pg.ts) share:
// the handle they run on, and the helpers for what PostgreSQL does otherwise
// than SQLite. The queries have the same semantics as SQLite's
// (../<family>/sqlite.ts), query for query. Dialect differences carried over
// by hand (docs/postgres-design.md § 2): greatest()/least() for SQLite's scalar
// max()/min(), IS NOT DISTINCT FROM for SQLite's `IS`, booleans are booleans,
// count(*) is int8 (cast), raw int8 columns come back as strings (converted),
// JSON text is edited through jsonb. Ties in list orders are broken by ids
// compared byte by byte (COLLATE "C"), as SQLite compares them, whatever the
// database's collation.
import { and, eq, sql, type SQL } from "drizzle-orm";
import type { AnyPgColumn, PgDatabase } from "drizzle-orm/pg-core";
import type { BunSQLQueryResultHKT } from "drizzle-orm/bun-sql/session";
import type * as schema from "./schema.ts";
import { users } from "../users/pg-schema.ts";

/** The pool's drizzle handle or an open transaction: the queries accept either. */
export type PgExecutor = PgDatabase<BunSQLQueryResultHKT, typeof schema>;

/** A raw int8 (a string from Bun's client) as a number. */
export const int = (value: unknown): number => Number(value);

/** Orders text ids byte by byte, as SQLite does, whatever the database's collation. */
export const bytewise = (column: AnyPgColumn) => sql`${column} COLLATE "C"`;

/** `column = ANY($1)`: one array parameter however many ids (IN (…) takes one parameter each, 65,535 at most). */
export const anyOf = (column: AnyPgColumn, values: readonly string[]) => sql`${column} = ANY(${sql.param(values)}::text[])`;

/** A listing's filter: the owner's name and realm when given, and `also`. */
export const ownedBy = (filter: { username?: string; realm?: string }, also: SQL | undefined) =>
  and(
    filter.username === undefined ? undefined : eq(users.username, filter.username),
    filter.realm === undefined ? undefined : eq(users.realm, filter.realm),
    also,
  );

/** Entries per statement for the batched updates (each is an array parameter: no limit on parameters, just a bound on size). */
const BATCH = 5000;
export const batches = <T>(entries: T[]): T[][] => Array.from({ length: Math.ceil(entries.length / BATCH) }, (_, index) => entries.slice(index * BATCH, (index + 1) * BATCH));

/** A DELETE's row count (Bun's result carries it), without returning the rows. */
export const deleted = async (db: PgExecutor, query: SQL): Promise<number> => ((await db.execute(query)) as unknown as { count?: number }).count ?? 0;
