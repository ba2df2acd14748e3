// Small, audited helpers for comparing and hashing secrets.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

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
 * A keyed hash for in-memory cache keys derived from credentials. The key is
 * random per process, so a memory dump or a log of cache keys cannot be used
 * to test password guesses offline.
 */
export function createCacheKeyHasher(): (...parts: string[]) => string {
  const key = randomBytes(32);
  return (...parts) => {
    const hmac = createHmac("sha256", key);
    for (const part of parts) hmac.update(part, "utf8").update("\u0000");
    return hmac.digest("base64url");
  };
}
