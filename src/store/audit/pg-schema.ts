// The table of ./sqlite-schema.ts on PostgreSQL: the same columns, indexes and
// constraints, in drizzle's pg-core (the dialect's choices: ../pg/schema.ts).
import { index, pgTable, text } from "drizzle-orm/pg-core";
import { id, jsonText, time } from "../pg/columns.ts";

/** Who did what to which token, when, and from where. */
export const auditLog = pgTable(
  "audit_log",
  {
    id: id("id").primaryKey().generatedByDefaultAsIdentity(),
    at: time("at").notNull(),
    event: text("event").notNull(),
    actorUsername: text("actor_username"),
    actorRealm: text("actor_realm"),
    actorTokenId: text("actor_token_id"),
    tokenId: text("token_id"),
    targetUsername: text("target_username"),
    targetRealm: text("target_realm"),
    address: text("address"),
    reportedAddress: text("reported_address"),
    detail: jsonText<Record<string, unknown>>("detail"),
  },
  (table) => [
    index("audit_log_at").on(table.at),
    index("audit_log_token_id").on(table.tokenId),
    index("audit_log_event_id").on(table.event, table.id),
    index("audit_log_actor_id").on(table.actorUsername, table.id),
    index("audit_log_target_id").on(table.targetUsername, table.id),
  ],
);
