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

const AUTHORITY = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

/** Host and port of an authority ("Example.org:8443", "[::1]:80"); null for anything that is not one (userinfo, odd characters). */
function splitAuthority(authority: string): { host: string; port: string | null } | null {
  const match = AUTHORITY.exec(authority);
  if (!match) return null;
  return { host: match[1]!.toLowerCase(), port: match[2] ?? null };
}

/** Path and query of a request target ("/a/b?x=1"); a target that is not a path is "/". */
function splitTarget(target: string | null): { path: string; query: string } {
  if (!target || !target.startsWith("/")) return { path: "/", query: "" };
  const mark = target.indexOf("?");
  return mark < 0 ? { path: target, query: "" } : { path: target.slice(0, mark), query: target.slice(mark) };
}

/** `http(s)://authority` and the rest, as sent: the path is never normalised here (the access rules do it, refusing what they cannot read). */
const URL_HEAD = /^(https?):\/\/([^/?#]*)/i;

/** X-Original-URL's parts, or null when it is not an http(s) URL with a plain authority. */
function splitUrl(url: string): Omit<OriginalRequest, "method"> | null {
  const head = URL_HEAD.exec(url);
  const authority = head && splitAuthority(head[2]!);
  if (!head || !authority) return null;
  const rest = url.slice(head[0].length);
  const target = rest === "" ? { path: "/", query: "" } : rest.startsWith("?") ? { path: "/", query: rest } : rest.startsWith("/") ? splitTarget(rest) : { path: `/${rest}`, query: "" };
  return { scheme: head[1]!.toLowerCase() === "http" ? "http" : "https", host: authority.host, port: authority.port, path: target.path, query: target.query };
}

/**
 * The headers that describe the original request, each read once, and the
 * request's own method: everything the access rules' answer depends on (so
 * two requests with the same description get the same rule).
 */
export interface RequestDescription {
  url: string | null;
  forwardedUri: string | null;
  forwardedHost: string | null;
  uri: string | null;
  originalMethod: string | null;
  forwardedMethod: string | null;
  /** The Host header, read only when nothing else names the host. */
  host: string | null;
  ownMethod: string;
}

export function readDescription(request: Request): RequestDescription {
  const { headers } = request;
  const url = headers.get("x-original-url");
  const forwardedHost = headers.get("x-forwarded-host");
  return {
    url,
    forwardedUri: headers.get("x-forwarded-uri"),
    forwardedHost,
    uri: headers.get("x-original-uri"),
    originalMethod: headers.get("x-original-method"),
    forwardedMethod: headers.get("x-forwarded-method"),
    host: url === null && forwardedHost === null ? headers.get("host") : null,
    ownMethod: request.method,
  };
}

/** Whether two descriptions are the same, header by header. */
export function sameDescription(a: RequestDescription, b: RequestDescription): boolean {
  return (
    a.url === b.url &&
    a.forwardedUri === b.forwardedUri &&
    a.forwardedHost === b.forwardedHost &&
    a.uri === b.uri &&
    a.originalMethod === b.originalMethod &&
    a.forwardedMethod === b.forwardedMethod &&
    a.host === b.host &&
    a.ownMethod === b.ownMethod
  );
}

function fromHeaders(request: Request, described: RequestDescription, url: Omit<OriginalRequest, "method"> | null): OriginalRequest {
  const method = (first(described.originalMethod) ?? first(described.forwardedMethod) ?? described.ownMethod).toUpperCase().slice(0, 16);
  if (url) return { scheme: url.scheme, host: url.host, port: url.port, path: url.path, query: url.query, method };
  const scheme = first(request.headers.get("x-forwarded-proto")) === "http" ? "http" : "https";
  // Host is read here too when X-Original-URL is there but not a URL (the access rules refuse that request anyway).
  const authority = splitAuthority(first(described.forwardedHost) ?? described.host ?? request.headers.get("host") ?? "");
  const target = splitTarget(whole(described.forwardedUri) ?? whole(described.uri));
  return { scheme, host: authority?.host ?? null, port: authority?.port ?? null, path: target.path, query: target.query, method };
}

export function originalRequest(request: Request): OriginalRequest {
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
 * to write. So a request described in two ways (X-Original-URL, the
 * X-Forwarded-Host/-Uri pair, X-Original-URI), or one whose headers repeat or
 * contradict each other, may be the client describing another request than
 * the one it sends: refused, whichever of them the proxy set. A path that no
 * header gives is unknown, not `/`.
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
  const forwarded = forwardedUri !== null || forwardedHost !== null;
  let target: string | null = null;
  if (Number(url !== null) + Number(forwarded) + Number(uri !== null) > 1) {
    const ways = [url !== null && "X-Original-URL", forwarded && "X-Forwarded-Host/-Uri", uri !== null && "X-Original-URI"].filter(Boolean);
    target = `the proxy's headers describe the request in ${ways.length} ways (${ways.join(", ")}); only one may be set`;
  }
  // A raw request target holds no space: ", " is a repeated header, joined.
  else if (url !== null && (url.includes(", ") || !parsedUrl)) target = "X-Original-URL is not one http(s) URL";
  else if (forwardedHost !== null && (forwardedHost.includes(",") || !splitAuthority(forwardedHost.trim()))) target = "X-Forwarded-Host is not one host";
  else if (forwardedUri !== null && (forwardedUri.includes(", ") || !forwardedUri.trim().startsWith("/"))) target = "X-Forwarded-Uri is not one path";
  else if (uri !== null && (uri.includes(", ") || !uri.trim().startsWith("/"))) target = "X-Original-URI is not one path";
  const path = target ?? (url === null && forwardedUri === null && uri === null ? "no header names the path (X-Original-URL, X-Forwarded-Uri or X-Original-URI)" : null);
  const method = methodProblem(described.originalMethod, described.forwardedMethod, described.ownMethod);
  const original = fromHeaders(request, described, parsedUrl) as OriginalRequest & { problems: OriginalRequestProblems | null };
  const host = target ?? (original.host === null ? "no header names the host (X-Original-URL, X-Forwarded-Host or Host)" : null);
  original.problems = target || host || path || method ? { target, host, path, method } : null;
  return original;
}

function methodProblem(original: string | null, forwarded: string | null, ownMethod: string): string | null {
  if (original === null && forwarded === null) {
    return "no header names the method (X-Original-Method or X-Forwarded-Method; nginx's auth_request asks with GET whatever the method)";
  }
  if ((original !== null && !METHOD.test(original.trim())) || (forwarded !== null && !METHOD.test(forwarded.trim()))) {
    return "X-Original-Method or X-Forwarded-Method is not one method";
  }
  const said = (original ?? forwarded)!.trim().toUpperCase();
  if (original !== null && forwarded !== null && forwarded.trim().toUpperCase() !== said) return "X-Original-Method and X-Forwarded-Method name different methods";
  // nginx, Caddy and Traefik ask with GET (Traefik with the method itself, with preserveRequestMethod): another contradicts the header.
  if (ownMethod !== "GET" && ownMethod !== "HEAD" && said !== ownMethod) return `the request is a ${ownMethod}, but its headers say ${said}`;
  return null;
}
