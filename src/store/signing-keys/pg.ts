// The signing keys' queries on PostgreSQL: the same semantics as ./sqlite.ts,
// query for query (the dialect's differences: ../pg/sql.ts).
import { and, asc, eq, lte, ne, sql } from "drizzle-orm";
import { signingKeys } from "./pg-schema.ts";
import { KEYS_LOCK } from "../pg/database.ts";
import { anyOf, bytewise, type PgExecutor } from "../pg/sql.ts";
import type { KeyQueries, KeyState, SigningKeyRow } from "./model.ts";

/** The lock that makes one transaction at a time change the signing keys (released at commit or rollback). */
const keysLock = sql`SELECT pg_advisory_xact_lock(hashtext(${KEYS_LOCK}))`;

/** The signing-key queries of `Queries` (./model.ts) over the pool or one transaction. */
export function pgKeyQueries(db: PgExecutor): KeyQueries {
  return {
    async lockKeys() {
      await db.execute(keysLock);
    },

    liveKeys(): Promise<SigningKeyRow[]> {
      return db.select().from(signingKeys).where(ne(signingKeys.state, "retired")).orderBy(asc(signingKeys.createdAt), asc(bytewise(signingKeys.kid)));
    },

    allKeys(): Promise<SigningKeyRow[]> {
      return db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt), asc(bytewise(signingKeys.kid)));
    },

    async insertKey(row) {
      await db.insert(signingKeys).values(row);
    },

    keysInState(state: KeyState): Promise<SigningKeyRow[]> {
      return db.select().from(signingKeys).where(eq(signingKeys.state, state)).orderBy(asc(signingKeys.createdAt), asc(bytewise(signingKeys.kid)));
    },

    async makePrevious(kid, at, retiresAt) {
      await db.update(signingKeys).set({ state: "previous", deactivatedAt: at, retiresAt }).where(eq(signingKeys.kid, kid));
    },

    async makeCurrent(kid, at) {
      await db.update(signingKeys).set({ state: "current", activatedAt: at }).where(eq(signingKeys.kid, kid));
    },

    async retireKeys(kids, at) {
      if (kids.length === 0) return;
      await db.update(signingKeys).set({ state: "retired", retiredAt: at, privateKeySealed: "" }).where(anyOf(signingKeys.kid, kids));
    },

    previousKeysDue(now): Promise<SigningKeyRow[]> {
      return db
        .select()
        .from(signingKeys)
        .where(and(eq(signingKeys.state, "previous"), lte(signingKeys.retiresAt, now)))
        .orderBy(asc(signingKeys.createdAt), asc(bytewise(signingKeys.kid)));
    },
  };
}
