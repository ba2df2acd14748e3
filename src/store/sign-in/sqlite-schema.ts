// The sign-in family's tables on SQLite: accounts at identity providers, and
// the sign-ins under way there. Their PostgreSQL twins: ./pg-schema.ts
// (change both together).
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { users } from "../users/sqlite-schema.ts";

/**
 * People who signed in with an identity provider (providers/oidc.ts): one row
 * per (provider, issuer, subject), never matched by e-mail, linked to the
 * account it made. `roles` and `attributes` are what the provider said at the
 * last sign-in (or re-check): a session refresh re-reads them from here.
 * `refreshTokenSealed`: the provider's refresh token, sealed with the master
 * key, kept only with `recheck_on_refresh`.
 */
export const externalAccounts = sqliteTable(
  "external_accounts",
  {
    provider: text("provider").notNull(),
    issuer: text("issuer").notNull(),
    subject: text("subject").notNull(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    roles: text("roles", { mode: "json" }).notNull().$type<string[]>(),
    attributes: text("attributes", { mode: "json" }).notNull().$type<Record<string, string>>(),
    refreshTokenSealed: text("refresh_token_sealed"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.provider, table.issuer, table.subject] }),
    // One identity per account and provider: a second subject cannot take over a username.
    uniqueIndex("external_accounts_provider_user").on(table.provider, table.userId),
  ],
);

/**
 * Sign-ins under way at an identity provider (authorization code with PKCE):
 * single use, valid for minutes. Only hashes: the `state` the provider sends
 * back, and the secret held in the browser's flow cookie, from which the PKCE
 * verifier and the nonce are derived — so this table holds nothing that could
 * finish a sign-in.
 */
export const signInFlows = sqliteTable(
  "sign_in_flows",
  {
    stateHash: text("state_hash").primaryKey(),
    provider: text("provider").notNull(),
    bindingHash: text("binding_hash").notNull(),
    /** "portal", "tiled" or "device": where the person goes once signed in. */
    purpose: text("purpose").notNull(),
    /** The portal path to return to, or the device authorization being approved. */
    returnTo: text("return_to"),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (table) => [index("sign_in_flows_expires_at").on(table.expiresAt)],
);
