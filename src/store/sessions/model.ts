// The sessions family as the services see it, the same on both databases: its
// part of `Queries` (../backend.ts) and the records it takes and answers.
// SQLite's queries: ./sqlite.ts; PostgreSQL's: ./pg.ts; the tables beside them.
import type { MaybePromise } from "../../identity/maybe-promise.ts";
import type { SessionIdentity } from "./identity.ts";
import type { refreshTokens, sessionHandles, sessions } from "./sqlite-schema.ts";

/** The session and refresh-token queries of `Queries` (../backend.ts). */
export interface SessionQueries {
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
  /** The purge (../purge.ts): at most `limit` rows a call, the count deleted. */
  deleteEndedSessions(cutoff: number, limit: number): MaybePromise<number>;
}

/** A session with its owner, as the store returns it. */
export interface SessionRecord {
  id: string;
  userId: number;
  username: string;
  realm: string;
  provider: string;
  createdAt: number;
  expiresAt: number;
  refreshedAt: number | null;
  refreshExpiresAt: number;
  revokedAt: number | null;
  revokedReason: string | null;
  address: string | null;
  reportedAddress: string | null;
  userAgent: string | null;
}

/** A session found by a browser's handle, with the identity last read for it. */
export interface HandleSession {
  session: SessionRecord;
  identity: SessionIdentity | null;
  identityExpiresAt: number | null;
}

export interface SessionFilter {
  username?: string;
  realm?: string;
  /** Also revoked and expired sessions. */
  includeInactive?: boolean;
  now: number;
}

/** What checking an access token's session needs, and nothing more. */
export interface SessionLivenessRow {
  expires_at: number;
  refresh_expires_at: number;
  revoked_at: number | null;
  username: string;
  realm: string;
}

/**
 * Whether a session is live at `now`: not revoked, and neither its absolute
 * expiry nor its sliding one (the refresh token's) passed. Null (no such
 * session) is not live. The one rule for both databases' per-request reads
 * (./sqlite.ts' prepareSessionLiveness, ../pg/cache.ts' sessionOwner): plain
 * and synchronous, it is on the hot path.
 */
export function isLiveSession(row: SessionLivenessRow | null, now: number): row is SessionLivenessRow {
  return row !== null && row.revoked_at === null && row.expires_at > now && row.refresh_expires_at > now;
}
