// The tokens family's queries on SQLite (their PostgreSQL twins: ./pg.ts).
// Rows hold the SHA-256 of the secret, never the secret (see
// tokens/format.ts for why that hash is the right one).
import { and, asc, eq, inArray, isNull, sql, type SQL } from "drizzle-orm";
import { tokenFirstEight, tokens } from "./sqlite-schema.ts";
import { users } from "../users/sqlite-schema.ts";
import type { Executor, Store } from "../database.ts";
import type { ExpiringToken, NewToken, RevokedToken, TokenCredentialRow, TokenFilter, TokenQueries, TokenRecord, TokenUse } from "./model.ts";

const recordFields = {
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

function selectRecords(db: Executor, where: SQL | undefined): TokenRecord[] {
  return db
    .select(recordFields)
    .from(tokens)
    .innerJoin(users, eq(users.id, tokens.userId))
    .where(where)
    .orderBy(asc(tokens.createdAt), asc(tokens.id))
    .all();
}

/** Inserts tokens with the statement prepared once (see ../audit/sqlite.ts' prepareAuditWriter for why). */
export function prepareInsertToken(store: Store): (token: NewToken) => void {
  const statement = store.sqlite.prepare(
    `INSERT INTO tokens (id, hash, user_id, note, scopes, created_at, expires_at, parent_id, session_id, form_nonce, family_id, rotated_from, allowed_networks)
     VALUES ($id, $hash, $userId, $note, $scopes, $createdAt, $expiresAt, $parentId, $sessionId, $formNonce, $familyId, $rotatedFrom, $allowedNetworks)`,
  );
  return (token) =>
    statement.run({
      ...token,
      scopes: token.scopes === null ? null : JSON.stringify(token.scopes),
      formNonce: token.formNonce ?? null,
      familyId: token.familyId ?? null,
      rotatedFrom: token.rotatedFrom ?? null,
      allowedNetworks: token.allowedNetworks ? JSON.stringify(token.allowedNetworks) : null,
    });
}

export function tokenIdWithFormNonce(db: Executor, nonce: string): string | undefined {
  return db.select({ id: tokens.id }).from(tokens).where(eq(tokens.formNonce, nonce)).all()[0]?.id;
}

export function findToken(db: Executor, id: string): TokenRecord | undefined {
  return selectRecords(db, eq(tokens.id, id))[0];
}

export function findTokenByHash(db: Executor, hash: string): TokenRecord | undefined {
  return selectRecords(db, eq(tokens.hash, hash))[0];
}

export function listTokens(db: Executor, filter: TokenFilter): TokenRecord[] {
  return selectRecords(
    db,
    and(
      filter.username === undefined ? undefined : eq(users.username, filter.username),
      filter.realm === undefined ? undefined : eq(users.realm, filter.realm),
      filter.includeRevoked ? undefined : isNull(tokens.revokedAt),
    ),
  );
}

/** Marks the token revoked (with why, when nobody chose to); false when it did not exist or was already revoked. */
export function markTokenRevoked(db: Executor, id: string, at: number, reason: string | null = null): boolean {
  const changed = db
    .update(tokens)
    .set({ revokedAt: at, revokedReason: reason })
    .where(and(eq(tokens.id, id), isNull(tokens.revokedAt)))
    .returning({ id: tokens.id })
    .all();
  return changed.length > 0;
}

/**
 * Revokes the live descendants of the given tokens (the tokens created with
 * them, and so on down, through parent_id): a token never outlives the
 * credential that made it. Answers those revoked now.
 */
export function markDescendantsRevoked(db: Executor, ids: string[], at: number): RevokedToken[] {
  if (ids.length === 0) return [];
  return db.all<RevokedToken>(sql`
    WITH RECURSIVE lineage(id) AS (
      SELECT ${tokens.id} FROM ${tokens} WHERE ${inArray(tokens.parentId, ids)}
      UNION SELECT t.id FROM tokens t JOIN lineage ON t.parent_id = lineage.id
    )
    UPDATE tokens SET revoked_at = ${at}
    WHERE id IN (SELECT id FROM lineage) AND revoked_at IS NULL
    RETURNING id, (SELECT username FROM users WHERE users.id = tokens.user_id) AS username,
              (SELECT realm FROM users WHERE users.id = tokens.user_id) AS realm`);
}

/**
 * Marks a live token rotated away, replaced by `to`, its secret working until
 * `until`; false when it was revoked or already rotated meanwhile (of two
 * rotations at once, one wins).
 */
export function markTokenRotated(db: Executor, id: string, to: string, until: number): boolean {
  const changed = db
    .update(tokens)
    .set({ rotatedTo: to, rotatedUntil: until })
    .where(and(eq(tokens.id, id), isNull(tokens.revokedAt), isNull(tokens.rotatedTo)))
    .returning({ id: tokens.id })
    .all();
  return changed.length > 0;
}

/** Revokes every live token of a rotation family (the first one and every token rotated from it), saying why. */
export function markFamilyRevoked(db: Executor, familyId: string, at: number, reason: string): RevokedToken[] {
  return db.all<RevokedToken>(sql`
    UPDATE tokens SET revoked_at = ${at}, revoked_reason = ${reason}
    WHERE (id = ${familyId} OR family_id = ${familyId}) AND revoked_at IS NULL
    RETURNING id, (SELECT username FROM users WHERE users.id = tokens.user_id) AS username,
              (SELECT realm FROM users WHERE users.id = tokens.user_id) AS realm`);
}

/**
 * Revokes at most `limit` live tokens not used since `cutoff` (never used:
 * counted from their creation), saying why. A token rotated away is left to
 * its family: its successor is the one in use.
 */
export function markUnusedTokensRevoked(db: Executor, cutoff: number, at: number, reason: string, limit: number): RevokedToken[] {
  return db.all<RevokedToken>(sql`
    UPDATE tokens SET revoked_at = ${at}, revoked_reason = ${reason}
    WHERE id IN (
      SELECT id FROM tokens
      WHERE revoked_at IS NULL AND rotated_to IS NULL AND (expires_at IS NULL OR expires_at > ${at})
        AND coalesce(last_used_at, created_at) < ${cutoff}
      LIMIT ${limit})
    RETURNING id, (SELECT username FROM users WHERE users.id = tokens.user_id) AS username,
              (SELECT realm FROM users WHERE users.id = tokens.user_id) AS realm`);
}

/**
 * Marks at most `limit` live tokens that expire after `now` and no later than
 * `until`, and whose owner was not told yet, as told (expiry_notified_at);
 * answers them. One UPDATE … RETURNING: of several instances, one tells.
 */
export function markExpiryNotified(db: Executor, now: number, until: number, limit: number): ExpiringToken[] {
  return db.all<ExpiringToken>(sql`
    UPDATE tokens SET expiry_notified_at = ${now}
    WHERE id IN (
      SELECT id FROM tokens
      WHERE revoked_at IS NULL AND rotated_to IS NULL AND expiry_notified_at IS NULL AND expires_at > ${now} AND expires_at <= ${until}
      LIMIT ${limit})
    RETURNING id, (SELECT username FROM users WHERE users.id = tokens.user_id) AS username,
              (SELECT realm FROM users WHERE users.id = tokens.user_id) AS realm, note, expires_at`);
}

/** How many live tokens expire after `now` and no later than each of `untils` (one count each). */
export function countTokensExpiring(db: Executor, now: number, untils: number[]): number[] {
  return untils.map(
    (until) =>
      db.all<{ n: number }>(sql`
        SELECT count(*) AS n FROM tokens
        WHERE revoked_at IS NULL AND rotated_to IS NULL AND expires_at > ${now} AND expires_at <= ${until}`)[0]!.n,
  );
}

/** Revokes the live tokens made in these sessions (their descendants carry the same session). */
export function markSessionTokensRevoked(db: Executor, sessionIds: string[], at: number): RevokedToken[] {
  if (sessionIds.length === 0) return [];
  return db.all<RevokedToken>(sql`
    UPDATE tokens SET revoked_at = ${at}
    WHERE ${inArray(tokens.sessionId, sessionIds)} AND revoked_at IS NULL
    RETURNING id, (SELECT username FROM users WHERE users.id = tokens.user_id) AS username,
              (SELECT realm FROM users WHERE users.id = tokens.user_id) AS realm`);
}

/** Revokes every live token of a user. */
export function markOwnerTokensRevoked(db: Executor, owner: { username: string; realm: string }, at: number): RevokedToken[] {
  return db.all<RevokedToken>(sql`
    UPDATE tokens SET revoked_at = ${at}
    WHERE user_id = (SELECT id FROM users WHERE username = ${owner.username} AND realm = ${owner.realm}) AND revoked_at IS NULL
    RETURNING id, ${owner.username} AS username, ${owner.realm} AS realm`);
}

/** Last-use times move forward only: several instances may flush out of order. */
export function markTokensUsed(db: Executor, uses: ReadonlyMap<string, TokenUse>): void {
  for (const [id, use] of uses) {
    db.update(tokens)
      .set({ lastUsedAt: use.at, lastUsedAddress: use.address, lastUsedReportedAddress: use.reportedAddress })
      .where(and(eq(tokens.id, id), sql`coalesce(${tokens.lastUsedAt}, 0) < ${use.at}`))
      .run();
  }
}

/** Deletes at most `limit` tokens revoked or expired before `cutoff` (their first_eight rows go with them); answers how many. */
export function deleteEndedTokens(store: Store, cutoff: number, limit: number): number {
  return store.sqlite
    .query<unknown, [number, number]>(
      `DELETE FROM tokens WHERE id IN (
         SELECT id FROM tokens
         WHERE (revoked_at IS NOT NULL AND revoked_at < ?1) OR (expires_at IS NOT NULL AND expires_at < ?1)
         LIMIT ?2)`,
    )
    .run(cutoff, limit).changes;
}

/**
 * The lookup run on every request that presents a token: one prepared
 * statement, one read of the unique index on `hash`, no ORM mapping. The
 * owner's name is looked up apart (see ../users/sqlite.ts): measured, a join here costs
 * four times the read itself.
 */
export function prepareTokenLookup(store: Store): (hash: string) => TokenCredentialRow | null {
  const statement = store.sqlite.prepare<TokenCredentialRow, [string]>(
    "SELECT id, user_id, scopes, expires_at, revoked_at, session_id, rotated_until, allowed_networks FROM tokens WHERE hash = ?",
  );
  return (hash) => statement.get(hash);
}

// Tiled's `first_eight` of each API token (see ./sqlite-schema.ts): written with the
// token, read to list keys and to revoke one the way Tiled clients do.

/** Records first_eight with the statement prepared once (see ../audit/sqlite.ts' prepareAuditWriter for why). */
export function prepareRecordFirstEight(store: Store): (tokenId: string, firstEight: string) => void {
  const statement = store.sqlite.prepare("INSERT INTO token_first_eight (token_id, first_eight) VALUES ($tokenId, $firstEight)");
  return (tokenId, firstEight) => statement.run({ tokenId, firstEight });
}

/** token id → first_eight, for the tokens that have one. */
export function firstEightOf(db: Executor, tokenIds: string[]): Map<string, string> {
  if (tokenIds.length === 0) return new Map();
  const rows = db.select().from(tokenFirstEight).where(inArray(tokenFirstEight.tokenId, tokenIds)).all();
  return new Map(rows.map((row) => [row.tokenId, row.firstEight]));
}

/** The ids of the tokens whose secret starts with these 8 characters (any owner: the caller filters). */
export function tokensWithFirstEight(db: Executor, firstEight: string): string[] {
  return db
    .select({ tokenId: tokenFirstEight.tokenId })
    .from(tokenFirstEight)
    .where(eq(tokenFirstEight.firstEight, firstEight))
    .all()
    .map((row) => row.tokenId);
}

/** The token queries of `Queries` (./model.ts) over one connection, synchronous. */
export function sqliteTokenQueries(store: Store): TokenQueries {
  const { db } = store;
  const insertToken = prepareInsertToken(store);
  return {
    insertToken: (token) => insertToken(token),
    findToken: (id) => findToken(db, id),
    findTokenByHash: (hash) => findTokenByHash(db, hash),
    tokenIdWithFormNonce: (nonce) => tokenIdWithFormNonce(db, nonce),
    listTokens: (filter) => listTokens(db, filter),
    markTokenRevoked: (id, at, reason) => markTokenRevoked(db, id, at, reason),
    markTokenRotated: (id, to, until) => markTokenRotated(db, id, to, until),
    markFamilyRevoked: (familyId, at, reason) => markFamilyRevoked(db, familyId, at, reason),
    markUnusedTokensRevoked: (cutoff, at, reason, limit) => markUnusedTokensRevoked(db, cutoff, at, reason, limit),
    countTokensExpiring: (now, untils) => countTokensExpiring(db, now, untils),
    markExpiryNotified: (now, until, limit) => markExpiryNotified(db, now, until, limit),
    markDescendantsRevoked: (ids, at) => markDescendantsRevoked(db, ids, at),
    markSessionTokensRevoked: (sessionIds, at) => markSessionTokensRevoked(db, sessionIds, at),
    markOwnerTokensRevoked: (owner, at) => markOwnerTokensRevoked(db, owner, at),
    markTokensUsed: (uses) => markTokensUsed(db, uses),
    recordFirstEight: prepareRecordFirstEight(store),
    firstEightOf: (tokenIds) => firstEightOf(db, tokenIds),
    tokensWithFirstEight: (firstEight) => tokensWithFirstEight(db, firstEight),
    deleteEndedTokens: (cutoff, limit) => deleteEndedTokens(store, cutoff, limit),
  };
}
