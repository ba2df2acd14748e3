// Calls from a provider to the service behind it (a key service, an identity
// provider's token or JWKS endpoint). A failure becomes an UpstreamError whose
// message says what failed (DNS, refused, timeout, TLS, an HTTP status) and
// nothing else: never the URL, which may carry the credential
// (`who-am-i?token=…`), never the credential, never the service's own words.
// The pipeline logs that message once, as `auth.provider.error`.

export class UpstreamError extends Error {}

const NETWORK_FAILURES: Record<string, string> = {
  ENOTFOUND: "DNS lookup failed",
  EAI_AGAIN: "DNS lookup failed",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EPROTO: "TLS handshake failed",
  CERT_HAS_EXPIRED: "TLS certificate expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "TLS certificate not trusted",
  SELF_SIGNED_CERT_IN_CHAIN: "TLS certificate not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS certificate not trusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "TLS certificate not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS certificate does not match the host",
};

/** What went wrong with a connection, in a few words fit for a log line. */
export function describeNetworkFailure(error: unknown): string {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  if (name === "TimeoutError") return "timed out";
  if (typeof code === "string") {
    if (NETWORK_FAILURES[code]) return NETWORK_FAILURES[code];
    if (code.includes("CERT") || code.includes("TLS") || code.includes("SSL")) return `TLS failure (${code})`;
    return `network error (${code})`;
  }
  return `network error (${typeof name === "string" ? name : "unknown"})`;
}

/**
 * fetch() that turns a network failure into an UpstreamError naming `what`
 * was called. An abort (the pipeline's time limit, or another provider
 * succeeding) is rethrown as it is: the pipeline reports it itself.
 */
export async function callUpstream(what: string, url: string, init: RequestInit & { signal: AbortSignal }): Promise<Response> {
  try {
    return await fetch(url, { redirect: "error", ...init });
  } catch (error) {
    if (init.signal.aborted) throw init.signal.reason ?? error;
    throw new UpstreamError(`${what}: ${describeNetworkFailure(error)}`);
  }
}

/** The JSON body of a 2xx answer; anything else is an UpstreamError with the status. */
export async function upstreamJson(what: string, response: Response): Promise<unknown> {
  if (!response.ok) {
    await response.body?.cancel();
    throw new UpstreamError(`${what}: HTTP ${response.status}`);
  }
  try {
    return await response.json();
  } catch {
    throw new UpstreamError(`${what}: answered invalid JSON`);
  }
}

/** http:// is accepted only towards this machine (tests, a sidecar); anywhere else a token or key would cross the network in clear. */
export const SECURE_URL = "^(https://|http://(127\\.0\\.0\\.1|localhost|\\[::1\\])([:/]|$))";
export const isLoopbackHttp = (url: string) => /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])([:/]|$)/.test(url);
