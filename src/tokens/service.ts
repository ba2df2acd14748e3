// API tokens: creating, verifying, listing and revoking them, with the rules
// below. Plain values in and out, no HTTP context: the controller
// (modules/tokens), the token provider and the operator CLI (cli/tokens.ts)
// all call this.
//
// Rules:
// - A token carries scopes (service → scopes) from the config's `services`,
//   never more than the one creating it holds: a caller authenticated with a
//   token stays within that token's scopes and expiry.
// - Every token expires unless `tokens.allow_non_expiring`; the default and
//   the maximum lifetime come from the config.
// - Only the owner or an admin sees or revokes a token; to anyone else it
//   does not exist (404), and the attempt is audited.
// - A token never outlives the credential that made it: revoking a token
//   revokes the tokens created with it, and theirs (parent_id). A token
//   records the session it was made in (session_id, inherited by the tokens
//   it makes); see sessions/service.ts for what ending that session does.
// - Verification is one indexed read, with no cache: a revocation applies to
//   the very next request. The last use is remembered in memory and written
//   in one transaction every few seconds, not once per request.
import type { GatehouseConfig } from "../config/schema.ts";
import type { ClientAddress } from "../identity/client.ts";
import type { Scopes } from "../identity/user.ts";
import type { Logger } from "../log.ts";
import type { Queries, StoreBackend } from "../store/backend.ts";
import { isPromise, type MaybePromise } from "../identity/maybe-promise.ts";
import { auditBestEffort, auditRow, type AuditActor } from "../store/audit.ts";
import { mayManage, owns, type Actor, type ActorToken, type Owner } from "../identity/actor.ts";
import { Refusal } from "../refusal.ts";
import type { RevokedToken, TokenCredentialRow, TokenRecord, TokenUse } from "../store/tokens.ts";
import { firstEight, generateOpaqueToken, hashOpaqueToken, isImportedToken, mayBeApiToken, newTokenId } from "./format.ts";
import { describeScopes, normaliseScopes, scopesBeyond, type Service } from "./scopes.ts";
import { isoDate } from "../dates.ts";
import { usernameProblem } from "../identity/username.ts";
import type { Provider } from "../providers/provider.ts";

export interface TokenPolicy {
  prefix: string;
  /** Seconds. */
  defaultExpiresIn: number;
  /** Seconds; applies to every token that expires. */
  maxExpiresIn: number;
  allowNonExpiring: boolean;
  services: Service[];
  /** Realms whose providers can say later whether a user still exists; tokens of the others are capped. */
  recheckableRealms: ReadonlySet<string> | "all";
  /** Seconds: the longest life of a token of a realm that is not recheckable. */
  unverifiableMaxAge: number;
}

export function tokenPolicy(config: GatehouseConfig, providers: readonly Pick<Provider, "realm" | "describeUser">[] | null = null): TokenPolicy {
  return {
    prefix: config.tokens.prefix,
    defaultExpiresIn: config.tokens.default_expires_in,
    maxExpiresIn: config.tokens.max_expires_in,
    allowNonExpiring: config.tokens.allow_non_expiring,
    services: config.services,
    recheckableRealms: providers ? recheckableRealms(providers) : "all",
    unverifiableMaxAge: config.authentication.unverifiable_max_age,
  };
}

/**
 * Realms with a provider that can describe a user without their credential
 * (config users, a directory): what is made from their credentials is
 * checked again on every use or refresh. A remote key service (ecmwf-api)
 * cannot: a key revoked there is never noticed, so what is made from it
 * lives at most `authentication.unverifiable_max_age`.
 */
export function recheckableRealms(providers: readonly Pick<Provider, "realm" | "describeUser">[]): Set<string> {
  return new Set(providers.filter((provider) => provider.describeUser).map((provider) => provider.realm));
}

/** Why a token or a session of this realm lives shorter than asked, or null when it does not. */
export function unverifiableNote(realm: string, maxAge: number): string {
  return `At most ${duration(maxAge)}: the providers of realm "${realm}" cannot tell later whether the credential it was made from was revoked (authentication.unverifiable_max_age)`;
}


export interface CreateTokenRequest {
  note?: string;
  /** Seconds from now; null: never expires. */
  expiresIn?: number | null;
  /** An ISO 8601 date; null: never expires. */
  expiresAt?: string | null;
  /** Omitted: the creator's own (unrestricted for a direct login, a copy of the creating token's). */
  scopes?: Scopes;
  /** The portal form's single-use nonce: the same form sent again (a reload) is refused (409), never a second token. */
  formNonce?: string;
}

export const FORM_ALREADY_SENT = "This form was already sent and has made its token (reloading the page sends it again): see Your tokens, or open New token to make another";

/** A token that verified: what authentication needs. */
export interface VerifiedToken extends ActorToken {
  userId: number;
  username: string;
  realm: string;
}

/** A token as shown to its owner and admins: never the secret, never the hash. */
export interface TokenView {
  id: string;
  username: string;
  realm: string;
  note: string;
  /** null: every configured service and scope. */
  scopes: Scopes | null;
  status: "active" | "expired" | "revoked";
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  last_used_address: string | null;
  last_used_reported_address: string | null;
  revoked_at: string | null;
  /** The token it was created with, if any. */
  parent_id: string | null;
  /** The session it was made in, if any. */
  session_id: string | null;
  /** Set when the expiry is shorter than asked for, saying why (finding 4: a realm that cannot be rechecked). */
  lifetime_note?: string;
}

export interface ListFilter {
  username?: string;
  realm?: string;
  /** Admins only: every user's tokens. */
  all?: boolean;
  includeRevoked?: boolean;
}

export const MAX_NOTE_LENGTH = 200;
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const FLUSH_INTERVAL_MS = 5000;
const ADDRESS_REFRESH_MS = 1000;


function duration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds} seconds (${seconds / 86400} days)`;
  return `${seconds} seconds`;
}

export class TokenService {
  private pendingUses = new Map<string, TokenUse & { userId: number; addressAt: number }>();
  private readonly timer: ReturnType<typeof setInterval>;
  private closed = false;

  constructor(
    readonly store: StoreBackend,
    readonly policy: TokenPolicy,
    private readonly logger: Logger,
    flushIntervalMs = FLUSH_INTERVAL_MS,
  ) {
    this.timer = setInterval(() => void this.flushUses(), flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Changes whenever an earlier verification may no longer hold: a
   * revocation through this service (at once), or any commit by another
   * process sharing the store (noticed within a millisecond).
   */
  revocationStamp(now = Date.now()): number {
    return this.store.changes.current(now);
  }

  /**
   * Is this an auth-o-tron token imported into the store (revoked or not)?
   * Such a value has no Gatehouse prefix, so the pipeline asks, and never
   * sends it to a remote key service. One indexed read, for UUID-shaped
   * values only; any other value costs nothing.
   */
  keepsImported(secret: string): MaybePromise<boolean> {
    if (!isImportedToken(secret)) return false;
    const row = this.store.hot.tokenCredential(hashOpaqueToken(secret));
    return isPromise(row) ? row.then((found) => found !== null) : row !== null;
  }

  /**
   * The token behind a secret, or null when it is malformed, unknown, expired
   * or revoked (all alike to the caller). A value without the prefix, length
   * and checksum of a Gatehouse token, or the shape of an imported
   * auth-o-tron token (a UUID v4), is refused before any database read.
   */
  verify(secret: string, now = Date.now()): MaybePromise<VerifiedToken | null> {
    if (!mayBeApiToken(this.policy.prefix, secret)) return null;
    // No promise and no closure when the store answers at once (SQLite): this runs on every request.
    const row = this.store.hot.tokenCredential(hashOpaqueToken(secret));
    return isPromise(row) ? row.then((found) => this.verifiedRow(found, now)) : this.verifiedRow(row, now);
  }

  private verifiedRow(row: TokenCredentialRow | null, now: number): MaybePromise<VerifiedToken | null> {
    if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) {
      if (row && this.logger.enabled("debug")) {
        this.logger.debug("tokens.refused", { id: row.id, reason: row.revoked_at !== null ? "revoked" : "expired" });
      }
      return null;
    }
    const owner = this.store.hot.owner(row.user_id);
    return isPromise(owner) ? owner.then((found) => verifiedToken(row, found)) : verifiedToken(row, owner);
  }

  /**
   * Remembers the use; written with the others at the next flush. Asking Bun
   * for the peer's address costs more than verifying the token, so a token
   * used many times a second keeps the address seen at most a second ago.
   */
  recordUse(token: VerifiedToken, client: ClientAddress, at = Date.now()): void {
    const pending = this.pendingUses.get(token.id);
    if (pending && at - pending.addressAt < ADDRESS_REFRESH_MS) {
      pending.at = at;
      return;
    }
    this.pendingUses.set(token.id, {
      at,
      addressAt: at,
      address: client.socket,
      reportedAddress: client.reported,
      userId: token.userId,
    });
  }

  /** Writes the remembered uses in one transaction. */
  async flushUses(): Promise<void> {
    if (this.pendingUses.size === 0 || this.closed) return;
    const uses = this.pendingUses;
    this.pendingUses = new Map();
    const seen = new Map<number, number>();
    for (const use of uses.values()) seen.set(use.userId, Math.max(use.at, seen.get(use.userId) ?? 0));
    try {
      await this.store.transaction(async (q) => {
        await q.markTokensUsed(uses);
        await q.markUsersSeen(seen);
      });
    } catch (error) {
      this.logger.warn("tokens.last_used.flush_failed", { error: (error as Error).message, pending: uses.size });
      // Kept for the next flush, unless a newer use has replaced them meanwhile.
      for (const [id, use] of uses) if (!this.pendingUses.has(id)) this.pendingUses.set(id, use);
    }
  }

  async create(actor: Actor, owner: Owner, request: CreateTokenRequest): Promise<{ secret: string; token: TokenView }> {
    const now = Date.now();
    const note = request.note ?? "";
    if (note.length > MAX_NOTE_LENGTH) throw new Refusal(400, `note: at most ${MAX_NOTE_LENGTH} characters`);
    // An owner named by an admin or the operator (tokens create --user) enters here, not through a provider.
    const ownerProblem = usernameProblem(owner.username);
    if (ownerProblem) throw new Refusal(400, ownerProblem);
    let scopes: Scopes | null;
    let expiresAt: number | null;
    try {
      scopes = this.grantedScopes(actor, request.scopes);
      expiresAt = this.grantedExpiry(actor, request, now);
    } catch (error) {
      if (error instanceof Refusal && error.status === 403) {
        await this.audit(actor, "token.create_denied", now, { target: owner, detail: { reason: error.message } });
      }
      throw error;
    }
    let lifetimeNote: string | undefined;
    ({ expiresAt, lifetimeNote } = this.cappedForRealm(owner.realm, expiresAt, now));
    const secret = generateOpaqueToken(this.policy.prefix);
    const id = newTokenId();
    const parentId = actor.token?.id ?? null;
    const sessionId = actor.sessionId ?? actor.token?.sessionId ?? null;
    const formNonce = request.formNonce ?? null;
    const record: TokenRecord | null = await this.store.transaction(async (q) => {
      const userId = await q.upsertUser(owner.username, owner.realm, now);
      if (formNonce !== null) {
        // Locked first: the same form sent twice at once (two instances) finds the other's token, not a unique-key error.
        await q.lockUser(userId);
        if ((await q.tokenIdWithFormNonce(formNonce)) !== undefined) return null;
      }
      await q.insertToken({ id, hash: hashOpaqueToken(secret), userId, note, scopes, createdAt: now, expiresAt, parentId, sessionId, formNonce });
      await q.recordFirstEight(id, firstEight(this.policy.prefix, secret));
      await q.recordAudit(auditRow(actor, "token.created", now, { tokenId: id, target: owner }));
      return {
        ...{ id, userId, username: owner.username, realm: owner.realm, note, scopes, createdAt: now, expiresAt, parentId, sessionId },
        ...{ lastUsedAt: null, lastUsedAddress: null, lastUsedReportedAddress: null, revokedAt: null },
      };
    });
    if (record === null) throw new Refusal(409, FORM_ALREADY_SENT);
    this.logger.info("tokens.created", { id, username: owner.username, realm: owner.realm });
    const view = this.view(record, now);
    return { secret, token: lifetimeNote ? { ...view, lifetime_note: lifetimeNote } : view };
  }

  async list(actor: Actor, filter: ListFilter = {}): Promise<TokenView[]> {
    const forOthers = filter.all || filter.username !== undefined || filter.realm !== undefined;
    if (forOthers && !actor.admin) {
      throw new Refusal(403, "Only administrators may list other users' tokens");
    }
    const query =
      forOthers || !actor.user
        ? { username: filter.username, realm: filter.realm }
        : { username: actor.user.username, realm: actor.user.realm };
    const now = Date.now();
    return (await this.store.read.listTokens({ ...query, includeRevoked: filter.includeRevoked })).map((record) =>
      this.view(record, now),
    );
  }

  async get(actor: Actor, id: string): Promise<TokenView> {
    const record = await this.store.read.findToken(id);
    if (!record || !mayManage(actor, record)) throw new Refusal(404, `Token ${id} not found`);
    return this.view(record, Date.now());
  }

  /** The token the actor came with (Tiled's GET /api/v1/auth/apikey). */
  async used(actor: Actor): Promise<TokenView> {
    if (!actor.token) throw new Refusal(401, "No API key was provided with this request.");
    return this.get(actor, actor.token.id);
  }

  /** Revokes by public id. Someone else's token answers like an unknown one, and the attempt is audited. */
  async revoke(actor: Actor, id: string): Promise<TokenView> {
    return this.revokeRecord(actor, await this.store.read.findToken(id), `Token ${id} not found`);
  }

  /**
   * Revokes by secret (auth-o-tron's DELETE /token/{token}); a malformed secret is not looked up. `onlyItself`: the
   * actor's scopes do not cover managing tokens, so only the token it came with may be revoked (403 for any other,
   * known or not: a scoped token learns nothing of other secrets).
   */
  async revokeBySecret(actor: Actor, secret: string, options: { onlyItself?: boolean } = {}): Promise<TokenView> {
    const record = mayBeApiToken(this.policy.prefix, secret) ? await this.store.read.findTokenByHash(hashOpaqueToken(secret)) : undefined;
    if (options.onlyItself && (record === undefined || record.id !== actor.token?.id)) {
      throw new Refusal(403, `This credential's scopes do not include gatehouse:tokens`);
    }
    return this.revokeRecord(actor, record, "Token not found");
  }

  /**
   * Revokes one of the actor's own tokens by Tiled's `first_eight` (DELETE
   * /api/v1/auth/apikey). Own only, admins included, as Tiled's route; a key
   * of someone else answers like an unknown one, and the attempt is audited.
   */
  async revokeOwnByFirstEight(actor: Actor, first: string): Promise<TokenView> {
    const live: TokenRecord[] = [];
    for (const id of await this.store.read.tokensWithFirstEight(first)) {
      const record = await this.store.read.findToken(id);
      if (record !== undefined && record.revokedAt === null) live.push(record);
    }
    const own = live.find((record) => owns(actor, record));
    if (!own && live.length > 0) await this.audit(actor, "token.delete_denied", Date.now(), { tokenId: live[0].id, target: live[0] });
    return this.revokeRecord(actor, own, "The currently-authenticated user has no such API key.");
  }

  /** Tiled's `first_eight` of these tokens (those created before it was kept have none). */
  async firstEights(ids: string[]): Promise<Map<string, string>> {
    return this.store.read.firstEightOf(ids);
  }

  /** Stops the timer and writes the remembered uses (before the store is closed). */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    const flushed = this.flushUses();
    this.closed = true;
    await flushed;
  }

  private async revokeRecord(actor: Actor, record: TokenRecord | undefined, notFound: string): Promise<TokenView> {
    const now = Date.now();
    if (!record || record.revokedAt !== null) throw new Refusal(404, notFound);
    if (!mayManage(actor, record)) {
      await this.audit(actor, "token.delete_denied", now, { tokenId: record.id, target: record });
      this.logger.warn("tokens.delete_denied", { id: record.id, actor: actor.user?.username });
      throw new Refusal(404, notFound);
    }
    const revoked = await this.store.transaction(async (q) => {
      if (!(await q.markTokenRevoked(record.id, now))) return false; // revoked meanwhile by someone else
      await q.recordAudit(auditRow(actor, "token.revoked", now, { tokenId: record.id, target: record }));
      const descendants = await q.markDescendantsRevoked([record.id], now);
      await this.auditRevoked(q, actor, descendants, now, "its parent token was revoked");
      // Remembered verdicts for these tokens are void from the next request on, on every instance.
      await notifyRevoked(q, [record, ...descendants]);
      return true;
    });
    if (!revoked) throw new Refusal(404, notFound);
    this.logger.info("tokens.revoked", { id: record.id, username: record.username, realm: record.realm });
    return this.view({ ...record, revokedAt: now }, now);
  }

  /**
   * Inside the caller's transaction: revokes the tokens made in these
   * sessions and their descendants, each audited with the reason.
   */
  async revokeMadeInSessions(q: Queries, sessionIds: string[], by: AuditActor | null, reason: string, now: number): Promise<number> {
    return this.revokeWithDescendants(q, await q.markSessionTokensRevoked(sessionIds, now), by, reason, now);
  }

  /** Inside the caller's transaction: revokes every live token of the owner (and so their descendants), audited. */
  async revokeAllOf(q: Queries, owner: Owner, by: AuditActor | null, reason: string, now: number): Promise<number> {
    return this.revokeWithDescendants(q, await q.markOwnerTokensRevoked(owner, now), by, reason, now);
  }

  /** Audits tokens just revoked, revokes their descendants (audited too), and tells every instance; answers how many were given. */
  private async revokeWithDescendants(q: Queries, revoked: RevokedToken[], by: AuditActor | null, reason: string, now: number): Promise<number> {
    await this.auditRevoked(q, by, revoked, now, reason);
    const descendants = await q.markDescendantsRevoked(revoked.map((token) => token.id), now);
    await this.auditRevoked(q, by, descendants, now, reason);
    await notifyRevoked(q, [...revoked, ...descendants]);
    return revoked.length;
  }

  private async auditRevoked(q: Queries, by: AuditActor | null, revoked: RevokedToken[], now: number, reason: string): Promise<void> {
    for (const token of revoked) {
      await q.recordAudit(auditRow(by, "token.revoked", now, { tokenId: token.id, target: token, detail: { reason } }));
      this.logger.info("tokens.revoked", { id: token.id, username: token.username, realm: token.realm, reason });
    }
  }

  /**
   * A realm that cannot be asked again whether the user exists: what is made
   * from its credential lives at most unverifiable_max_age, with the note
   * saying why (none when the expiry is unchanged). Also for imported tokens.
   */
  cappedForRealm(realm: string, expiresAt: number | null, now: number): { expiresAt: number | null; lifetimeNote?: string } {
    const { recheckableRealms, unverifiableMaxAge } = this.policy;
    if (recheckableRealms === "all" || recheckableRealms.has(realm)) return { expiresAt };
    const cap = now + unverifiableMaxAge * 1000;
    if (expiresAt !== null && expiresAt <= cap) return { expiresAt };
    return { expiresAt: cap, lifetimeNote: unverifiableNote(realm, unverifiableMaxAge) };
  }

  /** The scopes of a new (or imported) token: valid for the config, and within what the actor holds. */
  grantedScopes(actor: Actor, requested: Scopes | undefined): Scopes | null {
    if (requested === undefined) return actor.token ? actor.token.scopes : (actor.scopes ?? null);
    const scopes = normaliseScopes(requested, this.policy.services);
    if (typeof scopes === "string") throw new Refusal(400, scopes);
    if (actor.scopes) {
      const beyond = scopesBeyond(scopes, actor.scopes);
      if (beyond.length > 0) {
        throw new Refusal(
          403,
          `A token cannot grant more than the credential creating it holds: ${beyond.join(", ")} ` +
            `not held (held: ${describeScopes(actor.scopes)})`,
        );
      }
    }
    return scopes;
  }

  /** The expiry of the new token (ms since the epoch, null: never), within the policy and the actor's token. */
  grantedExpiry(actor: Actor, request: CreateTokenRequest, now: number): number | null {
    const { defaultExpiresIn, maxExpiresIn, allowNonExpiring } = this.policy;
    if (request.expiresIn !== undefined && request.expiresAt !== undefined) {
      throw new Refusal(400, "Give expires_in or expires_at, not both");
    }
    const limit = actor.token ? actor.token.expiresAt : null;
    const explicit = request.expiresIn !== undefined || request.expiresAt !== undefined;
    let expiresAt: number | null;
    if (request.expiresIn === null || request.expiresAt === null) {
      if (!allowNonExpiring) {
        throw new Refusal(400, `Tokens that never expire are not allowed here; the longest lifetime is ${duration(maxExpiresIn)}`);
      }
      expiresAt = null;
    } else if (request.expiresAt !== undefined) {
      // RFC 3339 only: Date.parse also takes "2027" or "12/01/2026", whose meaning depends on who reads them.
      expiresAt = RFC_3339.test(request.expiresAt) ? Date.parse(request.expiresAt) : Number.NaN;
      if (Number.isNaN(expiresAt)) {
        throw new Refusal(400, `expires_at: "${request.expiresAt.slice(0, 40)}" is not an RFC 3339 date such as 2027-01-31T12:00:00Z`);
      }
    } else if (request.expiresIn !== undefined) {
      if (!Number.isInteger(request.expiresIn) || request.expiresIn < 1) {
        throw new Refusal(400, "expires_in: must be a whole number of seconds, at least 1");
      }
      expiresAt = now + request.expiresIn * 1000;
    } else {
      // The default never outlives the creating token: that is not an escalation the caller asked for.
      expiresAt = now + defaultExpiresIn * 1000;
      if (limit !== null) expiresAt = Math.min(expiresAt, limit);
    }
    if (expiresAt !== null) {
      if (expiresAt <= now) throw new Refusal(400, "The expiry must be in the future");
      // A second of slack for expires_at dates computed by the client a moment ago.
      if (expiresAt - now > maxExpiresIn * 1000 + (request.expiresAt !== undefined ? 1000 : 0)) {
        throw new Refusal(400, `The longest lifetime of a token is ${duration(maxExpiresIn)}`);
      }
    }
    if (explicit && limit !== null && (expiresAt === null || expiresAt > limit)) {
      throw new Refusal(
        403,
        `A token cannot outlive the token creating it, which expires at ${new Date(limit).toISOString()}`,
      );
    }
    return expiresAt;
  }

  private view(record: TokenRecord, now: number): TokenView {
    // A use not flushed yet is newer than what the database holds.
    const pending = this.pendingUses.get(record.id);
    const lastUse =
      pending && pending.at > (record.lastUsedAt ?? 0)
        ? pending
        : { at: record.lastUsedAt, address: record.lastUsedAddress, reportedAddress: record.lastUsedReportedAddress };
    return {
      id: record.id,
      username: record.username,
      realm: record.realm,
      note: record.note,
      scopes: record.scopes,
      status: record.revokedAt !== null ? "revoked" : record.expiresAt !== null && record.expiresAt <= now ? "expired" : "active",
      created_at: isoDate(record.createdAt)!,
      expires_at: isoDate(record.expiresAt),
      last_used_at: isoDate(lastUse.at),
      last_used_address: lastUse.address,
      last_used_reported_address: lastUse.reportedAddress,
      revoked_at: isoDate(record.revokedAt),
      parent_id: record.parentId,
      session_id: record.sessionId,
    };
  }

  private audit(actor: Actor, event: string, at: number, about: Parameters<typeof auditRow>[3]): Promise<void> {
    // Only refusals are audited this way: a failure to write one never changes the answer.
    return auditBestEffort(this.logger, event, () => this.store.transaction(async (q) => q.recordAudit(auditRow(actor, event, at, about))));
  }
}

/** Tells every instance these tokens are revoked (none: nothing to tell). */
function notifyRevoked(q: Queries, revoked: { id: string }[]): MaybePromise<void> {
  if (revoked.length > 0) return q.notify({ kind: "token.revoked", ids: revoked.map((token) => token.id) });
}

function verifiedToken(row: TokenCredentialRow, owner: { username: string; realm: string } | null): VerifiedToken | null {
  if (!owner) return null; // deleted meanwhile (its tokens go with it)
  return {
    id: row.id,
    userId: row.user_id,
    username: owner.username,
    realm: owner.realm,
    scopes: row.scopes === null ? null : (JSON.parse(row.scopes) as Scopes),
    expiresAt: row.expires_at,
    sessionId: row.session_id,
  };
}
