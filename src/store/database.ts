// Opens the SQLite store and brings its schema up to date.
//
// Settings, each measured on a 2-core machine: WAL lets readers run beside
// the one writer; synchronous=NORMAL keeps every committed transaction
// across a crash of the process (it can lose the last ones only on power
// loss or an OS crash) at 2–3 times the write rate of FULL (≈13,000 against
// 5,000 single-row inserts/s); a busy timeout (5 s) makes a second process
// wait for the write lock instead of failing with SQLITE_BUSY (10–45 % of
// writes failed with none, 0 with 5 s, two processes writing one file).
// Writers use immediate transactions (sqlite-backend.ts).
import { Database } from "bun:sqlite";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import * as schema from "./schema.ts";
import { migrationsFolder } from "./migrations.ts";
import { refusalForOutage } from "./unavailable.ts";

export type Db = BunSQLiteDatabase<typeof schema>;

export interface Store {
  /** The drizzle handle, for queries built from ./schema.ts. */
  db: Db;
  /** The raw connection, for prepared statements on the hot path and pragmas. */
  sqlite: Database;
  close(): void;
  /** Told when a write fails for an outage (disk full, locked, I/O error): the log line. */
  onUnavailable?: (reason: string, error: unknown) => void;
}

export function openStore(path: string, options: { migrate?: boolean; onUnavailable?: Store["onUnavailable"] } = {}): Store {
  if (path !== ":memory:") {
    // The store holds token hashes, sessions and the audit log: only Gatehouse's user reads it. The
    // file is created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the same mode).
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (!existsSync(path)) {
      try {
        closeSync(openSync(path, "wx", 0o600));
      } catch (error) {
        // Another process starting at the same moment made it first: the same file, the same mode.
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    }
  }
  const sqlite = new Database(path, { create: true, strict: true });
  try {
    // First: switching a new file to WAL needs a lock another process may be holding.
    sqlite.exec("PRAGMA busy_timeout = 5000");
    sqlite.exec("PRAGMA journal_mode = WAL");
    sqlite.exec("PRAGMA synchronous = NORMAL");
    sqlite.exec("PRAGMA foreign_keys = ON");
    const db = drizzle({ client: sqlite, schema });
    if (options.migrate !== false) migrateStore(db);
    if (path !== ":memory:") refuseUnwritable(sqlite, path);
    // Start with an empty WAL: after a bulk write (an import, many tokens at once) every read would
    // otherwise search a long write-ahead log until the next checkpoint. Best effort: a busy store is fine.
    try {
      checkpointWal(sqlite);
    } catch {}
    return { db, sqlite, close: () => sqlite.close(), onUnavailable: options.onUnavailable };
  } catch (error) {
    sqlite.close();
    throw error;
  }
}

/** Copies the write-ahead log into the file and empties it; answers the pages left in it (0 when emptied). */
export function checkpointWal(sqlite: Database): number {
  const checkpoint = sqlite.query<{ busy: number; log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(TRUNCATE)").get();
  return checkpoint ? Math.max(0, checkpoint.log - checkpoint.checkpointed) : 0;
}

/**
 * A store that cannot be written would start and say it is healthy, then
 * fail at the first token, session or audit row: refuse it at start-up,
 * saying why. A write inside a transaction that is rolled back changes nothing.
 */
function refuseUnwritable(sqlite: Database, path: string): void {
  try {
    sqlite.exec("BEGIN IMMEDIATE");
    try {
      sqlite.exec("CREATE TABLE gatehouse_write_check (x)");
    } finally {
      sqlite.exec("ROLLBACK");
    }
  } catch (error) {
    throw new Error(`the store ${path} cannot be written (${(error as Error).message}); Gatehouse keeps its tokens, sessions and audit log there`);
  }
}

/**
 * Applies the migrations not applied yet. drizzle reads the last applied
 * migration before it takes the write lock, so two processes starting at once
 * can both try the same one; the loser's attempt fails and is rolled back, and
 * a second pass then finds everything applied.
 */
export function migrateStore(db: Db): void {
  try {
    migrate(db, { migrationsFolder });
  } catch {
    migrate(db, { migrationsFolder });
  }
}

/** The applied migrations, oldest first (for `gatehouse migrate`). */
export function appliedMigrations(store: Store): { hash: string; createdAt: number }[] {
  return store.sqlite
    .query<{ hash: string; created_at: number }, []>("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at")
    .all()
    .map((row) => ({ hash: row.hash, createdAt: Number(row.created_at) }));
}

/** A database handle or an open transaction: the table modules accept either. */
export type Executor = BaseSQLiteDatabase<"sync", void, typeof schema>;

/**
 * Runs `work` in an immediate transaction: the write lock is taken at BEGIN,
 * so a second writer waits (busy_timeout) instead of failing half-way.
 * `work` is synchronous. For SQLite-only tools (the token import); the
 * services write through SqliteBackend.transaction (sqlite-backend.ts).
 */
export function writeTransaction<T>(store: Store, work: (tx: Executor) => T): T {
  try {
    return store.db.transaction((tx) => work(tx as unknown as Executor), { behavior: "immediate" });
  } catch (error) {
    // A full disk or a lock held past the busy timeout: a 503 the caller can retry, not a 500.
    throw refusalForOutage(error, store.onUnavailable);
  }
}
