// The sessions family's queries on SQLite (their PostgreSQL twins: ./pg.ts):
// sessions, their browser handles and refresh tokens. Refresh tokens are kept
// as the SHA-256 of the secret only (see tokens/format.ts for why that hash fits).
import { and, asc, eq, gt, inArray, isNull, lt, sql, type SQL } from "drizzle-orm";
import { refreshTokens, sessionHandles, sessions } from "./sqlite-schema.ts";
import { users } from "../users/sqlite-schema.ts";
import type { Executor, Store } from "../database.ts";
import type { SessionIdentity } from "./identity.ts";
import { isLiveSession, type HandleSession, type SessionFilter, type SessionLivenessRow, type SessionQueries, type SessionRecord } from "./model.ts";

const recordFields = {
  id: sessions.id,
  userId: sessions.userId,
  username: users.username,
  realm: users.realm,
  provider: sessions.provider,
  createdAt: sessions.createdAt,
  expiresAt: sessions.expiresAt,
  refreshedAt: sessions.refreshedAt,
  refreshExpiresAt: sessions.refreshExpiresAt,
  revokedAt: sessions.revokedAt,
  revokedReason: sessions.revokedReason,
  address: sessions.address,
  reportedAddress: sessions.reportedAddress,
  userAgent: sessions.userAgent,
};

/** Live: not revoked, and neither the absolute nor the sliding limit has passed. */
function live(now: number): SQL {
  return and(isNull(sessions.revokedAt), gt(sessions.expiresAt, now), gt(sessions.refreshExpiresAt, now))!;
}

function selectSessions(db: Executor, where: SQL | undefined): SessionRecord[] {
  return db
    .select(recordFields)
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(where)
    .orderBy(asc(sessions.createdAt), asc(sessions.id))
    .all();
}

export function insertSession(db: Executor, session: typeof sessions.$inferInsert): void {
  db.insert(sessions).values(session).run();
}

export function findSession(db: Executor, id: string): SessionRecord | undefined {
  return selectSessions(db, eq(sessions.id, id))[0];
}

export function listSessions(db: Executor, filter: SessionFilter): SessionRecord[] {
  return selectSessions(
    db,
    and(
      filter.username === undefined ? undefined : eq(users.username, filter.username),
      filter.realm === undefined ? undefined : eq(users.realm, filter.realm),
      filter.includeInactive ? undefined : live(filter.now),
    ),
  );
}

export function countLiveSessions(db: Executor, userId: number, now: number): number {
  const [row] = db
    .select({ count: sql<number>`count(*)` })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), live(now)))
    .all();
  return row.count;
}

/** Revokes the given sessions; answers the ids actually revoked (not those already revoked). */
export function markSessionsRevoked(db: Executor, ids: string[], at: number, reason: string): string[] {
  if (ids.length === 0) return [];
  return db
    .update(sessions)
    .set({ revokedAt: at, revokedReason: reason })
    .where(and(inArray(sessions.id, ids), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id })
    .all()
    .map((row) => row.id);
}

/** Records a refresh: the sliding limit moves to `refreshExpiresAt`. */
export function markSessionRefreshed(db: Executor, id: string, at: number, refreshExpiresAt: number): void {
  db.update(sessions).set({ refreshedAt: at, refreshExpiresAt }).where(eq(sessions.id, id)).run();
}

export function insertRefreshToken(db: Executor, token: typeof refreshTokens.$inferInsert): void {
  db.insert(refreshTokens).values(token).run();
}

/** A refresh token and its session, found by the hash of the secret. */
export function findRefreshToken(db: Executor, hash: string): { id: number; usedAt: number | null; session: SessionRecord } | undefined {
  const [row] = db
    .select({ id: refreshTokens.id, usedAt: refreshTokens.usedAt, session: recordFields })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(refreshTokens.hash, hash))
    .all();
  return row;
}

/** Marks a refresh token used (rotated). Called in the transaction that has just read it unused. */
export function markRefreshTokenUsed(db: Executor, id: number, at: number): void {
  db.update(refreshTokens).set({ usedAt: at }).where(eq(refreshTokens.id, id)).run();
}

/** Deletes a session's refresh tokens used before `before` (they are kept a while only to detect their reuse). */
export function forgetUsedRefreshTokens(db: Executor, sessionId: string, before: number): void {
  db.delete(refreshTokens).where(and(eq(refreshTokens.sessionId, sessionId), lt(refreshTokens.usedAt, before))).run();
}

export function saveSessionIdentity(db: Executor, id: string, identity: SessionIdentity, expiresAt: number): void {
  db.update(sessions).set({ identity, identityExpiresAt: expiresAt }).where(eq(sessions.id, id)).run();
}

export function insertSessionHandle(db: Executor, handle: typeof sessionHandles.$inferInsert): void {
  db.insert(sessionHandles).values(handle).run();
}

interface HandleSessionRow {
  id: string;
  user_id: number;
  username: string;
  realm: string;
  provider: string;
  created_at: number;
  expires_at: number;
  refreshed_at: number | null;
  refresh_expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
  address: string | null;
  reported_address: string | null;
  user_agent: string | null;
  identity: string | null;
  identity_expires_at: number | null;
}

/**
 * findSessionByHandle as one prepared statement: a browser with the single
 * sign-on cookie has it read on every request to every application
 * (/authenticate), and building the query through drizzle each time cost
 * ≈190 µs of CPU, against ≈10 µs prepared. Same columns, same answer.
 */
export function prepareSessionByHandle(store: Store): (hash: string, kind: string) => HandleSession | undefined {
  const statement = store.sqlite.prepare<HandleSessionRow, [string, string]>(
    `SELECT s.id, s.user_id, u.username, u.realm, s.provider, s.created_at, s.expires_at, s.refreshed_at, s.refresh_expires_at,
            s.revoked_at, s.revoked_reason, s.address, s.reported_address, s.user_agent, s.identity, s.identity_expires_at
     FROM session_handles h JOIN sessions s ON s.id = h.session_id JOIN users u ON u.id = s.user_id
     WHERE h.hash = ? AND h.kind = ?`,
  );
  return (hash, kind) => {
    const row = statement.get(hash, kind);
    if (!row) return undefined;
    return {
      session: {
        id: row.id,
        userId: row.user_id,
        username: row.username,
        realm: row.realm,
        provider: row.provider,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
        refreshedAt: row.refreshed_at,
        refreshExpiresAt: row.refresh_expires_at,
        revokedAt: row.revoked_at,
        revokedReason: row.revoked_reason,
        address: row.address,
        reportedAddress: row.reported_address,
        userAgent: row.user_agent,
      },
      identity: row.identity === null ? null : (JSON.parse(row.identity) as SessionIdentity),
      identityExpiresAt: row.identity_expires_at,
    };
  };
}

/**
 * Deletes at most `limit` sessions that ended before `cutoff` (their refresh
 * tokens go with them: ON DELETE CASCADE); answers how many. A session ended
 * at the earliest of its revocation, its absolute expiry and its sliding one.
 */
export function deleteEndedSessions(store: Store, cutoff: number, limit: number): number {
  return store.sqlite
    .query<unknown, [number, number]>(
      `DELETE FROM sessions WHERE id IN (
         SELECT id FROM sessions
         WHERE min(coalesce(revoked_at, expires_at), expires_at, refresh_expires_at) < ?1
         LIMIT ?2)`,
    )
    .run(cutoff, limit).changes;
}

/**
 * The read run on every request that presents an access token: one prepared
 * statement on the primary keys, no ORM mapping (as ../tokens/sqlite.ts does for API
 * tokens). This is what makes a revocation apply to the very next request.
 * Answers the live session's owner (an access token must name that user),
 * or null when the session is unknown, revoked or expired.
 */
export function prepareSessionLiveness(store: Store): (id: string, now: number) => { username: string; realm: string } | null {
  const statement = store.sqlite.prepare<SessionLivenessRow, [string]>(
    `SELECT s.expires_at, s.refresh_expires_at, s.revoked_at, u.username, u.realm
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`,
  );
  return (id, now) => {
    const row = statement.get(id);
    return isLiveSession(row, now) ? { username: row.username, realm: row.realm } : null;
  };
}

/** The session queries of `Queries` (./model.ts) over one connection, synchronous. */
export function sqliteSessionQueries(store: Store): SessionQueries {
  const { db } = store;
  return {
    insertSession: (session) => insertSession(db, session),
    findSession: (id) => findSession(db, id),
    listSessions: (filter) => listSessions(db, filter),
    countLiveSessions: (userId, now) => countLiveSessions(db, userId, now),
    markSessionsRevoked: (ids, at, reason) => markSessionsRevoked(db, ids, at, reason),
    markSessionRefreshed: (id, at, refreshExpiresAt) => markSessionRefreshed(db, id, at, refreshExpiresAt),
    insertRefreshToken: (token) => insertRefreshToken(db, token),
    // `forUpdate` needs nothing here: the immediate transaction is the only writer.
    findRefreshToken: (hash) => findRefreshToken(db, hash),
    markRefreshTokenUsed: (id, at) => markRefreshTokenUsed(db, id, at),
    forgetUsedRefreshTokens: (sessionId, before) => forgetUsedRefreshTokens(db, sessionId, before),
    saveSessionIdentity: (id, identity, expiresAt) => saveSessionIdentity(db, id, identity, expiresAt),
    insertSessionHandle: (handle) => insertSessionHandle(db, handle),
    findSessionByHandle: prepareSessionByHandle(store),
    deleteEndedSessions: (cutoff, limit) => deleteEndedSessions(store, cutoff, limit),
  };
}
