// Password hashing for config users and the development admin: argon2id with
// OWASP's recommended parameters (m=19 MiB, t=2, p=1), ≈30 ms on our machines.
import argon2 from "argon2";

export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}
