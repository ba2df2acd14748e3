// Small, audited helpers for comparing and hashing secrets.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Constant-time equality of two strings of any length: both are hashed first
 * so timingSafeEqual gets equal-length inputs and the comparison time does not
 * depend on where the strings differ or on their lengths.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** Constant-time check of a presented secret against the SHA-256 digest of the expected one (computed once, ahead). */
export function matchesDigest(presented: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(sha256(presented), expectedDigest);
}

export function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/**
 * A keyed hash (HMAC-SHA256) for in-memory cache keys derived from
 * credentials. The key is random per process, so a memory dump or a log of
 * cache keys cannot be used to test password guesses offline.
 */
export function createCacheKeyHasher(): (...parts: string[]) => string {
  // Keyed once; each call copies the keyed state (≈0.4 µs against ≈1 µs for a fresh createHmac).
  const keyed = new Bun.CryptoHasher("sha256", randomBytes(32));
  return (...parts) => {
    const hmac = keyed.copy();
    for (const part of parts) hmac.update(part).update("\u0000");
    return hmac.digest("base64");
  };
}
