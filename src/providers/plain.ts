// `plain`: users listed in the config. Passwords may be written in clear, as
// auth-o-tron does, or as argon2id hashes (`gatehouse hash-password`).
import { Type } from "@sinclair/typebox";
import argon2 from "argon2";
import { createUser } from "../identity/user.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { randomBytes } from "node:crypto";
import { createCacheKeyHasher, matchesDigest, sha256 } from "../identity/secrets.ts";
import { andThen, type MaybePromise } from "../identity/maybe-promise.ts";
import { STABLE_VERDICTS, providerSchema, type ProviderType } from "./provider.ts";

const schema = providerSchema("plain", "Users listed in the configuration (HTTP Basic)", {
  users: Type.Array(
    Type.Object(
      {
        username: Type.String({ minLength: 1 }),
        password: Type.Optional(
          Type.String({
            description: "The password in clear (auth-o-tron compatible) or an argon2id hash ($argon2id$…)",
          }),
        ),
        password_hash: Type.Optional(
          Type.String({ pattern: "^\\$argon2", description: "An argon2id hash in PHC format (auth-o-tron's newer field)" }),
        ),
        roles: Type.Optional(Type.Array(Type.String())),
        attributes: Type.Optional(Type.Record(Type.String(), Type.String())),
      },
      { additionalProperties: true },
    ),
    { default: [] },
  ),
  verified_cache_seconds: Type.Integer({
    minimum: 0,
    default: 60,
    description: "How long a successful argon2 verification is remembered (keyed hash of the credential); 0 disables",
  }),
});

export const isPasswordHash = (password: string) => password.startsWith("$argon2");

export const plainProvider: ProviderType<typeof schema> = {
  type: "plain",
  schema,
  check: (config) =>
    config.users.flatMap((entry, index) =>
      entry.password === undefined && entry.password_hash === undefined
        ? [`users[${index}].password: is required (or password_hash)`]
        : entry.password !== undefined && entry.password_hash !== undefined
          ? [`users[${index}]: give password or password_hash, not both`]
          : [],
    ),
  create(config) {
    // auth-o-tron's `password_hash` is a hash in its own field; both end up as `password`.
    const entries = config.users.map((entry) => ({ ...entry, password: entry.password_hash ?? entry.password ?? "" }));
    const users = new Map(entries.map((entry) => [entry.username, entry]));
    // Digests of clear-text passwords, computed once: a check hashes only what was presented.
    const clearDigests = new Map(
      entries.filter((entry) => !isPasswordHash(entry.password)).map((entry) => [entry.username, sha256(entry.password)]),
    );
    const unknownUserDigest = sha256(randomBytes(32).toString("hex"));
    const verified = new TtlCache<true>(config.verified_cache_seconds * 1000);
    const cacheKey = createCacheKeyHasher();

    function passwordMatches(stored: string, presented: string, username: string): MaybePromise<boolean> {
      if (!isPasswordHash(stored)) return matchesDigest(presented, clearDigests.get(username)!);
      // argon2 costs tens of milliseconds; remember successes briefly under a
      // keyed hash so repeated Basic requests stay fast. Failures are not
      // cached: a later correct password must not be refused.
      const key = cacheKey(username, presented);
      if (verified.get(key)) return true;
      return argon2.verify(stored, presented).then(
        (matches) => {
          if (matches) verified.set(key, true);
          return matches;
        },
        () => false, // a malformed hash in the config refuses, it does not crash
      );
    }

    const toUser = (entry: (typeof entries)[number]) =>
      createUser({ username: entry.username, realm: config.realm, roles: entry.roles, attributes: entry.attributes });

    return {
      name: config.name,
      type: "plain",
      realm: config.realm,
      scheme: "basic",
      remote: false,
      reuse: STABLE_VERDICTS,
      authenticate(credential) {
        if (credential.scheme !== "basic") return null;
        const entry = users.get(credential.username);
        if (!entry) {
          // Spend the same comparison an existing user would, so the answer
          // time does not reveal which usernames exist.
          matchesDigest(credential.password, unknownUserDigest);
          return null;
        }
        return andThen(passwordMatches(entry.password, credential.password, entry.username), (matches) =>
          matches ? toUser(entry) : null,
        );
      },
      describeUser(username) {
        const entry = users.get(username);
        return entry ? toUser(entry) : null;
      },
    };
  },
};
