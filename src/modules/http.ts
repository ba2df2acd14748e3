import { t } from "elysia";

// Small HTTP helpers and models shared by the controllers.

export const ErrorModel = t.Object({ error: t.String() }, { description: "Every failure answers with a message" });

/** A JSON error body, the shape every Gatehouse route answers with on failure. */
export function jsonError(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}

/**
 * Header values are bytes: a non-ASCII username is sent as its UTF-8 bytes
 * (what nginx passes through and backends decode), never rejected with a 500.
 */
export function headerValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : Buffer.from(value, "utf8").toString("latin1");
}
