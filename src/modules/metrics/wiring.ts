// How metrics are wired into a Gatehouse (src/app.ts): the Prometheus
// families (metrics/recorder.ts), fed by an observer of the identity pipeline
// and by the HTTP hook of every route mounted after it (./http.ts), and the
// store-wide counters read when scraped; with metrics.enabled false, none of
// them. The metrics port itself is the server's (./index.ts).
import type { Augmenter } from "../../augmenters/augmenter.ts";
import { Metrics, providerTypeLabel } from "../../metrics/recorder.ts";
import { storeEventCounter } from "../../metrics/store-events.ts";
import { storeQueryTimer } from "../../metrics/store-query-timer.ts";
import { tokenExpiryGauge } from "../../metrics/token-expiry.ts";
import type { Provider } from "../../providers/provider.ts";
import type { RegulationCounters } from "../../regulation/index.ts";
import type { StoreBackend } from "../../store/backend.ts";
import { VERSION } from "../../version.ts";
import type { Feature } from "../feature.ts";
import { httpMetricsHook, unmatchedCounter } from "./http.ts";

export interface MetricsWiring {
  enabled: boolean;
  /** metrics.legacy_names: auth-o-tron 0.3.7's names for the first six families. */
  legacyNames: boolean;
  /** Every provider of the pipeline, the built-in ones included, and the augmenters: each has its series. */
  providers: readonly Provider[];
  augmenters: readonly Augmenter[];
  /** regulation.authenticate_status: what /authenticate answers an attempt refused by regulation. */
  authenticateBanStatus: number;
  /** The store whose audit log and tokens are counted when scraped; null for none (a worker's are read by its supervisor). */
  countedStore: StoreBackend | null;
  /** tokens.remind_before: the windows of the tokens-expiring gauge. */
  remindBefore: number;
}

export interface MetricsFeature extends Feature {
  /** The families (metrics/recorder.ts); null when metrics.enabled is false. */
  recorder: Metrics | null;
  /** Times a store call (gatehouse_store_query_duration_seconds); absent without metrics. */
  timeQuery?: <T>(query: string, run: () => T) => T;
  /** The application's error handler that counts a request no route matched (before the one that answers it). */
  unmatched: (context: { code: unknown; request: Request }) => void;
  regulationCounters: RegulationCounters | null;
  webhookCounters: { delivered?: () => void; failed?: () => void };
}

export async function metricsFeature(wiring: MetricsWiring): Promise<MetricsFeature> {
  const metrics = wiring.enabled
    ? new Metrics({
        legacyNames: wiring.legacyNames,
        version: VERSION,
        providers: wiring.providers.map((provider) => ({ name: provider.name, type: providerTypeLabel(provider.scheme), realm: provider.realm })),
        augmenters: wiring.augmenters.map((augmenter) => ({ name: augmenter.name, type: augmenter.type, realm: augmenter.realm })),
        authenticateBanStatus: wiring.authenticateBanStatus,
      })
    : null;
  const store = wiring.countedStore;
  // Store-wide event counters come from the audit log, read when scraped (a worker's are read by its supervisor).
  if (metrics && store) {
    metrics.onScrape(await storeEventCounter(metrics, store));
    metrics.onScrape(tokenExpiryGauge(metrics, store, wiring.remindBefore));
  }
  if (!metrics) return { recorder: null, unmatched: () => undefined, regulationCounters: null, webhookCounters: {} };
  const timeQuery = storeQueryTimer(metrics);
  const refusalSeries = { username: metrics.events.regulationRefusals.labels("username"), address: metrics.events.regulationRefusals.labels("address") };
  return {
    recorder: metrics,
    observer: metrics.observer,
    timeQuery,
    // Every route mounted after it but /authenticate, under the HTTP metrics hook (http_* families); /authenticate's
    // series come from the pipeline's observer, which keeps its handler free of request hooks.
    routes: () => httpMetricsHook(metrics),
    unmatched: unmatchedCounter(metrics),
    regulationCounters: {
      // The two series made once: labels() hashes its arguments on every call, and a banned
      // username's refusals are answered from memory, counted on each (issue 24).
      refused: (kind) => refusalSeries[kind].inc(),
      proxyRealIpProblem: (problem) => metrics.events.proxyRealIpProblems.labels(problem).inc(),
      timeQuery,
    },
    webhookCounters: { delivered: () => metrics.events.webhookDeliveries.inc(), failed: () => metrics.events.webhookFailures.inc() },
  };
}
