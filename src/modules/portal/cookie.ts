// The portal's browser session, carried in one cookie holding an opaque
// handle (sessions/service.ts, BROWSER_HANDLE_PREFIX): a random value whose
// SHA-256 names a session of the sessions store. The session's tokens never
// leave the server (issue 20, finding 2):
//
// - A cookie that reached another application (a path it should not have
//   been sent to, a log, a proxy) is no credential anywhere but the portal's
//   own pages: no access token to present as a Bearer, no refresh token to
//   exchange. The store keeps only the hash, so a copy of the database gives
//   nothing to present either.
// - Nothing rotates in the browser, so there is no window in which a stolen
//   copy of an older cookie still works after the owner's refresh (finding 7).
//   The session's user is re-read from its provider once the identity
//   recorded with the session is older than an access token may live, as a
//   refresh would: a role removed applies within access_token_max_age.
// - The CSRF token is HMAC-SHA256(handle, session id): bound to the session,
//   and to a secret only this browser holds (the cookie is HttpOnly), so no
//   server state is needed and every instance checks it alike.
//
// Flags: HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site
// POSTs), Path = the portal's own path (e.g. /auth/portal/): the browser sends
// it to the portal's pages and to no other application of the host. Over
// HTTPS (served, or behind a proxy saying X-Forwarded-Proto: https) also
// `Secure`, with the `__Secure-` prefix (a browser refuses such a cookie set
// without Secure, so a plain-HTTP page of the host cannot plant one). Not
// `__Host-`, which would force Path=/ and so send the cookie everywhere.
//
// With single sign-on (`sso`), every sign-in also sets the domain-wide
// cookie of sso/cookie.ts, a second handle of the same session, and clearing
// the portal's cookie clears that one too.
import { createHmac, timingSafeEqual } from "node:crypto";
import { Refusal } from "../../refusal.ts";
import type { ClientAddress } from "../../identity/client.ts";
import type { User } from "../../identity/user.ts";
import type { BrowserSession, SessionService } from "../../sessions/service.ts";
import type { SsoPolicy } from "../../sso/policy.ts";
import { clearedSsoCookie, ssoCookie, ssoHandleOf } from "../../sso/cookie.ts";
import type { CookieCredential } from "../caller.ts";
import { publicBaseUrl } from "../public-url.ts";
import { returnLocation, returnTarget } from "./return-to.ts";

const SECURE_NAME = "__Secure-gatehouse_session";
const PLAIN_NAME = "gatehouse_session";
/**
 * The cookie of releases before finding 2's fix (Path=/, holding live tokens):
 * cleared at the next sign-in or sign-out, so browsers do not keep sending it
 * to every application of the host until it expires.
 */
const LEGACY_SECURE_NAME = "__Host-gatehouse_session";

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

export interface PortalCookie extends CookieCredential {
  /** The Set-Cookie headers for a new session's handle (and the removal of a legacy cookie). */
  create(request: Request, handle: string, maxAgeSeconds: number): string[];
  /** The Set-Cookie headers that remove the cookie (and a legacy one). */
  clear(request: Request): string[];
  /** Whether the request came with the portal's cookie at all (live or not). */
  sent(request: Request): boolean;
  /** The handle of the request's cookie (sign-out, and signing in again, end its session). */
  handle(request: Request): string | null;
  /** The CSRF token the portal's forms carry, for the session the request came with. */
  csrfToken(request: Request, sessionId: string): string | null;
  /** Origin and Fetch Metadata only (the sign-in form, which has no session yet). */
  checkOrigin(request: Request): void;
  /**
   * Opens the browser's session for someone a provider has just
   * authenticated (every sign-in: the forms, a trusted proxy's, an identity
   * provider's): the portal's cookie and, with single sign-on, the domain's
   * cookie, two handles of one session. The browser's previous sign-in ends.
   * Answers the Set-Cookie headers.
   */
  signIn(request: Request, user: User, provider: SessionProvider, client: ClientAddress): Promise<string[]>;
  /** `rd` as a sign-in may follow it (a portal page, or with single sign-on an allowed application's), else null: see ./return-to.ts. */
  returnTarget(rd: string | undefined | null): string | null;
  /** Where to send the browser once signed in: see ./return-to.ts. */
  returnLocation(request: Request, rd: string | undefined | null): string;
  /** The single sign-on policy, when configured. */
  readonly sso: SsoPolicy | null;
}

type SessionProvider = Parameters<SessionService["signInBrowser"]>[1];

function parseCookieHeader(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** Constant-time: the token is a secret derived from the cookie's. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createPortalCookie(deps: { sessions: SessionService; publicUrl?: string; sso?: SsoPolicy | null }): PortalCookie {
  const { sessions, publicUrl } = deps;
  const sso = deps.sso ?? null;
  // One lookup per request, however many times the caller plugin and the page ask.
  const looked = new WeakMap<Request, Promise<BrowserSession | null>>();

  const location = (request: Request) => locatePortal(request, publicUrl);
  const nameFor = (secure: boolean) => (secure ? SECURE_NAME : PLAIN_NAME);

  function header(request: Request, value: string, maxAge: number): string[] {
    const { secure, portalPath } = location(request);
    const own = `${nameFor(secure)}=${value}; Path=${portalPath}; ${secure ? "Secure; " : ""}HttpOnly; SameSite=Lax; Max-Age=${maxAge}`;
    return secure ? [own, `${LEGACY_SECURE_NAME}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`] : [own];
  }

  /** The handle as the browser sent it. Over HTTPS only the __Secure- one: a plain one could have been planted over HTTP. */
  function handleOf(request: Request): string | null {
    return parseCookieHeader(request.headers.get("cookie"), nameFor(location(request).secure)) || null;
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

  const csrfFor = (handle: string, sessionId: string) => createHmac("sha256", handle).update(`csrf:${sessionId}`).digest("base64url");

  return {
    session(request) {
      const handle = handleOf(request);
      if (!handle) return Promise.resolve(null);
      let found = looked.get(request);
      if (!found) {
        found = sessions.browserSession(handle, "portal");
        looked.set(request, found);
      }
      return found;
    },

    present: (request) => handleOf(request) !== null,

    checkForgery(request, body, sessionId) {
      checkOrigin(request);
      const handle = handleOf(request);
      const field = body && typeof body === "object" ? (body as Record<string, unknown>).csrf : undefined;
      const given = typeof field === "string" ? field : request.headers.get("x-csrf-token");
      if (!handle || !given || !sameSecret(given, csrfFor(handle, sessionId))) {
        throw new Refusal(403, "Missing or wrong CSRF token: reload the page and try again");
      }
    },

    create: (request, handle, maxAgeSeconds) => header(request, handle, maxAgeSeconds),

    // The domain's cookie is cleared with the same Domain and Path, or the browser would keep it.
    clear: (request) => [...header(request, "", 0), ...(sso ? [clearedSsoCookie(sso.cookieDomain)] : [])],

    sent: (request) => {
      const cookies = request.headers.get("cookie") ?? "";
      return cookies.includes(`${nameFor(location(request).secure)}=`) || cookies.includes(`${LEGACY_SECURE_NAME}=`);
    },

    handle: handleOf,

    csrfToken(request, sessionId) {
      const handle = handleOf(request);
      return handle ? csrfFor(handle, sessionId) : null;
    },

    checkOrigin,

    async signIn(request, user, provider, client) {
      const userAgent = request.headers.get("user-agent")?.slice(0, 256) ?? null;
      const opened = await sessions.signInBrowser(user, provider, client, userAgent, sso ? ["portal", "sso"] : ["portal"]);
      // A browser signing in again leaves no session of its previous sign-in behind.
      const previous = handleOf(request);
      if (previous) await sessions.revokeByHandle(previous, "portal", client);
      const previousSso = sso && ssoHandleOf(request.headers.get("cookie"));
      if (previousSso) await sessions.revokeByHandle(previousSso, "sso", client);
      const cookies = header(request, opened.handles.portal!, opened.maxAgeSeconds);
      if (sso) cookies.push(ssoCookie(sso.cookieDomain, opened.handles.sso!, opened.maxAgeSeconds));
      return cookies;
    },

    returnTarget: (rd) => returnTarget(sso, rd),

    returnLocation: (request, rd) => returnLocation(sso, location(request).portalPath, rd),

    sso,
  } satisfies PortalCookie;
}
