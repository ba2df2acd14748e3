// The sign-in family as the services see it, the same on both databases: its
// part of `Queries` (../backend.ts) and the records it takes and answers.
// SQLite's queries: ./sqlite.ts; PostgreSQL's: ./pg.ts; the tables beside them.
import type { MaybePromise } from "../../identity/maybe-promise.ts";
import type { externalAccounts, signInFlows } from "./sqlite-schema.ts";

/** The queries of signing in with an identity provider, in `Queries` (../backend.ts). */
export interface SignInQueries {
  findExternalAccount(provider: string, issuer: string, subject: string): MaybePromise<ExternalAccountRecord | undefined>;
  externalAccountOf(provider: string, username: string, realm: string): MaybePromise<ExternalAccountRecord | undefined>;
  insertExternalAccount(account: NewExternalAccount): MaybePromise<void>;
  /** `refreshTokenSealed` undefined keeps the one kept. */
  updateExternalAccount(key: ExternalAccountKey, roles: string[], attributes: Record<string, string>, at: number, refreshTokenSealed?: string | null): MaybePromise<void>;
  findUserId(username: string, realm: string): MaybePromise<number | undefined>;
  insertSignInFlow(flow: SignInFlowRow): MaybePromise<void>;
  /** The flow of this state, deleted in the same statement: single use, even with two instances. */
  takeSignInFlow(stateHash: string): MaybePromise<SignInFlowRow | undefined>;
  deleteExpiredSignInFlows(now: number): MaybePromise<number>;
}

/** An external account and the Gatehouse account it is linked to. */
export interface ExternalAccountRecord {
  provider: string;
  issuer: string;
  subject: string;
  userId: number;
  username: string;
  realm: string;
  roles: string[];
  attributes: Record<string, string>;
  /** The provider's refresh token sealed with the master key (recheck_on_refresh), or null. */
  refreshTokenSealed: string | null;
}

export type NewExternalAccount = typeof externalAccounts.$inferInsert;

export type ExternalAccountKey = { provider: string; issuer: string; subject: string };

export type SignInFlowRow = typeof signInFlows.$inferSelect;
