// Purging what has ended, on a schedule, so that the store stops growing
// with use: sessions ended (revoked, expired, or left unrefreshed) and API
// tokens expired or revoked, once each has been over for the configured
// retention (config `purge`); their refresh tokens and first_eight rows go
// with them (ON DELETE CASCADE). The audit log has its own retention
// (`audit.retention`, purged in app.ts).
//
// Why a retention rather than deleting at once: an ended session or token
// still shows in listings (include_inactive, include_revoked) and answers
// "revoked" rather than "unknown" for a while, which is what its owner and
// an administrator investigating expect.
//
// Deletions run in small immediate transactions: bun:sqlite is synchronous,
// so one long transaction would hold both the event loop and the write lock.
// The WAL is then checkpointed (TRUNCATE) so that the file shrinks back; a
// checkpoint that readers prevent from finishing is simply retried next time.
import type { GatehouseConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { writeTransaction, type Store } from "./database.ts";

export interface PurgePolicy {
  /** Seconds between purges; 0: never. */
  intervalSeconds: number;
  /** Seconds a session is kept after it ended. */
  sessionsAfterSeconds: number;
  /** Seconds a token is kept after it expired or was revoked. */
  tokensAfterSeconds: number;
}

export interface PurgeResult {
  sessions: number;
  tokens: number;
  /** Pages left in the WAL after the checkpoint (0 when it was emptied). */
  walPages: number;
}

export function purgePolicy(config: GatehouseConfig): PurgePolicy {
  return {
    intervalSeconds: config.purge.interval,
    sessionsAfterSeconds: config.purge.sessions_after,
    tokensAfterSeconds: config.purge.tokens_after,
  };
}

const BATCH = 500;

/** Deletes in batches until fewer than BATCH rows match; returns the count. */
function deleteInBatches(store: Store, sql: string, cutoff: number): number {
  const statement = store.sqlite.query<unknown, [number, number]>(sql);
  let total = 0;
  for (;;) {
    const deleted = writeTransaction(store, () => statement.run(cutoff, BATCH).changes);
    total += deleted;
    if (deleted < BATCH) return total;
  }
}

// A session ended at the earliest of its revocation, its absolute expiry and its sliding one.
const DELETE_ENDED_SESSIONS = `
  DELETE FROM sessions WHERE id IN (
    SELECT id FROM sessions
    WHERE min(coalesce(revoked_at, expires_at), expires_at, refresh_expires_at) < ?1
    LIMIT ?2)`;

const DELETE_ENDED_TOKENS = `
  DELETE FROM tokens WHERE id IN (
    SELECT id FROM tokens
    WHERE (revoked_at IS NOT NULL AND revoked_at < ?1) OR (expires_at IS NOT NULL AND expires_at < ?1)
    LIMIT ?2)`;

/** One purge, now. */
export function purgeStore(store: Store, policy: PurgePolicy, now = Date.now()): PurgeResult {
  const sessions = deleteInBatches(store, DELETE_ENDED_SESSIONS, now - policy.sessionsAfterSeconds * 1000);
  const tokens = deleteInBatches(store, DELETE_ENDED_TOKENS, now - policy.tokensAfterSeconds * 1000);
  const checkpoint = store.sqlite.query<{ busy: number; log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(TRUNCATE)").get();
  return { sessions, tokens, walPages: checkpoint ? Math.max(0, checkpoint.log - checkpoint.checkpointed) : 0 };
}

/** Purges every `intervalSeconds` (the first time one interval after start); `stop()` ends it. */
export function schedulePurge(store: Store, policy: PurgePolicy, logger: Logger): { stop(): void } {
  if (policy.intervalSeconds <= 0) return { stop() {} };
  const timer = setInterval(() => {
    try {
      const result = purgeStore(store, policy);
      logger.info("store.purged", { deleted: { sessions: result.sessions, tokens: result.tokens }, wal_pages: result.walPages });
    } catch (error) {
      // A full disk or a long lock: the next run tries again.
      logger.warn("store.purge_failed", { error: (error as Error).message });
    }
  }, policy.intervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
