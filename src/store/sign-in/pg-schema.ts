// The tables of ./sqlite-schema.ts on PostgreSQL: the same columns, indexes and
// constraints, in drizzle's pg-core (the dialect's choices: ../pg/schema.ts).
import { index, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";
import { id, jsonText, time } from "../pg/columns.ts";
import { users } from "../users/pg-schema.ts";

/** People who signed in with an identity provider (see ./sqlite-schema.ts). */
export const externalAccounts = pgTable(
  "external_accounts",
  {
    provider: text("provider").notNull(),
    issuer: text("issuer").notNull(),
    subject: text("subject").notNull(),
    userId: id("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    roles: jsonText<string[]>("roles").notNull(),
    attributes: jsonText<Record<string, string>>("attributes").notNull(),
    refreshTokenSealed: text("refresh_token_sealed"),
    createdAt: time("created_at").notNull(),
    updatedAt: time("updated_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.provider, table.issuer, table.subject] }),
    uniqueIndex("external_accounts_provider_user").on(table.provider, table.userId),
  ],
);

/** Sign-ins under way at an identity provider (see ./sqlite-schema.ts). */
export const signInFlows = pgTable(
  "sign_in_flows",
  {
    stateHash: text("state_hash").primaryKey(),
    provider: text("provider").notNull(),
    bindingHash: text("binding_hash").notNull(),
    purpose: text("purpose").notNull(),
    returnTo: text("return_to"),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
  },
  (table) => [index("sign_in_flows_expires_at").on(table.expiresAt)],
);
