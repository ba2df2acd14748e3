// Liveness: the process answers. Readiness (which touches the store) arrives with the store.
import { Elysia, t } from "elysia";
import { VERSION } from "../../version.ts";

export function healthModule() {
  return new Elysia({ name: "health" }).get("/health", () => ({ status: "ok" as const, version: VERSION }), {
    response: t.Object({ status: t.Literal("ok"), version: t.String() }),
  });
}
