// The tokens family's queries on PostgreSQL: the same semantics as ./sqlite.ts,
// query for query (the dialect's differences: ../pg/sql.ts).
import { and, asc, eq, isNull, sql, type SQL } from "drizzle-orm";
import { tokenFirstEight, tokens } from "./pg-schema.ts";
import { users } from "../users/pg-schema.ts";
import { anyOf, batches, bytewise, deleted, int, ownedBy, type PgExecutor } from "../pg/sql.ts";
import type { NewToken, RevokedToken, TokenFilter, TokenQueries, TokenRecord, TokenUse } from "./model.ts";

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

type RevokedRow = { id: string; username: string; realm: string };

/** The token queries of `Queries` (./model.ts) over the pool or one transaction. */
export function pgTokenQueries(db: PgExecutor): TokenQueries {
  return { ...tokenRecords(db), ...tokenEndings(db) };
}

/** Writing and reading tokens: the rows, their last uses and Tiled's first_eight. */
function tokenRecords(db: PgExecutor): Pick<
  TokenQueries,
  | "insertToken"
  | "findToken"
  | "findTokenByHash"
  | "tokenIdWithFormNonce"
  | "listTokens"
  | "markTokensUsed"
  | "recordFirstEight"
  | "firstEightOf"
  | "tokensWithFirstEight"
> {
  const selectTokens = (where: SQL | undefined): Promise<TokenRecord[]> =>
    db
      .select(tokenFields)
      .from(tokens)
      .innerJoin(users, eq(users.id, tokens.userId))
      .where(where)
      .orderBy(asc(tokens.createdAt), asc(bytewise(tokens.id)));

  return {
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
  };
}

/** How tokens end: revoked (one, a family, a lineage, a session's, an owner's, the unused), rotated, warned of their expiry, purged. */
function tokenEndings(db: PgExecutor): Pick<
  TokenQueries,
  | "markTokenRevoked"
  | "markTokenRotated"
  | "markFamilyRevoked"
  | "markUnusedTokensRevoked"
  | "countTokensExpiring"
  | "markExpiryNotified"
  | "markDescendantsRevoked"
  | "markSessionTokensRevoked"
  | "markOwnerTokensRevoked"
  | "deleteEndedTokens"
> {
  /** Runs an UPDATE … RETURNING id, username, realm written by hand. */
  const revoked = async (query: SQL): Promise<RevokedToken[]> =>
    (await db.execute<RevokedRow>(query)).map((row) => ({ id: row.id, username: row.username, realm: row.realm }));

  return {
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

    // The purge: at most `limit` rows a call; rows another instance is deleting are skipped, not waited for.
    deleteEndedTokens(cutoff, limit) {
      return deleted(db, sql`
        DELETE FROM tokens WHERE id IN (
          SELECT id FROM tokens
          WHERE (revoked_at IS NOT NULL AND revoked_at < ${cutoff}::bigint) OR (expires_at IS NOT NULL AND expires_at < ${cutoff}::bigint)
          LIMIT ${limit} FOR UPDATE SKIP LOCKED)`);
    },
  };
}
