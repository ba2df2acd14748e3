// Purging what has ended, on a schedule, so that the store stops growing
// with use: sessions ended (revoked, expired, or left unrefreshed) and API
// tokens expired or revoked, once each has been over for the configured
// retention (config `purge`); their refresh tokens and first_eight rows go
// with them (ON DELETE CASCADE). Device authorizations (RFC 8628) go as soon
// as they expire: anyone may ask for one, and an expired one serves nothing. The audit log has its own retention
// (`audit.retention`, purged by modules/audit/wiring.ts). With `tokens.expire_unused_after`,
// the purge also revokes the tokens nobody has used for that long (issue 23
// § 2; tokens/service.ts expireUnused), before deleting what has ended.
//
// Why a retention rather than deleting at once: an ended session or token
// still shows in listings (include_inactive, include_revoked) and answers
// "revoked" rather than "unknown" for a while, which is what its owner and
// an administrator investigating expect.
//
// Deletions run in small transactions: on SQLite (synchronous) one long
// transaction would hold both the event loop and the write lock. SQLite's WAL
// is then checkpointed (TRUNCATE) so that the file shrinks back; a checkpoint
// that readers prevent from finishing is simply retried next time.
import type { Logger } from "../log.ts";
import type { MaybePromise } from "../identity/maybe-promise.ts";
import type { Queries, StoreBackend } from "./backend.ts";
import { SqliteBackend } from "./sqlite-backend.ts";

export interface PurgePolicy {
  /** Seconds between purges; 0: never. */
  intervalSeconds: number;
  /** Seconds a session is kept after it ended. */
  sessionsAfterSeconds: number;
  /** Seconds a token is kept after it expired or was revoked. */
  tokensAfterSeconds: number;
}

export interface PurgeResult {
  /** Tokens revoked for not being used for tokens.expire_unused_after. */
  expiredUnused: number;
  sessions: number;
  tokens: number;
  deviceAuthorizations: number;
  /** Pages left in the WAL after the checkpoint (0 when it was emptied). */
  walPages: number;
}

/** What the purge asks of the token service (tokens/service.ts), which sits above the store. */
export interface TokenSweeps {
  expireUnused(now: number): Promise<number>;
  notifyExpiring(now: number): Promise<number>;
}

const BATCH = 500;

/** Deletes in batches until fewer than BATCH rows match; returns the count. */
async function deleteInBatches(
  store: StoreBackend,
  deleteSome: (q: Queries, cutoff: number, limit: number) => MaybePromise<number>,
  cutoff: number,
): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await store.transaction(async (q) => deleteSome(q, cutoff, BATCH));
    total += deleted;
    if (deleted < BATCH) return total;
  }
}

/** One purge, now (`tokens`: the service that revokes unused tokens, when tokens.expire_unused_after is set). */
export async function purgeStore(store: StoreBackend, policy: PurgePolicy, now = Date.now(), tokens: TokenSweeps | null = null): Promise<PurgeResult> {
  const expiredUnused = tokens ? await tokens.expireUnused(now) : 0;
  // Owners told (through the webhook) of their tokens that expire soon, once each.
  if (tokens) await tokens.notifyExpiring(now);
  const sessions = await deleteInBatches(store, (q, cutoff, limit) => q.deleteEndedSessions(cutoff, limit), now - policy.sessionsAfterSeconds * 1000);
  const deletedTokens = await deleteInBatches(store, (q, cutoff, limit) => q.deleteEndedTokens(cutoff, limit), now - policy.tokensAfterSeconds * 1000);
  // Sign-ins abandoned at the identity provider: a few rows at most, each useless once expired.
  await store.transaction(async (q) => q.deleteExpiredSignInFlows(now));
  const deviceAuthorizations = await deleteInBatches(store, (q, cutoff, limit) => q.deleteExpiredDeviceAuthorizations(cutoff, limit), now);
  const walPages = store instanceof SqliteBackend ? store.checkpoint() : 0;
  return { expiredUnused, sessions, tokens: deletedTokens, deviceAuthorizations, walPages };
}

/** Purges every `intervalSeconds` (the first time one interval after start); `stop()` ends it. */
export function schedulePurge(store: StoreBackend, policy: PurgePolicy, logger: Logger, tokens: TokenSweeps | null = null): { stop(): void } {
  if (policy.intervalSeconds <= 0) return { stop() {} };
  const timer = setInterval(() => {
    purgeStore(store, policy, Date.now(), tokens).then(
      (result) =>
        logger.info("store.purged", {
          expired_unused_tokens: result.expiredUnused || undefined,
          deleted: { sessions: result.sessions, tokens: result.tokens, device_authorizations: result.deviceAuthorizations },
          wal_pages: result.walPages,
        }),
      // A full disk or a long lock: the next run tries again.
      (error) => logger.warn("store.purge_failed", { error: (error as Error).message }),
    );
  }, policy.intervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
