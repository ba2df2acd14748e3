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
import type { AuditEventCount, AuditFilter as AuditPageFilter, AuditRecord } from "./audit-query.ts";
import type { AuditEvent, AuditFilter, AuditRow } from "./audit.ts";
import type { Account, Profile } from "./profiles.ts";
import type { SessionFilter, SessionRecord } from "./sessions.ts";
import type { ExternalAccountKey, ExternalAccountRecord, NewExternalAccount, SignInFlowRow } from "./sign-in.ts";
import type { DeviceAuthorizationRecord, DeviceDecision, NewDeviceAuthorization } from "./device.ts";
import type { KeyState, SigningKeyRow } from "./signing-keys.ts";
import type { ExpiringToken, RevokedToken, TokenCredentialRow, TokenFilter, TokenRecord, TokenUse } from "./tokens.ts";
import type { refreshTokens, sessionHandles, sessions, SessionIdentity, signingKeys } from "./schema.ts";

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

export interface RegulationCounter {
  kind: string;
  subject: string;
  failures: number;
  windowStartedAt: number;
  bannedUntil: number | null;
}

export interface NewToken {
  id: string;
  hash: string;
  userId: number;
  note: string;
  scopes: Record<string, string[]> | null;
  createdAt: number;
  expiresAt: number | null;
  parentId: string | null;
  sessionId: string | null;
  /** The portal form's single-use nonce (unique): a form sent twice makes one token. */
  formNonce?: string | null;
  /** Made by rotation: the first token of the family, and the token it replaces. */
  familyId?: string | null;
  rotatedFrom?: string | null;
  /** CIDR blocks it may be used from; null or absent: anywhere. */
  allowedNetworks?: string[] | null;
}

/** A session found by a browser's handle, with the identity last read for it. */
export interface HandleSession {
  session: SessionRecord;
  identity: SessionIdentity | null;
  identityExpiresAt: number | null;
}

/** Every query the services make outside the hot path. Each may answer at once (SQLite) or later (PostgreSQL). */
export interface Queries {
  // users (./users.ts)
  upsertUser(username: string, realm: string, at: number): MaybePromise<number>;
  markUsersSeen(seen: ReadonlyMap<number, number>): MaybePromise<void>;
  /** Serialises writers of one user's rows until the transaction ends (PostgreSQL: FOR UPDATE; SQLite: the write lock already does). */
  lockUser(userId: number): MaybePromise<void>;

  // tokens (./tokens.ts, ./token-first-eight.ts)
  insertToken(token: NewToken): MaybePromise<void>;
  findToken(id: string): MaybePromise<TokenRecord | undefined>;
  findTokenByHash(hash: string): MaybePromise<TokenRecord | undefined>;
  /** The id of the token made with this portal form nonce, if any. */
  tokenIdWithFormNonce(nonce: string): MaybePromise<string | undefined>;
  listTokens(filter: TokenFilter): MaybePromise<TokenRecord[]>;
  markTokenRevoked(id: string, at: number, reason?: string | null): MaybePromise<boolean>;
  markTokenRotated(id: string, to: string, until: number): MaybePromise<boolean>;
  markFamilyRevoked(familyId: string, at: number, reason: string): MaybePromise<RevokedToken[]>;
  markUnusedTokensRevoked(cutoff: number, at: number, reason: string, limit: number): MaybePromise<RevokedToken[]>;
  countTokensExpiring(now: number, untils: number[]): MaybePromise<number[]>;
  markExpiryNotified(now: number, until: number, limit: number): MaybePromise<ExpiringToken[]>;
  markDescendantsRevoked(ids: string[], at: number): MaybePromise<RevokedToken[]>;
  markSessionTokensRevoked(sessionIds: string[], at: number): MaybePromise<RevokedToken[]>;
  markOwnerTokensRevoked(owner: { username: string; realm: string }, at: number): MaybePromise<RevokedToken[]>;
  markTokensUsed(uses: ReadonlyMap<string, TokenUse>): MaybePromise<void>;
  recordFirstEight(tokenId: string, firstEight: string): MaybePromise<void>;
  firstEightOf(tokenIds: string[]): MaybePromise<Map<string, string>>;
  tokensWithFirstEight(firstEight: string): MaybePromise<string[]>;

  // sessions and refresh tokens (./sessions.ts)
  insertSession(session: typeof sessions.$inferInsert): MaybePromise<void>;
  findSession(id: string): MaybePromise<SessionRecord | undefined>;
  listSessions(filter: SessionFilter): MaybePromise<SessionRecord[]>;
  countLiveSessions(userId: number, now: number): MaybePromise<number>;
  markSessionsRevoked(ids: string[], at: number, reason: string): MaybePromise<string[]>;
  markSessionRefreshed(id: string, at: number, refreshExpiresAt: number): MaybePromise<void>;
  insertRefreshToken(token: typeof refreshTokens.$inferInsert): MaybePromise<void>;
  /** `forUpdate`: lock the row until the transaction ends, so two instances rotating one refresh token have one winner. */
  findRefreshToken(hash: string, options?: { forUpdate?: boolean }): MaybePromise<{ id: number; usedAt: number | null; session: SessionRecord } | undefined>;
  markRefreshTokenUsed(id: number, at: number): MaybePromise<void>;
  forgetUsedRefreshTokens(sessionId: string, before: number): MaybePromise<void>;
  /** Records who the session's user is now (at a sign-in, a refresh, a re-read), to be read again after `expiresAt`. */
  saveSessionIdentity(id: string, identity: SessionIdentity, expiresAt: number): MaybePromise<void>;
  insertSessionHandle(handle: typeof sessionHandles.$inferInsert): MaybePromise<void>;
  /** The session an opaque browser handle of this kind belongs to, by the SHA-256 of the handle, whatever the session's state. */
  findSessionByHandle(hash: string, kind: string): MaybePromise<HandleSession | undefined>;

  // signing in with an identity provider (./sign-in.ts)
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

  // signing keys (./signing-keys.ts)
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

  // audit (./audit.ts, ./audit-query.ts)
  recordAudit(event: AuditEvent): MaybePromise<void>;
  recordAggregatedAudit(row: AuditRow): MaybePromise<void>;
  listAudit(options?: { tokenId?: string; limit?: number }): MaybePromise<AuditRecord[]>;
  searchAudit(filter: AuditFilter): MaybePromise<AuditRecord[]>;
  listAuditPage(filter: AuditPageFilter): MaybePromise<{ events: AuditRecord[]; nextCursor: string | null }>;
  purgeAudit(before: number): MaybePromise<number>;
  newestAuditId(): MaybePromise<number>;
  auditEventsSince(afterId: number): MaybePromise<{ lastId: number; counts: AuditEventCount[] }>;

  // regulation (../regulation/regulator.ts)
  /** `forUpdate`: created when missing and locked until the transaction ends, so concurrent failures are all counted. */
  regulationCounter(kind: string, subject: string, options?: { forUpdate?: boolean }): MaybePromise<RegulationCounter | undefined>;
  saveRegulationCounter(counter: RegulationCounter): MaybePromise<void>;
  deleteRegulationCounter(kind: string, subject: string): MaybePromise<void>;
  /** Deletes the bans that are over (returned) and the counts whose window passed. */
  releaseRegulation(now: number, findTimeMs: number): MaybePromise<{ kind: string; subject: string }[]>;
  activeBans(now: number): MaybePromise<{ kind: string; subject: string; bannedUntil: number }[]>;

  // accounts vouched for by a proxy (./profiles.ts)
  saveProfile(username: string, realm: string, profile: Profile, at: number): MaybePromise<number>;

  // device authorizations (./device.ts): RFC 8628 device-code sign-ins
  insertDeviceAuthorization(row: NewDeviceAuthorization): MaybePromise<void>;
  /** Whether any row (pending, or ended and not yet purged) holds this user code: the column is unique. */
  userCodeTaken(userCode: string): MaybePromise<boolean>;
  findDeviceAuthorizationByDeviceCode(hash: string): MaybePromise<DeviceAuthorizationRecord | undefined>;
  findDeviceAuthorizationByUserCode(userCode: string): MaybePromise<DeviceAuthorizationRecord | undefined>;
  markDevicePolled(id: string, at: number, interval: number): MaybePromise<void>;
  /** Approves or denies a pending authorization not expired at `now`; false when it was not (any more). */
  decideDeviceAuthorization(id: string, decision: DeviceDecision, now: number): MaybePromise<boolean>;
  /** Approved → collected; false when it was not approved (any more): of two polls, one collects. */
  collectDeviceAuthorization(id: string): MaybePromise<boolean>;
  deleteExpiredDeviceAuthorizations(cutoff: number, limit: number): MaybePromise<number>;

  // purge (./purge.ts): at most `limit` rows a call, the count deleted
  deleteEndedSessions(cutoff: number, limit: number): MaybePromise<number>;
  deleteEndedTokens(cutoff: number, limit: number): MaybePromise<number>;

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
