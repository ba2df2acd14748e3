// Liveness, as auth-o-tron answers it: `OK` in plain text while the process
// answers (probes and uptime monitors written for it keep working). Readiness,
// which touches the store, is a separate route.
import { Elysia, t } from "elysia";

export function healthModule() {
  return new Elysia({ name: "health" }).get(
    "/health",
    () => new Response("OK", { headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } }),
    { response: t.String(), detail: { summary: "Liveness: OK while the process answers" } },
  );
}
