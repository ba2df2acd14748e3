// The tables of ./sqlite-schema.ts on PostgreSQL: the same columns, indexes and
// constraints, in drizzle's pg-core (the dialect's choices: ../pg/schema.ts).
import { index, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { id, jsonText, time } from "../pg/columns.ts";
import type { Scopes } from "../../identity/user.ts";
import { users } from "../users/pg-schema.ts";

/** API tokens. Only the SHA-256 of the secret is kept; `id` is public. */
export const tokens = pgTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    hash: text("hash").notNull(),
    userId: id("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    note: text("note").notNull().default(""),
    /** service → scopes; null: unrestricted. */
    scopes: jsonText<Scopes>("scopes"),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at"),
    parentId: text("parent_id"),
    sessionId: text("session_id"),
    lastUsedAt: time("last_used_at"),
    lastUsedAddress: text("last_used_address"),
    lastUsedReportedAddress: text("last_used_reported_address"),
    revokedAt: time("revoked_at"),
    formNonce: text("form_nonce"),
    familyId: text("family_id"),
    rotatedFrom: text("rotated_from"),
    rotatedTo: text("rotated_to"),
    rotatedUntil: time("rotated_until"),
    allowedNetworks: jsonText<string[]>("allowed_networks"),
    revokedReason: text("revoked_reason"),
    expiryNotifiedAt: time("expiry_notified_at"),
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

/** Tiled's `first_eight` of each API token. */
export const tokenFirstEight = pgTable(
  "token_first_eight",
  {
    tokenId: text("token_id")
      .primaryKey()
      .references(() => tokens.id, { onDelete: "cascade" }),
    firstEight: text("first_eight").notNull(),
  },
  (table) => [index("token_first_eight_first_eight").on(table.firstEight)],
);
