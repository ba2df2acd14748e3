// The request a proxy asks /authenticate about: its URL and method, as each
// proxy says it (DESIGN §2.10):
//   - `X-Original-URL` (a whole URL: Authelia's nginx snippets,
//     `proxy_set_header X-Original-URL $scheme://$http_host$request_uri`);
//   - `X-Forwarded-Proto`, `-Host`, `-Uri`, `-Method` (Caddy's forward_auth,
//     Traefik's forwardAuth);
//   - `Host` and `X-Original-URI` (the seed's nginx block: an auth_request
//     subrequest carries the client's Host), with `X-Original-Method`.
// The method falls back to the subrequest's own (nginx keeps the original
// method on auth_request subrequests).
//
// These headers are believed as they come: they describe the request being
// checked, which the proxy sets, and a client asking /authenticate directly
// can only describe a request of its own (the answer goes back to it alone).
// Who the client is (its address) is another matter, decided by the
// regulation of guessing's trusted proxies.
export interface OriginalRequest {
  /** `https` unless the proxy says `http`. */
  scheme: "http" | "https";
  /** Host name, lower-case, without the port (an IPv6 address in brackets); null when nothing names it. */
  host: string | null;
  /** The port when one was given. */
  port: string | null;
  /** The path as sent (not decoded or normalised), `/` at least. */
  path: string;
  /** The query string with its `?`, or "". */
  query: string;
  /** Upper-case. */
  method: string;
}

const first = (headers: Headers, name: string): string | null => {
  const value = headers.get(name);
  if (value === null) return null;
  const head = value.split(",")[0].trim();
  return head === "" ? null : head;
};

/** Host and port of an authority ("Example.org:8443", "[::1]:80"); null for anything that is not one. */
function splitAuthority(authority: string): { host: string; port: string | null } | null {
  if (!/^[A-Za-z0-9.\-:[\]]+$/.test(authority)) return null;
  try {
    const url = new URL(`http://${authority}/`);
    if (url.username || url.password) return null;
    return { host: url.hostname.toLowerCase(), port: url.port || null };
  } catch {
    return null;
  }
}

/** Path and query of a request target ("/a/b?x=1"); a target that is not a path is "/". */
function splitTarget(target: string | null): { path: string; query: string } {
  if (!target || !target.startsWith("/")) return { path: "/", query: "" };
  const mark = target.indexOf("?");
  return mark < 0 ? { path: target, query: "" } : { path: target.slice(0, mark), query: target.slice(mark) };
}

export function originalRequest(request: Pick<Request, "headers" | "method">): OriginalRequest {
  const { headers } = request;
  const method = (first(headers, "x-original-method") ?? first(headers, "x-forwarded-method") ?? request.method).toUpperCase().slice(0, 16);
  const whole = first(headers, "x-original-url");
  if (whole) {
    try {
      const url = new URL(whole);
      if (url.protocol === "https:" || url.protocol === "http:") {
        const target = { path: url.pathname || "/", query: url.search };
        return { scheme: url.protocol === "http:" ? "http" : "https", host: url.hostname.toLowerCase(), port: url.port || null, ...target, method };
      }
    } catch {}
  }
  const forwardedHost = first(headers, "x-forwarded-host");
  const proto = first(headers, "x-forwarded-proto");
  const scheme = proto === "http" ? "http" : "https";
  const authority = splitAuthority(forwardedHost ?? headers.get("host") ?? "");
  const target = splitTarget(first(headers, "x-forwarded-uri") ?? headers.get("x-original-uri"));
  return { scheme, host: authority?.host ?? null, port: authority?.port ?? null, ...target, method };
}

/** The original URL, to send a browser back to after sign-in; null when no host names it. */
export function originalUrl(original: OriginalRequest): string | null {
  if (!original.host) return null;
  return `${original.scheme}://${original.host}${original.port ? `:${original.port}` : ""}${original.path}${original.query}`;
}
