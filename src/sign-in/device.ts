// Device-code sign-in (RFC 8628, in Tiled's shape): a command line asks for
// an authorization, shows the person a short user code and a URL, and polls;
// the person opens the portal's device page, signs in, checks what is asked
// and approves; the next poll collects a session. Plain values in and out:
// the HTTP routes are modules/device (the command line's) and
// modules/portal/device.ts (the person's).
//
// Rules, with the reason for each:
// - The device code is 32 random bytes and the store keeps only its SHA-256
//   (as for every other token: a copy of the database holds nothing to poll
//   with). It never leaves the command line but to poll.
// - The user code is short enough to type: 8 characters from 24 that cannot
//   be taken for one another (consonants only, so no word is spelt by chance,
//   and the digits that look like none of them), ≈36.7 bits. Guessing one
//   that is pending takes billions of tries; a wrong code counts towards the
//   regulation of guessing of the address that typed it (the routes do), so
//   nobody gets near. It lives 15 minutes, is unique while it is kept and is
//   used once: approving or denying it ends it.
// - Approving needs the person signed in to the portal with the provider the
//   command line asked for: the session it gets is one of that provider, with
//   the person as that provider described them when they approved.
// - Polls follow RFC 8628 § 3.5: authorization_pending, slow_down when the
//   command line polls faster than its interval (which then grows by 5 s, for
//   good), expired_token, access_denied. An approved authorization is
//   collected once: the session is made in the transaction that marks it
//   collected, so of two polls at the same moment one gets the session and
//   the other is refused (invalid_grant), on every instance sharing the store.
import { randomBytes, randomInt } from "node:crypto";
import type { ClientAddress } from "../identity/client.ts";
import type { Ban, Regulation } from "../regulation/index.ts";
import type { RequestContext } from "../identity/request.ts";
import { createUser, type User } from "../identity/user.ts";
import type { MaybePromise } from "../identity/maybe-promise.ts";
import type { Logger } from "../log.ts";
import { Refusal } from "../refusal.ts";
import type { LoginTokens, SessionService } from "../sessions/service.ts";
import type { StoreBackend } from "../store/backend.ts";
import type { DeviceAuthorizationRecord } from "../store/device/model.ts";
import { auditRow } from "../store/audit/model.ts";
import { sha256Hex } from "../identity/secrets.ts";
import { randomBase62 } from "../tokens/format.ts";

/** The grant type a command line polls with (RFC 8628 § 3.4). */
export const DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code";

/** Consonants (no vowel: no word spelt by chance) and the digits that look like none of them (not 0 1 2 5 6 8: O I Z S G B). */
export const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ3479";
const USER_CODE_LENGTH = 8;
const USER_CODE = new RegExp(`^[${USER_CODE_ALPHABET}]{${USER_CODE_LENGTH}}$`);
const DEVICE_CODE = /^[0-9a-f]{64}$/;
/** RFC 8628 § 3.5: each slow_down adds this to the interval. */
const SLOW_DOWN_SECONDS = 5;

export interface DevicePolicy {
  /** Seconds an authorization may wait for its approval and its collection. */
  lifetimeSeconds: number;
  /** Seconds a command line waits between polls, to begin with. */
  intervalSeconds: number;
}

/** 15 minutes and 5 seconds, as Tiled and RFC 8628 have them. */
export const DEVICE_POLICY: Readonly<DevicePolicy> = { lifetimeSeconds: 900, intervalSeconds: 5 };

/** "BCDFGHJK" → "BCDF-GHJK", as people read and type it. */
export const formatUserCode = (code: string) => `${code.slice(0, 4)}-${code.slice(4)}`;

/** A typed code as stored: upper case, without dashes and spaces; null when it cannot be one. */
export function normaliseUserCode(typed: string): string | null {
  const code = typed.toUpperCase().replace(/[\s-]+/g, "");
  return USER_CODE.test(code) ? code : null;
}

function newUserCode(): string {
  // randomInt draws without modulo bias.
  return Array.from({ length: USER_CODE_LENGTH }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join("");
}

/** What the command line is given (Tiled's and RFC 8628's answer, before the URLs). */
export interface StartedAuthorization {
  deviceCode: string;
  /** As shown: XXXX-XXXX. */
  userCode: string;
  /** Seconds. */
  expiresIn: number;
  /** Seconds. */
  interval: number;
}

/** A pending authorization, as the person asked to approve it sees it. */
export interface DeviceRequest {
  id: string;
  /** As shown: XXXX-XXXX. */
  userCode: string;
  provider: string;
  /** The address it was asked from, and the command line's User-Agent, as it said. */
  address: string | null;
  userAgent: string | null;
  requestedAt: number;
  expiresAt: number;
}

/** The errors of RFC 8628 § 3.5 and RFC 6749 § 5.2 a poll may get. */
export type DeviceGrantError = "invalid_request" | "authorization_pending" | "slow_down" | "expired_token" | "access_denied" | "invalid_grant";

/** A poll that gets no session: the OAuth error code, and words for a person. */
export class DeviceGrantRefusal extends Error {
  constructor(
    readonly error: DeviceGrantError,
    message: string,
  ) {
    super(message);
    this.name = "DeviceGrantRefusal";
  }
}

/** Who approves or denies: the person signed in to the portal, and the provider they signed in with. */
export interface Approver {
  user: User;
  provider: string;
  client: ClientAddress;
}

/** The provider a session is opened with (as SessionService.login takes it). */
type SessionProvider = Parameters<SessionService["login"]>[1];

const requestOf = (record: DeviceAuthorizationRecord): DeviceRequest => ({
  id: record.id,
  userCode: formatUserCode(record.userCode),
  provider: record.provider,
  address: record.address,
  userAgent: record.userAgent,
  requestedAt: record.createdAt,
  expiresAt: record.expiresAt,
});

export class DeviceAuthorizations {
  constructor(
    private readonly store: StoreBackend,
    private readonly sessions: SessionService,
    private readonly logger: Logger,
    /** Mutable for tests (a short lifetime). */
    readonly policy: DevicePolicy = { ...DEVICE_POLICY },
  ) {}

  /** A new authorization for a command line that wants a session of `provider`. */
  async start(provider: string, requester: { address: string | null; userAgent: string | null }, now = Date.now()): Promise<StartedAuthorization> {
    const deviceCode = randomBytes(32).toString("hex");
    const id = `dev_${randomBase62(20)}`;
    const { lifetimeSeconds, intervalSeconds } = this.policy;
    const userCode = await this.store.transaction(async (q) => {
      // 24^8 codes: a collision with one kept (pending, or ended and not purged yet) is rare; draw again.
      for (let attempt = 0; attempt < 5; attempt++) {
        const candidate = newUserCode();
        if (await q.userCodeTaken(candidate)) continue;
        await q.insertDeviceAuthorization({
          id,
          deviceCodeHash: sha256Hex(deviceCode),
          userCode: candidate,
          provider,
          address: requester.address,
          userAgent: requester.userAgent,
          createdAt: now,
          expiresAt: now + lifetimeSeconds * 1000,
          interval: intervalSeconds,
        });
        return candidate;
      }
      throw new Refusal(503, "No free user code was found; try again");
    });
    this.logger.info("device.requested", { id, provider });
    return { deviceCode, userCode: formatUserCode(userCode), expiresIn: lifetimeSeconds, interval: intervalSeconds };
  }

  /** The pending authorization a typed user code names; null for anything else (malformed, unknown, expired, decided). */
  async pending(typed: string, now = Date.now()): Promise<DeviceRequest | null> {
    const code = normaliseUserCode(typed);
    const found = code ? await this.store.read.findDeviceAuthorizationByUserCode(code) : undefined;
    return found && found.status === "pending" && found.expiresAt > now ? requestOf(found) : null;
  }

  /** Approves a pending authorization; false when it is no longer pending (decided meanwhile, expired). */
  approve(request: DeviceRequest, approver: Approver, now = Date.now()): Promise<boolean> {
    return this.decide("approved", request, approver, now);
  }

  /** Denies it: the command line's next poll gets access_denied. */
  deny(request: DeviceRequest, approver: Approver, now = Date.now()): Promise<boolean> {
    return this.decide("denied", request, approver, now);
  }

  private async decide(status: "approved" | "denied", request: DeviceRequest, approver: Approver, now: number): Promise<boolean> {
    const { user, client } = approver;
    // The session will be the provider's: only someone that provider signed in may approve it.
    if (status === "approved" && approver.provider !== request.provider) {
      throw new Refusal(403, `This request is for signing in with ${request.provider}; you are signed in with ${approver.provider}`);
    }
    const owner = { username: user.username, realm: user.realm };
    const decided = await this.store.transaction(async (q) => {
      const userId = status === "approved" ? await q.upsertUser(user.username, user.realm, now) : null;
      const identity = status === "approved" ? { roles: [...user.roles], attributes: { ...user.attributes }, scopes: user.scopes ?? null } : null;
      if (!(await q.decideDeviceAuthorization(request.id, { status, userId, identity, at: now }, now))) return false;
      const detail = { authorization_id: request.id, provider: request.provider, requested_from: request.address, user_agent: request.userAgent };
      await q.recordAudit(auditRow({ user: owner, client }, `device.${status}`, now, { target: owner, detail }));
      return true;
    });
    if (decided) this.logger.info(`device.${status}`, { id: request.id, provider: request.provider, username: user.username, realm: user.realm });
    return decided;
  }

  /**
   * A poll (RFC 8628 § 3.4): the session once the person has approved,
   * made once; otherwise a DeviceGrantRefusal naming why.
   */
  async collect(
    deviceCode: string | undefined,
    provider: SessionProvider,
    client: ClientAddress,
    userAgent: string | null,
    now = Date.now(),
  ): Promise<{ tokens: LoginTokens; user: User }> {
    if (!deviceCode) throw new DeviceGrantRefusal("invalid_request", "device_code is required");
    const found = DEVICE_CODE.test(deviceCode) ? await this.store.read.findDeviceAuthorizationByDeviceCode(sha256Hex(deviceCode)) : undefined;
    // Unknown is answered as expired: an expired authorization is purged, and then unknown.
    if (!found || found.expiresAt <= now) throw new DeviceGrantRefusal("expired_token", "This device code has expired (or is unknown): start the sign-in again");
    if (found.provider !== provider.name) throw new DeviceGrantRefusal("invalid_grant", `This device code was issued for the provider ${found.provider}`);
    switch (found.status) {
      case "denied":
        throw new DeviceGrantRefusal("access_denied", "The person asked to approve this sign-in denied it");
      case "collected":
        throw new DeviceGrantRefusal("invalid_grant", "This device code has already been used");
      case "pending": {
        const tooSoon = found.lastPolledAt !== null && now - found.lastPolledAt < found.interval * 1000;
        const interval = tooSoon ? found.interval + SLOW_DOWN_SECONDS : found.interval;
        await this.store.transaction(async (q) => q.markDevicePolled(found.id, now, interval));
        if (tooSoon) throw new DeviceGrantRefusal("slow_down", `Polling too fast: wait ${interval} seconds between polls`);
        throw new DeviceGrantRefusal("authorization_pending", "Waiting for the person to approve this sign-in");
      }
    }
    const approved = found.approvedBy!;
    const user = createUser({ username: approved.username, realm: approved.realm, ...approved.identity, scopes: approved.identity.scopes ?? undefined });
    const tokens = await this.sessions.login(user, provider, client, userAgent, now, async (q) => {
      // In the session's transaction: a poll that loses the race makes no session.
      if (!(await q.collectDeviceAuthorization(found.id))) throw new DeviceGrantRefusal("invalid_grant", "This device code has already been used");
    });
    this.logger.info("device.collected", { id: found.id, provider: provider.name, username: user.username, realm: user.realm });
    return { tokens, user };
  }
}

/**
 * Wrong user codes count towards the regulation of guessing, per client
 * address (there is no username to count them against), through its public
 * API; and the address a request is counted under is also the one shown to
 * the person approving (behind a trusted proxy, its X-Real-IP).
 */
export interface UserCodeGuard {
  /** The address a request comes from, as regulation counts it (else its peer). */
  address(request: RequestContext): string | null;
  /** The ban in force for that address, if any: the code is then not looked up at all. */
  banFor(request: RequestContext): MaybePromise<Ban | null>;
  /** Counts a wrong user code. */
  wrongCode(request: RequestContext): Promise<void>;
}

export function userCodeGuard(regulation: Regulation | null): UserCodeGuard {
  // The regulation's own reading of the address (identity/forwarded-address.ts): one rule for every count.
  const counted = (request: RequestContext) => (regulation ? regulation.clientAddress(request) : request.client.socket);
  return {
    address: (request) => counted(request) ?? request.client.socket,
    banFor: (request) => regulation?.regulator.banFor(null, counted(request)) ?? null,
    wrongCode: (request) => regulation?.regulator.recordFailure([], counted(request)) ?? Promise.resolve(),
  };
}
