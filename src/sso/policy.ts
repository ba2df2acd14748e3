// Single sign-on for web applications (DESIGN §2.10), as configured in the
// `sso` section: the domain of the cookie every portal sign-in sets, where
// /authenticate sends a browser to sign in, and where the portal may send it
// back. Built from the config by config/sso.ts (ssoPolicy).
import { allowedReturnUrl, type HostPattern } from "./return-url.ts";

export interface SsoPolicy {
  /** The cookie's Domain: example.org. */
  cookieDomain: string;
  /** Where a browser signs in, e.g. https://auth.example.org/portal/sign-in. */
  signInUrl: string;
  /** Where a browser may be sent back to after signing in or out. */
  allowedHosts: readonly HostPattern[];
}

/** The URL to send the browser back to, re-serialised, when `rd` is an allowed absolute URL; else null. */
export const ssoReturnUrl = (policy: SsoPolicy, rd: string | undefined | null) => allowedReturnUrl(rd, policy.allowedHosts);

/**
 * The CSP `form-action` sources of the allowed hosts, any port: a browser
 * applies form-action to where a form's answer redirects, so the portal's
 * sign-in and sign-out forms may end on these hosts.
 */
export function formActionSources(policy: SsoPolicy): string[] {
  return policy.allowedHosts.flatMap((pattern) => {
    const host = "exact" in pattern ? pattern.exact : `*.${pattern.below}`;
    const loopback = host === "localhost" || /^127\./.test(host);
    return loopback ? [`https://${host}:*`, `http://${host}:*`] : [`https://${host}:*`];
  });
}
