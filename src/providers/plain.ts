// `plain`: users listed in the config. Passwords may be written in clear, as
// auth-o-tron does, or as argon2id hashes (`gatehouse hash-password`).
import { Type } from "@sinclair/typebox";
import argon2 from "argon2";
import { createUser } from "../identity/user.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { constantTimeEqual, createCacheKeyHasher } from "../identity/secrets.ts";
import { providerSchema, type ProviderType } from "./provider.ts";

const schema = providerSchema("plain", "Users listed in the configuration (HTTP Basic)", {
  users: Type.Array(
    Type.Object(
      {
        username: Type.String({ minLength: 1 }),
        password: Type.String({
          description: "The password in clear (auth-o-tron compatible) or an argon2id hash ($argon2id$…)",
        }),
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
  create(config) {
    const users = new Map(config.users.map((entry) => [entry.username, entry]));
    const verified = new TtlCache<true>(config.verified_cache_seconds * 1000);
    const cacheKey = createCacheKeyHasher();

    async function passwordMatches(stored: string, presented: string, username: string): Promise<boolean> {
      if (!isPasswordHash(stored)) return constantTimeEqual(stored, presented);
      // argon2 costs tens of milliseconds; remember successes briefly under a
      // keyed hash so repeated Basic requests stay fast. Failures are not
      // cached: a later correct password must not be refused.
      const key = cacheKey(username, presented);
      if (verified.get(key)) return true;
      try {
        if (!(await argon2.verify(stored, presented))) return false;
      } catch {
        return false; // a malformed hash in the config refuses, it does not crash
      }
      verified.set(key, true);
      return true;
    }

    const toUser = (entry: (typeof config.users)[number]) =>
      createUser({ username: entry.username, realm: config.realm, roles: entry.roles, attributes: entry.attributes });

    return {
      name: config.name,
      type: "plain",
      realm: config.realm,
      scheme: "basic",
      remote: false,
      async authenticate(credential) {
        if (credential.scheme !== "basic") return null;
        const entry = users.get(credential.username);
        if (!entry) {
          // Spend the same comparison an existing user would, so the answer
          // time does not reveal which usernames exist.
          constantTimeEqual(credential.password, credential.username);
          return null;
        }
        if (!(await passwordMatches(entry.password, credential.password, entry.username))) return null;
        return toUser(entry);
      },
      async describeUser(username) {
        const entry = users.get(username);
        return entry ? toUser(entry) : null;
      },
    };
  },
};
