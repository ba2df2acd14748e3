import { t, type TSchema } from "elysia";
import type { ClientAddress } from "../identity/client.ts";

// Small HTTP helpers and models shared by the controllers.

export const ErrorModel = t.Object({ error: t.String() }, { description: "Every failure answers with a message" });

/** A JSON answer that no intermediary may cache. */
export function jsonAnswer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}

/** A JSON error body, the shape every Gatehouse route answers with on failure. */
export function jsonError(status: number, message: string, headers: Record<string, string> = {}): Response {
  return jsonAnswer(status, { error: message }, headers);
}

/** 204, nothing to cache. */
export const noContent = () => new Response(null, { status: 204, headers: { "cache-control": "no-store" } });

/**
 * Header values are bytes: a non-ASCII username is sent as its UTF-8 bytes
 * (what nginx passes through and backends decode), never rejected with a 500.
 */
export function headerValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : Buffer.from(value, "utf8").toString("latin1");
}

/** The part of Bun's server that tells a request's peer (Elysia's `server` in a handler). */
export interface PeerLookup {
  requestIP(request: Request): { address: string } | null;
}

/**
 * Where a request came from: the socket's peer, and what X-Real-IP (else the
 * first X-Forwarded-For entry) claims. The claim is recorded beside the peer,
 * never trusted: any client can send those headers. Both are read only when
 * asked for (asking Bun for the peer costs about a microsecond), so the hot
 * path of /authenticate pays nothing unless a provider records them.
 */
export function clientAddress(request: Request, server: PeerLookup | null | undefined): ClientAddress {
  return new LazyClientAddress(request, server);
}

// A class rather than an object literal with getters: created on every
// /authenticate request, and a literal with accessors costs several times more.
class LazyClientAddress implements ClientAddress {
  private peer: string | null | undefined;
  private claimed: string | null | undefined;

  constructor(
    private readonly request: Request,
    private readonly server: PeerLookup | null | undefined,
  ) {}

  get socket(): string | null {
    if (this.peer === undefined) this.peer = this.server?.requestIP(this.request)?.address ?? null;
    return this.peer;
  }

  get reported(): string | null {
    if (this.claimed === undefined) {
      const headers = this.request.headers;
      const claim = headers.get("x-real-ip") ?? headers.get("x-forwarded-for")?.split(",")[0].trim();
      this.claimed = claim ? claim.slice(0, 64) : null;
    }
    return this.claimed;
  }
}

/**
 * A `transform` hook that answers 400 when a JSON body has fields its model
 * does not name. Elysia otherwise drops them before validation, so a typo
 * in an optional field would pass unnoticed.
 */
export function refuseUnknownFields(model: TSchema & { properties: Record<string, unknown> }) {
  const known = new Set(Object.keys(model.properties));
  return ({ body, status }: { body: unknown; status: (code: 400, response: { error: string }) => unknown }) => {
    if (!body || typeof body !== "object" || Array.isArray(body)) return;
    const unknown = Object.keys(body).filter((field) => !known.has(field));
    if (unknown.length > 0) {
      throw status(400, { error: `Unknown field${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}; known: ${[...known].join(", ")}` });
    }
  };
}
