// How a module refuses: every error thrown while answering one of its routes
// (a Refusal from a service or the caller plugin, a body that does not parse
// or validate) becomes one JSON answer in the shape of the module's routes,
// mapped once per module in a scoped error handler:
//
//   const tokens = new Elysia({ name: "tokens" }).use(caller).onError(answerErrors("error", logger))…
//
// `{"error": "…"}` for Gatehouse's and auth-o-tron's routes, `{"detail": "…"}`
// for Tiled's, where its clients read it. Anything else is an internal error:
// logged with its message, answered 500 with no detail.
import type { Logger } from "../log.ts";
import { Refusal } from "../refusal.ts";
import { jsonAnswer } from "./http.ts";

export type ErrorShape = "error" | "detail";

/** A JSON error answer in the given shape; never cached. */
export function errorAnswer(shape: ErrorShape, status: number, message: string, headers: Readonly<Record<string, string>> = {}): Response {
  return jsonAnswer(status, shape === "detail" ? { detail: message } : { error: message }, headers);
}

/** Which shape each module's error handler answers in: read from the route table by the OpenAPI description (modules/openapi). */
const handlerShapes = new WeakMap<object, ErrorShape>();

/** The error shape of a route, from the error handlers in its hooks (its module's first); null when none of them is answerErrors'. */
export function errorShapeOf(handlers: readonly unknown[]): ErrorShape | null {
  for (const handler of handlers) {
    const fn = typeof handler === "function" ? handler : (handler as { fn?: unknown } | null)?.fn;
    const shape = fn && typeof fn === "function" ? handlerShapes.get(fn) : undefined;
    if (shape) return shape;
  }
  return null;
}

/** The `onError` handler of a module whose routes answer in `shape`. */
export function answerErrors(shape: ErrorShape, logger: Logger) {
  const handler = ({ code, error, request }: { code: unknown; error: unknown; request: Request }): Response => {
    // A refusal thrown by a body parser arrives wrapped in Elysia's ParseError.
    const refusal = error instanceof Refusal ? error : (error as { cause?: unknown })?.cause;
    if (refusal instanceof Refusal) return errorAnswer(shape, refusal.status, refusal.message, refusal.headers);
    switch (code) {
      case "NOT_FOUND":
        return errorAnswer(shape, 404, "Not found");
      case "PARSE":
        return errorAnswer(shape, 400, "The request body could not be parsed");
      case "VALIDATION":
        return errorAnswer(shape, 400, validationMessage(error));
    }
    logger.error("http.internal_error", { method: request.method, path: new URL(request.url).pathname, error: (error as Error)?.message });
    return errorAnswer(shape, 500, "Internal server error");
  };
  handlerShapes.set(handler, shape);
  return handler;
}

function validationMessage(error: unknown): string {
  // A schema's own `error` text (e.g. on a union, whose generated summary says little) is the clearest.
  const custom = (error as { customError?: unknown }).customError;
  if (typeof custom === "string") return `Invalid request: ${custom}`;
  const all = (error as { all?: { path?: string; summary?: string; message?: string }[] }).all;
  const first = all?.[0];
  if (!first) return "Invalid request";
  const field = first.path ? first.path.replace(/^\//, "").replace(/\//g, ".") : "";
  const detail = first.summary ?? first.message ?? "is invalid";
  return field ? `Invalid request: ${field}: ${detail}` : `Invalid request: ${detail}`;
}

/** No route needs more: a sign-in form or a token's note is a few hundred bytes. Larger bodies are refused unread. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The body as text, refused with 413 beyond MAX_BODY_BYTES: by its declared
 * length before reading it, and, for a body sent in chunks without one, as
 * soon as what has arrived passes the limit (never buffered whole first).
 */
async function boundedText(request: Request): Promise<string> {
  const tooLarge = () => new Refusal(413, `The request body is larger than ${MAX_BODY_BYTES} bytes`);
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

const mediaType = (contentType: string | null | undefined) => (contentType ?? "").split(";")[0].trim().toLowerCase();

function parseObject(text: string): Record<string, unknown> {
  let value: unknown;
  let prototypeKey = false;
  try {
    // JSON.parse makes "__proto__" an own key, but any later copy by assignment would turn it into
    // the object's prototype: {"scopes": {"__proto__": ["read"]}} became a token scoped to nothing.
    value = JSON.parse(text, (key, item) => {
      if (key === "__proto__") prototypeKey = true;
      return item;
    });
  } catch {
    throw new Refusal(400, "The request body is not valid JSON");
  }
  if (prototypeKey) throw new Refusal(400, 'The request body may not use "__proto__" as a key');
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Refusal(400, "The request body must be a JSON object");
  return value as Record<string, unknown>;
}

/**
 * The `parse` hook of a JSON route: the body must be a JSON object sent as
 * `application/json`; an empty body means "all defaults". Only that media
 * type: a browser sends a cross-site form or `text/plain` without asking
 * the server first (no CORS preflight), so accepting them would let another
 * site's page make a signed-in browser act here.
 */
export async function parseJsonObject({ request, contentType }: { request: Request; contentType: string }): Promise<Record<string, unknown>> {
  const text = await boundedText(request);
  if (text.trim() === "") return {};
  if (mediaType(contentType) !== "application/json") throw new Refusal(415, "Send the request body as application/json");
  return parseObject(text);
}

/** The `parse` hook of a route that needs the body exactly as sent (a signed one), bounded like the others. */
export async function parseRawText({ request }: { request: Request }): Promise<string> {
  return boundedText(request);
}

/**
 * The `parse` hook of a login route (OAuth2's password grant): a form, as
 * RFC 6749 §4.3 and Tiled's clients send it, or a JSON object. These routes
 * act for nobody yet (the credential is in the body), so a cross-site form
 * can only log the attacker in as themselves.
 */
export async function parseFormOrJsonObject({ request, contentType }: { request: Request; contentType: string }): Promise<Record<string, unknown>> {
  const text = await boundedText(request);
  if (text.trim() === "") return {};
  const type = mediaType(contentType);
  if (type === "application/json") return parseObject(text);
  if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(text));
  throw new Refusal(415, "Send the request body as application/x-www-form-urlencoded or application/json");
}
