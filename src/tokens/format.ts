// The opaque token format (API tokens and session refresh tokens), after GitHub's (`ghp_…`): a recognisable prefix, 30
// random base62 characters, and 6 base62 characters of the CRC32 of the
// random part. 62^30 ≈ 2^178, far beyond guessing. The prefix lets secret
// scanners and Gatehouse itself recognise a token; the checksum lets a
// made-up or mistyped token be refused without a database read, and lets a
// scanner tell a real token from a look-alike.
//
//   gth_ 4Hq0…(30)…Zk 1a2B3c   (prefix + 36 characters)
//
// Session refresh tokens (sessions/service.ts) use the same format and hash
// with their own fixed prefix, REFRESH_TOKEN_PREFIX: every function here
// takes the prefix it checks.
import { sha256Hex } from "../identity/secrets.ts";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const RANDOM_LENGTH = 30;
export const CHECKSUM_LENGTH = 6;
const BODY = /^[0-9A-Za-z]+$/;

/**
 * `length` characters drawn uniformly from base62 with the CSPRNG. A byte is
 * used only when it is below 248 = 4 × 62 (rejection sampling), so `byte % 62`
 * has no bias towards the first characters.
 */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
    for (const byte of bytes) {
      if (byte >= 248) continue;
      out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** CRC32 (IEEE) of the random part, as 6 base62 digits (62^6 > 2^32). */
function checksum(random: string): string {
  let value = Bun.hash.crc32(random);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export function generateOpaqueToken(prefix: string): string {
  const random = randomBase62(RANDOM_LENGTH);
  return prefix + random + checksum(random);
}

/**
 * True when the value has the prefix, the length, the alphabet and a correct
 * checksum of a Gatehouse token. Costs a CRC32 of 30 bytes: no database read.
 */
export function parseOpaqueToken(prefix: string, value: string): boolean {
  if (value.length !== prefix.length + RANDOM_LENGTH + CHECKSUM_LENGTH || !value.startsWith(prefix)) return false;
  const body = value.slice(prefix.length);
  if (!BODY.test(body)) return false;
  return checksum(body.slice(0, RANDOM_LENGTH)) === body.slice(RANDOM_LENGTH);
}

/**
 * What the store keeps instead of the secret. A plain, fast, unsalted SHA-256
 * is right here, unlike for passwords: the secret is ≈178 random bits, so no
 * dictionary or brute force can invert the hash, and a salt-free hash is what
 * lets a token be found with one indexed lookup. argon2 would only add tens of
 * milliseconds to every request and gain nothing.
 */
export function hashOpaqueToken(token: string): string {
  return sha256Hex(token);
}

/**
 * Prefix of session refresh tokens. Not GitHub's `ghr_`: a scanner would
 * report a leaked one as a GitHub token. config/load.ts refuses it as
 * `tokens.prefix`, so a refresh token is never mistaken for an API token.
 */
export const REFRESH_TOKEN_PREFIX = "gtr_";

/**
 * Prefix of the opaque handles browsers hold instead of a session's tokens
 * (the portal's cookie, sessions/service.ts). As random as a refresh token
 * and kept only as its SHA-256, but it never rotates and no route accepts it
 * but the portal's cookie: a backend that somehow received one could not
 * turn it into a token. Refused as `tokens.prefix` too.
 */
export const BROWSER_HANDLE_PREFIX = "gbs_";

/**
 * Tiled's `first_eight`: the first 8 random characters, after the prefix. It
 * names a key in lists without revealing it (22 random characters, ≈131 bits,
 * stay secret).
 */
export function firstEight(prefix: string, token: string): string {
  return token.slice(prefix.length, prefix.length + 8);
}

/** The token's public, non-secret identifier, shown in lists and used to revoke it. */
export function newTokenId(): string {
  return `tok_${randomBase62(12)}`;
}

/**
 * auth-o-tron 0.3.7's tokens, imported from its MongoDB store
 * (`gatehouse tokens import`): a random UUID v4 in lowercase, as its
 * `uuid::Uuid::new_v4().to_string()` writes it. They have no prefix and no
 * checksum, so this shape check (36 characters, version 4, RFC 4122 variant)
 * is what keeps malformed values from costing a database read.
 */
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export function isImportedToken(value: string): boolean {
  return value.length === 36 && UUID_V4.test(value);
}

/** A Gatehouse API token with a valid checksum, or an imported auth-o-tron token: worth looking up. */
export function mayBeApiToken(prefix: string, value: string): boolean {
  return parseOpaqueToken(prefix, value) || isImportedToken(value);
}
