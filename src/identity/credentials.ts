// Parsing of the Authorization header into credentials.
//
// Several credentials may be sent at once, separated by commas
// (`Basic …, Bearer …`), with auth-o-tron 0.4.0's rules: at most three parts,
// each `<scheme> <value>`; a scheme named twice (Plain counts as Basic) or an
// empty part refuses the whole header; a part whose scheme no provider knows
// (`Negotiate …`) is skipped. Any malformed Basic or Bearer part refuses the
// whole header too, so odd input never reaches a provider and never causes a 5xx.

import { usernameProblem } from "./username.ts";

export type Credential =
  | { scheme: "basic"; username: string; password: string }
  /**
   * `apikey`: sent as `Authorization: Apikey <secret>`, as Tiled clients do.
   * Such a credential is offered only to Gatehouse's own token provider,
   * never to a remote one (see identity/pipeline.ts).
   */
  | { scheme: "bearer"; token: string; apikey?: true }
  /**
   * No Authorization credential at all: the identity is in other headers a
   * trusted front proxy set (providers/trusted-header.ts). Never parsed from
   * Authorization; the pipeline offers it to a `header` provider that says
   * the request carries its headers (Provider.presentIn).
   */
  | { scheme: "header" };

export type CredentialScheme = Credential["scheme"];

/** The one credential of every `header` provider: they read the request's headers themselves. */
export const HEADER_CREDENTIAL: Credential = Object.freeze({ scheme: "header" });

export type ParseResult = { ok: true; credentials: Credential[] } | { ok: false; reason: string };

export const MAX_CREDENTIALS = 3;
/** Longer headers are refused before any parsing work. */
export const MAX_AUTHORIZATION_LENGTH = 8192;

const SCHEMES: Record<string, CredentialScheme> = { basic: "basic", plain: "basic", bearer: "bearer", apikey: "bearer" };
// RFC 6750 b64token, which covers opaque tokens, API keys and JWTs.
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// C0 controls and DEL: they would allow header or log injection downstream.
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

function parseBasic(value: string): Credential | string {
  if (!BASE64.test(value)) return "basic credential is not valid base64";
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(value, "base64"));
  } catch {
    return "basic credential is not valid UTF-8";
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return "basic credential has no colon";
  return basicCredential(decoded.slice(0, colon), decoded.slice(colon + 1));
}

/** A username and password (from the header, or a login form), or why they are refused. */
export function basicCredential(username: string, password: string): Credential | string {
  if (username.length === 0) return "basic credential has an empty username";
  if (CONTROL_CHARACTERS.test(username) || CONTROL_CHARACTERS.test(password)) return "basic credential contains control characters";
  const problem = usernameProblem(username);
  if (problem) return `basic credential: ${problem}`;
  return { scheme: "basic", username, password };
}

/** A bearer token (from the header, or a login form), or why it is refused. */
export function bearerCredential(token: string, apikey = false): Credential | string {
  if (!BEARER_TOKEN.test(token)) return "bearer token has invalid characters";
  return apikey ? { scheme: "bearer", token, apikey } : { scheme: "bearer", token };
}

// RFC 9110 §11.1: an auth-scheme is a token.
const SCHEME_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function parseAuthorization(header: string | null | undefined): ParseResult {
  if (!header || header.trim() === "") return { ok: false, reason: "no credentials" };
  if (header.length > MAX_AUTHORIZATION_LENGTH) return { ok: false, reason: "authorization header too long" };
  const parts = header.split(",");
  // Every part counts, empty or skipped, as upstream counts them: the work per header stays bounded.
  if (parts.length > MAX_CREDENTIALS) return { ok: false, reason: "too many credentials" };
  const credentials: Credential[] = [];
  const seenSchemes = new Set<string>();
  for (const element of parts) {
    const part = element.trim();
    if (part === "") return { ok: false, reason: "empty credential" };
    const space = part.search(/\s/);
    if (space < 0) return { ok: false, reason: "credential without a scheme" };
    const name = part.slice(0, space).toLowerCase();
    const value = part.slice(space + 1).trim();
    if (!SCHEME_TOKEN.test(name) || value === "" || /\s/.test(value)) return { ok: false, reason: "malformed credential" };
    // Plain is Basic; Apikey is its own scheme (Tiled's), though it carries a bearer token.
    const schemeKey = name === "apikey" ? "apikey" : (SCHEMES[name] ?? name);
    if (seenSchemes.has(schemeKey)) return { ok: false, reason: "repeated authorization scheme" };
    seenSchemes.add(schemeKey);
    const scheme = SCHEMES[name];
    if (!scheme) {
      // Skipped, as upstream: no provider takes it. It must still be clean, as it may reach a log.
      if (CONTROL_CHARACTERS.test(value)) return { ok: false, reason: "credential contains control characters" };
      continue;
    }
    const parsed = scheme === "bearer" ? bearerCredential(value, name === "apikey") : parseBasic(value);
    if (typeof parsed === "string") return { ok: false, reason: parsed };
    credentials.push(parsed);
  }
  // Only unknown schemes: a well-formed header no provider can use (a 401 like any failed attempt).
  return { ok: true, credentials };
}

/** A compact JWS (header.payload.signature) whose header is base64url JSON. */
export function looksLikeJwt(token: string): boolean {
  return token.startsWith("eyJ") && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
