// `plain`: users listed in the config (HTTP Basic). As auth-o-tron 0.4.0,
// each user has exactly one of `password_hash` (an argon2id PHC string, from
// `gatehouse hash-password`) or `password` (clear text, deprecated, kept for
// older configs; Gatehouse also accepts an argon2id hash there).
//
// Timing: a wrong username must cost what a wrong password costs, or the
// answer time tells which usernames exist. When the provider has hashed
// users, an unknown username (and a clear-text user, as upstream) runs one
// argon2id verification against a dummy hash with the same parameters as the
// configured hashes; a provider of clear-text users only compares SHA-256
// digests in constant time for everyone. Verifications are bounded process-wide
// (../identity/argon2-limit.ts).
import { Type } from "@sinclair/typebox";
import { randomBytes } from "node:crypto";
import { createUser } from "../identity/user.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { createCacheKeyHasher, matchesDigest, sha256 } from "../identity/secrets.ts";
import { andThen, type MaybePromise } from "../identity/maybe-promise.ts";
import { verifyArgon2 } from "../identity/argon2-limit.ts";
import { ARGON2_OPTIONS } from "../identity/passwords.ts";
import { STABLE_VERDICTS, providerSchema, type ProviderType } from "./provider.ts";

const schema = providerSchema("plain", "Users listed in the configuration (HTTP Basic)", {
  users: Type.Array(
    Type.Object(
      {
        username: Type.String({ minLength: 1, description: "The username, as given in HTTP Basic" }),
        password: Type.Optional(
          Type.String({
            description: "Deprecated (as in auth-o-tron 0.4.0): the password in clear; Gatehouse also takes an argon2id hash here. Use password_hash",
          }),
        ),
        password_hash: Type.Optional(
          Type.String({
            pattern: "^\\$argon2",
            description: "An argon2id hash in PHC format ($argon2id$v=19$m=…,t=…,p=…$salt$hash), e.g. from `gatehouse hash-password`",
          }),
        ),
        roles: Type.Optional(Type.Array(Type.String(), { description: "The user's roles" })),
        attributes: Type.Optional(Type.Record(Type.String(), Type.String(), { description: "The user's attributes (name → value), in the JWT's attributes claim" })),
      },
      { additionalProperties: true },
    ),
    { default: [], description: "The users, each with exactly one of password_hash or password" },
  ),
  verified_cache_seconds: Type.Integer({
    minimum: 0,
    default: 60,
    description: "How long a successful verification is remembered (keyed hash of the credential); 0 disables",
  }),
});

type UserEntry = { username: string; password?: string; password_hash?: string };

export const isPasswordHash = (password: string) => password.startsWith("$argon2");
/**
 * A whole PHC string (argon2's salt is at least 8 bytes, its hash at least 4, in unpadded base64): one that
 * is not, such as docs/configuring.md's "$argon2id$v=19$m=19456,p=1,t=2$…" copied as it stands, matches no password.
 */
const PHC_ARGON2 = /^\$argon2(id|i|d)\$v=\d+\$(?:[mtp]=\d+,){2}[mtp]=\d+\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{6,}$/;
const storedHash = (entry: UserEntry) =>
  entry.password_hash ?? (entry.password !== undefined && isPasswordHash(entry.password) ? entry.password : undefined);

/**
 * A PHC string with the cost parameters of `model` (else OWASP's, as upstream)
 * and random salt and digest: verifying against it costs what a real check
 * costs, and nothing can match it.
 */
export function dummyHashLike(model: string | undefined): string {
  const params = model?.match(/^\$argon2id\$v=19\$(m=\d+,t=\d+,p=\d+)\$/)?.[1];
  const { memoryCost, timeCost, parallelism } = ARGON2_OPTIONS;
  const b64 = (bytes: number) => randomBytes(bytes).toString("base64").replace(/=+$/, "");
  return `$argon2id$v=19$${params ?? `m=${memoryCost},t=${timeCost},p=${parallelism}`}$${b64(16)}$${b64(32)}`;
}

export const plainProvider: ProviderType<typeof schema> = {
  type: "plain",
  schema,
  check: (config) =>
    config.users.flatMap((entry, index) =>
      entry.password === undefined && entry.password_hash === undefined
        ? [`users[${index}].password: is required (or password_hash)`]
        : entry.password !== undefined && entry.password_hash !== undefined
          ? [`users[${index}]: give password or password_hash, not both`]
          : storedHash(entry) !== undefined && !PHC_ARGON2.test(storedHash(entry)!)
            ? [
                `users[${index}].${entry.password_hash !== undefined ? "password_hash" : "password"}: not a whole argon2 hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so no password matches it; make one with gatehouse hash-password`,
              ]
            : [],
    ),
  warnings(config) {
    const clearText = config.users.filter((entry) => entry.password !== undefined && !isPasswordHash(entry.password));
    if (clearText.length === 0) return [];
    const names = clearText.map((entry) => entry.username).join(", ");
    return [`users: password in clear text is deprecated (as in auth-o-tron 0.4.0) for ${names}; use password_hash (gatehouse hash-password)`];
  },
  create(config, { logger }) {
    const users = new Map(config.users.map((entry) => [entry.username, entry]));
    const hashes = new Map(config.users.flatMap((entry) => (storedHash(entry) ? [[entry.username, storedHash(entry)!]] : [])));
    // Digests of clear-text passwords, computed once: a check hashes only what was presented.
    const clearDigests = new Map(
      config.users.filter((entry) => !hashes.has(entry.username)).map((entry) => [entry.username, sha256(entry.password ?? "")]),
    );
    const clearText = [...clearDigests.keys()];
    if (clearText.length > 0) {
      logger.warn("providers.plain.password_deprecated", { provider: config.name, realm: config.realm, users: clearText.join(",") });
    }
    const dummyHash = hashes.size > 0 ? dummyHashLike(hashes.values().next().value) : null;
    const unknownUserDigest = sha256(randomBytes(32).toString("hex"));
    const verified = new TtlCache<true>(config.verified_cache_seconds * 1000);
    const cacheKey = createCacheKeyHasher();

    function check(username: string, presented: string, signal: AbortSignal): MaybePromise<boolean> {
      // argon2 costs tens of milliseconds; remember successes briefly under a
      // keyed hash so repeated Basic requests stay fast. Failures are not
      // cached: a later correct password must not be refused. Nor is a match
      // found after the request gave up (its signal aborted): an argon2 run
      // cannot be stopped, and remembering its answer let a flood of guesses
      // that all ran out of time (uncounted, unanswered) leave the right one
      // verified for the guesser's next try (issue 20, finding 1).
      const key = cacheKey(username, presented);
      if (verified.get(key)) return true;
      const remember = (matches: boolean) => {
        if (matches && !signal.aborted) verified.set(key, true);
        return matches;
      };
      const hash = hashes.get(username);
      if (hash) return verifyArgon2(hash, presented, signal).then(remember);
      const digest = clearDigests.get(username);
      const matches = matchesDigest(presented, digest ?? unknownUserDigest) && digest !== undefined;
      // Spend what a hashed user's check costs, so the time does not tell which usernames exist.
      if (dummyHash) return verifyArgon2(dummyHash, presented, signal).then(() => remember(matches));
      return remember(matches);
    }

    const toUser = (entry: (typeof config.users)[number]) =>
      createUser({ username: entry.username, realm: config.realm, roles: entry.roles, attributes: entry.attributes });

    return {
      name: config.name,
      type: "plain",
      realm: config.realm,
      scheme: "basic",
      remote: false,
      lastingRefusals: true,
      reuse: STABLE_VERDICTS,
      authenticate(credential, signal) {
        if (credential.scheme !== "basic") return null;
        const entry = users.get(credential.username);
        return andThen(check(credential.username, credential.password, signal), (matches) =>
          matches && entry ? toUser(entry) : null,
        );
      },
      describeUser(username) {
        const entry = users.get(username);
        return entry ? toUser(entry) : null;
      },
    };
  },
};
