// `jwt`: access tokens (JWTs) of an external identity provider such as
// Keycloak, checked against its JWKS (see jwks.ts for the rules). The token
// never leaves Gatehouse; only the JWKS is fetched, under the time limit of
// remote providers.
import { Type } from "@sinclair/typebox";
import { looksLikeJwt } from "../identity/credentials.ts";
import type { User } from "../identity/user.ts";
import { providerSchema, type ProviderType } from "./provider.ts";
import { accessTokenFields, createAccessTokenValidator, msUntilExpiry } from "./jwks.ts";

const schema = providerSchema("jwt", "JWTs of an external identity provider, checked against its JWKS (Bearer)", {
  iam_realm: Type.String({ minLength: 1, description: "The identity provider's realm: a Keycloak issuer ends in /realms/<iam_realm>" }),
  ...accessTokenFields,
});

export const jwtProvider: ProviderType<typeof schema> = {
  type: "jwt",
  schema,
  create(config, { logger }) {
    const validator = createAccessTokenValidator(config, logger);
    const expiries = new WeakMap<User, number>();
    return {
      name: config.name,
      type: "jwt",
      realm: config.realm,
      scheme: "bearer",
      remote: true,
      takesJwts: true,
      // An answer may be reused briefly, never past the token's own expiry.
      reuse: { stamp: () => 0, lease: (user) => ({ until: expiries.get(user) ?? 0 }) },
      async authenticate(credential) {
        if (credential.scheme !== "bearer" || !looksLikeJwt(credential.token)) return null;
        const verified = await validator.userOf(credential.token, "providers.jwt.refused", "debug");
        if (!verified) return null;
        expiries.set(verified.user, Date.now() + msUntilExpiry(verified.payload));
        return verified.user;
      },
    };
  },
};
