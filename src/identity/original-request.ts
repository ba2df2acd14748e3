// The request a proxy asks /authenticate about: its URL and method, as each
// proxy says it (DESIGN §2.10):
//   - `X-Original-URL` (a whole URL: Authelia's nginx snippets,
//     `proxy_set_header X-Original-URL $scheme://$http_host$request_uri`);
//   - `X-Forwarded-Proto`, `-Host`, `-Uri`, `-Method` (Caddy's forward_auth,
//     Traefik's forwardAuth);
//   - `Host` and `X-Original-URI` (the seed's nginx block), with
//     `X-Original-Method`. nginx sends its upstream's name as Host unless the
//     location says `proxy_set_header Host $host`.
// The method falls back to the subrequest's own; but nginx's auth_request
// subrequest is a GET whatever the original method (measured with nginx
// 1.22: POST, PUT, DELETE, HEAD all arrive as GET), and so are Caddy's and
// Traefik's: the access rules take the method from the headers alone.
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

/** The first of a header's values (a repeated header arrives joined by commas), for values that hold no comma: a host, a scheme, a method. */
const first = (value: string | null): string | null => {
  if (value === null) return null;
  const comma = value.indexOf(",");
  const head = (comma < 0 ? value : value.slice(0, comma)).trim();
  return head === "" ? null : head;
};

/** A path-bearing header as sent: a comma is a character of paths (`/a,b`), never a separator there. */
const whole = (value: string | null): string | null => {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
};

const IPV6 = /^\[[0-9A-Fa-f:.]+\]$/;

/**
 * Host and port of an authority ("Example.org:8443", "[::1]:80"); null for
 * anything that is not one (userinfo, odd characters). Read character by
 * character: on the hot path of the access rules, a regular expression's
 * captures cost several times more.
 */
function splitAuthority(authority: string): { host: string; port: string | null } | null {
  const length = authority.length;
  let end = 0;
  let upper = false;
  if (authority.charCodeAt(0) === 0x5b) {
    end = authority.indexOf("]") + 1;
    if (end === 0 || !IPV6.test(authority.slice(0, end))) return null;
  } else {
    for (; end < length; end++) {
      const code = authority.charCodeAt(end);
      if ((code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2e || code === 0x2d) continue;
      if (code >= 0x41 && code <= 0x5a) upper = true;
      else break;
    }
    if (end === 0) return null;
  }
  let port: string | null = null;
  if (end < length) {
    if (authority.charCodeAt(end) !== 0x3a || length - end - 1 < 1 || length - end - 1 > 5) return null;
    for (let index = end + 1; index < length; index++) {
      const code = authority.charCodeAt(index);
      if (code < 0x30 || code > 0x39) return null;
    }
    port = authority.slice(end + 1);
  }
  const host = end === length ? authority : authority.slice(0, end);
  return { host: upper ? host.toLowerCase() : host, port };
}

/** Path and query of a request target ("/a/b?x=1"); a target that is not a path is "/". */
function splitTarget(target: string | null): { path: string; query: string } {
  if (!target || !target.startsWith("/")) return { path: "/", query: "" };
  const mark = target.indexOf("?");
  return mark < 0 ? { path: target, query: "" } : { path: target.slice(0, mark), query: target.slice(mark) };
}

/** X-Original-URL's parts, as sent (the path is never normalised here: the access rules do it, refusing what they cannot read); null when it is not an http(s) URL with a plain authority. */
function splitUrl(url: string): Omit<OriginalRequest, "method"> | null {
  const scheme = url.startsWith("https://") || url.slice(0, 8).toLowerCase() === "https://" ? "https" : url.startsWith("http://") || url.slice(0, 7).toLowerCase() === "http://" ? "http" : null;
  if (!scheme) return null;
  const start = scheme.length + 3;
  let end = start;
  for (; end < url.length; end++) {
    const code = url.charCodeAt(end);
    if (code === 0x2f || code === 0x3f || code === 0x23) break;
  }
  const authority = splitAuthority(url.slice(start, end));
  if (!authority) return null;
  // The path runs to the query; "" is "/", and anything else not beginning with "/" (a "#") is kept, for the rules to refuse.
  const mark = url.indexOf("?", end);
  const path = url.slice(end, mark < 0 ? url.length : mark);
  return { scheme, host: authority.host, port: authority.port, path: path === "" ? "/" : path.startsWith("/") ? path : `/${path}`, query: mark < 0 ? "" : url.slice(mark) };
}

/**
 * The headers that describe the original request, each read once, and the
 * request's own method: everything the access rules' answer depends on (so
 * two requests with the same description get the same rule). Each proxy's
 * headers go together, and only they are read:
 *   - X-Original-URL with X-Original-Method (nginx, Authelia's snippets);
 *   - X-Forwarded-Uri with X-Forwarded-Host and -Method (Caddy, Traefik);
 *   - X-Original-URI with Host and X-Original-Method (the seed's nginx block).
 * A header of another proxy's set (a client's X-Forwarded-Host beside nginx's
 * X-Original-URL, its X-Original-Method beside Caddy's X-Forwarded-Method) is
 * never looked at: only the three path-bearing ones are, to refuse a request
 * described twice.
 */
export interface RequestDescription {
  url: string | null;
  forwardedUri: string | null;
  uri: string | null;
  /** X-Forwarded-Host, read beside X-Forwarded-Uri only. */
  forwardedHost: string | null;
  /** The Host header, read only when nothing else names the host. */
  host: string | null;
  /** The method header of the same set (X-Forwarded-Method beside X-Forwarded-Uri, else X-Original-Method). */
  method: string | null;
  ownMethod: string;
}

export function readDescription(request: Pick<Request, "headers" | "method">): RequestDescription {
  const { headers } = request;
  const url = headers.get("x-original-url");
  const forwardedUri = headers.get("x-forwarded-uri");
  const uri = headers.get("x-original-uri");
  const forwarded = url === null && forwardedUri !== null;
  const forwardedHost = forwarded ? headers.get("x-forwarded-host") : null;
  return {
    url,
    forwardedUri,
    uri,
    forwardedHost,
    host: url === null && forwardedHost === null ? headers.get("host") : null,
    method: headers.get(forwarded ? "x-forwarded-method" : "x-original-method"),
    ownMethod: request.method,
  };
}

/** Whether two descriptions are the same, header by header. */
export function sameDescription(a: RequestDescription, b: RequestDescription): boolean {
  return (
    a.url === b.url &&
    a.forwardedUri === b.forwardedUri &&
    a.uri === b.uri &&
    a.forwardedHost === b.forwardedHost &&
    a.host === b.host &&
    a.method === b.method &&
    a.ownMethod === b.ownMethod
  );
}

function fromHeaders(request: Pick<Request, "headers" | "method">, described: RequestDescription, url: Omit<OriginalRequest, "method"> | null): OriginalRequest {
  const method = (first(described.method) ?? described.ownMethod).toUpperCase().slice(0, 16);
  if (url) return { scheme: url.scheme, host: url.host, port: url.port, path: url.path, query: url.query, method };
  const scheme = first(request.headers.get("x-forwarded-proto")) === "http" ? "http" : "https";
  // Host is read here too when X-Original-URL is there but not a URL (the access rules refuse that request anyway).
  const authority = splitAuthority(first(described.forwardedHost) ?? described.host ?? request.headers.get("host") ?? "");
  const target = splitTarget(whole(described.forwardedUri) ?? whole(described.uri));
  return { scheme, host: authority?.host ?? null, port: authority?.port ?? null, path: target.path, query: target.query, method };
}

export function originalRequest(request: Pick<Request, "headers" | "method">): OriginalRequest {
  const described = readDescription(request);
  const url = whole(described.url);
  return fromHeaders(request, described, url ? splitUrl(url) : null);
}

/** The original URL, to send a browser back to after sign-in; null when no host names it. */
export function originalUrl(original: OriginalRequest): string | null {
  if (!original.host) return null;
  return `${original.scheme}://${original.host}${original.port ? `:${original.port}` : ""}${original.path}${original.query}`;
}

/**
 * What makes the description above unfit to decide access on, or null for
 * each part. nginx's auth_request subrequest carries every header of the
 * client's request, and Caddy's and Traefik's forward auth every header but
 * their own X-Forwarded-*: a header the proxy does not set is the client's
 * to write. So a request described in two ways (X-Original-URL,
 * X-Forwarded-Uri, X-Original-URI), or whose headers repeat or contradict
 * the request itself, may be the client describing another request than the
 * one it sends: refused, whichever of them the proxy set. What no header
 * names (the path, the method) is unknown, never guessed.
 */
export interface OriginalRequestProblems {
  /** Why the host and path cannot be relied on. */
  target: string | null;
  /** Why the host cannot (the target's, or nothing names one). */
  host: string | null;
  /** Why the path cannot (the target's, or no header names it). */
  path: string | null;
  /** Why the method cannot. */
  method: string | null;
}

const METHOD = /^[A-Za-z]{1,16}$/;

/** The original request and what makes it unfit to decide access on (null: nothing), each header read once: the access rules' hot path. */
export function describeOriginalRequest(
  request: Request,
  described: RequestDescription = readDescription(request),
): OriginalRequest & { problems: OriginalRequestProblems | null } {
  const { url, forwardedUri, forwardedHost, uri } = described;
  const trimmedUrl = whole(url);
  const parsedUrl = trimmedUrl ? splitUrl(trimmedUrl) : null;
  let target: string | null = null;
  if (Number(url !== null) + Number(forwardedUri !== null) + Number(uri !== null) > 1) {
    const ways = [url !== null && "X-Original-URL", forwardedUri !== null && "X-Forwarded-Uri", uri !== null && "X-Original-URI"].filter(Boolean);
    target = `the proxy's headers describe the request in ${ways.length} ways (${ways.join(", ")}); only one may be set`;
  }
  // A raw request target holds no space: ", " is a repeated header, joined.
  else if (url !== null && (url.includes(", ") || !parsedUrl)) target = "X-Original-URL is not one http(s) URL";
  else if (forwardedHost !== null && (forwardedHost.includes(",") || !splitAuthority(forwardedHost.trim()))) target = "X-Forwarded-Host is not one host";
  else if (forwardedUri !== null && (forwardedUri.includes(", ") || !forwardedUri.trim().startsWith("/"))) target = "X-Forwarded-Uri is not one path";
  else if (uri !== null && (uri.includes(", ") || !uri.trim().startsWith("/"))) target = "X-Original-URI is not one path";
  const path = target ?? (url === null && forwardedUri === null && uri === null ? "no header names the path (X-Original-URL, X-Forwarded-Uri or X-Original-URI)" : null);
  const method = methodProblem(described.method, forwardedUri !== null && url === null ? "X-Forwarded-Method" : "X-Original-Method", described.ownMethod);
  const original = fromHeaders(request, described, parsedUrl) as OriginalRequest & { problems: OriginalRequestProblems | null };
  const host = target ?? (original.host === null ? "no header names the host (X-Original-URL, X-Forwarded-Host or Host)" : null);
  original.problems = target || host || path || method ? { target, host, path, method } : null;
  return original;
}

function methodProblem(said: string | null, name: string, ownMethod: string): string | null {
  if (said === null) return `no header names the method (${name}; nginx's auth_request asks with GET whatever the method)`;
  const method = said.trim().toUpperCase();
  if (!METHOD.test(method)) return `${name} is not one method`;
  // nginx, Caddy and Traefik ask with GET (Traefik with the method itself, with preserveRequestMethod): another contradicts the header.
  if (ownMethod !== "GET" && ownMethod !== "HEAD" && method !== ownMethod) return `the request is a ${ownMethod}, but ${name} says ${method}`;
  return null;
}
