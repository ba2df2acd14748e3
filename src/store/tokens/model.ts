// The tokens family as the services see it, the same on both databases: its
// part of `Queries` (../backend.ts) and the records it takes and answers.
// SQLite's queries: ./sqlite.ts; PostgreSQL's: ./pg.ts; the tables beside them.
import type { MaybePromise } from "../../identity/maybe-promise.ts";
import type { Scopes } from "../../identity/user.ts";

/** The token queries of `Queries` (../backend.ts). */
export interface TokenQueries {
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
  /** The purge (../purge.ts): at most `limit` rows a call, the count deleted. */
  deleteEndedTokens(cutoff: number, limit: number): MaybePromise<number>;
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

export interface TokenFilter {
  username?: string;
  realm?: string;
  includeRevoked?: boolean;
}

/** A revoked token and its owner, for the audit log. */
export interface RevokedToken {
  id: string;
  username: string;
  realm: string;
}

/** A token whose owner is to be told it expires soon. */
export interface ExpiringToken {
  id: string;
  username: string;
  realm: string;
  note: string;
  expires_at: number;
}

export interface TokenUse {
  at: number;
  address: string | null;
  reportedAddress: string | null;
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
