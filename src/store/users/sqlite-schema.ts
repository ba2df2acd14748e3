// The users family's tables on SQLite: everyone who has owned or managed a
// token, and what a trusted front proxy said about the accounts it vouched
// for. Their PostgreSQL twins: ./pg-schema.ts (change both together).
import { integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Everyone who has owned or managed a token, by (username, realm). */
export const users = sqliteTable(
  "users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    username: text("username").notNull(),
    realm: text("realm").notNull(),
    firstSeen: integer("first_seen").notNull(),
    lastSeen: integer("last_seen").notNull(),
  },
  (table) => [uniqueIndex("users_username_realm").on(table.username, table.realm)],
);

/**
 * What a trusted front proxy said about an account it vouched for
 * (providers/trusted-header.ts): written when the account is created, and
 * again whenever the proxy's headers change. `roles` is the last list the
 * proxy sent (when a roles header is configured), so that the account's API
 * tokens carry the same roles.
 */
export const userProfiles = sqliteTable("user_profiles", {
  userId: integer("user_id")
    .primaryKey()
    .references(() => users.id, { onDelete: "cascade" }),
  email: text("email"),
  firstName: text("first_name"),
  lastName: text("last_name"),
  organisation: text("organisation"),
  /** The external identity provider (geOrchestra's preauth-provider) and the user's id there. */
  provider: text("provider"),
  providerId: text("provider_id"),
  roles: text("roles", { mode: "json" }).$type<string[]>(),
  updatedAt: integer("updated_at").notNull(),
});
