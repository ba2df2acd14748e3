// Gatehouse's own event counters (tokens, sessions, keys, regulation), read
// from the audit log rather than recorded by each service: every such event is
// audited in the same transaction as the change, so the log is the exact
// count, and no service needs to know about metrics. Read when scraped, from
// the newest event at start-up on: store-wide, so every instance and the CLI
// writing to the store are counted (sum them across instances and you count
// each event once per instance: use max).
import type { StoreBackend } from "../store/backend.ts";
import type { AuditEventCount } from "../store/audit/query.ts";
import { isPromise } from "../identity/maybe-promise.ts";
import { storeQueryTimer } from "./store-query-timer.ts";
import type { Metrics } from "./recorder.ts";

/** Matches sessions/service.ts's REUSE_REASON. */
const REUSE_REASON = "refresh token reuse";
const KEY_STATES: Record<string, string> = {
  "key.published": "next",
  "key.activated": "current",
  "key.deactivated": "previous",
  "key.retired": "retired",
};

/**
 * Counts from the newest event now on. The counting runs when scraped, and the
 * scrape waits for it (a PostgreSQL read); one read at a time: a scrape that
 * comes during another's read waits for that one.
 */
export async function storeEventCounter(metrics: Metrics, store: StoreBackend): Promise<() => void | Promise<void>> {
  let lastId = await store.read.newestAuditId();
  let reading: Promise<void> | null = null;
  const timeQuery = storeQueryTimer(metrics);
  const { events } = metrics;
  const countEvents = (read: { lastId: number; counts: AuditEventCount[] }) => {
    lastId = read.lastId;
    for (const { event, reason, kind, count } of read.counts) {
      if (event === "token.created") events.tokensCreated.inc(count);
      else if (event === "token.revoked" || event === "token.expired_unused") events.tokensRevoked.inc(count);
      else if (event === "session.created") events.sessionsStarted.inc(count);
      else if (event === "session.revoked") {
        const label = reason === REUSE_REASON || reason === "user no longer known" ? reason : "revoked";
        events.sessionsRevoked.labels(label).inc(count);
        if (reason === REUSE_REASON) events.sessionReuseDetections.inc(count);
      } else if (event in KEY_STATES) events.keyTransitions.labels(KEY_STATES[event]!).inc(count);
      else if (event === "regulation.banned" && kind) events.regulationBans.labels(kind).inc(count);
      else if (event === "regulation.released" && kind) events.regulationReleases.labels(kind).inc(count);
    }
  };
  return () => {
    if (reading) return reading;
    const read = timeQuery("audit_events", () => store.read.auditEventsSince(lastId));
    if (!isPromise(read)) return countEvents(read);
    // A failed read is retried at the next scrape; this one shows the counts as they were.
    reading = read.then(countEvents, () => undefined).finally(() => (reading = null));
    return reading;
  };
}
