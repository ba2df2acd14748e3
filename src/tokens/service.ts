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
// - Rotation (issue 23 § 1) replaces a token by a new secret with the same
//   note, scopes and networks; the old row records until when its secret
//   still works (`rotated_until`, the grace), a column of the very row
//   verification reads, so recognising it costs nothing more. Presented after
//   that, the old secret is a reuse: someone else holds it, so the whole
//   family (every token rotated from the same first one) is revoked.
// - A token may be limited to networks (§ 4), checked against the client's
//   address as regulation reads it; a token made with a token only narrows
//   its parent's.
import type { ClientAddress } from "../identity/client.ts";
import type { Scopes } from "../identity/user.ts";
import type { Logger } from "../log.ts";
import type { Queries, StoreBackend } from "../store/backend.ts";
import { isPromise, type MaybePromise } from "../identity/maybe-promise.ts";
import { auditBestEffort, auditRow, type AuditActor } from "../store/audit/model.ts";
import { mayManage, owns, type Actor, type ActorToken, type Owner } from "../identity/actor.ts";
import { Refusal } from "../refusal.ts";
import type { RevokedToken, TokenCredentialRow, TokenRecord, TokenUse } from "../store/tokens/model.ts";
import { firstEight, generateOpaqueToken, hashOpaqueToken, isImportedToken, mayBeApiToken, newTokenId } from "./format.ts";
import { describeScopes, importedTokenScopes, normaliseScopes, scopesBeyond, type Service } from "./scopes.ts";
import { isoDate } from "../dates.ts";
import { usernameProblem } from "../identity/username.ts";
import type { Provider } from "../providers/provider.ts";
import type { RequestContext } from "../identity/request.ts";
import { checkedNetworks, insideNetworks, networksBeyond } from "./networks.ts";
import { leakReason, type LeakReport, type LeakVerdict } from "./leaks.ts";
import { NO_NOTIFIER, type Notifier } from "../notifications/webhook.ts";

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
  /** Seconds: the longest grace a rotation may give the old secret (absent: 0, none). */
  maxRotationGrace?: number;
  /** Seconds: tokens expiring within this are marked for their owner (absent: 7 days). */
  remindBefore?: number;
  /** Seconds: a token unused this long is revoked by the purge (absent or 0: never). */
  expireUnusedAfter?: number;
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
  /** CIDR blocks the token may be used from; omitted: anywhere (or, made with a limited token, its networks). */
  allowedNetworks?: readonly unknown[];
}

export const FORM_ALREADY_SENT = "This form was already sent and has made its token (reloading the page sends it again): see Your tokens, or open New token to make another";

/** A token that verified: what authentication needs. */
export interface VerifiedToken extends ActorToken {
  userId: number;
  username: string;
  realm: string;
  /** Rotated away: its secret works until then (ms); a remembered answer never outlives it. */
  rotatedUntil: number | null;
  /**
   * The revocation stamp as it was just before the token's row was read. A
   * success remembered under it (providers/api-token.ts) goes stale at any
   * revocation made since the read, even one made while its answer was being
   * made (a JWT signed through WebCrypto, a PostgreSQL read).
   */
  readAtStamp: number;
}

/** A token as shown to its owner and admins: never the secret, never the hash. */
export interface TokenView {
  id: string;
  username: string;
  realm: string;
  note: string;
  /** null: every configured service and scope. */
  scopes: Scopes | null;
  /** `rotated`: replaced by rotation and past its grace (see rotated_to). */
  status: "active" | "expired" | "revoked" | "rotated";
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
  /** Why it was revoked when nobody chose to (reuse after rotation, unused), for its owner. */
  revoked_reason: string | null;
  /** Its rotation family: the first token's id (its own when it is the first). */
  family_id: string;
  rotated_from: string | null;
  rotated_to: string | null;
  /** Rotated away: until when its secret works (the grace). */
  rotated_until: string | null;
  /** CIDR blocks it may be used from; null: anywhere. */
  allowed_networks: string[] | null;
  /** Live and expiring within tokens.remind_before. */
  expiring_soon: boolean;
  /** Set when the expiry is shorter than asked for, saying why (finding 4: a realm that cannot be rechecked). */
  lifetime_note?: string;
}

export interface ListFilter {
  username?: string;
  realm?: string;
  /** Admins only: every user's tokens. */
  all?: boolean;
  includeRevoked?: boolean;
  /** Seconds: only live tokens that expire within this (tokens list --expiring). */
  expiringWithin?: number;
}

export const MAX_NOTE_LENGTH = 200;
/** Seconds: tokens.remind_before's default (7 days). */
export const DEFAULT_REMIND_BEFORE = 604800;
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const FLUSH_INTERVAL_MS = 5000;
/** Unused tokens revoked per transaction (the purge's batches, see store/purge.ts). */
const EXPIRE_UNUSED_BATCH = 500;
const ADDRESS_REFRESH_MS = 1000;


function duration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds} seconds (${seconds / 86400} days)`;
  return `${seconds} seconds`;
}

export class TokenService {
  private pendingUses = new Map<string, TokenUse & { userId: number; addressAt: number }>();
  private readonly timer: ReturnType<typeof setInterval>;
  private closed = false;
  /** Reuses being handled: one revocation of the family, however many requests present the old secret at once. */
  private readonly reusesInFlight = new Set<string>();
  /** Requests refused for their address: that "no" does not hold for the same token from inside its networks. */
  private readonly refusedForNetwork = new WeakSet<RequestContext>();
  /**
   * The client's address as regulation reads it (behind nginx, the X-Real-IP of a trusted proxy; connected by
   * modules/tokens/wiring.ts from the reader app.ts makes); without regulation, the peer.
   */
  clientAddress: (request: RequestContext) => string | null = (request) => request.client.socket;
  /** Told of token.expiring, token.expired_unused, token.reuse_detected and token.leaked (modules/tokens/wiring.ts connects the webhook). */
  notifier: Notifier = NO_NOTIFIER;

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
  verify(secret: string, request: RequestContext | null = null, now = Date.now()): MaybePromise<VerifiedToken | null> {
    if (!mayBeApiToken(this.policy.prefix, secret)) return null;
    const stamp = this.revocationStamp(now);
    // No promise and no closure when the store answers at once (SQLite): this runs on every request.
    const row = this.store.hot.tokenCredential(hashOpaqueToken(secret));
    return isPromise(row) ? row.then((found) => this.verifiedRow(found, request, now, stamp)) : this.verifiedRow(row, request, now, stamp);
  }

  /** Whether this request was refused for its address only (the same token from inside its networks is not). */
  refusedForAddress(request: RequestContext): boolean {
    return this.refusedForNetwork.has(request);
  }

  /** Whether the request comes from inside the token's networks (any address when it has none). */
  usableFrom(token: Pick<VerifiedToken, "networks">, request: RequestContext): boolean {
    return !token.networks || insideNetworks(token.networks, this.clientAddress(request));
  }

  private verifiedRow(row: TokenCredentialRow | null, request: RequestContext | null, now: number, stamp: number): MaybePromise<VerifiedToken | null> {
    if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) {
      if (row && this.logger.enabled("debug")) {
        this.logger.debug("tokens.refused", { id: row.id, reason: row.revoked_at !== null ? "revoked" : "expired" });
      }
      return null;
    }
    // Both read from the row just fetched: nothing more on the hot path for tokens never rotated nor limited.
    if (row.rotated_until !== null && row.rotated_until <= now) {
      void this.reuseDetected(row.id, request, now);
      return null;
    }
    if (row.allowed_networks !== null && !(request && insideNetworks(row.allowed_networks, this.clientAddress(request)))) {
      if (request) this.refusedForNetwork.add(request);
      void this.networkRefused(row, request, now);
      return null;
    }
    const owner = this.store.hot.owner(row.user_id);
    return isPromise(owner) ? owner.then((found) => verifiedToken(row, found, stamp)) : verifiedToken(row, owner, stamp);
  }

  /**
   * A rotated-away secret presented after its grace: whoever holds it is not
   * (or not only) the owner's deployment, which switched to the new one. The
   * family, every token rotated from the same first one (the current one
   * included) and the tokens made with them, is revoked at once; the audit
   * event names the family and the client's address, and the owner sees why.
   * Never throws: the request is refused whatever happens here.
   */
  private async reuseDetected(tokenId: string, request: RequestContext | null, now: number): Promise<void> {
    if (this.reusesInFlight.has(tokenId)) return;
    this.reusesInFlight.add(tokenId);
    const address = request ? this.clientAddress(request) : null;
    const presenter: AuditActor = { user: null, client: { socket: address ?? request?.client.socket ?? null, reported: request?.client.reported ?? null } };
    try {
      const revoked = await this.store.transaction(async (q) => {
        const record = await q.findToken(tokenId);
        if (!record || record.revokedAt !== null) return null;
        const family = record.familyId ?? record.id;
        const reason = `its rotated-away token ${record.id} was presented again${address ? ` from ${address}` : ""}: the whole family was revoked`;
        const members = await q.markFamilyRevoked(family, now, reason);
        const descendants = await q.markDescendantsRevoked(members.map((token) => token.id), now);
        await q.recordAudit(
          auditRow(presenter, "token.reuse_detected", now, {
            tokenId: record.id,
            target: record,
            detail: { family, address, revoked: [...members, ...descendants].map((token) => token.id) },
          }),
        );
        await this.auditRevoked(q, presenter, members, now, "reuse of a rotated-away token");
        await this.auditRevoked(q, presenter, descendants, now, "its parent token was revoked");
        await notifyRevoked(q, [...members, ...descendants]);
        return { family, record, ids: [...members, ...descendants].map((token) => token.id) };
      });
      if (revoked) {
        const { family, record, ids } = revoked;
        this.logger.warn("tokens.reuse_detected", { id: tokenId, family, username: record.username, realm: record.realm, address, revoked: ids.length });
        this.notifier.notify("token.reuse_detected", { token_id: tokenId, family, revoked: ids, username: record.username, realm: record.realm, note: record.note, address });
      }
    } catch (error) {
      this.logger.error("tokens.reuse_revocation_failed", { id: tokenId, error: (error as Error).message });
    } finally {
      this.reusesInFlight.delete(tokenId);
    }
  }

  /** A limited token used from outside its networks: audited, one row per token, address and minute (a retry loop cannot fill the log). */
  private async networkRefused(row: TokenCredentialRow, request: RequestContext | null, now: number): Promise<void> {
    const address = request ? this.clientAddress(request) : null;
    this.logger.info("tokens.network_refused", { id: row.id, address });
    await auditBestEffort(this.logger, "token.network_refused", async () => {
      const owner = await this.store.hot.owner(row.user_id);
      // The token's owner and the token, as any request made with a token is audited.
      const presenter: AuditActor = { user: owner, token: { id: row.id }, client: { socket: address ?? request?.client.socket ?? null, reported: request?.client.reported ?? null } };
      await this.store.transaction(async (q) =>
        q.recordAggregatedAudit(auditRow(presenter, "token.network_refused", now, { tokenId: row.id, target: owner, detail: { address, allowed_networks: JSON.parse(row.allowed_networks!) } })),
      );
    });
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
    let allowedNetworks: string[] | null;
    try {
      scopes = this.grantedScopes(actor, request.scopes);
      expiresAt = this.grantedExpiry(actor, request, now);
      allowedNetworks = this.grantedNetworks(actor, request.allowedNetworks);
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
      await q.insertToken({ id, hash: hashOpaqueToken(secret), userId, note, scopes, createdAt: now, expiresAt, parentId, sessionId, formNonce, allowedNetworks });
      await q.recordFirstEight(id, firstEight(this.policy.prefix, secret));
      await q.recordAudit(auditRow(actor, "token.created", now, { tokenId: id, target: owner, detail: allowedNetworks ? { allowed_networks: allowedNetworks } : undefined }));
      return {
        ...{ id, userId, username: owner.username, realm: owner.realm, note, scopes, createdAt: now, expiresAt, parentId, sessionId },
        ...{ lastUsedAt: null, lastUsedAddress: null, lastUsedReportedAddress: null, revokedAt: null, revokedReason: null },
        ...{ familyId: null, rotatedFrom: null, rotatedTo: null, rotatedUntil: null, allowedNetworks },
      };
    });
    if (record === null) throw new Refusal(409, FORM_ALREADY_SENT);
    this.logger.info("tokens.created", { id, username: owner.username, realm: owner.realm });
    const view = this.view(record, now);
    return { secret, token: lifetimeNote ? { ...view, lifetime_note: lifetimeNote } : view };
  }

  /**
   * Rotates a token (owner or admin): a new secret with the same note,
   * scopes, networks, parent and session, its expiry computed as at creation
   * (the same lifetime from now, capped as usual). The old secret works for
   * `graceSeconds` more (at most tokens.max_rotation_grace), then is refused,
   * and presented again it revokes the family (see reuseDetected).
   */
  async rotate(actor: Actor, id: string, request: { graceSeconds?: number } = {}): Promise<{ secret: string; token: TokenView; oldSecretUntil: string | null }> {
    const now = Date.now();
    const grace = request.graceSeconds ?? 0;
    const maxGrace = this.policy.maxRotationGrace ?? 0;
    if (!Number.isInteger(grace) || grace < 0 || grace > maxGrace) {
      throw new Refusal(400, `grace_seconds: a whole number of seconds from 0 to ${maxGrace} here (tokens.max_rotation_grace)`);
    }
    const record = await this.store.read.findToken(id);
    if (!record || !mayManage(actor, record)) {
      if (record) await this.audit(actor, "token.rotate_denied", now, { tokenId: record.id, target: record });
      throw new Refusal(404, `Token ${id} not found`);
    }
    if (statusOf(record, now) !== "active" || record.rotatedTo !== null) {
      const why = record.rotatedTo !== null ? `was already rotated to ${record.rotatedTo}: rotate that one` : `is ${statusOf(record, now)}: create a new token instead`;
      throw new Refusal(409, `Token ${id} ${why}`);
    }
    const { expiresAt, lifetimeNote } = await this.rotatedExpiry(actor, record, now);
    const secret = generateOpaqueToken(this.policy.prefix);
    const newId = newTokenId();
    const familyId = record.familyId ?? record.id;
    const rotated = await this.store.transaction(async (q) => {
      // Of two rotations at once, one wins: the other finds the row rotated.
      if (!(await q.markTokenRotated(record.id, newId, now + grace * 1000))) return false;
      await q.insertToken({
        ...{ id: newId, hash: hashOpaqueToken(secret), userId: record.userId, note: record.note, scopes: record.scopes, createdAt: now, expiresAt },
        ...{ parentId: record.parentId, sessionId: record.sessionId, familyId, rotatedFrom: record.id, allowedNetworks: record.allowedNetworks },
      });
      await q.recordFirstEight(newId, firstEight(this.policy.prefix, secret));
      await q.recordAudit(auditRow(actor, "token.rotated", now, { tokenId: newId, target: record, detail: { from: record.id, family: familyId, grace_seconds: grace } }));
      // Remembered answers for the old secret are void at once, on every instance (its grace is read anew from its row).
      await notifyRevoked(q, [record]);
      return true;
    });
    if (!rotated) throw new Refusal(409, `Token ${id} was rotated or revoked meanwhile`);
    this.logger.info("tokens.rotated", { id: newId, from: record.id, family: familyId, username: record.username, realm: record.realm, grace_seconds: grace });
    const view = this.view(
      {
        ...record,
        ...{ id: newId, createdAt: now, expiresAt, familyId, rotatedFrom: record.id, rotatedTo: null, rotatedUntil: null },
        ...{ lastUsedAt: null, lastUsedAddress: null, lastUsedReportedAddress: null, revokedAt: null, revokedReason: null },
      },
      now,
    );
    return { secret, token: lifetimeNote ? { ...view, lifetime_note: lifetimeNote } : view, oldSecretUntil: grace > 0 ? isoDate(now + grace * 1000) : null };
  }

  /**
   * The new expiry of a rotated token: its lifetime again from now, within
   * tokens.max_expires_in (a token that never expires stays so only while
   * that is allowed), never past its parent's expiry or the expiry of the
   * token rotating it (a token rotating itself is not bound by itself), and
   * capped for a realm that cannot be rechecked.
   */
  private async rotatedExpiry(actor: Actor, record: TokenRecord, now: number): Promise<{ expiresAt: number | null; lifetimeNote?: string }> {
    const { maxExpiresIn, allowNonExpiring } = this.policy;
    const lifetime = record.expiresAt === null ? null : record.expiresAt - record.createdAt;
    let expiresAt =
      lifetime === null && allowNonExpiring ? null : now + Math.min(lifetime ?? Number.POSITIVE_INFINITY, maxExpiresIn * 1000);
    const limits: number[] = [];
    if (actor.token && actor.token.id !== record.id && actor.token.expiresAt !== null) limits.push(actor.token.expiresAt);
    if (record.parentId !== null) {
      const parent = await this.store.read.findToken(record.parentId);
      if (parent?.expiresAt != null) limits.push(parent.expiresAt);
    }
    for (const limit of limits) expiresAt = expiresAt === null ? limit : Math.min(expiresAt, limit);
    if (expiresAt !== null && expiresAt <= now) throw new Refusal(409, "The token it was created with has expired: create a new token instead");
    return this.cappedForRealm(record.realm, expiresAt, now);
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
    const within = filter.expiringWithin;
    const records = await this.store.read.listTokens({ ...query, includeRevoked: filter.includeRevoked });
    return (within === undefined ? records : records.filter((record) => isExpiringSoon(record, now, within))).map((record) => this.view(record, now));
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

  /**
   * Leak reports (GitHub's secret scanning, or an operator's scanner): every
   * reported value that is a live token is revoked at once with the tokens
   * made with it, audited as `token.leaked` with where it was found, and its
   * owner sees "revoked: found public at <url>". A value that is a Gatehouse
   * token (live, or already revoked or expired) is a true positive; anything
   * else a false positive. The answer names each by its SHA-256.
   */
  async reportLeaks(reports: LeakReport[], by: AuditActor, now = Date.now()): Promise<LeakVerdict[]> {
    const verdicts: LeakVerdict[] = [];
    let revokedCount = 0;
    for (const report of reports) {
      const hash = hashOpaqueToken(report.token);
      const record = mayBeApiToken(this.policy.prefix, report.token) ? await this.store.read.findTokenByHash(hash) : undefined;
      verdicts.push({ token_hash: hash, token_type: report.type, label: record ? "true_positive" : "false_positive" });
      if (!record || record.revokedAt !== null) continue;
      const reason = leakReason(report);
      const revoked = await this.store.transaction(async (q) => {
        if (!(await q.markTokenRevoked(record.id, now, reason))) return false; // the same token twice, or revoked meanwhile
        const detail = { url: report.url, source: report.source, type: report.type };
        await q.recordAudit(auditRow(by, "token.leaked", now, { tokenId: record.id, target: record, detail }));
        const descendants = await q.markDescendantsRevoked([record.id], now);
        await this.auditRevoked(q, by, descendants, now, "its parent token was found public");
        await notifyRevoked(q, [record, ...descendants]);
        return true;
      });
      if (revoked) {
        revokedCount++;
        this.logger.warn("tokens.leaked", { id: record.id, username: record.username, realm: record.realm, url: report.url });
        this.notifier.notify("token.leaked", { token_id: record.id, username: record.username, realm: record.realm, note: record.note, url: report.url, source: report.source });
      }
    }
    this.logger.info("tokens.leak_report", { reports: reports.length, true_positives: verdicts.filter((verdict) => verdict.label === "true_positive").length, revoked: revokedCount });
    return verdicts;
  }

  /**
   * Tells the notifier, once per token, of each live token that expires
   * within tokens.remind_before (the purge calls this; `now` is its clock).
   * Nothing is marked when no webhook is configured. Answers how many.
   */
  async notifyExpiring(now = Date.now()): Promise<number> {
    if (this.notifier === NO_NOTIFIER) return 0;
    const until = now + (this.policy.remindBefore ?? DEFAULT_REMIND_BEFORE) * 1000;
    let total = 0;
    for (;;) {
      const expiring = await this.store.transaction(async (q) => q.markExpiryNotified(now, until, EXPIRE_UNUSED_BATCH));
      for (const token of expiring) {
        this.notifier.notify("token.expiring", { token_id: token.id, username: token.username, realm: token.realm, note: token.note, expires_at: isoDate(token.expires_at) });
      }
      total += expiring.length;
      if (expiring.length < EXPIRE_UNUSED_BATCH) return total;
    }
  }

  /**
   * Revokes the tokens not used for tokens.expire_unused_after (never used:
   * counted from their creation), and the tokens made with them, each
   * audited as `token.expired_unused` (the purge calls this; `now` is its
   * clock). Uses remembered in memory are written first, so a token used a
   * moment ago is not taken for unused. Answers how many were revoked.
   */
  async expireUnused(now = Date.now()): Promise<number> {
    const after = this.policy.expireUnusedAfter ?? 0;
    if (after <= 0) return 0;
    await this.flushUses();
    const reason = `not used for ${duration(after)} (tokens.expire_unused_after)`;
    let total = 0;
    for (;;) {
      const revoked = await this.store.transaction(async (q) => {
        const unused = await q.markUnusedTokensRevoked(now - after * 1000, now, reason, EXPIRE_UNUSED_BATCH);
        for (const token of unused) {
          await q.recordAudit(auditRow(null, "token.expired_unused", now, { tokenId: token.id, target: token, detail: { unused_for_seconds: after } }));
        }
        const descendants = await q.markDescendantsRevoked(unused.map((token) => token.id), now);
        await this.auditRevoked(q, null, descendants, now, "its parent token was revoked");
        await notifyRevoked(q, [...unused, ...descendants]);
        return unused;
      });
      for (const token of revoked) {
        this.logger.info("tokens.expired_unused", { id: token.id, username: token.username, realm: token.realm });
        this.notifier.notify("token.expired_unused", { token_id: token.id, username: token.username, realm: token.realm, unused_for_seconds: after });
      }
      total += revoked.length;
      if (revoked.length < EXPIRE_UNUSED_BATCH) return total;
    }
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
    if (!record || (record.revokedAt !== null && !mayManage(actor, record))) throw new Refusal(404, notFound);
    // Its owner (or an admin) is told what happened, not that it does not exist (issue 26 § 2).
    if (record.revokedAt !== null) throw alreadyRevoked(record.id, record.revokedAt);
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
    if (!revoked) throw alreadyRevoked(record.id, Date.now()); // revoked meanwhile by someone else
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

  /** The scopes an imported auth-o-tron token asks for: its own, or for none (`{}`) importedTokenScopes (never gatehouse:admin). */
  importedScopes(scopes: Scopes | undefined): Scopes {
    return scopes ?? importedTokenScopes(this.policy.services);
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

  /**
   * The networks of a new token: those asked for, each inside the creating
   * token's when it is limited (a token only narrows its parent's); omitted,
   * the creating token's (null: anywhere).
   */
  grantedNetworks(actor: Actor, requested: readonly unknown[] | undefined): string[] | null {
    const held = actor.token?.networks ? (JSON.parse(actor.token.networks) as string[]) : null;
    if (requested === undefined) return held;
    const networks = checkedNetworks(requested);
    if (typeof networks === "string") throw new Refusal(400, networks);
    if (held) {
      const beyond = networksBeyond(networks, held);
      if (beyond.length > 0) {
        throw new Refusal(403, `A token cannot be usable from more networks than the token creating it: ${beyond.join(", ")} not within ${held.join(", ")}`);
      }
    }
    return networks;
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

  /** Public: the portal's and the CLI's lists use it too. */
  view(record: TokenRecord, now: number): TokenView {
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
      status: statusOf(record, now),
      created_at: isoDate(record.createdAt)!,
      expires_at: isoDate(record.expiresAt),
      last_used_at: isoDate(lastUse.at),
      last_used_address: lastUse.address,
      last_used_reported_address: lastUse.reportedAddress,
      revoked_at: isoDate(record.revokedAt),
      parent_id: record.parentId,
      session_id: record.sessionId,
      revoked_reason: record.revokedReason,
      family_id: record.familyId ?? record.id,
      rotated_from: record.rotatedFrom,
      rotated_to: record.rotatedTo,
      rotated_until: isoDate(record.rotatedUntil),
      allowed_networks: record.allowedNetworks,
      expiring_soon: isExpiringSoon(record, now, this.policy.remindBefore ?? DEFAULT_REMIND_BEFORE),
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

function statusOf(record: TokenRecord, now: number): TokenView["status"] {
  if (record.revokedAt !== null) return "revoked";
  if (record.expiresAt !== null && record.expiresAt <= now) return "expired";
  if (record.rotatedUntil !== null && record.rotatedUntil <= now) return "rotated";
  return "active";
}

/** Live, not rotated away, and expiring within `remindBefore` seconds. */
export function isExpiringSoon(record: Pick<TokenRecord, "revokedAt" | "expiresAt" | "rotatedTo">, now: number, remindBefore: number): boolean {
  return record.revokedAt === null && record.rotatedTo === null && record.expiresAt !== null && record.expiresAt > now && record.expiresAt - now <= remindBefore * 1000;
}

function verifiedToken(row: TokenCredentialRow, owner: { username: string; realm: string } | null, readAtStamp: number): VerifiedToken | null {
  if (!owner) return null; // deleted meanwhile (its tokens go with it)
  return {
    id: row.id,
    userId: row.user_id,
    username: owner.username,
    realm: owner.realm,
    scopes: row.scopes === null ? null : (JSON.parse(row.scopes) as Scopes),
    expiresAt: row.expires_at,
    sessionId: row.session_id,
    networks: row.allowed_networks,
    rotatedUntil: row.rotated_until,
    readAtStamp,
  };
}

/** Still 404, as before (clients that treat it as "gone" keep working), with the reason in words. */
const alreadyRevoked = (id: string, at: number) => new Refusal(404, `Token ${id} was already revoked (${new Date(at).toISOString()})`);
