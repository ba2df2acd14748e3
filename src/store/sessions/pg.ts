// The sessions family's queries on PostgreSQL: the same semantics as
// ./sqlite.ts, query for query (the dialect's differences: ../pg/sql.ts).
import { and, asc, eq, gt, isNull, lt, sql, type SQL } from "drizzle-orm";
import { refreshTokens, sessionHandles, sessions } from "./pg-schema.ts";
import { users } from "../users/pg-schema.ts";
import { anyOf, bytewise, deleted, ownedBy, type PgExecutor } from "../pg/sql.ts";
import type { SessionFilter, SessionQueries, SessionRecord } from "./model.ts";

const sessionFields = {
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

/** Live: not revoked, and neither the absolute nor the sliding limit has passed (as ./sqlite.ts). */
const liveSession = (now: number) => and(isNull(sessions.revokedAt), gt(sessions.expiresAt, now), gt(sessions.refreshExpiresAt, now))!;

/** The session queries of `Queries` (./model.ts) over the pool or one transaction. */
export function pgSessionQueries(db: PgExecutor): SessionQueries {
  const selectSessions = (where: SQL | undefined): Promise<SessionRecord[]> =>
    db
      .select(sessionFields)
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(where)
      .orderBy(asc(sessions.createdAt), asc(bytewise(sessions.id)));

  return {
    async insertSession(session) {
      await db.insert(sessions).values(session);
    },

    async findSession(id) {
      return (await selectSessions(eq(sessions.id, id)))[0];
    },

    listSessions(filter: SessionFilter) {
      return selectSessions(ownedBy(filter, filter.includeInactive ? undefined : liveSession(filter.now)));
    },

    async countLiveSessions(userId, now) {
      const [row] = await db
        .select({ count: sql<number>`count(*)::int` })
        .from(sessions)
        .where(and(eq(sessions.userId, userId), liveSession(now)));
      return row!.count;
    },

    async markSessionsRevoked(ids, at, reason) {
      if (ids.length === 0) return [];
      const rows = await db
        .update(sessions)
        .set({ revokedAt: at, revokedReason: reason })
        .where(and(anyOf(sessions.id, ids), isNull(sessions.revokedAt)))
        .returning({ id: sessions.id });
      return rows.map((row) => row.id);
    },

    async markSessionRefreshed(id, at, refreshExpiresAt) {
      await db.update(sessions).set({ refreshedAt: at, refreshExpiresAt }).where(eq(sessions.id, id));
    },

    async insertRefreshToken(token) {
      await db.insert(refreshTokens).values(token);
    },

    async findRefreshToken(hash, options = {}) {
      if (options.forUpdate) {
        // The token's row alone is locked (not its session's or user's): a second rotation of the same
        // token waits here for the first to commit; the read below, a new statement, then sees it used.
        const locked = await db.select({ id: refreshTokens.id }).from(refreshTokens).where(eq(refreshTokens.hash, hash)).for("update");
        if (locked.length === 0) return undefined;
      }
      const [row] = await db
        .select({ id: refreshTokens.id, usedAt: refreshTokens.usedAt, session: sessionFields })
        .from(refreshTokens)
        .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(eq(refreshTokens.hash, hash));
      return row;
    },

    async markRefreshTokenUsed(id, at) {
      await db.update(refreshTokens).set({ usedAt: at }).where(eq(refreshTokens.id, id));
    },

    async forgetUsedRefreshTokens(sessionId, before) {
      await db.delete(refreshTokens).where(and(eq(refreshTokens.sessionId, sessionId), lt(refreshTokens.usedAt, before)));
    },

    async saveSessionIdentity(id, identity, expiresAt) {
      await db.update(sessions).set({ identity, identityExpiresAt: expiresAt }).where(eq(sessions.id, id));
    },

    async insertSessionHandle(handle) {
      await db.insert(sessionHandles).values(handle);
    },

    async findSessionByHandle(hash, kind) {
      const [row] = await db
        .select({ session: sessionFields, identity: sessions.identity, identityExpiresAt: sessions.identityExpiresAt })
        .from(sessionHandles)
        .innerJoin(sessions, eq(sessions.id, sessionHandles.sessionId))
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(and(eq(sessionHandles.hash, hash), eq(sessionHandles.kind, kind)));
      return row;
    },

    // The purge: at most `limit` rows a call; rows another instance is deleting are skipped, not waited for.
    deleteEndedSessions(cutoff, limit) {
      // A session ended at the earliest of its revocation, its absolute expiry and its sliding one.
      return deleted(db, sql`
        DELETE FROM sessions WHERE id IN (
          SELECT id FROM sessions
          WHERE least(coalesce(revoked_at, expires_at), expires_at, refresh_expires_at) < ${cutoff}::bigint
          LIMIT ${limit} FOR UPDATE SKIP LOCKED)`);
    },
  };
}
