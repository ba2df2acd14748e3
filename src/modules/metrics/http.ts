// The http_* families of auth-o-tron (its middleware/http_metrics.rs), on the
// application port only: every request is counted by matched route pattern
// (`unmatched` when no route matched, so a path scan cannot create series),
// method (the 9 standard ones, else `other`) and status, timed until the
// response is produced, and counted in flight by method.
//
// Elysia hooks rather than a wrapper around Bun.serve's fetch, which would lose
// Bun's native routing (≈ 13 % measured).
import { Elysia } from "elysia";
import { methodLabel, type Metrics } from "../../metrics/recorder.ts";
import { Refusal } from "../../refusal.ts";
import type { CounterSeries } from "../../metrics/light.ts";

interface Timed {
  metricsStartedAt?: number;
  metricsInFlight?: CounterSeries;
  metricsMethod?: string;
}

/** The successful refresh-token exchanges (gatehouse_sessions_refreshed_total): Tiled's refresh route. */
const REFRESH_ROUTE = "/api/v1/auth/session/refresh";

/**
 * The status of an answer Elysia made from an error (onAfterResponse does not
 * see that Response): what every module's error handler (modules/errors.ts)
 * answers for it.
 */
function errorStatus(code: unknown, error: unknown): number {
  const refusal = error instanceof Refusal ? error : (error as { cause?: unknown } | undefined)?.cause;
  if (refusal instanceof Refusal) return refusal.status;
  if (typeof code === "number") return code;
  if (code === "NOT_FOUND") return 404;
  if (code === "VALIDATION" || code === "PARSE") return 400;
  return 500;
}

/**
 * The hooks of every route but /authenticate, whose series the pipeline's
 * observer records (metrics/recorder.ts): `.use()` it in the instance that
 * holds the other modules. Route-level hooks (scoped to that instance), so
 * that /authenticate's handler stays as Elysia compiles it without hooks.
 */
export function httpMetricsHook(metrics: Metrics) {
  return new Elysia({ name: "http-metrics" })
    .onTransform({ as: "scoped" }, (context) => {
      const timed = context as unknown as Timed;
      const method = methodLabel(context.request.method);
      const inFlight = metrics.httpInFlight.labels(method);
      inFlight.value++;
      timed.metricsMethod = method;
      timed.metricsInFlight = inFlight;
      timed.metricsStartedAt = performance.now();
    })
    .onAfterResponse({ as: "scoped" }, (context) => {
      const timed = context as unknown as Timed & { route?: string | null; responseValue?: unknown; code?: unknown; error?: unknown };
      if (timed.metricsStartedAt === undefined) return;
      const seconds = (performance.now() - timed.metricsStartedAt) / 1000;
      timed.metricsInFlight!.value--;
      const answer = timed.responseValue;
      const status =
        answer instanceof Response
          ? answer.status
          : timed.code !== undefined
            ? errorStatus(timed.code, timed.error)
            : typeof context.set.status === "number"
              ? context.set.status
              : 200;
      const series = metrics.httpSeries(timed.route || "unmatched", timed.metricsMethod!, status);
      series.count.value++;
      series.duration.observe(seconds);
      if (timed.route === REFRESH_ROUTE && status === 200) metrics.events.sessionsRefreshed.inc();
    });
}

/** Counts a request no route matched (`unmatched`, 404): the application's own error handler, placed before the one that answers. */
export function unmatchedCounter(metrics: Metrics) {
  return ({ code, request }: { code: unknown; request: Request }) => {
    if (code !== "NOT_FOUND") return;
    const series = metrics.httpSeries("unmatched", methodLabel(request.method), 404);
    series.count.value++;
    series.duration.observe(0);
  };
}
