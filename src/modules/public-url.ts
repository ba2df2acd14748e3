// The URL clients reach Gatehouse at, for links in answers: built from the
// proxy's X-Forwarded-Proto / -Host / -Prefix when present, else from the
// request itself. (The proxy must set, not append, these headers.)
export function publicBaseUrl(request: Request): string {
  const url = new URL(request.url);
  const first = (name: string) => request.headers.get(name)?.split(",")[0]?.trim() || undefined;
  const proto = first("x-forwarded-proto");
  const host = first("x-forwarded-host") ?? request.headers.get("host") ?? url.host;
  const prefix = (first("x-forwarded-prefix") ?? "").replace(/\/+$/, "");
  const scheme = proto === "https" || proto === "http" ? proto : url.protocol.replace(":", "");
  // Only a well-formed host and path prefix are echoed back into links.
  const safeHost = /^[A-Za-z0-9.\-:[\]]+$/.test(host) ? host : url.host;
  const safePrefix = /^(\/[A-Za-z0-9._~\-]+)*$/.test(prefix) ? prefix : "";
  return `${scheme}://${safeHost}${safePrefix}`;
}
