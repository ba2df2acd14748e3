// Where a browser may be sent back to after signing in or out (`rd`), when
// single sign-on is configured: an absolute URL on one of
// `sso.allowed_redirect_hosts`. Anything else is refused, and the portal
// keeps the person on its own home page.
//
// An open redirect is the classic flaw of this feature (Authelia
// GHSA-36f2-fcrx-fp4j; oauth2-proxy CVE-2020-5233, CVE-2020-11053,
// CVE-2020-4037, CVE-2021-21291): a link to the portal that lands, once
// signed in, on a look-alike site. The rules, each for a trick seen in those
// advisories and in oauth2-proxy's list of open-redirect strings:
// - `https`, or plain `http` to a loopback host only; `javascript:`, `data:`,
//   scheme-relative `//host` and anything without a scheme are refused.
// - Printable ASCII only: no whitespace or control characters (browsers drop
//   tabs and newlines inside URLs, so `/\t/evil.example` is `//evil.example`
//   to them), and no backslash (browsers read it as a slash).
// - The authority is a bare host name or IP literal with an optional port:
//   no userinfo (`https://evil.example\@example.org`,
//   `https://example.org@evil.example`), no percent-escapes, no empty host.
// - The host as a URL parser reads it must be the host as written (`0x7f.1`
//   or `2130706433` are IPv4 addresses to a parser).
// - The host is matched by name, case-insensitively and whatever the port,
//   with a dot boundary for `*.` patterns (`example.org.evil.example` and
//   `badexample.org` are not under example.org).
// - No encoded slash, backslash or control character in the path
//   (`%2f`, `%5c`, `%09`…), which a server behind may decode into another
//   path or host.
// The URL sent to the browser is the parsed one serialised again, never the
// string as it came.

/** An allowed host: exactly this name, or (`*.example.org`) any name below it. */
export type HostPattern = { exact: string } | { below: string };

const HOST_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/** `example.org` or `*.example.org` (any case), or why not. */
export function parseHostPattern(text: string): HostPattern | string {
  const lower = text.trim().toLowerCase();
  const below = lower.startsWith("*.");
  const name = below ? lower.slice(2) : lower;
  if (!HOST_NAME.test(name)) return `"${text}" is not a host name or *.host name (no scheme, port or path)`;
  return below ? { below: name } : { exact: name };
}

/** Whether a host name (lower-case, no port) is one of the patterns. */
export function hostAllowed(host: string, patterns: readonly HostPattern[]): boolean {
  return patterns.some((pattern) => ("exact" in pattern ? host === pattern.exact : host.endsWith(`.${pattern.below}`)));
}

const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
const ABSOLUTE = /^(https?):\/\/([^/?#]*)(.*)$/i;
/** A host name or an IPv4 address, or an IPv6 literal in brackets; an optional port. Nothing else (no @, no %). */
const AUTHORITY = /^(?:([A-Za-z0-9.-]+)|\[([0-9A-Fa-f:.]+)\])(?::(\d{1,5}))?$/;
/** Encoded slash, backslash or control character. */
const ENCODED_SEPARATOR = /%(?:2f|5c|[01][0-9a-f]|7f)/i;
const MAX_LENGTH = 4096;

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The URL to send the browser to, re-serialised, when `rd` is an allowed absolute URL; else null. */
export function allowedReturnUrl(rd: string | undefined | null, allowed: readonly HostPattern[]): string | null {
  if (!rd || rd.length > MAX_LENGTH || !PRINTABLE_ASCII.test(rd) || rd.includes("\\")) return null;
  const parts = ABSOLUTE.exec(rd);
  if (!parts) return null;
  const [, scheme, authority, rest] = parts;
  const written = AUTHORITY.exec(authority);
  if (!written) return null;
  const path = rest.split(/[?#]/, 1)[0];
  if (ENCODED_SEPARATOR.test(path)) return null;
  let url: URL;
  try {
    url = new URL(rd);
  } catch {
    return null;
  }
  const host = url.hostname; // lower-case; IPv6 in brackets
  const writtenHost = written[1] !== undefined ? written[1].toLowerCase() : `[${written[2].toLowerCase()}]`;
  if (host !== writtenHost || url.username !== "" || url.password !== "") return null;
  if (scheme.toLowerCase() === "http" && !isLoopback(host)) return null;
  if (!hostAllowed(host.replace(/^\[|\]$/g, ""), allowed)) return null;
  return url.href;
}
