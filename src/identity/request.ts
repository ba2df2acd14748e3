// What the identity pipeline knows of a request: its headers, where it came
// from, the realm asked for, and the original request nginx or Traefik is
// checking. Providers receive it, so one that reads other headers (trusted
// proxy headers) or the peer address is one file like the others.
import type { ClientAddress } from "./client.ts";

/** Who runs the pipeline: /authenticate, a route of Gatehouse's API, a login form, or a refresh re-reading a user. */
export type Entry = "authenticate" | "api" | "login";

export interface RequestContext {
  readonly entry: Entry;
  /** The HTTP method of the request to Gatehouse itself (metrics); see originalMethod for the request being checked. */
  readonly method: string;
  readonly headers: Headers;
  readonly authorization: string | null;
  /** X-Auth-Realm: null when absent. An empty header is "" and matches no provider, unlike an absent one. */
  readonly realm: string | null;
  readonly client: ClientAddress;
  /** The method of the request being checked (X-Original-Method, X-Forwarded-Method), for logs. */
  readonly originalMethod: string | undefined;
  /** Its path, never its query string (which may carry a key), for logs. */
  readonly originalPath: string | undefined;
  /**
   * The client's address as identity/forwarded-address.ts works it out, kept
   * on the request the first time it is asked (undefined: not yet). A slot of
   * the request rather than a WeakMap entry: measured in Bun, a WeakMap entry
   * per request costs ≈1.2 µs, which a token limited to networks pays on
   * every /authenticate.
   */
  forwardedAddress?: string | null;
}

/** The part of Bun's server that tells a request's peer (Elysia's `server` in a handler). */
export interface PeerLookup {
  requestIP(request: Request): { address: string } | null;
}

/**
 * The context of an HTTP request. Built on every /authenticate, so every
 * field is worked out only when read: asking Bun for the peer costs about a
 * microsecond, more than checking a cached credential. A class rather than
 * an object literal with getters, which costs several times more to create.
 * It is its own ClientAddress, for the same reason.
 */
class HttpRequestContext implements RequestContext, ClientAddress {
  readonly headers: Headers;
  forwardedAddress: string | null | undefined = undefined;
  private peer: string | null | undefined;
  private claimed: string | null | undefined;

  constructor(
    readonly entry: Entry,
    private readonly request: Request,
    private readonly server: PeerLookup | null | undefined,
    private readonly credential: string | undefined,
  ) {
    this.headers = request.headers; // one Headers object for every read
  }

  get method(): string {
    return this.request.method;
  }

  get authorization(): string | null {
    return this.credential ?? this.headers.get("authorization");
  }

  get realm(): string | null {
    return this.headers.get("x-auth-realm");
  }

  get client(): ClientAddress {
    return this;
  }

  /** The peer of the TCP connection (behind a proxy: the proxy). */
  get socket(): string | null {
    if (this.peer === undefined) this.peer = this.server?.requestIP(this.request)?.address ?? null;
    return this.peer;
  }

  /** What X-Real-IP (else the first X-Forwarded-For entry) claims: recorded beside the peer, never trusted. */
  get reported(): string | null {
    if (this.claimed === undefined) {
      const claim = this.headers.get("x-real-ip") ?? this.headers.get("x-forwarded-for")?.split(",")[0].trim();
      this.claimed = claim ? claim.slice(0, 64) : null;
    }
    return this.claimed;
  }

  get originalMethod(): string | undefined {
    return (this.headers.get("x-original-method") ?? this.headers.get("x-forwarded-method"))?.slice(0, 16) ?? undefined;
  }

  get originalPath(): string | undefined {
    const uri = this.headers.get("x-original-uri") ?? this.headers.get("x-forwarded-uri");
    return uri ? uri.split("?")[0].slice(0, 200) : undefined;
  }
}

/** `authorization` stands in for the header when the credential came another way (the portal's cookie). */
export function httpRequestContext(entry: Entry, request: Request, server: PeerLookup | null | undefined, authorization?: string): RequestContext {
  return new HttpRequestContext(entry, request, server, authorization);
}
