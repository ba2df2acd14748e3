// Where the portal sends a browser once it has signed in (or out): `rd`.
//
// - A page of the portal itself, as a path relative to it (portalReturnPath):
//   no scheme, no host, no `//`, no dot segments, no backslash — nothing a
//   browser could read as another site.
// - With single sign-on (`sso`), also the page of a web application that
//   sent the browser here to sign in: an absolute URL on one of
//   sso.allowed_redirect_hosts (sso/return-url.ts), re-serialised.
// Anything else lands on the portal's home page, which says why.
import { ssoReturnUrl, type SsoPolicy } from "../../sso/policy.ts";

const RETURN_PATH = /^[a-z][a-z0-9/_-]*(\?[A-Za-z0-9%=&._+-]*)?$/;
export const portalReturnPath = (value: string | undefined | null): string | null =>
  value && RETURN_PATH.test(value) && !value.includes("//") && !value.startsWith("sign-in") ? value : null;

/** `rd` as the portal may follow it: a portal page (relative to the portal), an allowed absolute URL, else null. */
export function returnTarget(sso: SsoPolicy | null | undefined, rd: string | undefined | null): string | null {
  return portalReturnPath(rd) ?? (sso ? ssoReturnUrl(sso, rd) : null);
}

/** The portal's home's `done` when an `rd` could not be followed (the home page says so). */
export const NOT_RETURNED = "not-returned";

/**
 * Where to send the browser: the absolute URL or the portal page `rd` names
 * when it may be followed; else the portal's home, with (single sign-on) a
 * note when an `rd` was given but refused.
 */
export function returnLocation(sso: SsoPolicy | null | undefined, portalPath: string, rd: string | undefined | null): string {
  const target = returnTarget(sso, rd);
  if (target) return /^https?:/.test(target) ? target : `${portalPath}${target}`;
  // The note is single sign-on's: without it, the portal's home as before.
  return rd && sso ? `${portalPath}?done=${NOT_RETURNED}` : portalPath;
}
