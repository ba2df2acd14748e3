// The tables of ./sqlite-schema.ts on PostgreSQL: the same columns, indexes and
// constraints, in drizzle's pg-core (the dialect's choices: ../pg/schema.ts).
import { index, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { id, jsonText, time } from "../pg/columns.ts";
import type { SessionIdentity } from "./identity.ts";
import { users } from "../users/pg-schema.ts";

/** Sessions: a login, kept alive by refreshing it (see ./sqlite-schema.ts). */
export const sessions = pgTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: id("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    provider: text("provider").notNull(),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
    refreshedAt: time("refreshed_at"),
    refreshExpiresAt: time("refresh_expires_at").notNull(),
    revokedAt: time("revoked_at"),
    revokedReason: text("revoked_reason"),
    address: text("address"),
    reportedAddress: text("reported_address"),
    userAgent: text("user_agent"),
    identity: jsonText<SessionIdentity>("identity"),
    identityExpiresAt: time("identity_expires_at"),
  },
  (table) => [index("sessions_user_id").on(table.userId)],
);

/** Opaque handles a browser holds instead of a session's tokens: only the SHA-256 of each. */
export const sessionHandles = pgTable(
  "session_handles",
  {
    hash: text("hash").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    kind: text("kind").notNull(),
    createdAt: time("created_at").notNull(),
  },
  (table) => [index("session_handles_session_id").on(table.sessionId)],
);

/** A session's refresh tokens: only the SHA-256 of each secret. */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: id("id").primaryKey().generatedByDefaultAsIdentity(),
    hash: text("hash").notNull(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    createdAt: time("created_at").notNull(),
    usedAt: time("used_at"),
  },
  (table) => [uniqueIndex("refresh_tokens_hash").on(table.hash), index("refresh_tokens_session_id").on(table.sessionId)],
);
