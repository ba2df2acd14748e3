// The signing keys' table on SQLite. Its PostgreSQL twin: ./pg-schema.ts
// (change both together).
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Signing keys (managed mode). The private key is only ever stored encrypted
 * with the master key (keys/master-key.ts), and erased at retirement.
 * state: next (published, not signing) → current (signs) → previous
 * (verifies) → retired.
 */
export const signingKeys = sqliteTable(
  "signing_keys",
  {
    kid: text("kid").primaryKey(),
    alg: text("alg").notNull(),
    state: text("state").notNull(),
    /** The public JWK, as published. */
    publicJwk: text("public_jwk").notNull(),
    privateKeySealed: text("private_key_sealed").notNull(),
    createdAt: integer("created_at").notNull(),
    /** For a next key: when it starts signing. */
    activatesAt: integer("activates_at"),
    activatedAt: integer("activated_at"),
    deactivatedAt: integer("deactivated_at"),
    /** For a previous key: when every token it signed has expired. */
    retiresAt: integer("retires_at"),
    retiredAt: integer("retired_at"),
  },
  (table) => [index("signing_keys_state").on(table.state)],
);
