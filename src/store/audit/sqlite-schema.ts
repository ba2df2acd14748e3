// The audit log's table on SQLite. Its PostgreSQL twin: ./pg-schema.ts
// (change both together).
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Who did what to which token, when, and from where. */
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    /** e.g. token.created, token.revoked, token.delete_denied, token.create_denied */
    event: text("event").notNull(),
    actorUsername: text("actor_username"),
    actorRealm: text("actor_realm"),
    /** The token the actor authenticated with, if any. */
    actorTokenId: text("actor_token_id"),
    tokenId: text("token_id"),
    targetUsername: text("target_username"),
    targetRealm: text("target_realm"),
    /** The peer's socket address (nginx's, behind a proxy), or "cli". */
    address: text("address"),
    /** What X-Real-IP / X-Forwarded-For claimed: informative only, a client can forge it. */
    reportedAddress: text("reported_address"),
    detail: text("detail", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (table) => [
    index("audit_log_at").on(table.at),
    index("audit_log_token_id").on(table.tokenId),
    // GET /api/v1/audit and `gatehouse audit` filter on these and page by id.
    index("audit_log_event_id").on(table.event, table.id),
    index("audit_log_actor_id").on(table.actorUsername, table.id),
    index("audit_log_target_id").on(table.targetUsername, table.id),
  ],
);
