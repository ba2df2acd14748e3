// Sessions (Tiled's model): a login gives a short-lived access
// token (a JWT, see ./access-tokens.ts) and an opaque refresh token; the
// refresh token is exchanged for a new pair until the session ends. Plain
// values in and out: the controller (modules/sessions) calls this.
//
// Rules, with the reason for each:
// - Refresh tokens are random (the API token format, prefix gtr_) and kept
//   only as SHA-256: a stolen database holds nothing usable.
// - Every refresh rotates the refresh token. Presenting one already rotated
//   revokes the whole session, newest token included (reuse detection, RFC
//   6819 §5.2.2.3 and the OAuth 2.0 Security BCP): if a token was stolen, the
//   thief and the owner cannot both keep using it, and the first collision
//   ends the session for both.
// - Two limits: refresh_token_max_age slides forward with each refresh
//   (inactivity), session_max_age does not (absolute). Unknown, expired,
//   revoked and reused tokens get the same answer: the caller learns nothing.
// - Used refresh tokens are kept for refresh_token_max_age after their use,
//   to detect their reuse, then forgotten (a session refreshed every 15
//   minutes would otherwise add a row each time, forever); one replayed
//   later is merely unknown, and refused all the same.
// - A refresh re-reads who the user is (the session's provider, then the
//   augmenters), so a role removed applies at the next refresh.
// - API tokens made in a session (sessions/tokens: session_id) outlive the
//   owner's own sign-out (logout, logout/all, revoking their own session): a
//   portal user expects the token they made for a script to keep working.
//   They end with the session when it ends because it may be in someone
//   else's hands: a refresh token replayed (reuse), an admin revoking
//   someone else's session, and the admin's one action that ends all of a
//   user's sessions and tokens (endEverything).
// - A transaction awaits store queries only (src/store/backend.ts): roles
//   are re-read before the rotating transaction, tokens signed after it.
import { UNKNOWN_CLIENT, type ClientAddress } from "../identity/client.ts";
import type { IdentityPipeline } from "../identity/pipeline.ts";
import { andThen, type MaybePromise } from "../identity/maybe-promise.ts";
import { createUser, type User } from "../identity/user.ts";
import type { Logger } from "../log.ts";
import { auditBestEffort, auditRow } from "../store/audit/model.ts";
import { mayManage, owns, type Actor, type Owner } from "../identity/actor.ts";
import { unverifiableNote, type TokenService } from "../tokens/service.ts";
import { Refusal } from "../refusal.ts";
import type { Queries, StoreBackend } from "../store/backend.ts";
import type { SessionRecord } from "../store/sessions/model.ts";
import type { SessionIdentity } from "../store/sessions/identity.ts";
import { BROWSER_HANDLE_PREFIX, REFRESH_TOKEN_PREFIX, generateOpaqueToken, hashOpaqueToken, parseOpaqueToken, randomBase62 } from "../tokens/format.ts";
import { issueAccessToken, type AccessTokenSettings } from "./access-tokens.ts";
import { isoDate } from "../dates.ts";

export interface SessionPolicy {
  /** Seconds. */
  accessTokenMaxAge: number;
  /** Seconds: the sliding inactivity limit. */
  refreshTokenMaxAge: number;
  /** Seconds: the absolute limit. */
  sessionMaxAge: number;
  /** Seconds: the absolute limit of a session whose provider cannot describe users (a remote key service). */
  unverifiableMaxAge: number;
  maxSessionsPerUser: number;
}

/** Tiled's words, for every refresh that does not succeed, whatever the reason. */
export const SESSION_EXPIRED = "Session has expired. Please re-authenticate.";
export const REUSE_REASON = "refresh token reuse";

/** Tiled's token answer (the controller adds identity and principal to a login's). */
export interface IssuedTokens {
  access_token: string;
  /** Seconds. */
  expires_in: number;
  refresh_token: string;
  /** Seconds until the sliding limit (never past the absolute one). */
  refresh_token_expires_in: number;
  token_type: "bearer";
}

/** A login's answer: the tokens, and how long the session may live at most. */
export interface LoginTokens extends IssuedTokens {
  /** Seconds until the session's absolute limit. */
  session_expires_in: number;
  /** Set when the session lives shorter than session_max_age, saying why. */
  lifetime_note?: string;
}

/** A session as shown to its owner and admins. */
export interface SessionView {
  id: string;
  username: string;
  realm: string;
  provider: string;
  status: "active" | "expired" | "revoked";
  created_at: string;
  refreshed_at: string | null;
  /** The absolute limit. */
  expires_at: string;
  /** The sliding limit: the session ends then unless refreshed. */
  refresh_expires_at: string;
  revoked_at: string | null;
  revoked_reason: string | null;
  address: string | null;
  reported_address: string | null;
  user_agent: string | null;
}

/** Who the session's user is now, or null when their provider no longer knows them. */
export type RereadUser = (session: SessionRecord) => MaybePromise<User | null>;

/** The provider a session is opened with: its name, realm, and whether it can describe users (re-read them later). */
type SessionProvider = { name: string; realm: string; describeUser?: unknown; recheck?: unknown };

/**
 * Which cookie carries a handle: each has its own, so one can never be presented as another.
 * "portal": the portal's own cookie (its pages only); "sso": the single sign-on cookie of the
 * whole domain (sso/cookie.ts), which /authenticate accepts and the portal does not.
 */
export type BrowserHandleKind = "portal" | "sso";

/** A browser's live session, and its user as last read. */
export interface BrowserSession {
  user: User;
  session: SessionRecord;
  /**
   * Until when this answer holds unless the store changes (a revocation is a
   * write): the session's absolute and sliding limits, and the next re-read
   * of its user.
   */
  until: number;
}

/** What a session remembers of its user between re-reads. */
const identityOf = (user: User): SessionIdentity => ({ roles: [...user.roles], attributes: { ...user.attributes }, scopes: user.scopes ?? null });

const isLiveRecord = (session: SessionRecord, now: number) =>
  session.revokedAt === null && session.expiresAt > now && session.refreshExpiresAt > now;
const newSessionId = () => `ses_${randomBase62(20)}`;

export class SessionService {
  constructor(
    readonly store: StoreBackend,
    readonly policy: SessionPolicy,
    private readonly accessTokens: Omit<AccessTokenSettings, "maxAge">,
    private readonly rereadUser: RereadUser,
    private readonly logger: Logger,
    /** The API tokens, whose tokens made in a compromised session end with it. */
    private readonly tokens: TokenService | null = null,
  ) {}

  /**
   * Opens a session for a user a provider has just authenticated; refused
   * (403) beyond the cap of live sessions. A provider that cannot describe
   * users (a remote key service) cannot tell at a refresh whether the key
   * was revoked since: such a session lives at most unverifiable_max_age.
   */
  async login(
    user: User,
    provider: SessionProvider,
    client: ClientAddress,
    userAgent: string | null,
    now = Date.now(),
    /** Run in the session's own transaction: throwing there makes no session (a device code collected once, sign-in/device.ts). */
    within?: (q: Queries) => MaybePromise<void>,
  ): Promise<LoginTokens> {
    const refreshToken = generateOpaqueToken(REFRESH_TOKEN_PREFIX);
    const opened = await this.open(user, provider, client, userAgent, now, async (q, sessionId) => {
      await q.insertRefreshToken({ hash: hashOpaqueToken(refreshToken), sessionId, createdAt: now });
      await within?.(q);
    });
    const issued = await this.issue(user, opened, refreshToken, now);
    return {
      ...issued,
      session_expires_in: Math.floor((opened.expiresAt - now) / 1000),
      ...(opened.lifetimeNote ? { lifetime_note: opened.lifetimeNote } : {}),
    };
  }

  /**
   * Opens a session for a browser (the portal's sign-in): the browser gets
   * an opaque handle, never the session's tokens, and the store keeps only
   * the handle's SHA-256 (see BROWSER_HANDLE_PREFIX). Same rules as login.
   * One handle of each kind asked for (the portal's cookie, and the single
   * sign-on cookie), all made in the session's own transaction; `handle` is
   * the first's.
   */
  async signInBrowser(
    user: User,
    provider: SessionProvider,
    client: ClientAddress,
    userAgent: string | null,
    kinds: BrowserHandleKind | readonly BrowserHandleKind[],
    now = Date.now(),
  ): Promise<{ handle: string; handles: Partial<Record<BrowserHandleKind, string>>; sessionId: string; maxAgeSeconds: number }> {
    const handles: Partial<Record<BrowserHandleKind, string>> = {};
    for (const kind of typeof kinds === "string" ? [kinds] : kinds) handles[kind] = generateOpaqueToken(BROWSER_HANDLE_PREFIX);
    const opened = await this.open(user, provider, client, userAgent, now, async (q, sessionId) => {
      for (const [kind, handle] of Object.entries(handles)) await q.insertSessionHandle({ hash: hashOpaqueToken(handle), sessionId, kind, createdAt: now });
    });
    // The browser may keep it until the session's absolute limit; the store decides, at each use, whether it is still live.
    const handle = Object.values(handles)[0]!;
    return { handle, handles, sessionId: opened.id, maxAgeSeconds: Math.floor((opened.expiresAt - now) / 1000) };
  }

  /**
   * The live session a browser's handle belongs to, and who its user is: as
   * last read, or read again from the provider once that is older than an
   * access token may live (access_token_max_age) — which also slides the
   * session's inactivity limit, as a refresh does. Null for anything else
   * (malformed, unknown, revoked, expired, a user the provider no longer
   * knows): the browser is simply not signed in.
   */
  async browserSession(handle: string, kind: BrowserHandleKind, now = Date.now()): Promise<BrowserSession | null> {
    return this.browserSessionNow(handle, kind, now);
  }

  /**
   * browserSession without a promise when none is needed: the store answers
   * at once (SQLite) and the user needs no re-read. The single sign-on
   * cookie is checked this way on /authenticate, which then stays
   * synchronous (no promise, no timer) as for an API token.
   */
  browserSessionNow(handle: string, kind: BrowserHandleKind, now = Date.now()): MaybePromise<BrowserSession | null> {
    if (!parseOpaqueToken(BROWSER_HANDLE_PREFIX, handle)) return null;
    return andThen(this.store.read.findSessionByHandle(hashOpaqueToken(handle), kind), (found) => {
      if (!found || !isLiveRecord(found.session, now)) return null;
      const { session } = found;
      const userOf = (identity: SessionIdentity | null, until: number): BrowserSession | null =>
        identity && { user: createUser({ username: session.username, realm: session.realm, ...identity, scopes: identity.scopes ?? undefined }), session, until };
      if (found.identity !== null && found.identityExpiresAt !== null && found.identityExpiresAt > now) {
        return userOf(found.identity, Math.min(session.expiresAt, session.refreshExpiresAt, found.identityExpiresAt));
      }
      // As reread() records it: the sliding limit moved on, the next re-read one access token's life away.
      const { refreshTokenMaxAge, accessTokenMaxAge } = this.policy;
      const until = Math.min(session.expiresAt, now + refreshTokenMaxAge * 1000, now + accessTokenMaxAge * 1000);
      return this.reread(session, now).then((identity) => userOf(identity, until));
    });
  }

  /** Ends the session of a browser's handle (signing in again, over a previous sign-in); nothing for an unknown one. */
  async revokeByHandle(handle: string, kind: BrowserHandleKind, client: ClientAddress, now = Date.now()): Promise<void> {
    if (!parseOpaqueToken(BROWSER_HANDLE_PREFIX, handle)) return;
    const found = await this.store.read.findSessionByHandle(hashOpaqueToken(handle), kind);
    if (!found) return;
    const owner = { username: found.session.username, realm: found.session.realm };
    await this.revokeSessions([found.session], owner, client, "logout", now);
  }

  /** Who the session's user is now, recorded with the session; null (and the session ended) when the provider no longer knows them. */
  private async reread(session: SessionRecord, now: number): Promise<SessionIdentity | null> {
    let user: User | null;
    try {
      user = await this.rereadUser(session);
    } catch (error) {
      this.logger.error("sessions.reread_failed", { id: session.id, provider: session.provider, error: (error as Error).message });
      throw new Refusal(503, "The identity provider could not be reached; try again");
    }
    if (!user) {
      await this.revokeSessions([session], null, UNKNOWN_CLIENT, "user no longer known", now, true);
      return null;
    }
    const identity = identityOf(user);
    const refreshExpiresAt = Math.min(now + this.policy.refreshTokenMaxAge * 1000, session.expiresAt);
    await this.store.transaction(async (q) => {
      await q.saveSessionIdentity(session.id, identity, now + this.policy.accessTokenMaxAge * 1000);
      await q.markSessionRefreshed(session.id, now, refreshExpiresAt);
      await q.notify({ kind: "session.refreshed", ids: [session.id] });
    });
    return identity;
  }

  /**
   * Creates the session row and its first credential (`credential`, in the
   * same transaction); refused (403) beyond the cap of live sessions. A
   * provider that cannot describe users (a remote key service) cannot tell
   * at a refresh whether the key was revoked since: such a session lives at
   * most unverifiable_max_age.
   */
  private async open(
    user: User,
    provider: SessionProvider,
    client: ClientAddress,
    userAgent: string | null,
    now: number,
    credential: (q: Queries, sessionId: string) => MaybePromise<void>,
  ): Promise<{ id: string; expiresAt: number; refreshExpiresAt: number; lifetimeNote?: string }> {
    const { maxSessionsPerUser, sessionMaxAge, refreshTokenMaxAge, unverifiableMaxAge, accessTokenMaxAge } = this.policy;
    const id = newSessionId();
    // Asked again at each refresh (describeUser, or an identity provider's recheck): the usual lifetimes.
    const capped = !provider.describeUser && !provider.recheck && unverifiableMaxAge < sessionMaxAge;
    const expiresAt = now + (capped ? unverifiableMaxAge : sessionMaxAge) * 1000;
    const refreshExpiresAt = Math.min(now + refreshTokenMaxAge * 1000, expiresAt);
    const owner = { username: user.username, realm: user.realm };
    const liveCount = await this.store.transaction(async (q) => {
      const userId = await q.upsertUser(user.username, user.realm, now);
      // Counted and inserted in one transaction: concurrent logins cannot pass the cap together.
      await q.lockUser(userId);
      const count = await q.countLiveSessions(userId, now);
      if (count >= maxSessionsPerUser) return count;
      await q.insertSession({
        id,
        userId,
        provider: provider.name,
        createdAt: now,
        expiresAt,
        refreshExpiresAt,
        address: client.socket,
        reportedAddress: client.reported,
        userAgent,
        identity: identityOf(user),
        identityExpiresAt: now + accessTokenMaxAge * 1000,
      });
      await credential(q, id);
      await this.audit(q, "session.created", now, owner, client, owner, { session_id: id, provider: provider.name });
      return null;
    });
    if (liveCount !== null) {
      await auditBestEffort(this.logger, "session.create_denied", () =>
        this.store.transaction(async (q) =>
          this.audit(q, "session.create_denied", now, owner, client, owner, { provider: provider.name, live_sessions: liveCount }),
        ),
      );
      this.logger.warn("sessions.cap_reached", { username: user.username, realm: user.realm, live: liveCount });
      throw new Refusal(
        403,
        `${user.username} already has ${liveCount} live sessions, the most allowed (authentication.max_sessions_per_user); ` +
          "log out of some (POST /api/v1/auth/logout/all signs out everywhere) before logging in again",
      );
    }
    this.logger.info("sessions.created", { id, username: user.username, realm: user.realm, provider: provider.name });
    return { id, expiresAt, refreshExpiresAt, ...(capped ? { lifetimeNote: unverifiableNote(provider.realm, unverifiableMaxAge) } : {}) };
  }

  /** Logged and audited: the provider and the username given (none for an API key), never the password or key. */
  async recordFailedLogin(provider: { name: string; realm: string }, username: string | null, client: ClientAddress, now = Date.now()): Promise<void> {
    this.logger.warn("sessions.login_failed", { provider: provider.name, realm: provider.realm, username: username ?? undefined });
    const claimed = username === null ? null : { username, realm: provider.realm };
    // Anyone can cause these at will: one row per user and address per minute, with a count.
    await auditBestEffort(this.logger, "session.login_failed", () =>
      this.store.transaction(async (q) =>
        q.recordAggregatedAudit(auditRow({ user: claimed, client }, "session.login_failed", now, { detail: { provider: provider.name } })),
      ),
    );
  }

  /**
   * Exchanges a refresh token for a new pair. Anything but the session's
   * current refresh token on a live session is refused with SESSION_EXPIRED;
   * a token already exchanged revokes its session first.
   */
  async refresh(secret: string, client: ClientAddress, now = Date.now()): Promise<IssuedTokens> {
    const hash = parseOpaqueToken(REFRESH_TOKEN_PREFIX, secret) ? hashOpaqueToken(secret) : null;
    const found = hash ? await this.store.read.findRefreshToken(hash) : undefined;
    if (!hash || !found) throw new Refusal(401, SESSION_EXPIRED);
    // Who the user is now, read before the rotating transaction (a provider
    // may take its time). Should it fail, nothing has changed: the same
    // refresh token may be presented again.
    let user: User | null = null;
    if (found.usedAt === null && isLiveRecord(found.session, now)) {
      try {
        user = await this.rereadUser(found.session);
      } catch (error) {
        this.logger.error("sessions.reread_failed", { id: found.session.id, provider: found.session.provider, error: (error as Error).message });
        throw new Refusal(503, "The identity provider could not be reached; try again");
      }
    }
    const next = generateOpaqueToken(REFRESH_TOKEN_PREFIX);
    const outcome = await this.store.transaction(async (q) => {
      // Read again inside the transaction, locked: a concurrent refresh (here or on another instance) may have won meanwhile.
      const current = await q.findRefreshToken(hash, { forUpdate: true });
      if (!current) return "unknown" as const;
      const { session } = current;
      const owner = { username: session.username, realm: session.realm };
      if (current.usedAt !== null) {
        if ((await q.markSessionsRevoked([session.id], now, REUSE_REASON)).length > 0) {
          await this.audit(q, "session.revoked", now, null, client, owner, { session_id: session.id, reason: REUSE_REASON });
          await q.notify({ kind: "session.revoked", ids: [session.id] });
        }
        // The thief may have made tokens with the session's access tokens.
        await this.tokens?.revokeMadeInSessions(q, [session.id], { user: null, client }, REUSE_REASON, now);
        return "reused" as const;
      }
      if (!isLiveRecord(session, now)) return "expired" as const;
      if (!user) {
        await q.markSessionsRevoked([session.id], now, "user no longer known");
        await this.audit(q, "session.revoked", now, null, client, owner, { session_id: session.id, reason: "user no longer known" });
        // A person their provider no longer knows (removed, or disabled at an identity provider asked again):
        // what was made in the session ends with it.
        await this.tokens?.revokeMadeInSessions(q, [session.id], { user: null, client }, "user no longer known", now);
        await q.notify({ kind: "session.revoked", ids: [session.id] });
        return "user unknown" as const;
      }
      await q.markRefreshTokenUsed(current.id, now);
      await q.insertRefreshToken({ hash: hashOpaqueToken(next), sessionId: session.id, createdAt: now });
      await q.forgetUsedRefreshTokens(session.id, now - this.policy.refreshTokenMaxAge * 1000);
      const refreshExpiresAt = Math.min(now + this.policy.refreshTokenMaxAge * 1000, session.expiresAt);
      await q.markSessionRefreshed(session.id, now, refreshExpiresAt);
      await q.saveSessionIdentity(session.id, identityOf(user), now + this.policy.accessTokenMaxAge * 1000);
      await q.notify({ kind: "session.refreshed", ids: [session.id] });
      return { ...session, refreshedAt: now, refreshExpiresAt };
    });
    if (typeof outcome === "string") {
      const fields = { id: found.session.id, username: found.session.username, reason: outcome };
      if (outcome === "reused") this.logger.warn("sessions.refresh_token_reused", fields);
      else this.logger.debug("sessions.refresh_refused", fields);
      throw new Refusal(401, SESSION_EXPIRED);
    }
    return this.issue(user!, outcome, next, now);
  }

  /**
   * Revokes the session a refresh token belongs to (Tiled's client logout).
   * As RFC 7009 asks, an unknown token is not an error: the caller learns
   * nothing about tokens it does not hold.
   */
  async revokeByRefreshToken(secret: string, client: ClientAddress, now = Date.now()): Promise<void> {
    if (!parseOpaqueToken(REFRESH_TOKEN_PREFIX, secret)) return;
    const found = await this.store.read.findRefreshToken(hashOpaqueToken(secret));
    if (!found) return;
    // Presenting a token already exchanged is reuse, whatever the route.
    const reason = found.usedAt === null ? "logout" : REUSE_REASON;
    const owner = { username: found.session.username, realm: found.session.realm };
    await this.revokeSessions([found.session], owner, client, reason, now, reason === REUSE_REASON);
  }

  /** Revokes one session: the owner's own, or any for an admin; to anyone else it does not exist (404, audited). */
  async revoke(actor: Actor, id: string, reason = "revoked", now = Date.now()): Promise<void> {
    const session = await this.store.read.findSession(id);
    const notFound = new Refusal(404, `No session ${id}`);
    if (!session || session.revokedAt !== null) throw notFound;
    if (!mayManage(actor, session)) {
      await auditBestEffort(this.logger, "session.revoke_denied", () =>
        this.store.transaction(async (q) => this.audit(q, "session.revoke_denied", now, actor.user, actor.client, session, { session_id: id })),
      );
      this.logger.warn("sessions.revoke_denied", { id, actor: actor.user?.username });
      throw notFound;
    }
    // An admin ending someone else's session ends what was made in it: it may be in the wrong hands.
    const compromised = !owns(actor, session);
    if ((await this.revokeSessions([session], actor.user, actor.client, reason, now, compromised)) === 0) throw notFound;
  }

  /**
   * The admin's one action for a compromised account: ends every live
   * session of the user and revokes every live API token of theirs (and the
   * tokens made from them). Answers how many of each.
   */
  async endEverything(actor: Actor, owner: Owner, now = Date.now()): Promise<{ sessions: number; tokens: number }> {
    if (!actor.admin) throw new Refusal(403, "Only administrators may end another user's sessions and tokens");
    const reason = "ended by an administrator";
    const live = await this.store.read.listSessions({ ...owner, now });
    const sessions = await this.revokeSessions(live, actor.user, actor.client, reason, now, false);
    const tokens = this.tokens
      ? await this.store.transaction((q) => this.tokens!.revokeAllOf(q, owner, { user: actor.user, operator: actor.operator, client: actor.client }, reason, now))
      : 0;
    this.logger.warn("sessions.user_ended", { username: owner.username, realm: owner.realm, sessions, tokens, by: actor.user?.username ?? actor.operator });
    return { sessions, tokens };
  }

  /** Ends the session whose access token the actor came with. */
  async logout(actor: Actor, now = Date.now()): Promise<void> {
    if (!actor.sessionId) {
      throw new Refusal(
        400,
        "Not authenticated with a session's access token: log out with it, or POST the refresh token to /api/v1/auth/session/revoke",
      );
    }
    await this.revoke(actor, actor.sessionId, "logout", now);
  }

  /** Signs the actor out everywhere: every live session of their own. Answers how many were revoked. */
  async revokeAllOwn(actor: Actor, now = Date.now()): Promise<number> {
    if (!actor.user) return 0;
    const live = await this.store.read.listSessions({ ...actor.user, now });
    return this.revokeSessions(live, actor.user, actor.client, "signed out everywhere", now);
  }

  /**
   * At start-up: ends the live sessions of users their provider no longer
   * knows (removed from the config or the directory), or whose provider is
   * no longer configured, so that their access tokens stop at once rather
   * than at the next refresh. A provider that cannot be asked now (an
   * error, a time-out) leaves its sessions alone. Answers how many ended.
   */
  async endSessionsOfUnknownUsers(now = Date.now()): Promise<number> {
    const live = await this.store.read.listSessions({ now });
    const byUser = new Map<string, SessionRecord[]>();
    for (const session of live) {
      const key = JSON.stringify([session.provider, session.realm, session.username]);
      byUser.set(key, [...(byUser.get(key) ?? []), session]);
    }
    const unknown: SessionRecord[] = [];
    // A provider that fails once (a directory down) is not asked again: start-up must not wait a time-out per user.
    const unreachable = new Set<string>();
    for (const sessions of byUser.values()) {
      const { provider } = sessions[0];
      if (unreachable.has(provider)) continue;
      try {
        if ((await this.rereadUser(sessions[0])) === null) unknown.push(...sessions);
      } catch (error) {
        unreachable.add(provider);
        this.logger.warn("sessions.startup_check_failed", { provider, error: (error as Error).message });
      }
    }
    const ended = await this.revokeSessions(unknown, null, UNKNOWN_CLIENT, "user no longer known", now);
    if (ended > 0) this.logger.info("sessions.unknown_users_ended", { sessions: ended });
    return ended;
  }

  /** Sessions of the actor, or (admins) of the user or realm asked for. Live ones unless `includeInactive`. */
  async list(actor: Actor, filter: { username?: string; realm?: string; includeInactive?: boolean } = {}, now = Date.now()): Promise<SessionView[]> {
    const forOthers = filter.username !== undefined || filter.realm !== undefined;
    if (forOthers && !actor.admin) throw new Refusal(403, "Only administrators may list other users' sessions");
    const owner = forOthers || !actor.user ? { username: filter.username, realm: filter.realm } : actor.user;
    return (await this.store.read.listSessions({ ...owner, includeInactive: filter.includeInactive, now })).map((session) =>
      this.view(session, now),
    );
  }

  /**
   * Revokes those of the sessions not revoked yet, each audited as done by
   * `by`; with `withTokens`, the API tokens made in them too. Answers how many sessions.
   */
  private async revokeSessions(
    sessions: SessionRecord[],
    by: Owner | null,
    client: ClientAddress,
    reason: string,
    now: number,
    withTokens = false,
  ): Promise<number> {
    const byId = new Map(sessions.map((session) => [session.id, session]));
    const revoked = await this.store.transaction(async (q) => {
      const ids = await q.markSessionsRevoked([...byId.keys()], now, reason);
      for (const id of ids) {
        await this.audit(q, "session.revoked", now, by, client, byId.get(id)!, { session_id: id, reason });
      }
      if (ids.length > 0) await q.notify({ kind: "session.revoked", ids });
      if (withTokens) await this.tokens?.revokeMadeInSessions(q, ids, { user: by, client }, reason, now);
      return ids;
    });
    for (const id of revoked) {
      const { username, realm } = byId.get(id)!;
      this.logger.info("sessions.revoked", { id, username, realm, reason });
    }
    return revoked.length;
  }

  private async issue(
    user: User,
    session: Pick<SessionRecord, "id" | "expiresAt" | "refreshExpiresAt">,
    refreshToken: string,
    now: number,
  ): Promise<IssuedTokens> {
    const access = await issueAccessToken({ ...this.accessTokens, maxAge: this.policy.accessTokenMaxAge }, user, session.id, session.expiresAt, now);
    return {
      access_token: access.token,
      expires_in: Math.max(0, access.exp - Math.floor(now / 1000)),
      refresh_token: refreshToken,
      refresh_token_expires_in: Math.max(0, Math.floor((session.refreshExpiresAt - now) / 1000)),
      token_type: "bearer",
    };
  }

  private view(session: SessionRecord, now: number): SessionView {
    return {
      id: session.id,
      username: session.username,
      realm: session.realm,
      provider: session.provider,
      status: session.revokedAt !== null ? "revoked" : isLiveRecord(session, now) ? "active" : "expired",
      created_at: isoDate(session.createdAt)!,
      refreshed_at: isoDate(session.refreshedAt),
      expires_at: isoDate(session.expiresAt)!,
      refresh_expires_at: isoDate(session.refreshExpiresAt)!,
      revoked_at: isoDate(session.revokedAt),
      revoked_reason: session.revokedReason,
      address: session.address,
      reported_address: session.reportedAddress,
      user_agent: session.userAgent,
    };
  }

  private audit(q: Queries, event: string, at: number, by: Owner | null, client: ClientAddress, target: Owner | null, detail: Record<string, unknown>) {
    return q.recordAudit(auditRow({ user: by, client }, event, at, { target, detail }));
  }
}

/**
 * How a refresh learns who the user is now: the session's provider describes
 * them when it can (config users, a directory); a provider that cannot (a
 * remote key service) gives the bare user. Then the augmenters of the realm
 * add what they grant now. A provider no longer configured, or one that no
 * longer knows the user, ends the session.
 */
export function rereadFrom(pipeline: IdentityPipeline, timeoutMs: number): RereadUser {
  return (session) => {
    const provider = pipeline.providers.find((candidate) => candidate.name === session.provider && candidate.realm === session.realm);
    if (!provider) return null;
    // A provider that cannot be asked again (an identity provider signed in through the browser) gives the user
    // as it described them at the last sign-in; one that cannot describe users at all, the bare user.
    const described = provider.describeUser
      ? provider.describeUser(session.username, AbortSignal.timeout(timeoutMs))
      : provider.recheck
        ? provider.recheck(session.username, AbortSignal.timeout(timeoutMs))
        : provider.rememberedUser
        ? provider.rememberedUser(session.username)
        : createUser({ username: session.username, realm: session.realm });
    return andThen(described, (user) =>
      user ? pipeline.augmentUser(createUser({ ...user, username: session.username, realm: session.realm })) : null,
    );
  };
}
