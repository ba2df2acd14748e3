// The store as the services see it, whichever database holds it: SQLite (the
// embedded default, src/store/sqlite-backend.ts) or PostgreSQL (several
// instances sharing state, src/store/pg/).
//
// Two kinds of access, for two speeds:
// - `hot`: the reads made on every /authenticate request (a token by hash, a
//   session's liveness, an account vouched for by a proxy). Synchronous on
//   SQLite (prepared statements, microseconds); on PostgreSQL answered from
//   an in-memory cache kept true by LISTEN/NOTIFY, and a promise on a miss.
// - `read` and `transaction`: everything else, through `Queries`. Service code
//   is written once, `await`ing each query; SQLite's implementation answers
//   synchronously (an `await` of a plain value), PostgreSQL's with promises.
//
// Rule for transactions, on both: only store queries are awaited inside one,
// never a provider, a key generation or a timer. SQLite serialises this
// process's transactions (BEGIN IMMEDIATE; another process waits on the
// busy timeout); PostgreSQL runs them concurrently, so the queries that need
// one winner take a row lock (`forUpdate`) or a transaction lock (`lockKeys`).
import type { MaybePromise } from "../identity/maybe-promise.ts";
import type { AuditQueries } from "./audit/model.ts";
import type { DeviceQueries } from "./device/model.ts";
import type { RegulationQueries } from "./regulation/model.ts";
import type { SessionQueries } from "./sessions/model.ts";
import type { SignInQueries } from "./sign-in/model.ts";
import type { KeyQueries } from "./signing-keys/model.ts";
import type { TokenCredentialRow, TokenQueries } from "./tokens/model.ts";
import type { Account, UserQueries } from "./users/model.ts";

export type StoreType = "sqlite" | "postgres";

/** A revocation or change other instances must apply to what they keep in memory. */
export type StoreChange =
  | { kind: "token.revoked"; ids: string[] }
  | { kind: "session.revoked"; ids: string[] }
  | { kind: "session.refreshed"; ids: string[] }
  | { kind: "account.changed"; userIds: number[] }
  | { kind: "keys.changed" }
  | { kind: "regulation.changed" }
  /** Too many ids for one notification: drop everything kept. */
  | { kind: "flush" };

/**
 * Every query the services make outside the hot path. Each may answer at once
 * (SQLite) or later (PostgreSQL). Declared by table family, each in its
 * folder's model.ts, beside its SQLite (sqlite.ts) and PostgreSQL (pg.ts)
 * implementations; the two backends spread those into one object.
 */
export interface Queries
  extends UserQueries,
    TokenQueries,
    SessionQueries,
    SignInQueries,
    KeyQueries,
    AuditQueries,
    RegulationQueries,
    DeviceQueries {
  /** Tells every instance (this one included) to drop what it keeps about these rows; sent when the transaction commits. */
  notify(change: StoreChange): MaybePromise<void>;
}

/** The per-request reads (see the file's comment). */
export interface HotReads {
  /** What verifying a token needs, by the SHA-256 of its secret. */
  tokenCredential(hash: string): MaybePromise<TokenCredentialRow | null>;
  /** A user's name and realm (never change: kept in memory on both). */
  owner(userId: number): MaybePromise<{ username: string; realm: string } | null>;
  /** The live session's owner, or null when unknown, revoked or expired. */
  sessionOwner(id: string, now: number): MaybePromise<{ username: string; realm: string } | null>;
  /** The account a trusted proxy vouches for. */
  account(username: string, realm: string): MaybePromise<Account | null>;
}

/** A number that changes whenever something remembered from the store may have become stale. */
export interface StoreChanges {
  current(now?: number): number;
  /** A change made through this process. */
  bump(): void;
}

export interface StoreBackend {
  readonly type: StoreType;
  readonly hot: HotReads;
  readonly changes: StoreChanges;
  /** Reads outside a transaction. */
  readonly read: Queries;
  /** One write transaction; acknowledged means committed. A store outage refuses with 503 (Refusal). */
  transaction<T>(work: (q: Queries) => Promise<T>): Promise<T>;
  /** For /ready: resolves when the store answers a query and can tell this instance of changes; else throws saying why. */
  check(): Promise<void>;
  /** Told when a write fails for an outage (the log line). */
  onUnavailable?: (reason: string, error: unknown) => void;
  /**
   * Calls `listener` with every change committed by any instance (PostgreSQL: what LISTEN
   * delivers, and a flush whenever notifications may have been missed). Absent on SQLite,
   * whose processes notice each other's commits through the change stamp alone.
   */
  onChange?(listener: (change: StoreChange) => void): () => void;
  close(): Promise<void>;
}
