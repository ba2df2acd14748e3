// The URL clients reach Gatehouse at, for links in answers (the discovery
// documents' jwks_uri, Tiled's /api/v1/ links).
//
// Whoever sends the request chooses its Host and X-Forwarded-* headers, and
// a shared cache in front may keep the answer for everyone: an answer built
// from them could point every backend at an attacker's keys. So the URL is
// `public_url` when configured (the answer is then the same for everyone and
// may be cached); else it is built from the proxy's X-Forwarded-Proto /
// -Host / -Prefix only when the peer is one of `trusted_proxies` (which must
// set, not append, these headers); else from the request itself, and such
// an answer must not be cached by anyone but the client.
import type { PeerLookup } from "../identity/request.ts";
import { isTrustedPeer, trustedProxyList } from "../identity/trusted-proxies.ts";

export interface PublicUrlPolicy {
  /** e.g. https://auth.example.org/gatehouse; null: worked out per request. */
  publicUrl: string | null;
  /** Addresses and CIDR ranges of the proxies whose X-Forwarded-* headers are believed. */
  trustedProxies: readonly string[];
}

export interface PublicUrl {
  /** The base URL, without a trailing slash. */
  base(request: Request, server: PeerLookup | null | undefined): string;
  /** Is the base the same for every request (public_url), so that an answer naming it may be cached by shared caches? */
  readonly fixed: boolean;
  /** The host (and port) of public_url, if configured: an Origin naming it is Gatehouse's own. */
  readonly host: string | null;
}

/** The base URL as the request itself names it, with the proxy's headers when `believeProxy`. */
function requestBase(request: Request, believeProxy: boolean): string {
  const url = new URL(request.url);
  const first = (name: string) => (believeProxy ? request.headers.get(name)?.split(",")[0]?.trim() || undefined : undefined);
  const proto = first("x-forwarded-proto");
  const host = first("x-forwarded-host") ?? url.host;
  const prefix = (first("x-forwarded-prefix") ?? "").replace(/\/+$/, "");
  const scheme = proto === "https" || proto === "http" ? proto : url.protocol.replace(":", "");
  // Only a well-formed host and path prefix are echoed back into links: an authority a URL can be
  // built from (a bare IPv6 address such as `::1` cannot: it needs brackets), with nothing after it.
  const safeHost = /^[A-Za-z0-9.\-:[\]]+$/.test(host) && isAuthority(host) ? host : url.host;
  const safePrefix = /^(\/[A-Za-z0-9._~\-]+)*$/.test(prefix) ? prefix : "";
  return `${scheme}://${safeHost}${safePrefix}`;
}

function isAuthority(host: string): boolean {
  try {
    return new URL(`http://${host}/`).host.length > 0;
  } catch {
    return false;
  }
}

/**
 * The base URL from the request and whatever X-Forwarded-* headers it
 * carries, from anyone: only for what concerns that request alone and is
 * never cached for others (where the portal's own cookie applies). Links
 * handed to others come from publicUrl().
 */
export function publicBaseUrl(request: Request): string {
  return requestBase(request, true);
}

export function publicUrl(policy: PublicUrlPolicy): PublicUrl {
  if (policy.publicUrl) {
    const fixed = policy.publicUrl.replace(/\/+$/, "");
    return { base: () => fixed, fixed: true, host: new URL(fixed).host };
  }
  const proxies = trustedProxyList(policy.trustedProxies);
  if (typeof proxies === "string") throw new Error(`trusted_proxies: ${proxies}`);
  return {
    base: (request, server) => requestBase(request, policy.trustedProxies.length > 0 && isTrustedPeer(proxies, server?.requestIP(request)?.address)),
    fixed: false,
    host: null,
  };
}
