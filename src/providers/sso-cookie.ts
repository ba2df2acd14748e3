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
// The handle is checked against the store on every request, with the
// session's sliding lifetime (SessionService.browserSession): a sign-out, a
// session revoked by its owner or an admin, `gatehouse users end`, or the
// session running out applies at the very next request to every
// application. Nothing is remembered between requests (no `reuse`), so no
// remembered answer outlives the session either. A handle that is malformed,
// forged, unknown, or whose session has ended is refused like a missing
// credential (401), never an error; so is one sent over plain HTTP, which a
// browser never does with a Secure cookie.
import type { RequestContext } from "../identity/request.ts";
import type { User } from "../identity/user.ts";
import { originalRequest } from "../identity/original-request.ts";
import { ssoHandleOf } from "../sso/cookie.ts";
import { ANY_REALM, type Provider } from "./provider.ts";

export function createSsoCookieProvider(options: {
  /** The user of the live session this handle (kind "sso") names, else null. */
  userOf: (handle: string) => Promise<User | null>;
}): Provider {
  const handleOf = (request: RequestContext) => ssoHandleOf(request.headers.get("cookie"));
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
      return handle ? options.userOf(handle) : null;
    },
  };
}
