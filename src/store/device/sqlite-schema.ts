// The device family's table on SQLite (RFC 8628 device-code sign-ins). Its
// PostgreSQL twin: ./pg-schema.ts (change both together).
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { SessionIdentity } from "../sessions/identity.ts";
import { users } from "../users/sqlite-schema.ts";

/**
 * Device-code sign-ins (RFC 8628, in Tiled's shape): a command line asks for
 * one, a person approves it in a browser, the command line collects a session.
 * The device code is kept as its SHA-256 only; the user code is short-lived,
 * single use and unique while pending.
 */
export const deviceAuthorizations = sqliteTable(
  "device_authorizations",
  {
    id: text("id").primaryKey(),
    deviceCodeHash: text("device_code_hash").notNull(),
    userCode: text("user_code").notNull(),
    provider: text("provider").notNull(),
    /** "pending", "approved", "denied", "collected". */
    status: text("status").notNull(),
    /** Who asked (shown to the person approving). */
    address: text("address"),
    userAgent: text("user_agent"),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** Seconds the client must wait between polls; raised by `slow_down`. */
    interval: integer("interval").notNull(),
    lastPolledAt: integer("last_polled_at"),
    /** The person who approved it, as their provider described them then. */
    userId: integer("user_id").references(() => users.id, { onDelete: "cascade" }),
    identity: text("identity", { mode: "json" }).$type<SessionIdentity>(),
    approvedAt: integer("approved_at"),
  },
  (table) => [
    uniqueIndex("device_authorizations_device_code_hash").on(table.deviceCodeHash),
    uniqueIndex("device_authorizations_user_code").on(table.userCode),
    index("device_authorizations_expires_at").on(table.expiresAt),
  ],
);
