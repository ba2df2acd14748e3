// The metrics port (`metrics.port`, 9090 by default, as auth-o-tron): GET
// /metrics in Prometheus's text format, GET /health and GET /ready. Its own
// Elysia app on its own listener, so scrapes and probes never reach the
// application's routes, and requests to it are not counted in http_*.
import { Elysia, t } from "elysia";
import { healthModule } from "../health/index.ts";
import type { Readiness } from "../../metrics/readiness.ts";
import { jsonAnswer } from "../http.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export const ReadinessModel = t.Object({
  status: t.Union([t.Literal("ready"), t.Literal("not ready")]),
  checks: t.Object({ store: t.String(), keys: t.String() }),
});

/** GET /ready: 200 when ready, 503 otherwise, with what each check found (never a secret). */
export function readyModule(check: () => Readiness | Promise<Readiness>) {
  return new Elysia({ name: "ready" }).get(
    "/ready",
    async () => {
      const { ready, checks } = await check();
      return jsonAnswer(ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks });
    },
    { response: { 200: ReadinessModel, 503: ReadinessModel }, detail: { summary: "Readiness: the store answers and the signing keys are loaded (503 otherwise)" } },
  );
}

export interface MetricsPortOptions {
  /** The text exposition (one process's registry, or every worker's combined). */
  render(): Promise<string>;
  ready(): Readiness | Promise<Readiness>;
}

export function metricsPortApp(options: MetricsPortOptions) {
  return new Elysia({ name: "metrics-port" })
    .get(
      "/metrics",
      async () => new Response(await options.render(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } }),
      { response: t.String({ description: "Prometheus text format 0.0.4" }) },
    )
    .use(healthModule())
    .use(readyModule(options.ready))
    .onError(({ code }) => jsonAnswer(code === "NOT_FOUND" ? 404 : 500, { error: code === "NOT_FOUND" ? "Not found" : "Internal server error" }));
}
