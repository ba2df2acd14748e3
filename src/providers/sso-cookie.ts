// The single sign-on cookie (sso/cookie.ts) as a credential of
// /authenticate. Built in, not configured: app.ts adds it when `sso` is set.
//
// A `header` provider (see Provider.scheme): the pipeline tries it only when
// the request has no Authorization header, so a token or password sent
// explicitly always wins over the browser's ambient cookie, as over a
// trusted proxy's headers. Only on /authenticate (`entry`): Gatehouse's own
// routes take the portal's cookie with its CSRF check, never this one, which
// every application of the domain receives.
//
// The handle names a session in the store (SessionService.browserSession,
// with the session's sliding lifetime): a sign-out, a session revoked by its
// owner or an admin, `gatehouse users end`, or the session running out
// applies at the very next request to every application. A handle that is
// malformed, forged, unknown, or whose session has ended is refused like a
// missing credential (401), never an error; so is one sent over plain HTTP,
// which a browser never does with a Secure cookie.
//
// Reading the session costs a store read of three tables (≈20-45 µs of CPU on
// SQLite, where an API token answered from memory costs ≈18 µs in all), on
// every request of every page of every application. So a live session's
// answer is remembered for at most `jwt.reuse_seconds`, as /authenticate
// remembers an API token's, and only while the store's change stamp
// (StoreChanges.current) stays the same: every write through this process,
// and any commit by another process or instance (SQLite's data_version,
// PostgreSQL's notifications), moves it, and a revocation is such a write.
// The answer also ends at the session's own limits and at the next re-read
// of its user (BrowserSession.until), so expiry and the sliding limit apply
// as without it. Refusals are never remembered. The key is a keyed hash of
// the handle, never the handle.
import type { RequestContext } from "../identity/request.ts";
import { createUser, type User } from "../identity/user.ts";
import { andThen, type MaybePromise } from "../identity/maybe-promise.ts";
import { createCacheKeyHasher } from "../identity/secrets.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { originalRequest } from "../identity/original-request.ts";
import { ssoHandleOf } from "../sso/cookie.ts";
import { ANY_REALM, type Provider } from "./provider.ts";

interface Remembered {
  user: User;
  stamp: number;
  until: number;
}

export function createSsoCookieProvider(options: {
  /** The user of the live session this handle (kind "sso") names, and until when that holds; at once when the store answers at once. */
  session: (handle: string, now: number) => MaybePromise<{ user: User; until: number } | null>;
  /** The store's change stamp. */
  stamp: (now: number) => number;
  /** How long at most a live session's answer is remembered (jwt.reuse_seconds); 0: the store is read at every request. */
  rememberMs: number;
  /** How many answers are remembered at most. */
  cacheSize?: number;
}): Provider {
  const { rememberMs } = options;
  const remembered = new TtlCache<Remembered>(rememberMs, options.cacheSize ?? 50_000);
  const keyOf = createCacheKeyHasher();
  const handleOf = (request: RequestContext) => ssoHandleOf(request.headers.get("cookie"));
  // Each request gets its own copy: augmenters add to the user they are given.
  const copy = (user: User) => createUser(user);

  return {
    name: "sso-cookie",
    type: "sso-cookie",
    // The session's user, in their own realm; the pipeline checks it against X-Auth-Realm.
    realm: ANY_REALM,
    scheme: "header",
    remote: false,
    presentIn(request) {
      if (request.entry !== "authenticate" || handleOf(request) === null) return false;
      // The proxy says the page was asked for over plain HTTP: the cookie did not come from a browser.
      return originalRequest(request).scheme === "https";
    },
    authenticate(credential, _signal, request) {
      if (credential.scheme !== "header") return null;
      const handle = handleOf(request);
      if (!handle) return null;
      const now = Date.now();
      // Read before the store: a change made while the session is read leaves nothing remembered under the new stamp.
      const stamp = options.stamp(now);
      const key = rememberMs > 0 ? keyOf(handle) : "";
      const kept = key ? remembered.get(key, now) : undefined;
      if (kept && kept.stamp === stamp && kept.until > now) return copy(kept.user);
      return andThen(options.session(handle, now), (found) => {
        if (!found) return null;
        if (key) remembered.set(key, { user: copy(found.user), stamp, until: found.until }, now, Math.min(rememberMs, found.until - now));
        return found.user;
      });
    },
  };
}
