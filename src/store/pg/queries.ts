// Every query the services make outside the hot path (`Queries`, ../backend.ts),
// for PostgreSQL: the same semantics as SQLite's queries in
// src/store/<family>/sqlite.ts, query for query. Dialect differences carried over by hand
// (docs/postgres-design.md § 2): greatest()/least() for SQLite's scalar
// max()/min(), IS NOT DISTINCT FROM for SQLite's `IS`, booleans are booleans,
// count(*) is int8 (cast), raw int8 columns come back as strings (converted),
// JSON text is edited through jsonb. Ties in list orders are broken by ids
// compared byte by byte (COLLATE "C"), as SQLite compares them, whatever the
// database's collation.
//
// What PostgreSQL needs and SQLite does not (SQLite serialises writers): the
// row locks and the transaction lock that give concurrent instances one
// winner (`findRefreshToken({ forUpdate })`, `lockUser`, `lockKeys`,
// `regulationCounter({ forUpdate })`), and `notify`, which tells every
// instance of a change when the transaction commits (never on rollback).
import { and, asc, desc, eq, gt, gte, isNotNull, isNull, lt, lte, ne, or, sql, type SQL } from "drizzle-orm";
import type { AnyPgColumn, PgDatabase } from "drizzle-orm/pg-core";
import type { BunSQLQueryResultHKT } from "drizzle-orm/bun-sql/session";
import type { Queries, StoreChange } from "../backend.ts";
import type { AuditFilter as AuditPageFilter, AuditRecord } from "../audit/query.ts";
import { auditPage, auditPageConditions, auditPageSize } from "../audit/query.ts";
import { auditSearchConditions, type AuditEvent, type AuditFilter, type AuditRow } from "../audit/model.ts";
import type { Profile } from "../users/model.ts";
import type { RegulationCounter } from "../regulation/model.ts";
import type { SessionFilter, SessionRecord } from "../sessions/model.ts";
import { deviceRecordFields, deviceRecordOf, type DeviceQueries } from "../device/model.ts";
import type { KeyState, SigningKeyRow } from "../signing-keys/model.ts";
import type { NewToken, RevokedToken, TokenFilter, TokenRecord, TokenUse } from "../tokens/model.ts";
import { CHANGES_CHANNEL, encodeChange } from "./contract.ts";
import { KEYS_LOCK } from "./database.ts";
import * as schema from "./schema.ts";

const { auditLog, externalAccounts, refreshTokens, regulationCounters, sessionHandles, sessions, signInFlows, signingKeys, tokenFirstEight, tokens, userProfiles, users } = schema;

/** The pool's drizzle handle or an open transaction: the queries accept either. */
export type PgExecutor = PgDatabase<BunSQLQueryResultHKT, typeof schema>;

/** A raw int8 (a string from Bun's client) as a number. */
const int = (value: unknown): number => Number(value);

/** Orders text ids byte by byte, as SQLite does, whatever the database's collation. */
const bytewise = (column: AnyPgColumn) => sql`${column} COLLATE "C"`;

const tokenFields = {
  id: tokens.id,
  userId: tokens.userId,
  username: users.username,
  realm: users.realm,
  note: tokens.note,
  scopes: tokens.scopes,
  createdAt: tokens.createdAt,
  expiresAt: tokens.expiresAt,
  parentId: tokens.parentId,
  sessionId: tokens.sessionId,
  lastUsedAt: tokens.lastUsedAt,
  lastUsedAddress: tokens.lastUsedAddress,
  lastUsedReportedAddress: tokens.lastUsedReportedAddress,
  revokedAt: tokens.revokedAt,
  revokedReason: tokens.revokedReason,
  familyId: tokens.familyId,
  rotatedFrom: tokens.rotatedFrom,
  rotatedTo: tokens.rotatedTo,
  rotatedUntil: tokens.rotatedUntil,
  allowedNetworks: tokens.allowedNetworks,
};

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

const externalAccountFields = {
  provider: externalAccounts.provider,
  issuer: externalAccounts.issuer,
  subject: externalAccounts.subject,
  userId: externalAccounts.userId,
  username: users.username,
  realm: users.realm,
  roles: externalAccounts.roles,
  attributes: externalAccounts.attributes,
  refreshTokenSealed: externalAccounts.refreshTokenSealed,
};

/** Live: not revoked, and neither the absolute nor the sliding limit has passed (as ../sessions.ts). */
const liveSession = (now: number) => and(isNull(sessions.revokedAt), gt(sessions.expiresAt, now), gt(sessions.refreshExpiresAt, now))!;

/** `column = ANY($1)`: one array parameter however many ids (IN (…) takes one parameter each, 65,535 at most). */
const anyOf = (column: AnyPgColumn, values: readonly string[]) => sql`${column} = ANY(${sql.param(values)}::text[])`;

/** A listing's filter: the owner's name and realm when given, and `also`. */
const ownedBy = (filter: { username?: string; realm?: string }, also: SQL | undefined) =>
  and(
    filter.username === undefined ? undefined : eq(users.username, filter.username),
    filter.realm === undefined ? undefined : eq(users.realm, filter.realm),
    also,
  );

/** The lock that makes one transaction at a time change the signing keys (released at commit or rollback). */
const keysLock = sql`SELECT pg_advisory_xact_lock(hashtext(${KEYS_LOCK}))`;

const MINUTE_MS = 60_000;

/** Entries per statement for the batched updates (each is an array parameter: no limit on parameters, just a bound on size). */
const BATCH = 5000;
const batches = <T>(entries: T[]): T[][] => Array.from({ length: Math.ceil(entries.length / BATCH) }, (_, index) => entries.slice(index * BATCH, (index + 1) * BATCH));

type RevokedRow = { id: string; username: string; realm: string };

/** The Queries of one transaction (or of the pool, outside one); `instanceId` names this instance in notifications. */
export function pgQueries(db: PgExecutor, instanceId: string): Queries {
  const selectTokens = (where: SQL | undefined): Promise<TokenRecord[]> =>
    db
      .select(tokenFields)
      .from(tokens)
      .innerJoin(users, eq(users.id, tokens.userId))
      .where(where)
      .orderBy(asc(tokens.createdAt), asc(bytewise(tokens.id)));

  const selectSessions = (where: SQL | undefined): Promise<SessionRecord[]> =>
    db
      .select(sessionFields)
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(where)
      .orderBy(asc(sessions.createdAt), asc(bytewise(sessions.id)));

  /** Runs an UPDATE … RETURNING id, username, realm written by hand. */
  const revoked = async (query: SQL): Promise<RevokedToken[]> =>
    (await db.execute<RevokedRow>(query)).map((row) => ({ id: row.id, username: row.username, realm: row.realm }));

  const upsertUser = async (username: string, realm: string, at: number): Promise<number> => {
    const [row] = await db
      .insert(users)
      .values({ username, realm, firstSeen: at, lastSeen: at })
      .onConflictDoUpdate({ target: [users.username, users.realm], set: { lastSeen: sql`greatest(${users.lastSeen}, excluded.last_seen)` } })
      .returning({ id: users.id });
    return row!.id;
  };

  const recordAudit = async (event: AuditEvent): Promise<void> => {
    await db.insert(auditLog).values(event);
  };

  /** A DELETE's row count (Bun's result carries it), without returning the rows. */
  const deleted = async (query: SQL): Promise<number> => ((await db.execute(query)) as unknown as { count?: number }).count ?? 0;

  return {
    // users
    upsertUser,

    async markUsersSeen(seen) {
      // One statement for the whole batch (SQLite runs one UPDATE each: no round trips there).
      for (const batch of batches([...seen])) {
        await db.execute(sql`
          UPDATE users SET last_seen = greatest(users.last_seen, seen.at)
          FROM unnest(${sql.param(batch.map(([id]) => id))}::int8[], ${sql.param(batch.map(([, at]) => at))}::int8[]) AS seen(id, at)
          WHERE users.id = seen.id`);
      }
    },

    async lockUser(userId) {
      await db.select({ id: users.id }).from(users).where(eq(users.id, userId)).for("update");
    },

    // tokens
    async insertToken(token: NewToken) {
      await db.insert(tokens).values(token);
    },

    async findToken(id) {
      return (await selectTokens(eq(tokens.id, id)))[0];
    },

    async findTokenByHash(hash) {
      return (await selectTokens(eq(tokens.hash, hash)))[0];
    },

    async tokenIdWithFormNonce(nonce) {
      const [row] = await db.select({ id: tokens.id }).from(tokens).where(eq(tokens.formNonce, nonce));
      return row?.id;
    },

    listTokens(filter: TokenFilter) {
      return selectTokens(ownedBy(filter, filter.includeRevoked ? undefined : isNull(tokens.revokedAt)));
    },

    async markTokenRevoked(id, at, reason = null) {
      const changed = await db
        .update(tokens)
        .set({ revokedAt: at, revokedReason: reason })
        .where(and(eq(tokens.id, id), isNull(tokens.revokedAt)))
        .returning({ id: tokens.id });
      return changed.length > 0;
    },

    async markTokenRotated(id, to, until) {
      const changed = await db
        .update(tokens)
        .set({ rotatedTo: to, rotatedUntil: until })
        .where(and(eq(tokens.id, id), isNull(tokens.revokedAt), isNull(tokens.rotatedTo)))
        .returning({ id: tokens.id });
      return changed.length > 0;
    },

    async markFamilyRevoked(familyId, at, reason) {
      return revoked(sql`
        UPDATE tokens SET revoked_at = ${at}::bigint, revoked_reason = ${reason} FROM users
        WHERE users.id = tokens.user_id AND (tokens.id = ${familyId} OR tokens.family_id = ${familyId}) AND tokens.revoked_at IS NULL
        RETURNING tokens.id, users.username, users.realm`);
    },

    async markUnusedTokensRevoked(cutoff, at, reason, limit) {
      return revoked(sql`
        UPDATE tokens SET revoked_at = ${at}::bigint, revoked_reason = ${reason} FROM users
        WHERE users.id = tokens.user_id AND tokens.id IN (
          SELECT id FROM tokens
          WHERE revoked_at IS NULL AND rotated_to IS NULL AND (expires_at IS NULL OR expires_at > ${at}::bigint)
            AND coalesce(last_used_at, created_at) < ${cutoff}::bigint
          LIMIT ${limit})
        RETURNING tokens.id, users.username, users.realm`);
    },

    async countTokensExpiring(now, untils) {
      const counts: number[] = [];
      for (const until of untils) {
        const [row] = await db.execute<{ n: string }>(sql`
          SELECT count(*) AS n FROM tokens
          WHERE revoked_at IS NULL AND rotated_to IS NULL AND expires_at > ${now}::bigint AND expires_at <= ${until}::bigint`);
        counts.push(int(row!.n));
      }
      return counts;
    },

    async markExpiryNotified(now, until, limit) {
      const rows = await db.execute<{ id: string; username: string; realm: string; note: string; expires_at: string }>(sql`
        UPDATE tokens SET expiry_notified_at = ${now}::bigint FROM users
        WHERE users.id = tokens.user_id AND tokens.id IN (
          SELECT id FROM tokens
          WHERE revoked_at IS NULL AND rotated_to IS NULL AND expiry_notified_at IS NULL
            AND expires_at > ${now}::bigint AND expires_at <= ${until}::bigint
          LIMIT ${limit})
        RETURNING tokens.id, users.username, users.realm, tokens.note, tokens.expires_at`);
      return rows.map((row) => ({ id: row.id, username: row.username, realm: row.realm, note: row.note, expires_at: int(row.expires_at) }));
    },

    async markDescendantsRevoked(ids, at) {
      if (ids.length === 0) return [];
      return revoked(sql`
        WITH RECURSIVE lineage(id) AS (
          SELECT id FROM tokens WHERE ${anyOf(tokens.parentId, ids)}
          UNION SELECT t.id FROM tokens t JOIN lineage ON t.parent_id = lineage.id
        )
        UPDATE tokens SET revoked_at = ${at}::bigint FROM users
        WHERE users.id = tokens.user_id AND tokens.id IN (SELECT id FROM lineage) AND tokens.revoked_at IS NULL
        RETURNING tokens.id, users.username, users.realm`);
    },

    async markSessionTokensRevoked(sessionIds, at) {
      if (sessionIds.length === 0) return [];
      return revoked(sql`
        UPDATE tokens SET revoked_at = ${at}::bigint FROM users
        WHERE users.id = tokens.user_id AND ${anyOf(tokens.sessionId, sessionIds)} AND tokens.revoked_at IS NULL
        RETURNING tokens.id, users.username, users.realm`);
    },

    async markOwnerTokensRevoked(owner, at) {
      return revoked(sql`
        UPDATE tokens SET revoked_at = ${at}::bigint FROM users
        WHERE users.id = tokens.user_id AND users.username = ${owner.username} AND users.realm = ${owner.realm}
          AND tokens.revoked_at IS NULL
        RETURNING tokens.id, users.username, users.realm`);
    },

    async markTokensUsed(uses: ReadonlyMap<string, TokenUse>) {
      // One statement for the whole batch: the 5-second flush of last uses holds its transaction (and the
      // tokens' row locks) for one round trip, not one per token. Only forward, as on SQLite.
      for (const batch of batches([...uses])) {
        await db.execute(sql`
          UPDATE tokens SET last_used_at = used.at, last_used_address = used.address, last_used_reported_address = used.reported
          FROM unnest(${sql.param(batch.map(([id]) => id))}::text[], ${sql.param(batch.map(([, use]) => use.at))}::int8[],
                      ${sql.param(batch.map(([, use]) => use.address))}::text[], ${sql.param(batch.map(([, use]) => use.reportedAddress))}::text[])
               AS used(id, at, address, reported)
          WHERE tokens.id = used.id AND coalesce(tokens.last_used_at, 0) < used.at`);
      }
    },

    async recordFirstEight(tokenId, firstEight) {
      await db.insert(tokenFirstEight).values({ tokenId, firstEight });
    },

    async firstEightOf(tokenIds) {
      if (tokenIds.length === 0) return new Map();
      const rows = await db.select().from(tokenFirstEight).where(anyOf(tokenFirstEight.tokenId, tokenIds));
      return new Map(rows.map((row) => [row.tokenId, row.firstEight]));
    },

    async tokensWithFirstEight(firstEight) {
      const rows = await db.select({ tokenId: tokenFirstEight.tokenId }).from(tokenFirstEight).where(eq(tokenFirstEight.firstEight, firstEight));
      return rows.map((row) => row.tokenId);
    },

    // sessions and refresh tokens
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

    // signing in with an identity provider (../sign-in.ts)
    async findExternalAccount(provider, issuer, subject) {
      const [row] = await db
        .select(externalAccountFields)
        .from(externalAccounts)
        .innerJoin(users, eq(users.id, externalAccounts.userId))
        .where(and(eq(externalAccounts.provider, provider), eq(externalAccounts.issuer, issuer), eq(externalAccounts.subject, subject)));
      return row;
    },

    async externalAccountOf(provider, username, realm) {
      const [row] = await db
        .select(externalAccountFields)
        .from(externalAccounts)
        .innerJoin(users, eq(users.id, externalAccounts.userId))
        .where(and(eq(externalAccounts.provider, provider), eq(users.username, username), eq(users.realm, realm)));
      return row;
    },

    async insertExternalAccount(account) {
      await db.insert(externalAccounts).values(account);
    },

    async updateExternalAccount(key, roles, attributes, at, refreshTokenSealed) {
      await db
        .update(externalAccounts)
        .set({ roles, attributes, updatedAt: at, ...(refreshTokenSealed === undefined ? {} : { refreshTokenSealed }) })
        .where(and(eq(externalAccounts.provider, key.provider), eq(externalAccounts.issuer, key.issuer), eq(externalAccounts.subject, key.subject)));
    },

    async findUserId(username, realm) {
      const [row] = await db.select({ id: users.id }).from(users).where(and(eq(users.username, username), eq(users.realm, realm)));
      return row?.id;
    },

    async insertSignInFlow(flow) {
      await db.insert(signInFlows).values(flow);
    },

    async takeSignInFlow(stateHash) {
      const [row] = await db.delete(signInFlows).where(eq(signInFlows.stateHash, stateHash)).returning();
      return row;
    },

    async deleteExpiredSignInFlows(now) {
      const rows = await db.delete(signInFlows).where(lt(signInFlows.expiresAt, now)).returning({ stateHash: signInFlows.stateHash });
      return rows.length;
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

    // signing keys
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

    // audit
    recordAudit,

    async recordAggregatedAudit(row: AuditRow) {
      // One row per event, actor and address per minute, counting them in detail.count (as ../audit.ts).
      const minuteStart = row.at - (row.at % MINUTE_MS);
      const counted = await db
        .update(auditLog)
        .set({
          detail: sql`jsonb_set(coalesce(${auditLog.detail}, '{}')::jsonb, '{count}',
            to_jsonb(coalesce((${auditLog.detail}::jsonb ->> 'count')::bigint, 1) + 1))::text`,
        })
        .where(
          and(
            gte(auditLog.at, minuteStart),
            eq(auditLog.event, row.event),
            sql`${auditLog.actorUsername} IS NOT DISTINCT FROM ${row.actorUsername}::text`,
            sql`${auditLog.actorRealm} IS NOT DISTINCT FROM ${row.actorRealm}::text`,
            sql`${auditLog.address} IS NOT DISTINCT FROM ${row.address}::text`,
          ),
        )
        .returning({ id: auditLog.id });
      if (counted.length === 0) await recordAudit({ ...row, detail: { ...row.detail, count: 1 } });
    },

    listAudit(options = {}): Promise<AuditRecord[]> {
      return db
        .select()
        .from(auditLog)
        .where(options.tokenId === undefined ? undefined : eq(auditLog.tokenId, options.tokenId))
        .orderBy(desc(auditLog.id))
        .limit(options.limit ?? 100);
    },

    searchAudit(filter: AuditFilter): Promise<AuditRecord[]> {
      return db
        .select()
        .from(auditLog)
        .where(and(...auditSearchConditions(auditLog, filter)))
        .orderBy(desc(auditLog.id))
        .limit(filter.limit ?? 50);
    },

    async listAuditPage(filter: AuditPageFilter) {
      const size = auditPageSize(filter);
      const rows = await db
        .select()
        .from(auditLog)
        .where(and(...auditPageConditions(auditLog, filter)))
        .orderBy(desc(auditLog.id))
        .limit(size + 1);
      return auditPage(rows, size);
    },

    purgeAudit(before) {
      return deleted(sql`DELETE FROM audit_log WHERE at < ${before}::bigint`);
    },

    async newestAuditId() {
      const [row] = await db.execute<{ id: string }>(sql`SELECT coalesce(max(id), 0) AS id FROM audit_log`);
      return int(row!.id);
    },

    async auditEventsSince(afterId) {
      const [newest] = await db.execute<{ id: string }>(sql`SELECT coalesce(max(id), 0) AS id FROM audit_log`);
      const lastId = int(newest!.id);
      if (lastId <= afterId) return { lastId: afterId, counts: [] };
      const rows = await db.execute<{ event: string; reason: string | null; kind: string | null; count: number }>(sql`
        SELECT event, detail::jsonb ->> 'reason' AS reason, detail::jsonb ->> 'kind' AS kind, count(*)::int AS count
        FROM audit_log WHERE id > ${afterId}::bigint AND id <= ${lastId}::bigint GROUP BY 1, 2, 3`);
      return { lastId, counts: rows.map((row) => ({ event: row.event, reason: row.reason, kind: row.kind, count: int(row.count) })) };
    },

    // regulation
    async regulationCounter(kind, subject, options = {}) {
      const where = and(eq(regulationCounters.kind, kind), eq(regulationCounters.subject, subject));
      if (!options.forUpdate) {
        const [row] = await db.select().from(regulationCounters).where(where);
        return row;
      }
      // There is no row to lock before the first failure: a placeholder (no failures, a window long
      // over, so the next count starts afresh) is inserted first. A concurrent transaction inserting the
      // same waits on the key, then on the row lock, and then reads the count as committed.
      await db.insert(regulationCounters).values({ kind, subject, failures: 0, windowStartedAt: 0, bannedUntil: null }).onConflictDoNothing();
      const [row] = await db.select().from(regulationCounters).where(where).for("update");
      // The placeholder stands for "no row" (as SQLite answers): a count of none.
      return row && row.failures === 0 && row.bannedUntil === null ? undefined : row;
    },

    async saveRegulationCounter(counter: RegulationCounter) {
      const { failures, windowStartedAt, bannedUntil } = counter;
      await db
        .insert(regulationCounters)
        .values(counter)
        .onConflictDoUpdate({ target: [regulationCounters.kind, regulationCounters.subject], set: { failures, windowStartedAt, bannedUntil } });
    },

    async deleteRegulationCounter(kind, subject) {
      await db.delete(regulationCounters).where(and(eq(regulationCounters.kind, kind), eq(regulationCounters.subject, subject)));
    },

    async releaseRegulation(now, findTimeMs) {
      const over = await db
        .delete(regulationCounters)
        .where(and(isNotNull(regulationCounters.bannedUntil), lte(regulationCounters.bannedUntil, now)))
        .returning({ kind: regulationCounters.kind, subject: regulationCounters.subject });
      await db
        .delete(regulationCounters)
        .where(and(isNull(regulationCounters.bannedUntil), lt(regulationCounters.windowStartedAt, now - findTimeMs)));
      return over;
    },

    async activeBans(now) {
      const rows = await db
        .select({ kind: regulationCounters.kind, subject: regulationCounters.subject, bannedUntil: regulationCounters.bannedUntil })
        .from(regulationCounters)
        .where(gt(regulationCounters.bannedUntil, now));
      return rows as { kind: string; subject: string; bannedUntil: number }[];
    },

    // accounts vouched for by a proxy
    async saveProfile(username: string, realm: string, profile: Profile, at: number) {
      const id = await upsertUser(username, realm, at);
      const values = { ...profile, updatedAt: at };
      await db
        .insert(userProfiles)
        .values({ userId: id, ...values })
        .onConflictDoUpdate({ target: userProfiles.userId, set: values });
      return id;
    },

    // purge: at most `limit` rows a call; rows another instance is deleting are skipped, not waited for
    deleteEndedSessions(cutoff, limit) {
      // A session ended at the earliest of its revocation, its absolute expiry and its sliding one.
      return deleted(sql`
        DELETE FROM sessions WHERE id IN (
          SELECT id FROM sessions
          WHERE least(coalesce(revoked_at, expires_at), expires_at, refresh_expires_at) < ${cutoff}::bigint
          LIMIT ${limit} FOR UPDATE SKIP LOCKED)`);
    },

    deleteEndedTokens(cutoff, limit) {
      return deleted(sql`
        DELETE FROM tokens WHERE id IN (
          SELECT id FROM tokens
          WHERE (revoked_at IS NOT NULL AND revoked_at < ${cutoff}::bigint) OR (expires_at IS NOT NULL AND expires_at < ${cutoff}::bigint)
          LIMIT ${limit} FOR UPDATE SKIP LOCKED)`);
    },

    async notify(change: StoreChange) {
      // Inside the transaction: PostgreSQL delivers it when the transaction commits, and never on rollback.
      await db.execute(sql`SELECT pg_notify(${CHANGES_CHANNEL}, ${encodeChange(change, instanceId)})`);
    },

    ...pgDeviceQueries(db, deleted),
  };
}

// ---------------------------------------------------------------------------
// Device authorizations (RFC 8628 device-code sign-ins): ../device.ts on PostgreSQL.
// The conditional UPDATEs give concurrent instances one winner: a second
// transaction updating the same row waits for the first to commit, then
// re-checks the status it filters on (READ COMMITTED) and changes nothing.
function pgDeviceQueries(db: PgExecutor, deleted: (query: SQL) => Promise<number>): DeviceQueries {
  const { deviceAuthorizations } = schema;
  const selectOne = async (where: SQL) =>
    deviceRecordOf(
      (await db.select(deviceRecordFields(deviceAuthorizations, users)).from(deviceAuthorizations).leftJoin(users, eq(users.id, deviceAuthorizations.userId)).where(where))[0],
    );
  return {
    async insertDeviceAuthorization(row) {
      await db.insert(deviceAuthorizations).values({ ...row, status: "pending" });
    },
    async userCodeTaken(userCode) {
      return (await db.select({ id: deviceAuthorizations.id }).from(deviceAuthorizations).where(eq(deviceAuthorizations.userCode, userCode))).length > 0;
    },
    findDeviceAuthorizationByDeviceCode: (hash) => selectOne(eq(deviceAuthorizations.deviceCodeHash, hash)),
    findDeviceAuthorizationByUserCode: (userCode) => selectOne(eq(deviceAuthorizations.userCode, userCode)),
    async markDevicePolled(id, at, interval) {
      await db.update(deviceAuthorizations).set({ lastPolledAt: at, interval }).where(eq(deviceAuthorizations.id, id));
    },
    async decideDeviceAuthorization(id, { status, userId, identity, at }, now) {
      const changed = await db
        .update(deviceAuthorizations)
        .set({ status, userId, identity, approvedAt: at })
        .where(and(eq(deviceAuthorizations.id, id), eq(deviceAuthorizations.status, "pending"), gt(deviceAuthorizations.expiresAt, now)))
        .returning({ id: deviceAuthorizations.id });
      return changed.length > 0;
    },
    async collectDeviceAuthorization(id) {
      const changed = await db
        .update(deviceAuthorizations)
        .set({ status: "collected" })
        .where(and(eq(deviceAuthorizations.id, id), eq(deviceAuthorizations.status, "approved")))
        .returning({ id: deviceAuthorizations.id });
      return changed.length > 0;
    },
    deleteExpiredDeviceAuthorizations(cutoff, limit) {
      return deleted(sql`
        DELETE FROM device_authorizations WHERE id IN (
          SELECT id FROM device_authorizations WHERE expires_at < ${cutoff}::bigint
          LIMIT ${limit} FOR UPDATE SKIP LOCKED)`);
    },
  };
}
