// The table of ./sqlite-schema.ts on PostgreSQL: the same columns, indexes and
// constraints, in drizzle's pg-core (the dialect's choices: ../pg/schema.ts).
import { sql } from "drizzle-orm";
import { index, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { time } from "../pg/columns.ts";

/** Signing keys (managed mode): next → current → previous → retired; the private key only sealed. */
export const signingKeys = pgTable(
  "signing_keys",
  {
    kid: text("kid").primaryKey(),
    alg: text("alg").notNull(),
    state: text("state").notNull(),
    publicJwk: text("public_jwk").notNull(),
    privateKeySealed: text("private_key_sealed").notNull(),
    createdAt: time("created_at").notNull(),
    activatesAt: time("activates_at"),
    activatedAt: time("activated_at"),
    deactivatedAt: time("deactivated_at"),
    retiresAt: time("retires_at"),
    retiredAt: time("retired_at"),
  },
  (table) => [
    index("signing_keys_state").on(table.state),
    // One current key and one next key at most: a second instance's rotation cannot commit a second one.
    uniqueIndex("signing_keys_one_current_one_next").on(table.state).where(sql`state IN ('current', 'next')`),
  ],
);
