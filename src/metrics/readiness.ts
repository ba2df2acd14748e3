// Readiness (GET /ready on both ports): the store answers a query and the
// signing keys are loaded. Cheap enough for a probe every second: one read of
// the database file's first bytes and one indexed SQLite query, ≈ 20 µs.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import type { KeySet } from "../keys/keyset.ts";
import type { Store } from "../store/database.ts";

export interface Readiness {
  ready: boolean;
  checks: { store: "ok" | "disabled" | string; keys: "ok" | string };
}

const SQLITE_HEADER = "SQLite format 3\u0000";

export interface ReadinessOptions {
  store: Store | null;
  /** The database file (null: the store is disabled or in memory). */
  storePath: string | null;
  keySet: KeySet;
  /** Times the store query, for gatehouse_store_query_duration_seconds. */
  timeQuery?: <T>(query: string, run: () => T) => T;
}

/**
 * SQLite keeps its file open and pages in memory, so a query alone can
 * succeed on a file that was deleted, replaced or overwritten meanwhile: the
 * check also reads the file's header from its path and compares the inode.
 */
export function createReadinessCheck(options: ReadinessOptions): () => Readiness {
  const { store, storePath, keySet } = options;
  const timeQuery = options.timeQuery ?? (<T>(_query: string, run: () => T) => run());
  const inode = storePath ? statSync(storePath).ino : null;
  const probe = store?.sqlite.prepare("SELECT count(*) AS n FROM (SELECT 1 FROM sqlite_schema LIMIT 1)");

  const storeCheck = (): string => {
    if (!store || !probe) return "disabled";
    try {
      if (storePath) {
        if (statSync(storePath).ino !== inode) return "the database file was replaced or removed";
        const header = Buffer.alloc(16);
        const fd = openSync(storePath, "r");
        try {
          readSync(fd, header, 0, 16, 0);
        } finally {
          closeSync(fd);
        }
        if (header.toString("latin1") !== SQLITE_HEADER) return "the database file is not a SQLite database any more";
      }
      timeQuery("ready", () => probe.get());
      return "ok";
    } catch (error) {
      return `the store does not answer: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    }
  };

  const keysCheck = (): string => {
    try {
      keySet.signer();
      return "ok";
    } catch (error) {
      return `no signing key: ${(error as Error).message}`;
    }
  };

  return () => {
    const checks = { store: storeCheck(), keys: keysCheck() };
    return { ready: (checks.store === "ok" || checks.store === "disabled") && checks.keys === "ok", checks };
  };
}
