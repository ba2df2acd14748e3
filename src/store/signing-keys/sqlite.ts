// Signing keys in the store, on SQLite (their PostgreSQL twins: ./pg.ts): the
// single source of truth that every instance sharing the store follows.
// Private keys are kept only encrypted (see keys/master-key.ts) and erased
// when a key is retired.
import { and, asc, eq, inArray, lte, ne } from "drizzle-orm";
import { signingKeys } from "./sqlite-schema.ts";
import type { Executor, Store } from "../database.ts";
import type { KeyQueries, KeyState, SigningKeyRow } from "./model.ts";

/** Keys that are published: everything but the retired ones, oldest first. */
export function liveKeys(db: Executor): SigningKeyRow[] {
  return db.select().from(signingKeys).where(ne(signingKeys.state, "retired")).orderBy(asc(signingKeys.createdAt)).all();
}

export function allKeys(db: Executor): SigningKeyRow[] {
  return db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt)).all();
}

export function insertKey(db: Executor, row: typeof signingKeys.$inferInsert): void {
  db.insert(signingKeys).values(row).run();
}

export function keysInState(db: Executor, state: KeyState): SigningKeyRow[] {
  return db.select().from(signingKeys).where(eq(signingKeys.state, state)).all();
}

export function makePrevious(db: Executor, kid: string, at: number, retiresAt: number): void {
  db.update(signingKeys).set({ state: "previous", deactivatedAt: at, retiresAt }).where(eq(signingKeys.kid, kid)).run();
}

export function makeCurrent(db: Executor, kid: string, at: number): void {
  db.update(signingKeys).set({ state: "current", activatedAt: at }).where(eq(signingKeys.kid, kid)).run();
}

/** Retires keys and erases their private part: nothing they signed verifies any more. */
export function retireKeys(db: Executor, kids: string[], at: number): void {
  if (kids.length === 0) return;
  db.update(signingKeys)
    .set({ state: "retired", retiredAt: at, privateKeySealed: "" })
    .where(inArray(signingKeys.kid, kids))
    .run();
}

export function previousKeysDue(db: Executor, now: number): SigningKeyRow[] {
  return db
    .select()
    .from(signingKeys)
    .where(and(eq(signingKeys.state, "previous"), lte(signingKeys.retiresAt, now)))
    .all();
}

/** The signing-key queries of `Queries` (./model.ts) over one connection, synchronous. */
export function sqliteKeyQueries(store: Store): KeyQueries {
  const { db } = store;
  return {
    lockKeys: () => {}, // the immediate transaction holds the write lock already
    liveKeys: () => liveKeys(db),
    allKeys: () => allKeys(db),
    insertKey: (row) => insertKey(db, row),
    keysInState: (state) => keysInState(db, state),
    makePrevious: (kid, at, retiresAt) => makePrevious(db, kid, at, retiresAt),
    makeCurrent: (kid, at) => makeCurrent(db, kid, at),
    retireKeys: (kids, at) => retireKeys(db, kids, at),
    previousKeysDue: (now) => previousKeysDue(db, now),
  };
}
