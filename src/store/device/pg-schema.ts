// The table of ./sqlite-schema.ts on PostgreSQL: the same columns, indexes and
// constraints, in drizzle's pg-core (the dialect's choices: ../pg/schema.ts).
import { index, integer, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { id, jsonText, time } from "../pg/columns.ts";
import type { SessionIdentity } from "../sessions/identity.ts";
import { users } from "../users/pg-schema.ts";

/** Device-code sign-ins (see ./sqlite-schema.ts). */
export const deviceAuthorizations = pgTable(
  "device_authorizations",
  {
    id: text("id").primaryKey(),
    deviceCodeHash: text("device_code_hash").notNull(),
    userCode: text("user_code").notNull(),
    provider: text("provider").notNull(),
    status: text("status").notNull(),
    address: text("address"),
    userAgent: text("user_agent"),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
    interval: integer("interval").notNull(),
    lastPolledAt: time("last_polled_at"),
    userId: id("user_id").references(() => users.id, { onDelete: "cascade" }),
    identity: jsonText<SessionIdentity>("identity"),
    approvedAt: time("approved_at"),
  },
  (table) => [
    uniqueIndex("device_authorizations_device_code_hash").on(table.deviceCodeHash),
    uniqueIndex("device_authorizations_user_code").on(table.userCode),
    index("device_authorizations_expires_at").on(table.expiresAt),
  ],
);
