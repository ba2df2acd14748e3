// GET /api/v1/audit: the audit log for administrators, newest first, with
// filters (event or event prefix, actor, subject, realm, time range) and
// cursor paging: `next_cursor` gives the following page, with the same
// filters. The same reading as `gatehouse audit` (store/audit/query.ts).
import { Elysia, t } from "elysia";
import type { Logger } from "../../log.ts";
import { Refusal } from "../../refusal.ts";
import type { StoreBackend } from "../../store/backend.ts";
import { MAX_AUDIT_PAGE, auditFilterFrom, auditView } from "../../store/audit/query.ts";
import type { callerPlugin } from "../caller.ts";
import { answerErrors } from "../errors.ts";
import { ErrorModel } from "../http.ts";

export interface AuditDeps {
  caller: ReturnType<typeof callerPlugin>;
  /** null when the store is disabled: the route answers 503. */
  store: StoreBackend | null;
  logger: Logger;
}

const Party = t.Object({ username: t.Union([t.String(), t.Null()]), realm: t.Union([t.String(), t.Null()]), token_id: t.Union([t.String(), t.Null()]) });
const AuditEventModel = t.Object({
  id: t.Integer(),
  at: t.String({ description: "ISO 8601" }),
  event: t.String({ description: "e.g. token.created, session.revoked, key.activated, regulation.banned" }),
  actor: Party,
  subject: Party,
  address: t.Union([t.String(), t.Null()], { description: "The peer's address (nginx's, behind a proxy), cli, or a banned address" }),
  reported_address: t.Union([t.String(), t.Null()], { description: "What X-Real-IP / X-Forwarded-For claimed; a client can forge it" }),
  detail: t.Union([t.Record(t.String(), t.Unknown()), t.Null()]),
});
const AuditPageModel = t.Object({ events: t.Array(AuditEventModel), next_cursor: t.Union([t.String(), t.Null()]) });
const AuditQuery = t.Object({
  event: t.Optional(t.String({ minLength: 1, maxLength: 100, description: "An event name (token.created), a family (token: every token.… event), or a prefix ending in * (token.rot*)" })),
  actor: t.Optional(t.String({ minLength: 1, maxLength: 256 })),
  subject: t.Optional(t.String({ minLength: 1, maxLength: 256, description: "A username or a token id" })),
  realm: t.Optional(t.String({ minLength: 1, maxLength: 256 })),
  since: t.Optional(t.String({ description: "ISO 8601 date or date-time, or how long ago: 90m, 24h, 7d" })),
  until: t.Optional(t.String({ description: "As since; exclusive" })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: MAX_AUDIT_PAGE, default: 100, error: `limit: a whole number from 1 to ${MAX_AUDIT_PAGE}` })),
  cursor: t.Optional(t.String({ maxLength: 64 })),
});

export function auditModule({ caller, store, logger }: AuditDeps) {
  return new Elysia({ name: "audit" })
    .use(caller)
    .onError(answerErrors("error", logger))
    .onAfterHandle(({ set }) => {
      set.headers["cache-control"] = "no-store";
    })
    .get(
      "/api/v1/audit",
      async ({ query }) => {
        if (!store) throw new Refusal(503, "The audit log is in the store, which is disabled (store.enabled: false)");
        const filter = auditFilterFrom(query);
        if (typeof filter === "string") throw new Refusal(400, filter);
        try {
          const page = await store.read.listAuditPage(filter);
          return { events: page.events.map(auditView), next_cursor: page.nextCursor };
        } catch (error) {
          if (error instanceof RangeError) throw new Refusal(400, error.message);
          throw error;
        }
      },
      {
        admin: true,
        query: AuditQuery,
        response: { 200: AuditPageModel, 400: ErrorModel, 401: ErrorModel, 403: ErrorModel, 503: ErrorModel },
        detail: { summary: "The audit log (administrators), newest first, filtered and paged" },
      },
    );
}
