// The tables of ./sqlite-schema.ts on PostgreSQL: the same columns, indexes and
// constraints, in drizzle's pg-core (the dialect's choices: ../pg/schema.ts).
import { pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { id, jsonText, time } from "../pg/columns.ts";

/** Everyone who has owned or managed a token, by (username, realm). */
export const users = pgTable(
  "users",
  {
    id: id("id").primaryKey().generatedByDefaultAsIdentity(),
    username: text("username").notNull(),
    realm: text("realm").notNull(),
    firstSeen: time("first_seen").notNull(),
    lastSeen: time("last_seen").notNull(),
  },
  (table) => [uniqueIndex("users_username_realm").on(table.username, table.realm)],
);

/** What a trusted front proxy said about an account it vouched for. */
export const userProfiles = pgTable("user_profiles", {
  userId: id("user_id")
    .primaryKey()
    .references(() => users.id, { onDelete: "cascade" }),
  email: text("email"),
  firstName: text("first_name"),
  lastName: text("last_name"),
  organisation: text("organisation"),
  provider: text("provider"),
  providerId: text("provider_id"),
  roles: jsonText<string[]>("roles"),
  updatedAt: time("updated_at").notNull(),
});
