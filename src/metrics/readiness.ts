// Readiness (GET /ready on both ports): the store answers a query and the
// signing keys are loaded. Cheap enough for a probe every second: on SQLite,
// one read of the database file's first bytes and one indexed query, ≈ 20 µs
// (the store's own check: src/store/sqlite-backend.ts).
import type { KeySet } from "../keys/keyset.ts";
import type { StoreBackend } from "../store/backend.ts";

export interface Readiness {
  ready: boolean;
  checks: { store: "ok" | "disabled" | string; keys: "ok" | string };
}

export interface ReadinessOptions {
  store: StoreBackend | null;
  keySet: KeySet;
  /** Times the store query, for gatehouse_store_query_duration_seconds. */
  timeQuery?: <T>(query: string, run: () => T) => T;
}

export function createReadinessCheck(options: ReadinessOptions): () => Promise<Readiness> {
  const { store, keySet } = options;
  const timeQuery = options.timeQuery ?? (<T>(_query: string, run: () => T) => run());

  const storeCheck = async (): Promise<string> => {
    if (!store) return "disabled";
    try {
      await timeQuery("ready", () => store.check());
      return "ok";
    } catch (error) {
      return (error as Error).message;
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

  return async () => {
    const checks = { store: await storeCheck(), keys: keysCheck() };
    return { ready: (checks.store === "ok" || checks.store === "disabled") && checks.keys === "ok", checks };
  };
}
