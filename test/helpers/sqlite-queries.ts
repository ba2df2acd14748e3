// The `Queries` interface over today's SQLite table functions (src/store/*.ts),
// as the PostgreSQL suites' reference: the same scenario is run on both and the
// answers compared. What is still inline SQL in the services (the regulator's
// counters, the purge's deletes, the trusted-header profile writer) is
// mirrored here from src/regulation/regulator.ts and src/store/purge.ts. (src/store/sqlite-backend.ts, once merged, is the
// same thing for the services; this stays a test's independent reading.)
import { and, eq, gt, isNotNull, isNull, lt, lte } from "drizzle-orm";
import type { Queries, RegulationCounter } from "../../src/store/backend.ts";
import type { Store } from "../../src/store/database.ts";
import { regulationCounters, tokens } from "../../src/store/schema.ts";
import { upsertUser, markUsersSeen } from "../../src/store/users.ts";
import * as tokenTable from "../../src/store/tokens.ts";
import { firstEightOf, prepareRecordFirstEight, tokensWithFirstEight } from "../../src/store/token-first-eight.ts";
import * as sessionTable from "../../src/store/sessions.ts";
import * as keyTable from "../../src/store/signing-keys.ts";
import { listAudit, recordAggregatedAudit, recordAudit, searchAudit } from "../../src/store/audit.ts";
import { prepareAccountStore } from "../../src/store/profiles.ts";
import { auditEventsSince, listAuditPage, newestAuditId, purgeAudit } from "../../src/store/audit-query.ts";

const counterOf = (kind: string, subject: string) => and(eq(regulationCounters.kind, kind), eq(regulationCounters.subject, subject));

export function sqliteQueries(store: Store): Queries {
  const db = store.db;
  const recordFirstEight = prepareRecordFirstEight(store);
  const accounts = prepareAccountStore(store);
  return {
    upsertUser: (username, realm, at) => upsertUser(db, username, realm, at),
    markUsersSeen: (seen) => markUsersSeen(db, seen),
    lockUser: () => {},
    insertToken: (token) => void db.insert(tokens).values(token).run(),
    findToken: (id) => tokenTable.findToken(db, id),
    findTokenByHash: (hash) => tokenTable.findTokenByHash(db, hash),
    listTokens: (filter) => tokenTable.listTokens(db, filter),
    markTokenRevoked: (id, at) => tokenTable.markTokenRevoked(db, id, at),
    markDescendantsRevoked: (ids, at) => tokenTable.markDescendantsRevoked(db, ids, at),
    markSessionTokensRevoked: (ids, at) => tokenTable.markSessionTokensRevoked(db, ids, at),
    markOwnerTokensRevoked: (owner, at) => tokenTable.markOwnerTokensRevoked(db, owner, at),
    markTokensUsed: (uses) => tokenTable.markTokensUsed(db, uses),
    recordFirstEight: (tokenId, firstEight) => void recordFirstEight(tokenId, firstEight),
    firstEightOf: (ids) => firstEightOf(db, ids),
    tokensWithFirstEight: (firstEight) => tokensWithFirstEight(db, firstEight),
    insertSession: (session) => sessionTable.insertSession(db, session),
    findSession: (id) => sessionTable.findSession(db, id),
    listSessions: (filter) => sessionTable.listSessions(db, filter),
    countLiveSessions: (userId, now) => sessionTable.countLiveSessions(db, userId, now),
    markSessionsRevoked: (ids, at, reason) => sessionTable.markSessionsRevoked(db, ids, at, reason),
    markSessionRefreshed: (id, at, refreshExpiresAt) => sessionTable.markSessionRefreshed(db, id, at, refreshExpiresAt),
    insertRefreshToken: (token) => sessionTable.insertRefreshToken(db, token),
    findRefreshToken: (hash) => sessionTable.findRefreshToken(db, hash),
    markRefreshTokenUsed: (id, at) => sessionTable.markRefreshTokenUsed(db, id, at),
    forgetUsedRefreshTokens: (sessionId, before) => sessionTable.forgetUsedRefreshTokens(db, sessionId, before),
    lockKeys: () => {},
    liveKeys: () => keyTable.liveKeys(db),
    allKeys: () => keyTable.allKeys(db),
    insertKey: (row) => keyTable.insertKey(db, row),
    keysInState: (state) => keyTable.keysInState(db, state),
    makePrevious: (kid, at, retiresAt) => keyTable.makePrevious(db, kid, at, retiresAt),
    makeCurrent: (kid, at) => keyTable.makeCurrent(db, kid, at),
    retireKeys: (kids, at) => keyTable.retireKeys(db, kids, at),
    previousKeysDue: (now) => keyTable.previousKeysDue(db, now),
    recordAudit: (event) => recordAudit(db, event),
    recordAggregatedAudit: (row) => recordAggregatedAudit(db, row),
    listAudit: (options) => listAudit(db, options),
    searchAudit: (filter) => searchAudit(db, filter),
    listAuditPage: (filter) => listAuditPage(db, filter),
    purgeAudit: (before) => purgeAudit(db, before),
    newestAuditId: () => newestAuditId(store.sqlite),
    auditEventsSince: (afterId) => auditEventsSince(store.sqlite, afterId),
    // regulation/regulator.ts, inline today
    regulationCounter: (kind, subject) => db.select().from(regulationCounters).where(counterOf(kind, subject)).get(),
    saveRegulationCounter: (counter: RegulationCounter) => {
      const { failures, windowStartedAt, bannedUntil } = counter;
      db.insert(regulationCounters)
        .values(counter)
        .onConflictDoUpdate({ target: [regulationCounters.kind, regulationCounters.subject], set: { failures, windowStartedAt, bannedUntil } })
        .run();
    },
    deleteRegulationCounter: (kind, subject) => void db.delete(regulationCounters).where(counterOf(kind, subject)).run(),
    releaseRegulation: (now, findTimeMs) => {
      const over = db
        .delete(regulationCounters)
        .where(and(isNotNull(regulationCounters.bannedUntil), lte(regulationCounters.bannedUntil, now)))
        .returning({ kind: regulationCounters.kind, subject: regulationCounters.subject })
        .all();
      db.delete(regulationCounters)
        .where(and(isNull(regulationCounters.bannedUntil), lt(regulationCounters.windowStartedAt, now - findTimeMs)))
        .run();
      return over;
    },
    activeBans: (now) =>
      db
        .select({ kind: regulationCounters.kind, subject: regulationCounters.subject, bannedUntil: regulationCounters.bannedUntil })
        .from(regulationCounters)
        .where(gt(regulationCounters.bannedUntil, now))
        .all() as { kind: string; subject: string; bannedUntil: number }[],
    // store/profiles.ts, inline today
    saveProfile: (username, realm, profile, at) => {
      accounts.save(username, realm, profile, at); // its own immediate transaction: not for use inside another
      return accounts.find(username, realm)!.userId;
    },
    // store/purge.ts, inline today
    deleteEndedSessions: (cutoff, limit) =>
      store.sqlite
        .query(
          `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions
           WHERE min(coalesce(revoked_at, expires_at), expires_at, refresh_expires_at) < ?1 LIMIT ?2)`,
        )
        .run(cutoff, limit).changes,
    deleteEndedTokens: (cutoff, limit) =>
      store.sqlite
        .query(
          `DELETE FROM tokens WHERE id IN (SELECT id FROM tokens
           WHERE (revoked_at IS NOT NULL AND revoked_at < ?1) OR (expires_at IS NOT NULL AND expires_at < ?1) LIMIT ?2)`,
        )
        .run(cutoff, limit).changes,
    notify: () => {},
  };
}
