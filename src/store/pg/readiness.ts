// The PostgreSQL store's part of /ready (docs/postgres-design.md § 7): the
// query pool answers `SELECT 1` (the answer kept for a second, so probes every
// second from several balancers do not load the database) and the listener
// is listening (else revocations made elsewhere would not reach this instance).
// Resolves when ready, else throws an Error saying why, never with the URL or
// password in it. While the listener is deaf, each check also asks it to
// recover (replace its client once the pool answers), so an instance probed
// by a balancer listens again soon after the database is back.
import type { SQL } from "bun";
import { describeError } from "./changes.ts";

/** What the check needs from PgChangeListener. */
export interface ListenerHealth {
  /** When the listener was lost (ms since the epoch), or null while listening. */
  readonly deafSince: number | null;
  recover(): Promise<void>;
}

export interface PgReadinessOptions {
  pool: SQL;
  listener: ListenerHealth;
  /** How long an answer of the pool is kept (default 1 s). */
  keepMs?: number;
  /** The store's URL: scrubbed from any error text, with its password. */
  url?: string;
  /** Times the query, for gatehouse_store_query_duration_seconds. */
  timeQuery?: <T>(query: string, run: () => Promise<T>) => Promise<T>;
}

export function createPgReadinessCheck(options: PgReadinessOptions): () => Promise<void> {
  const { pool, listener, url } = options;
  const keepMs = options.keepMs ?? 1_000;
  const timeQuery = options.timeQuery ?? (<T>(_query: string, run: () => Promise<T>) => run());
  let answer: { at: number; error: string | null } | null = null;
  let asking: Promise<string | null> | null = null;

  const poolError = (): Promise<string | null> => {
    const now = Date.now();
    if (answer && now - answer.at < keepMs) return Promise.resolve(answer.error);
    asking ??= timeQuery("ready", async () => {
      await pool`SELECT 1`;
    })
      .then(
        () => null,
        (error: unknown) => describeError(error, url),
      )
      .then((error) => {
        answer = { at: Date.now(), error };
        asking = null;
        return error;
      });
    return asking;
  };

  return async () => {
    const error = await poolError();
    if (error !== null) throw new Error(`the store does not answer: ${error}`);
    const since = listener.deafSince;
    if (since !== null) {
      void listener.recover();
      throw new Error(`change notifications lost (since ${new Date(since).toISOString()})`);
    }
  };
}
