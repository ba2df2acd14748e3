// The portal's browser session, carried in one cookie. It holds a session of
// the sessions store (sessions/service.ts, the same one Tiled's login makes):
//
//   <csrf secret>~<refresh token>~<access token>
//
// - The access token authenticates every request, through the caller plugin
//   (modules/caller.ts), so the JSON API works with the cookie as well.
// - When it has expired, a portal page exchanges the refresh token for a new
//   pair (sessions.refresh: rotation, reuse detection) and sets the cookie
//   again. Only portal pages refresh: their answer carries the new cookie.
// - The CSRF token is HMAC-SHA256(csrf secret, session id): bound to the
//   session, and to a secret only this browser holds (the cookie is HttpOnly),
//   so no server state is needed and every instance checks it alike.
//
// Flags: HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site
// POSTs), and over HTTPS (served or behind a proxy saying
// X-Forwarded-Proto: https) `Secure` with the `__Host-` prefix, which pins
// it to this host and Path=/ so that no sibling domain can plant one. Over
// plain HTTP its Path is Gatehouse's public base path (e.g. /auth/), so it
// reaches the portal and the API, not the other applications of the host.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { ClientAddress } from "../../identity/client.ts";
import type { Logger } from "../../log.ts";
import { Refusal } from "../../refusal.ts";
import type { IssuedTokens, SessionService } from "../../sessions/service.ts";
import type { CookieCredential } from "../caller.ts";
import { publicBaseUrl } from "../public-url.ts";
import { hashOpaqueToken } from "../../tokens/format.ts";

const SECURE_NAME = "__Host-gatehouse_session";
const PLAIN_NAME = "gatehouse_session";
/** Refresh a little before the access token expires, so that it does not expire on the way. */
const REFRESH_MARGIN_MS = 10_000;
/** A refresh shared by requests presenting the same refresh token meanwhile (two tabs): reuse detection would end the session. */
const REFRESH_MEMORY_MS = 30_000;

export interface PortalLocation {
  /** e.g. https://host */
  origin: string;
  /** The portal's path, ending in "/": /auth/portal/ */
  portalPath: string;
  /** Gatehouse's public base path, ending in "/": /auth/ */
  basePath: string;
  secure: boolean;
}

/** Where the browser sees the portal: the configured `portal.public_url`, else the request and the proxy's headers. */
export function locatePortal(request: Request, publicUrl: string | undefined): PortalLocation {
  if (publicUrl) {
    const url = new URL(publicUrl);
    const portalPath = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
    const basePath = portalPath.endsWith("/portal/") ? portalPath.slice(0, -"portal/".length) : portalPath;
    return { origin: url.origin, portalPath, basePath, secure: url.protocol === "https:" };
  }
  const base = new URL(publicBaseUrl(request));
  const prefix = base.pathname.replace(/\/+$/, "");
  return { origin: base.origin, portalPath: `${prefix}/portal/`, basePath: `${prefix}/`, secure: base.protocol === "https:" };
}

interface CookieValue {
  csrfSecret: string;
  refreshToken: string;
  accessToken: string;
}

type Override = { value: CookieValue; header: string } | { cleared: true };

export interface PortalCookie extends CookieCredential {
  /** The Set-Cookie header for a new session. */
  create(request: Request, tokens: IssuedTokens): { header: string; value: CookieValue };
  /** The Set-Cookie header that removes the cookie. */
  clear(request: Request): string;
  /** The Set-Cookie header this request's answer must carry (after a refresh), if any. */
  pendingHeader(request: Request): string | null;
  /** The refresh token of the request's cookie (sign-out ends its session). */
  refreshToken(request: Request): string | null;
  /** The CSRF token the portal's forms carry, for the session the request came with. */
  csrfToken(request: Request, sessionId: string): string | null;
  /** Exchanges an expired access token for a new pair before the request is answered (portal pages only). */
  refreshIfExpired(request: Request, client: ClientAddress): Promise<void>;
  /** Origin and Fetch Metadata only (the sign-in form, which has no session yet). */
  checkOrigin(request: Request): void;
}

const base64url = (bytes: Buffer) => bytes.toString("base64url");

function parseCookieHeader(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

function decodeValue(raw: string | null): CookieValue | null {
  if (!raw) return null;
  const [csrfSecret, refreshToken, accessToken, extra] = raw.split("~");
  if (!csrfSecret || !refreshToken || !accessToken || extra !== undefined) return null;
  return { csrfSecret, refreshToken, accessToken };
}

const encodeValue = (value: CookieValue) => `${value.csrfSecret}~${value.refreshToken}~${value.accessToken}`;

/** Seconds since the epoch at which a JWT expires, read without verifying it (the pipeline verifies). */
function expiryOf(jwt: string): number | null {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8"));
    return typeof payload.exp === "number" ? payload.exp : null;
  } catch {
    return null;
  }
}

/** Constant-time: the token is a secret derived from the cookie's. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createPortalCookie(deps: { sessions: SessionService; publicUrl?: string; logger: Logger }): PortalCookie {
  const { sessions, publicUrl, logger } = deps;
  const overrides = new WeakMap<Request, Override>();
  const recentRefreshes = new Map<string, { at: number; result: Promise<IssuedTokens> }>();

  const location = (request: Request) => locatePortal(request, publicUrl);
  const nameFor = (secure: boolean) => (secure ? SECURE_NAME : PLAIN_NAME);

  function header(request: Request, value: string, maxAge: number): string {
    const { secure, basePath } = location(request);
    const flags = secure ? "Path=/; Secure" : `Path=${basePath}`;
    return `${nameFor(secure)}=${value}; ${flags}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}`;
  }

  /** The cookie as the browser sent it. Over HTTPS only the __Host- one: a plain one could have been planted by a sibling domain. */
  function sent(request: Request): CookieValue | null {
    return decodeValue(parseCookieHeader(request.headers.get("cookie"), nameFor(location(request).secure)));
  }

  function current(request: Request): CookieValue | null {
    const override = overrides.get(request);
    if (override) return "cleared" in override ? null : override.value;
    return sent(request);
  }

  function checkOrigin(request: Request): void {
    // Fetch Metadata, sent by every current browser: only our own pages may act.
    const site = request.headers.get("sec-fetch-site");
    if (site !== null && site !== "same-origin" && site !== "none") {
      throw new Refusal(403, "Cross-site request refused: use the portal's own pages");
    }
    // Origin: a browser sends "null" from our own pages (Referrer-Policy: no-referrer), which only
    // Fetch Metadata can vouch for; a real origin must be ours. Non-browser clients send neither.
    const origin = request.headers.get("origin");
    const vouched = origin === null || origin === location(request).origin || (origin === "null" && site === "same-origin");
    if (!vouched) throw new Refusal(403, "Cross-origin request refused: use the portal's own pages");
  }

  function csrfFor(value: CookieValue, sessionId: string): string {
    return base64url(createHmac("sha256", value.csrfSecret).update(`csrf:${sessionId}`).digest());
  }

  function refreshShared(refreshToken: string, client: ClientAddress): Promise<IssuedTokens> {
    const now = Date.now();
    for (const [key, entry] of recentRefreshes) if (now - entry.at > REFRESH_MEMORY_MS) recentRefreshes.delete(key);
    const key = hashOpaqueToken(refreshToken); // the secret itself is not kept, even in memory
    const known = recentRefreshes.get(key);
    if (known) return known.result;
    const result = sessions.refresh(refreshToken, client);
    recentRefreshes.set(key, { at: now, result });
    return result;
  }

  return {
    accessToken: (request) => current(request)?.accessToken ?? null,

    checkForgery(request, body, sessionId) {
      checkOrigin(request);
      const value = current(request);
      const field = body && typeof body === "object" ? (body as Record<string, unknown>).csrf : undefined;
      const given = typeof field === "string" ? field : request.headers.get("x-csrf-token");
      if (!value || !given || !sameSecret(given, csrfFor(value, sessionId))) {
        throw new Refusal(403, "Missing or wrong CSRF token: reload the page and try again");
      }
    },

    create(request, tokens) {
      const value = { csrfSecret: base64url(randomBytes(32)), refreshToken: tokens.refresh_token, accessToken: tokens.access_token };
      return { header: header(request, encodeValue(value), tokens.refresh_token_expires_in), value };
    },

    clear: (request) => header(request, "", 0),

    pendingHeader(request) {
      const override = overrides.get(request);
      if (!override) return null;
      return "cleared" in override ? header(request, "", 0) : override.header;
    },

    refreshToken: (request) => current(request)?.refreshToken ?? null,

    csrfToken(request, sessionId) {
      const value = current(request);
      return value ? csrfFor(value, sessionId) : null;
    },

    async refreshIfExpired(request, client) {
      const value = sent(request);
      if (!value || request.headers.has("authorization")) return;
      const exp = expiryOf(value.accessToken);
      if (exp !== null && exp * 1000 - REFRESH_MARGIN_MS > Date.now()) return;
      try {
        const tokens = await refreshShared(value.refreshToken, client);
        const next = { ...value, refreshToken: tokens.refresh_token, accessToken: tokens.access_token };
        overrides.set(request, { value: next, header: header(request, encodeValue(next), tokens.refresh_token_expires_in) });
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        logger.debug("portal.refresh_refused", { status: error.status });
        overrides.set(request, { cleared: true });
      }
    },

    checkOrigin,
  } satisfies PortalCookie;
}
