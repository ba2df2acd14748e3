import { t, type TSchema } from "elysia";
import { Refusal } from "../refusal.ts";

// Small HTTP helpers and models shared by the controllers.

export const ErrorModel = t.Object({ error: t.String() }, { description: "Every failure answers with a message" });

/** A JSON answer that no intermediary may cache. */
export function jsonAnswer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
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

/**
 * A `transform` hook that answers 400 when a JSON body has fields its model
 * does not name. Elysia otherwise drops them before validation, so a typo
 * in an optional field would pass unnoticed.
 */
export function refuseUnknownFields(model: TSchema & { properties: Record<string, unknown> }) {
  const known = new Set(Object.keys(model.properties));
  return ({ body }: { body: unknown }) => {
    if (!body || typeof body !== "object" || Array.isArray(body)) return;
    const unknown = Object.keys(body).filter((field) => !known.has(field));
    if (unknown.length > 0) {
      throw new Refusal(400, `Unknown field${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}; known: ${[...known].join(", ")}`);
    }
  };
}
