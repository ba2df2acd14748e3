// The single sign-on cookie: a second opaque handle of the portal session
// (sessions/service.ts, handle kind "sso"), sent to every host of
// `sso.cookie_domain` so that /authenticate recognises the browser there.
//
// - Opaque, like the portal's own cookie: a random value whose SHA-256 names
//   the session in the store. Never a JWT with the roles in it (which could
//   not be revoked) and never the portal's handle: applications see this
//   cookie (nginx passes it on to them), so it must be worth nothing at the
//   portal, whose cookie can act on the person's tokens and sessions.
// - `__Secure-` (so Secure, which browsers require for the prefix): a page of
//   the domain served over plain HTTP can neither read nor plant it.
// - HttpOnly: no application's script reads it.
// - SameSite=Lax: not sent on another site's POSTs or subresource requests.
// - Domain=cookie_domain and Path=/: every application of the domain.
// - Max-Age: the session's absolute limit; the store decides at each request
//   whether the session is still live (sliding limit, revocation).
// Clearing it must repeat Domain and Path, or the browser keeps the domain
// cookie (the mistake research notes in Authelia's cookie library).

export const SSO_COOKIE = "__Secure-gatehouse_sso";

export const ssoCookie = (domain: string, handle: string, maxAgeSeconds: number) =>
  `${SSO_COOKIE}=${handle}; Domain=${domain}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}`;

export const clearedSsoCookie = (domain: string) => `${SSO_COOKIE}=; Domain=${domain}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;

/** The handle the Cookie header carries, or null. */
export function ssoHandleOf(cookieHeader: string | null): string | null {
  if (!cookieHeader) return null;
  const start = cookieHeader.indexOf(`${SSO_COOKIE}=`);
  if (start < 0) return null;
  // The name must start a cookie (the header's start, or after "; ").
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SSO_COOKIE) return part.slice(eq + 1).trim() || null;
  }
  return null;
}
