// The signing keys family as the services see it, the same on both databases: its
// part of `Queries` (../backend.ts) and the records it takes and answers.
// SQLite's queries: ./sqlite.ts; PostgreSQL's: ./pg.ts; the tables beside them.
import type { MaybePromise } from "../../identity/maybe-promise.ts";
import type { signingKeys } from "./sqlite-schema.ts";

/** The signing-key queries of `Queries` (../backend.ts). */
export interface KeyQueries {
  /** Makes this transaction the only one changing keys until it ends (PostgreSQL: an advisory transaction lock). */
  lockKeys(): MaybePromise<void>;
  liveKeys(): MaybePromise<SigningKeyRow[]>;
  allKeys(): MaybePromise<SigningKeyRow[]>;
  insertKey(row: typeof signingKeys.$inferInsert): MaybePromise<void>;
  keysInState(state: KeyState): MaybePromise<SigningKeyRow[]>;
  makePrevious(kid: string, at: number, retiresAt: number): MaybePromise<void>;
  makeCurrent(kid: string, at: number): MaybePromise<void>;
  retireKeys(kids: string[], at: number): MaybePromise<void>;
  previousKeysDue(now: number): MaybePromise<SigningKeyRow[]>;
}

export type SigningKeyRow = typeof signingKeys.$inferSelect;

export type KeyState = "next" | "current" | "previous" | "retired";
