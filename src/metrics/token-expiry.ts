// gatehouse_tokens_expiring{window}: live API tokens that expire within each
// window (1 day, 7 days, 30 days and tokens.remind_before), counted in the
// store when scraped, so that Prometheus can alert before a machine's token
// runs out (issue 23 § 2). Store-wide, like the event counters
// (./store-events.ts): read by the supervisor, not by each worker.
import { Gauge } from "./prom.ts";
import type { Metrics } from "./recorder.ts";
import type { StoreBackend } from "../store/backend.ts";
import { storeQueryTimer } from "./store-query-timer.ts";

const DAY = 86400;

/** "7d", "12h", "90s": the window's label. */
export function windowLabel(seconds: number): string {
  if (seconds % DAY === 0) return `${seconds / DAY}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${seconds}s`;
}

/** Registers the gauge; the returned update (for Metrics.onScrape) counts the tokens. */
export function tokenExpiryGauge(metrics: Metrics, store: StoreBackend, remindBefore: number): () => Promise<void> {
  const windows = [...new Set([DAY, 7 * DAY, 30 * DAY, ...(remindBefore > 0 ? [remindBefore] : [])])].sort((a, b) => a - b);
  const gauge = new Gauge({
    name: "gatehouse_tokens_expiring",
    help: "Live API tokens (not revoked, not rotated away) that expire within the window, store-wide; tokens.remind_before is one of the windows",
    labelNames: ["window"],
    registers: [metrics.registry],
    aggregator: "first",
  });
  for (const window of windows) gauge.labels(windowLabel(window)).set(0);
  const timeQuery = storeQueryTimer(metrics);
  return async () => {
    const now = Date.now();
    try {
      const counts = await timeQuery("tokens_expiring", () => store.read.countTokensExpiring(now, windows.map((window) => now + window * 1000)));
      windows.forEach((window, index) => gauge.labels(windowLabel(window)).set(counts[index]!));
    } catch {
      // The store away: this scrape shows the counts as they were (readiness says why).
    }
  };
}
