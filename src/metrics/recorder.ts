// Gatehouse's metrics: auth-o-tron 0.4.0's families exactly (names, types,
// labels, label values, buckets), `process_*`, and Gatehouse's own under
// `gatehouse_`. They are fed by an observer of the identity pipeline
// (identity/observer.ts) and by the HTTP hook of modules/metrics/http.ts; no
// handler records anything itself.
import { Counter, Gauge, Histogram, Registry } from "./prom.ts";
import type { AuthObserver, AuthOutcome, AugmenterRun, ProviderAttempt } from "../identity/observer.ts";
import type { AuthResult } from "../identity/result.ts";
import type { RequestContext } from "../identity/request.ts";
import { LightCounter, LightGauge, LightHistogram, type CounterSeries, type HistogramSeries } from "./light.ts";
import { registerProcessMetrics } from "./process.ts";

// Buckets as auth-o-tron declares them (authotron/src/metrics/recorder.rs).
const AUTH_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const PROVIDER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const AUGMENTER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const HTTP_BUCKETS = AUTH_BUCKETS;
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export const AUTH_FAILURES = ["no_auth_header", "invalid_header", "all_failed"] as const;
/** The 9 standard methods keep their name in the `method` label; any other is `other` (bounded cardinality). */
const STANDARD_METHODS = new Set(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"]);
export const methodLabel = (method: string) => (method === "GET" || STANDARD_METHODS.has(method) ? method : "other");

/** A provider or augmenter as the metrics name it. */
export interface PluginDescription {
  name: string;
  /** The provider's scheme, as auth-o-tron's provider_type: `Basic` or `Bearer`; the augmenter's type. */
  type: string;
  realm: string;
}

export interface MetricsOptions {
  /** auth-o-tron 0.3.7's names for the first six families (no `authotron_` prefix). */
  legacyNames: boolean;
  version: string;
  providers: PluginDescription[];
  augmenters: PluginDescription[];
  /** What /authenticate answers an attempt refused by regulation (regulation.authenticate_status). */
  authenticateBanStatus?: number;
}

/** /authenticate's route label; its http_* series are recorded by the observer (see `observer`). */
export const AUTHENTICATE_ROUTE = "/authenticate";

/** auth-o-tron names a provider's type by its scheme. */
export const providerTypeLabel = (scheme: string) => (scheme === "basic" ? "Basic" : "Bearer");

/** A provider of every realm (Gatehouse's own tokens) has none to put in a label: auth-o-tron's `unknown`. */
const realmLabel = (realm: string) => (realm === "*" ? "unknown" : realm);

interface AuthenticateSeries {
  auth: CounterSeries;
  authDuration: HistogramSeries;
  http: CounterSeries;
  httpDuration: HistogramSeries;
  /** Answers given from memory (a duration of 0) not yet added to the four series and the remembered counter: see `addRemembered`. */
  remembered: number;
}

/** Gatehouse's own event families (tokens, sessions, keys, regulation, webhook), registered in this order, each label known in advance starting at 0. */
function eventCounters(registry: Registry): Metrics["events"] {
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const storeWide = " (store-wide: every instance and the CLI writing to this store, since this process started)";
  const events: Metrics["events"] = {
    tokensCreated: counter("gatehouse_tokens_created_total", `API tokens created${storeWide}`),
    tokensRevoked: counter("gatehouse_tokens_revoked_total", `API tokens revoked${storeWide}`),
    sessionsStarted: counter("gatehouse_sessions_started_total", `Sessions started by a login${storeWide}`),
    sessionsRefreshed: counter("gatehouse_sessions_refreshed_total", "Sessions refreshed (successful refresh-token exchanges served by this instance)"),
    sessionsRevoked: counter(
      "gatehouse_sessions_revoked_total",
      `Sessions revoked, by reason: logout or revocation, user no longer known, refresh token reuse${storeWide}`,
      ["reason"],
    ),
    sessionReuseDetections: counter(
      "gatehouse_session_refresh_token_reuse_total",
      `Refresh tokens presented again after use: each ends its session${storeWide}`,
    ),
    keyTransitions: counter("gatehouse_key_transitions_total", `Signing key transitions, by the state entered${storeWide}`, ["state"]),
    regulationBans: counter("gatehouse_regulation_bans_total", `Bans for repeated failed attempts, by what is banned${storeWide}`, ["kind"]),
    regulationReleases: counter("gatehouse_regulation_releases_total", `Bans ended${storeWide}`, ["kind"]),
    regulationRefusals: counter(
      "gatehouse_regulation_refusals_total",
      "Password or API-key attempts refused by this instance without checking them, because the username or address is banned",
      ["kind"],
    ),
    webhookDeliveries: counter("gatehouse_webhook_deliveries_total", "Token events delivered to the webhook (tokens.notifications.webhook) by this instance"),
    webhookFailures: counter(
      "gatehouse_webhook_failures_total",
      "Failed attempts to deliver a token event to the webhook (a status other than 2xx, an error, no answer in time) by this instance; each is retried with back-off, up to 8 attempts",
    ),
    proxyRealIpProblems: counter(
      "gatehouse_regulation_proxy_x_real_ip_problems_total",
      "Requests from a trusted proxy (regulation.trusted_proxies) showing that it passes clients' own X-Real-IP on, by what showed it: missing on a proxied request, several, or not an address. From the first, that proxy's X-Real-IP is ignored until a restart or reload: set proxy_set_header X-Real-IP $remote_addr",
      ["reason"],
    ),
  };
  for (const kind of ["username", "address"]) {
    events.regulationBans.labels(kind).inc(0);
    events.regulationReleases.labels(kind).inc(0);
    events.regulationRefusals.labels(kind).inc(0);
  }
  for (const reason of ["revoked", "user no longer known", "refresh token reuse"]) events.sessionsRevoked.labels(reason).inc(0);
  for (const reason of ["missing", "several", "invalid"]) events.proxyRealIpProblems.labels(reason).inc(0);
  for (const state of ["next", "current", "previous", "retired"]) events.keyTransitions.labels(state).inc(0);
  return events;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly authRequests: LightCounter;
  private readonly authDuration: LightHistogram;
  private readonly providerAttempts: LightCounter;
  private readonly providerDuration: LightHistogram;
  private readonly augmenterAttempts: LightCounter;
  private readonly augmenterDuration: LightHistogram;
  readonly httpRequests: LightCounter;
  readonly httpDuration: LightHistogram;
  readonly httpInFlight: LightGauge;
  private readonly remembered: LightCounter;
  /** Counters of Gatehouse's own events (tokens, sessions, keys, regulation), by family name. */
  readonly events: {
    tokensCreated: Counter;
    tokensRevoked: Counter;
    sessionsStarted: Counter;
    sessionsRefreshed: Counter;
    sessionsRevoked: Counter;
    sessionReuseDetections: Counter;
    keyTransitions: Counter;
    regulationBans: Counter;
    regulationReleases: Counter;
    regulationRefusals: Counter;
    proxyRealIpProblems: Counter;
    webhookDeliveries: Counter;
    webhookFailures: Counter;
  };
  readonly storeQueryDuration: Histogram;
  /** Series of the hot path, found once per label set. */
  private readonly rememberedSeries: CounterSeries;
  private readonly banStatus: string;

  constructor(options: MetricsOptions) {
    this.banStatus = String(options.authenticateBanStatus ?? 401);
    const auth = (name: string) => (options.legacyNames ? name : `authotron_${name}`);
    const light = <M extends { name: string }>(metric: M): M => {
      this.registry.registerMetric(metric as never);
      return metric;
    };
    this.authRequests = light(new LightCounter(auth("auth_requests_total"), "Total number of authentication attempts", ["result", "realm"]));
    this.authDuration = light(
      new LightHistogram(auth("auth_duration_seconds"), "Authentication request duration in seconds", ["result", "realm"], AUTH_BUCKETS),
    );
    this.providerAttempts = light(
      new LightCounter(auth("auth_provider_attempts_total"), "Total authentication attempts per provider", [
        "provider_name",
        "provider_type",
        "realm",
        "result",
      ]),
    );
    this.providerDuration = light(
      new LightHistogram(
        auth("auth_provider_duration_seconds"),
        "Provider authentication duration in seconds",
        ["provider_name", "provider_type", "realm"],
        PROVIDER_BUCKETS,
      ),
    );
    this.augmenterAttempts = light(
      new LightCounter(auth("augmenter_attempts_total"), "Total augmenter executions", ["augmenter_name", "augmenter_type", "realm", "result"]),
    );
    this.augmenterDuration = light(
      new LightHistogram(auth("augmenter_duration_seconds"), "Augmenter execution duration in seconds", ["augmenter_type", "realm"], AUGMENTER_BUCKETS),
    );
    this.httpRequests = light(
      new LightCounter(
        "authotron_http_requests_total",
        'HTTP requests by matched route pattern, method, and status code. Unrouted requests collapse into route="unmatched".',
        ["route", "method", "status_code"],
      ),
    );
    this.httpDuration = light(
      new LightHistogram(
        "authotron_http_request_duration_seconds",
        "HTTP request duration in seconds by matched route pattern and method, measured until the response is produced.",
        ["route", "method"],
        HTTP_BUCKETS,
      ),
    );
    this.httpInFlight = light(new LightGauge("authotron_http_requests_in_flight", "HTTP requests currently being processed, by method.", ["method"]));
    new Gauge({
      name: "authotron_build_info",
      help: "Build information; constant 1 with the version as a label",
      labelNames: ["version"],
      registers: [this.registry],
      aggregator: "first",
    })
      .labels(options.version)
      .set(1);
    registerProcessMetrics(this.registry);

    this.remembered = light(
      new LightCounter(
        "gatehouse_auth_remembered_answers_total",
        "/authenticate answers given from the remembered verdict of the same Authorization header (jwt.reuse_seconds), successes and definite refusals alike, without running the providers",
        [],
      ),
    );
    this.rememberedSeries = this.remembered.labels();
    for (const metric of [this.authRequests, this.authDuration, this.httpRequests, this.httpDuration, this.remembered]) metric.beforeRead = this.addRemembered;
    this.events = eventCounters(this.registry);
    this.storeQueryDuration = new Histogram({
      name: "gatehouse_store_query_duration_seconds",
      help: "Duration of store queries, by query: the readiness probe, the regulation check and record, the audit reader",
      labelNames: ["query"],
      buckets: STORE_BUCKETS,
      registers: [this.registry],
    });
    this.startSeriesAtZero(options);
  }

  /**
   * As auth-o-tron's preinit_series: every provider × result, every augmenter
   * × result, each failure with realm `unknown`, `success` for each configured
   * realm and `unknown`, so that alert rules find a zero rather than nothing.
   */
  private startSeriesAtZero(options: MetricsOptions): void {
    const realms = new Set<string>(["unknown"]);
    for (const provider of options.providers) {
      const realm = realmLabel(provider.realm);
      realms.add(realm);
      for (const result of ["success", "error", "timeout"]) this.providerAttempts.labels(provider.name, provider.type, realm, result);
      this.providerDuration.labels(provider.name, provider.type, realm);
    }
    for (const augmenter of options.augmenters) {
      realms.add(augmenter.realm);
      for (const result of ["success", "error"]) this.augmenterAttempts.labels(augmenter.name, augmenter.type, augmenter.realm, result);
      this.augmenterDuration.labels(augmenter.type, augmenter.realm);
    }
    for (const failure of AUTH_FAILURES) {
      this.authRequests.labels(failure, "unknown");
      this.authDuration.labels(failure, "unknown");
    }
    for (const realm of realms) {
      this.authRequests.labels("success", realm);
      this.authDuration.labels("success", realm);
    }
  }

  /**
   * The observer of the identity pipeline that feeds the auth-o-tron families,
   * and the http_* series of /authenticate. That route is left out of the
   * HTTP hook (modules/metrics/http.ts): Elysia's request hooks take it off
   * its fast path (≈ 3 µs, 14 % of an answer given from memory, measured),
   * while the pipeline already reports each of its answers, its status
   * following from the result (200, 401, or regulation's status). Its
   * duration is the pipeline's (0 for a remembered answer): a JWT signed
   * afresh adds its ≈ 50 µs to the answer but not to the histogram.
   */
  readonly observer: AuthObserver = {
    started: (request) => {
      if (request.entry === "authenticate") this.httpInFlight.labels(methodLabel(request.method)).value++;
    },
    providerAttempt: (attempt: ProviderAttempt) => {
      const { provider } = attempt;
      const type = providerTypeLabel(provider.scheme);
      const realm = realmLabel(provider.realm);
      // auth-o-tron counts a refused credential as `error` (the provider returned an Err), and
      // records no duration for a timeout.
      const result = attempt.outcome === "success" ? "success" : attempt.outcome === "timeout" ? "timeout" : "error";
      this.providerAttempts.labels(provider.name, type, realm, result).value++;
      if (result !== "timeout") this.providerDuration.labels(provider.name, type, realm).observe(attempt.durationMs / 1000);
    },
    augmenterRun: (run: AugmenterRun) => {
      const { augmenter } = run;
      this.augmenterAttempts.labels(augmenter.name, augmenter.type, augmenter.realm, run.outcome).value++;
      this.augmenterDuration.labels(augmenter.type, augmenter.realm).observe(run.durationMs / 1000);
    },
    // /authenticate's hot path: one increment, added to the five series when they are read (addRemembered).
    remembered: (result: AuthResult, request: RequestContext) => this.countAnswer(result, request, 0, true),
    authenticated: (outcome: AuthOutcome) => this.countAnswer(outcome.result, outcome.request, outcome.durationMs, outcome.remembered),
  };

  /** One answer: of the pipeline, or from memory (`remembered`). */
  private countAnswer(result: AuthResult, request: RequestContext, durationMs: number, remembered: boolean): void {
    // Failures carry realm `unknown`, as upstream: the realm is not known before a success.
    const resultLabel = result.ok ? "success" : result.reason;
    const realm = result.ok ? result.user.realm : "unknown";
    const seconds = durationMs / 1000;
    if (remembered && request.entry === "authenticate") {
      this.authenticateSeries(resultLabel, realm, methodLabel(request.method), result.ok ? "200" : result.ban ? this.banStatus : "401").remembered++;
      return;
    }
    if (remembered) this.rememberedSeries.value++;
    if (request.entry !== "authenticate") {
      this.authRequests.labels(resultLabel, realm).value++;
      this.authDuration.labels(resultLabel, realm).observe(seconds);
      return;
    }
    const method = methodLabel(request.method);
    this.httpInFlight.labels(method).value--;
    const status = result.ok ? "200" : result.ban ? this.banStatus : "401";
    const series = this.authenticateSeries(resultLabel, realm, method, status);
    series.auth.value++;
    series.authDuration.observe(seconds);
    series.http.value++;
    series.httpDuration.observe(seconds);
  }

  /** The four series an /authenticate answer updates, found with one walk of nested maps (its hot path). */
  private readonly authenticateTree = new Map<string, Map<string, Map<string, Map<string, AuthenticateSeries>>>>();

  private readonly allAuthenticateSeries: AuthenticateSeries[] = [];

  /**
   * Adds the answers given from memory since the last read to their series:
   * each counts once in the auth and http counters, once with a duration of 0
   * in both histograms, and once in gatehouse_auth_remembered_answers_total.
   * Run before any of those is read (LightMetric.beforeRead).
   */
  private readonly addRemembered = () => {
    for (const series of this.allAuthenticateSeries) {
      const times = series.remembered;
      if (times === 0) continue;
      series.remembered = 0;
      series.auth.value += times;
      series.authDuration.observeMany(0, times);
      series.http.value += times;
      series.httpDuration.observeMany(0, times);
      this.rememberedSeries.value += times;
    }
  };

  /** The last label set asked for and its series: a client repeating itself (the usual load) skips the walk. */
  private lastSeries = { result: "", realm: "", method: "", status: "", series: null as AuthenticateSeries | null };

  private authenticateSeries(result: string, realm: string, method: string, status: string): AuthenticateSeries {
    const last = this.lastSeries;
    if (last.series && last.result === result && last.realm === realm && last.method === method && last.status === status) return last.series;
    const series = this.findAuthenticateSeries(result, realm, method, status);
    this.lastSeries = { result, realm, method, status, series };
    return series;
  }

  private findAuthenticateSeries(result: string, realm: string, method: string, status: string): AuthenticateSeries {
    let byRealm = this.authenticateTree.get(result);
    if (!byRealm) this.authenticateTree.set(result, (byRealm = new Map()));
    let byMethod = byRealm.get(realm);
    if (!byMethod) byRealm.set(realm, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let series = byStatus.get(status);
    if (!series) {
      series = {
        auth: this.authRequests.labels(result, realm),
        authDuration: this.authDuration.labels(result, realm),
        http: this.httpRequests.labels(AUTHENTICATE_ROUTE, method, status),
        httpDuration: this.httpDuration.labels(AUTHENTICATE_ROUTE, method),
        remembered: 0,
      };
      byStatus.set(status, series);
      this.allAuthenticateSeries.push(series);
    }
    return series;
  }

  /** Times a store query for gatehouse_store_query_duration_seconds. */
  timeQuery<T>(query: string, run: () => T): T {
    const started = performance.now();
    try {
      return run();
    } finally {
      this.storeQueryDuration.labels(query).observe((performance.now() - started) / 1000);
    }
  }

  /** The HTTP series of one request (the hook of modules/metrics/http.ts). */
  httpSeries(route: string, method: string, status: number): { count: CounterSeries; duration: HistogramSeries } {
    return { count: this.httpRequests.labels(route, method, String(status)), duration: this.httpDuration.labels(route, method) };
  }

  private readonly beforeScrape: (() => void | Promise<void>)[] = [];

  /** Runs `update` before each scrape (counters read from elsewhere, such as the audit log); a promise is waited for. */
  onScrape(update: () => void | Promise<void>): void {
    this.beforeScrape.push(update);
  }

  async render(): Promise<string> {
    await Promise.all(this.beforeScrape.map((update) => update()));
    return this.registry.metrics();
  }
}
