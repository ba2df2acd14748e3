// The tokens table. Rows hold the SHA-256 of the secret, never the secret
// (see tokens/format.ts for why that hash is the right one).
import { and, asc, eq, inArray, isNull, sql, type SQL } from "drizzle-orm";
import type { Scopes } from "../identity/user.ts";
import { tokens, users } from "./schema.ts";
import type { Executor, Store } from "./database.ts";
import type { NewToken as NewTokenRow } from "./backend.ts";

/** A token with its owner, as the store returns it (no hash, no secret). */
export interface TokenRecord {
  id: string;
  userId: number;
  username: string;
  realm: string;
  note: string;
  scopes: Scopes | null;
  createdAt: number;
  expiresAt: number | null;
  parentId: string | null;
  sessionId: string | null;
  lastUsedAt: number | null;
  lastUsedAddress: string | null;
  lastUsedReportedAddress: string | null;
  revokedAt: number | null;
  /** Why it was revoked when nobody chose to (reuse after rotation, unused): shown to its owner. */
  revokedReason: string | null;
  /** The first token of its rotation family; null: it is that first one (or was never rotated). */
  familyId: string | null;
  rotatedFrom: string | null;
  rotatedTo: string | null;
  /** Rotated away: its secret works until then. */
  rotatedUntil: number | null;
  /** CIDR blocks it may be used from; null: anywhere. */
  allowedNetworks: string[] | null;
}

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

export type NewToken = typeof tokens.$inferInsert;

/** Inserts tokens with the statement prepared once (see audit.ts's prepareAuditWriter for why). */
export function prepareInsertToken(store: Store): (token: NewTokenRow) => void {
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

export interface TokenFilter {
  username?: string;
  realm?: string;
  includeRevoked?: boolean;
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

/** A revoked token and its owner, for the audit log. */
export interface RevokedToken {
  id: string;
  username: string;
  realm: string;
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

/** A token whose owner is to be told it expires soon. */
export interface ExpiringToken {
  id: string;
  username: string;
  realm: string;
  note: string;
  expires_at: number;
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

export interface TokenUse {
  at: number;
  address: string | null;
  reportedAddress: string | null;
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

/** What verifying a token needs, and nothing more. */
export interface TokenCredentialRow {
  id: string;
  user_id: number;
  scopes: string | null;
  expires_at: number | null;
  revoked_at: number | null;
  session_id: string | null;
  /** Rotated away: the secret works until then; presented later, it is a reuse (tokens/service.ts). */
  rotated_until: number | null;
  /** JSON list of CIDR blocks; null: usable from anywhere. */
  allowed_networks: string | null;
}

/**
 * The lookup run on every request that presents a token: one prepared
 * statement, one read of the unique index on `hash`, no ORM mapping. The
 * owner's name is looked up apart (see users.ts): measured, a join here costs
 * four times the read itself.
 */
export function prepareTokenLookup(store: Store): (hash: string) => TokenCredentialRow | null {
  const statement = store.sqlite.prepare<TokenCredentialRow, [string]>(
    "SELECT id, user_id, scopes, expires_at, revoked_at, session_id, rotated_until, allowed_networks FROM tokens WHERE hash = ?",
  );
  return (hash) => statement.get(hash);
}
