// Opens the store the config names: SQLite (the embedded default, one file)
// or PostgreSQL (several instances sharing state). Everything that needs the
// store (the server, its workers' supervisor, the command line) opens it here.
import type { Logger } from "../log.ts";
import type { StoreBackend } from "./backend.ts";
import type { PgSettings } from "./pg/database.ts";
import { openSqliteBackend } from "./sqlite-backend.ts";

/** The config's `store` section, as opening needs it. */
export interface StoreSettings {
  type: "sqlite" | "postgres";
  /** SQLite's file. */
  path: string;
  url?: string;
  pool_size?: number;
  tls?: PgSettings["tls"];
}

export interface OpenBackendOptions {
  /** Bring the schema up to date first (default true; a supervisor's workers leave it to the supervisor). */
  migrate?: boolean;
  /** Where store.unavailable and the PostgreSQL listener's lines go; none for the command line. */
  logger?: Logger;
  /** Times /ready's query on PostgreSQL (gatehouse_store_query_duration_seconds). */
  timeQuery?: <T>(query: string, run: () => Promise<T>) => Promise<T>;
}

export async function openBackend(store: StoreSettings, options: OpenBackendOptions = {}): Promise<StoreBackend> {
  const { logger } = options;
  const onUnavailable = logger
    ? (reason: string, error: unknown) => logger.error("store.unavailable", { reason, error: (error as Error)?.message })
    : undefined;
  if (store.type === "postgres") {
    // Loaded only when asked for: a SQLite deployment does not pay for the PostgreSQL modules at start-up.
    const [{ openPgBackend }, { pgSettingsOf }] = await Promise.all([import("./pg/backend.ts"), import("./pg/database.ts")]);
    return openPgBackend(pgSettingsOf(store), { migrate: options.migrate, log: logger, onUnavailable, timeQuery: options.timeQuery });
  }
  return openSqliteBackend(store.path, { migrate: options.migrate, onUnavailable });
}
