// The sessions family's tables on SQLite: sessions, the opaque handles
// browsers hold for them, and their refresh tokens. Their PostgreSQL twins:
// ./pg-schema.ts (change both together).
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { SessionIdentity } from "./identity.ts";
import { users } from "../users/sqlite-schema.ts";

/**
 * Sessions (Tiled's model): a login, kept alive by refreshing it. `id` is
 * public (`ses_…`, random). Two limits: `expires_at` is absolute
 * (authentication.session_max_age after the login), `refresh_expires_at`
 * slides forward with each refresh (refresh_token_max_age), never past
 * `expires_at`. A session is live while neither has passed and it is not
 * revoked.
 */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The provider that checked the login; its describeUser re-reads roles at each refresh. */
    provider: text("provider").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    refreshedAt: integer("refreshed_at"),
    refreshExpiresAt: integer("refresh_expires_at").notNull(),
    revokedAt: integer("revoked_at"),
    /** e.g. "logout", "revoked", "refresh token reuse". */
    revokedReason: text("revoked_reason"),
    /** The peer's socket address at login. */
    address: text("address"),
    /** What X-Real-IP / X-Forwarded-For claimed at login: informative only. */
    reportedAddress: text("reported_address"),
    userAgent: text("user_agent"),
    /** Who the user was at the last sign-in or re-read (roles, attributes, scopes): what a browser handle vouches for. */
    identity: text("identity", { mode: "json" }).$type<SessionIdentity>(),
    /** When `identity` must be read again from the provider (as an access token would have expired). */
    identityExpiresAt: integer("identity_expires_at"),
  },
  (table) => [index("sessions_user_id").on(table.userId)],
);

/**
 * Opaque handles a browser holds instead of a session's tokens (the portal's
 * cookie): only the SHA-256 of each, so the database holds nothing a browser
 * could present. `kind` says which cookie carries it ("portal").
 */
export const sessionHandles = sqliteTable(
  "session_handles",
  {
    hash: text("hash").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    kind: text("kind").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [index("session_handles_session_id").on(table.sessionId)],
);

/**
 * A session's refresh tokens: only the SHA-256 of each secret. Refreshing
 * marks the presented one used and adds its successor; a used one presented
 * again revokes the whole session (reuse detection).
 */
export const refreshTokens = sqliteTable(
  "refresh_tokens",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    hash: text("hash").notNull(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    /** When it was exchanged for its successor; null while it is the session's current one. */
    usedAt: integer("used_at"),
  },
  (table) => [uniqueIndex("refresh_tokens_hash").on(table.hash), index("refresh_tokens_session_id").on(table.sessionId)],
);
