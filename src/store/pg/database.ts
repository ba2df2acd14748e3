// Opens the PostgreSQL store: a pool of connections (Bun's built-in client,
// `import { SQL } from "bun"`) with drizzle over it, and brings the schema up
// to date under a lock, so that instances starting together migrate once.
// See docs/postgres-design.md (§ 1 the driver, § 4 migrations).
import { SQL } from "bun";
import { drizzle, type BunSQLDatabase } from "drizzle-orm/bun-sql";
import { migrate } from "drizzle-orm/bun-sql/migrator";
import { redactSecrets, redactUrl } from "./url.ts";
import * as schema from "./schema.ts";
import { pgMigrationsFolder } from "./migrations.ts";

export type PgDb = BunSQLDatabase<typeof schema>;

/** What connecting needs: the config's store.url, store.pool_size and store.tls. */
export interface PgSettings {
  url: string;
  /** Connections at most (store.pool_size); default 10. */
  pool_size?: number;
  tls?: { ca_file?: string; reject_unauthorized: boolean };
}

export interface PgDatabase {
  /** The pool: every query and transaction of this instance. */
  sql: SQL;
  db: PgDb;
  /** The URL with its password hidden, for messages. */
  where: string;
  close(): Promise<void>;
}

/** Advisory lock keys, computed by the server from fixed names (one per purpose). */
export const MIGRATE_LOCK = "gatehouse.migrate";
export const KEYS_LOCK = "gatehouse.keys";

/** Seconds to wait for a connection to open: a server that does not answer fails the query instead of hanging it. */
const CONNECT_TIMEOUT_SECONDS = 10;

/**
 * Session settings of the pool's connections (sent when each opens). No
 * query of a request waits forever on another instance: a row or advisory
 * lock not obtained in 10 s, or a statement running 30 s, fails (a 503, try
 * again: pg/backend.ts); and a transaction left idle 30 s (an instance
 * frozen mid-transaction) is ended by the server, releasing its locks.
 */
export const POOL_SESSION = {
  application_name: "gatehouse",
  lock_timeout: "10s",
  statement_timeout: "30s",
  idle_in_transaction_session_timeout: "30s",
};

/** For the operator's long one-off work (migrations, `store copy`): waits as long as it takes. */
export const MAINTENANCE_SESSION = (name: string) => ({
  application_name: name,
  lock_timeout: "0",
  statement_timeout: "0",
  idle_in_transaction_session_timeout: "0",
});

/** The settings of a `store.type: postgres` config's store section (config check made sure it has a URL). */
export function pgSettingsOf(store: { url?: string; pool_size?: number; tls?: PgSettings["tls"] }): PgSettings {
  if (!store.url) throw new Error("store.url: is required with store.type postgres (or store.url_file, or GATEHOUSE_STORE__URL)");
  return { url: store.url, pool_size: store.pool_size, tls: store.tls };
}

/** Bun's client options for these settings (`max` overridable, e.g. 1 for a lock's own client). */
export function pgClientOptions(settings: PgSettings | string, overrides: Partial<Bun.SQL.PostgresOrMySQLOptions> = {}): Bun.SQL.PostgresOrMySQLOptions {
  const { url, pool_size, tls } = typeof settings === "string" ? { url: settings, pool_size: undefined, tls: undefined } : settings;
  return {
    adapter: "postgres",
    url,
    max: pool_size ?? 10,
    connectionTimeout: CONNECT_TIMEOUT_SECONDS,
    connection: POOL_SESSION,
    ...(tls
      ? {
          tls: {
            rejectUnauthorized: tls.reject_unauthorized,
            ...(tls.ca_file !== undefined ? { ca: Bun.file(tls.ca_file) } : {}),
          },
        }
      : {}),
    ...overrides,
  };
}

/** The pool and drizzle over it. Connections open on first use: nothing is sent yet. */
export function openPgDatabase(settings: PgSettings | string): PgDatabase {
  const sql = new SQL(pgClientOptions(settings));
  const db = drizzle({ client: sql, schema });
  const url = typeof settings === "string" ? settings : settings.url;
  return { sql, db, where: redactUrl(url), close: () => sql.close() };
}

/**
 * The error saying which store failed (its URL with the password hidden) and
 * how, with Bun's error code: "Failed to connect" alone does not tell an
 * operator where to look.
 */
export function pgError(error: unknown, settings: PgSettings | string): Error {
  const url = typeof settings === "string" ? settings : settings.url;
  const original = error instanceof Error ? error : new Error(String(error));
  const code = (original as { code?: unknown }).code;
  const described = new Error(`PostgreSQL store ${redactUrl(url)}: ${redactSecrets(original.message, url)}${typeof code === "string" ? ` (${code})` : ""}`);
  (described as { code?: unknown }).code = code;
  return described;
}

/** The applied migrations, oldest first (for `gatehouse migrate`); none for a database never migrated. */
export async function appliedPgMigrations(sql: SQL): Promise<{ hash: string; createdAt: number }[]> {
  const [{ exists }] = await sql`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists`;
  if (!exists) return [];
  const rows = await sql`SELECT hash, created_at FROM drizzle.__drizzle_migrations ORDER BY created_at, id`;
  return rows.map((row: { hash: string; created_at: string | number }) => ({ hash: row.hash, createdAt: Number(row.created_at) }));
}

/**
 * Applies the migrations not applied yet; answers how many it applied and
 * how many are applied in all. drizzle's migrator reads the last applied
 * migration outside its transaction, so two instances starting together could
 * both apply the same one: the work runs under a session advisory lock, on a
 * client of its own with one connection (a session lock taken on a pooled
 * connection would stay with it after release). Closing the client drops the
 * lock, also when this process dies half-way.
 */
export async function migratePg(settings: PgSettings | string): Promise<{ applied: number; total: number }> {
  // No lock timeout: an instance starting while another migrates waits for it, however long it takes.
  const client = new SQL(pgClientOptions(settings, { max: 1, connection: MAINTENANCE_SESSION("gatehouse migrate") }));
  try {
    await client`SELECT pg_advisory_lock(hashtext(${MIGRATE_LOCK}))`;
    const before = (await appliedPgMigrations(client)).length;
    await migrate(drizzle({ client }), { migrationsFolder: pgMigrationsFolder });
    const total = (await appliedPgMigrations(client)).length;
    await client`SELECT pg_advisory_unlock(hashtext(${MIGRATE_LOCK}))`;
    return { applied: total - before, total };
  } catch (error) {
    throw pgError(error, settings);
  } finally {
    await client.close();
  }
}
