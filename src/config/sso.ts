// The `sso` section (single sign-on for web applications behind the proxy,
// DESIGN §2.10; its schema is sso/schema.ts): what `config check` refuses or
// points out about it, and the policy sso/ is given, built from it. Without
// the section, nothing of it applies.
import type { GatehouseConfig } from "./schema.ts";
import { hostAllowed, parseHostPattern, type HostPattern } from "../sso/return-url.ts";
import type { SsoPolicy } from "../sso/policy.ts";

/** The portal's address as configured (portal.public_url, else public_url + /portal/), or null. */
function configuredPortalUrl(config: GatehouseConfig): URL | null {
  const text = config.portal.public_url ?? (config.public_url ? `${config.public_url.replace(/\/+$/, "")}/portal/` : null);
  if (!text) return null;
  try {
    const url = new URL(text);
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    return url;
  } catch {
    return null;
  }
}

/** The sign-in URL: sso.sign_in_url, else the portal's sign-in page; null when neither can be had. */
function configuredSignInUrl(config: GatehouseConfig): URL | null {
  if (config.sso?.sign_in_url) {
    try {
      return new URL(config.sso.sign_in_url);
    } catch {
      return null;
    }
  }
  const portal = configuredPortalUrl(config);
  return portal ? new URL("sign-in", portal) : null;
}

/** The allowed hosts: sso.allowed_redirect_hosts, else the cookie's domain and every name below it. Invalid entries are left out (config check names them). */
function allowedRedirectHosts(config: GatehouseConfig): HostPattern[] {
  const sso = config.sso!;
  const entries = sso.allowed_redirect_hosts ?? [sso.cookie_domain, `*.${sso.cookie_domain}`];
  return entries.map(parseHostPattern).filter((pattern): pattern is HostPattern => typeof pattern !== "string");
}

/** What sso/ is given: null without the section, then nothing of single sign-on applies. */
export function ssoPolicy(config: GatehouseConfig): SsoPolicy | null {
  if (!config.sso) return null;
  // config check has refused a config whose sign-in URL cannot be worked out.
  return { cookieDomain: config.sso.cookie_domain, signInUrl: configuredSignInUrl(config)!.href, allowedHosts: allowedRedirectHosts(config) };
}

const isLoopbackHost = (host: string) => host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
const COOKIE_DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/;

/** What cannot work (problems), and what may be a mistake (warnings), each with its path. */
export function ssoProblems(config: GatehouseConfig, warnings: string[]): string[] {
  const sso = config.sso;
  if (!sso) return [];
  const problems: string[] = [];
  const domain = sso.cookie_domain;
  if (!COOKIE_DOMAIN.test(domain)) {
    problems.push(
      `sso.cookie_domain: "${domain}" must be a lower-case domain name with at least two labels, without a leading dot (e.g. example.org): browsers refuse a cookie for a whole top-level domain`,
    );
  }
  if (!config.store.enabled) problems.push("sso: the single sign-on cookie names a session, kept in the store, which is disabled (store.enabled: false)");
  if (!config.portal.enabled) problems.push("sso: people sign in at the portal, which is off (portal.enabled: false)");
  const portal = configuredPortalUrl(config);
  const signIn = configuredSignInUrl(config);
  if (!signIn) {
    problems.push(
      sso.sign_in_url
        ? `sso.sign_in_url: "${sso.sign_in_url}" is not a URL`
        : "sso.sign_in_url: cannot be worked out: set it, or portal.public_url (or public_url), the address people reach the portal at",
    );
  } else if (sso.sign_in_url && (signIn.hash !== "" || signIn.username !== "" || !(signIn.protocol === "https:" || (signIn.protocol === "http:" && isLoopbackHost(signIn.hostname))))) {
    problems.push(`sso.sign_in_url: "${signIn.href}" must be an https URL (http only on a loopback host), without a fragment or user name`);
  }
  // The portal sets the cookie: the browser accepts Domain=cookie_domain only from a host of that domain, and a __Secure- cookie only over https.
  const portalHost = (portal ?? signIn)?.hostname;
  if (portalHost && COOKIE_DOMAIN.test(domain) && portalHost !== domain && !portalHost.endsWith(`.${domain}`)) {
    problems.push(
      `sso.cookie_domain: the portal's host ${portalHost} is not ${domain} or below it, so browsers would refuse the cookie the portal sets; use a domain of the portal's host`,
    );
  }
  if (portal && portal.protocol !== "https:" && !isLoopbackHost(portal.hostname)) {
    problems.push(`sso: the portal is reached over http (${portal.href}); the single sign-on cookie is __Secure-, which browsers accept only over https`);
  }
  (sso.allowed_redirect_hosts ?? []).forEach((entry, index) => {
    const pattern = parseHostPattern(entry);
    if (typeof pattern === "string") {
      problems.push(`sso.allowed_redirect_hosts[${index}]: ${pattern}`);
      return;
    }
    const name = "exact" in pattern ? pattern.exact : pattern.below;
    if (COOKIE_DOMAIN.test(domain) && !hostAllowed(name, [{ exact: domain }, { below: domain }])) {
      warnings.push(
        `sso.allowed_redirect_hosts[${index}]: ${entry} is outside sso.cookie_domain (${domain}): the single sign-on cookie is not sent there, so a person sent back there is not signed in by it`,
      );
    }
  });
  return problems;
}
