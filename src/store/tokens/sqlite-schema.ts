// The tokens family's tables on SQLite: API tokens, and Tiled's `first_eight`
// of each. Their PostgreSQL twins: ./pg-schema.ts (change both together).
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { Scopes } from "../../identity/user.ts";
import { users } from "../users/sqlite-schema.ts";

/** API tokens. Only the SHA-256 of the secret is kept; `id` is public. */
export const tokens = sqliteTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    hash: text("hash").notNull(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    note: text("note").notNull().default(""),
    /** service → scopes; null: unrestricted (every configured service and scope). */
    scopes: text("scopes", { mode: "json" }).$type<Scopes>(),
    createdAt: integer("created_at").notNull(),
    /** null: never expires (only when tokens.allow_non_expiring). */
    expiresAt: integer("expires_at"),
    /** The token used to create this one, when it was created with a token: revoking it revokes this one. */
    parentId: text("parent_id"),
    /** The session whose access token created this one (or its parent), if any: see sessions/service.ts for what ending it does. */
    sessionId: text("session_id"),
    lastUsedAt: integer("last_used_at"),
    lastUsedAddress: text("last_used_address"),
    lastUsedReportedAddress: text("last_used_reported_address"),
    revokedAt: integer("revoked_at"),
    /** The portal's single-use form nonce the token was made with: a form sent twice (a reload) makes one token. */
    formNonce: text("form_nonce"),
    /** The first token of its rotation family (null: it is the first, or was never rotated): reuse revokes the family. */
    familyId: text("family_id"),
    /** The token it replaced by rotation. */
    rotatedFrom: text("rotated_from"),
    /** The token that replaced it by rotation. */
    rotatedTo: text("rotated_to"),
    /** Rotated away: its secret works until then (the grace); presented later, it revokes its family. Read on every use. */
    rotatedUntil: integer("rotated_until"),
    /** CIDR blocks it may be used from (JSON list); null: anywhere. Read on every use. */
    allowedNetworks: text("allowed_networks", { mode: "json" }).$type<string[]>(),
    /** Why it was revoked, when not by its owner's or an admin's choice (reuse after rotation, found public, unused). */
    revokedReason: text("revoked_reason"),
    /** When its owner was notified that it expires soon (once per token). */
    expiryNotifiedAt: integer("expiry_notified_at"),
  },
  (table) => [
    uniqueIndex("tokens_hash").on(table.hash),
    uniqueIndex("tokens_form_nonce").on(table.formNonce),
    index("tokens_user_id").on(table.userId),
    index("tokens_parent_id").on(table.parentId),
    index("tokens_session_id").on(table.sessionId),
    index("tokens_family_id").on(table.familyId),
  ],
);

/**
 * Tiled's `first_eight` of each API token (the first 8 random characters of
 * the secret): how Tiled clients name a key in lists and revoke it. Written
 * with the token; tokens created before this table existed have none.
 */
export const tokenFirstEight = sqliteTable(
  "token_first_eight",
  {
    tokenId: text("token_id")
      .primaryKey()
      .references(() => tokens.id, { onDelete: "cascade" }),
    firstEight: text("first_eight").notNull(),
  },
  (table) => [index("token_first_eight_first_eight").on(table.firstEight)],
);
