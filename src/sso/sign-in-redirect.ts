// /authenticate's answer to a browser that is not signed in, with single
// sign-on (DESIGN §2.10): send it to sign in, with the page it asked for as
// `rd` (Authelia's contract). Only for a page navigation of a browser: an API
// client (a Bearer or Basic credential, Accept: application/json, a script's
// fetch or XMLHttpRequest, curl's Accept: */*) keeps today's 401 and
// WWW-Authenticate, never a redirect, which it could not follow anyway.
//
// How the proxy passes the answer on decides its shape:
// - nginx's auth_request turns anything but 2xx, 401 and 403 into a 500, so
//   the answer stays a 401, with `Location: <sign-in URL>?rd=<original URL>`
//   for nginx to send on (auth_request_set $signin $upstream_http_location;
//   error_page 401 = @signin: docs/web-applications.md, "Protecting a web application"). It
//   asks with X-Original-URL (or Host and X-Original-URI).
// - Caddy's forward_auth and Traefik's forwardAuth pass the answer to the
//   browser as it is: a 302 (303 for another method than GET or HEAD, as
//   Authelia: the browser then GETs the sign-in page) straight to the
//   sign-in URL. They ask with X-Forwarded-Uri and X-Forwarded-Host and
//   never X-Original-*.
// The body stays empty in both (nginx keeps its connection alive), and the
// Location is absolute: Traefik resolves a relative one against
// Gatehouse's own address.
import { originalRequest, originalUrl } from "../identity/original-request.ts";
import type { SsoPolicy } from "./policy.ts";

/** Whether an Accept header asks for an HTML page (text/html or XHTML, not refused with q=0); `*\/*` alone does not. */
function acceptsHtml(accept: string | null): boolean {
  if (!accept) return false;
  for (const range of accept.split(",")) {
    const [type, ...parameters] = range.split(";");
    const media = type.trim().toLowerCase();
    if (media !== "text/html" && media !== "application/xhtml+xml") continue;
    const quality = parameters.map((parameter) => parameter.trim().toLowerCase()).find((parameter) => parameter.startsWith("q="));
    if (quality === undefined || Number(quality.slice(2)) > 0) return true;
  }
  return false;
}

/**
 * A browser's page navigation: an Accept asking for HTML, no Authorization
 * header, not XMLHttpRequest (X-Requested-With), and — when the browser
 * sends Fetch Metadata, as every current one does — a navigation of a
 * document (not a fetch, an image, a frame).
 */
export function isBrowserNavigation(headers: Headers): boolean {
  if (headers.has("authorization") || headers.has("x-requested-with")) return false;
  const mode = headers.get("sec-fetch-mode");
  if (mode !== null && mode !== "navigate") return false;
  const destination = headers.get("sec-fetch-dest");
  if (destination !== null && destination !== "document") return false;
  return acceptsHtml(headers.get("accept"));
}

/** The sign-in URL with `rd`, the page the browser asked for, when a proxy names one. */
export function signInLocation(policy: SsoPolicy, request: Pick<Request, "headers" | "method">): string {
  const back = originalUrl(originalRequest(request));
  if (!back) return policy.signInUrl;
  return `${policy.signInUrl}${policy.signInUrl.includes("?") ? "&" : "?"}rd=${encodeURIComponent(back)}`;
}

/** The answer that sends a browser's navigation to sign in; null for anything else (the caller answers its usual 401). */
export function signInRedirect(policy: SsoPolicy, request: Request, challenge: string): Response | null {
  const { headers } = request;
  if (!isBrowserNavigation(headers)) return null;
  const location = signInLocation(policy, request);
  const forwardAuth = !headers.has("x-original-url") && !headers.has("x-original-uri") && (headers.has("x-forwarded-uri") || headers.has("x-forwarded-host"));
  if (forwardAuth) {
    const method = (headers.get("x-forwarded-method") ?? request.method).toUpperCase();
    const status = method === "GET" || method === "HEAD" ? 302 : 303;
    return new Response(null, { status, headers: { location, "cache-control": "no-store" } });
  }
  return new Response(null, { status: 401, headers: { "www-authenticate": challenge, location, "cache-control": "no-store" } });
}
