// A key set: the key that signs now, and every key that verifies.
//
// Compatible mode (auth-o-tron up to 0.3.7, Tiled): shared HS256 secrets, the
// first signs, all verify. Configured mode (auth-o-tron 0.4.0, ./configured.ts):
// an RSA key from the config signs RS256 under its `kid`, with extra public
// keys for staged rotation. Managed mode (./managed.ts): asymmetric keys in
// the store, each with a `kid`. Both key-pair modes publish a JWKS.
import { errors as joseErrors, jwtVerify, decodeProtectedHeader, type JWK, type JWTPayload } from "jose";
import type { Signer } from "./issuer.ts";

export interface VerificationKey {
  kid: string;
  alg: string;
  key: CryptoKey | Uint8Array;
}

export interface KeySet {
  readonly mode: "shared-secret" | "configured" | "managed";
  /** The key that signs now. */
  signer(): Signer;
  /** Keys that verify Gatehouse's own tokens: the secrets, or the next, current and previous keys. */
  verificationKeys(): readonly VerificationKey[];
  /** Public keys for /.well-known/jwks.json (empty for shared secrets, which are never published). */
  jwks(): { keys: JWK[] };
  close?(): void;
}

export async function sharedSecretKeySet(secrets: string[]): Promise<KeySet> {
  const keys: VerificationKey[] = await Promise.all(
    secrets.map(async (secret) => ({
      kid: "",
      alg: "HS256",
      key: await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
        "verify",
      ]),
    })),
  );
  const signer: Signer = { alg: "HS256", key: keys[0].key };
  return { mode: "shared-secret", signer: () => signer, verificationKeys: () => keys, jwks: () => ({ keys: [] }) };
}

export type VerifyFailure = "malformed" | "expired" | "invalid";
export type VerifyResult = { ok: true; payload: JWTPayload; kid: string } | { ok: false; reason: VerifyFailure };

/** Tokens longer than this are refused before any parsing (RFC 8725 §3.x: bound the work an attacker can cause). */
export const MAX_JWT_LENGTH = 8192;
const KID = /^[A-Za-z0-9_-]{1,128}$/;
/** An operator chooses configured kids (`key-2026-01`, maybe with dots or colons): any short string, matched exactly. */
const MAX_CONFIGURED_KID_LENGTH = 256;

/**
 * Verifies a JWT Gatehouse issued. RFC 8725: the algorithm is pinned to the
 * key (never taken from the token: no `none`, no HS256-with-a-public-key
 * confusion), the `kid` is only ever a lookup key in memory (never a path or
 * a query), issuer and audience are checked, and size is bounded.
 */
export async function verifyOwnJwt(
  token: string,
  keySet: KeySet,
  expected: { issuer: string; audience?: string; typ?: string },
): Promise<VerifyResult> {
  if (token.length > MAX_JWT_LENGTH) return { ok: false, reason: "malformed" };
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const keys = keySet.verificationKeys();
  let candidates: readonly VerificationKey[];
  if (keySet.mode !== "shared-secret") {
    // A token without a kid, or with one no key has, is refused (as auth-o-tron's client does).
    const kid = header.kid;
    const wellFormed = typeof kid === "string" && (keySet.mode === "managed" ? KID.test(kid) : kid.length > 0 && kid.length <= MAX_CONFIGURED_KID_LENGTH);
    if (!wellFormed) return { ok: false, reason: "invalid" };
    candidates = keys.filter((key) => key.kid === kid);
  } else {
    if (header.kid !== undefined) return { ok: false, reason: "invalid" };
    candidates = keys; // Tiled's rotation: every secret is tried
  }
  for (const candidate of candidates) {
    if (header.alg !== candidate.alg) continue;
    try {
      const { payload } = await jwtVerify(token, candidate.key, {
        algorithms: [candidate.alg],
        issuer: expected.issuer,
        audience: expected.audience,
        typ: expected.typ,
      });
      return { ok: true, payload, kid: candidate.kid };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired" };
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) continue;
      return { ok: false, reason: "invalid" };
    }
  }
  return { ok: false, reason: "invalid" };
}
