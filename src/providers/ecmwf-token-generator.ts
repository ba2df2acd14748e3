// `ecmwf-token-generator`: tokens of ECMWF's token generator (a wrapper
// around Keycloak offline tokens), as auth-o-tron's
// ecmwf_token_generator_provider.rs handles them:
//   1. POST {token_generator_url}/validate-token {token, client_id} → {active};
//   2. POST {token_generator_url}/admin/refresh-access-token
//      {client_id, client_secret, refresh_token} → {access_token};
//   3. validate that access token against the JWKS at `cert_uri` (jwks.ts).
// Steps 1 and 2 are remembered 240 s (the access tokens live 300 s), only
// when they succeed, under the SHA-256 of the token, in caches capped at
// 100,000 entries. The token travels in a JSON body, never in a URL.
import { Type } from "@sinclair/typebox";
import { sha256Hex } from "../identity/secrets.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { providerSchema, type ProviderType } from "./provider.ts";
import { accessTokenFields, createAccessTokenValidator } from "./jwks.ts";
import { SECURE_URL, UpstreamError, callUpstream, upstreamJson } from "./upstream.ts";

const schema = providerSchema("ecmwf-token-generator", "Tokens of ECMWF's token generator, exchanged for an access token (Bearer)", {
  ...accessTokenFields,
  client_id: Type.String({ minLength: 1, description: "OAuth client ID given to the token generator" }),
  client_secret: Type.String({ minLength: 1, description: "Its secret (or client_secret_file)" }),
  token_generator_url: Type.String({ pattern: SECURE_URL, description: "Base URL of the token generator" }),
  iam_realm: Type.Optional(Type.String({ minLength: 1, description: "The identity provider's realm; default: realm, as auth-o-tron" })),
});

export const TOKEN_GENERATOR_CACHE_MS = 240_000;

export const ecmwfTokenGeneratorProvider: ProviderType<typeof schema> = {
  type: "ecmwf-token-generator",
  schema,
  create(config, { logger }) {
    const validator = createAccessTokenValidator({ ...config, iam_realm: config.iam_realm ?? config.realm }, logger);
    const base = config.token_generator_url.replace(/\/+$/, "");
    const validated = new TtlCache<true>(TOKEN_GENERATOR_CACHE_MS, 100_000);
    const exchanged = new TtlCache<string>(TOKEN_GENERATOR_CACHE_MS, 100_000);

    const post = async (what: string, path: string, body: Record<string, string>, signal: AbortSignal) =>
      (await upstreamJson(
        what,
        await callUpstream(what, `${base}${path}`, {
          method: "POST",
          signal,
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify(body),
        }),
      )) as Record<string, unknown> | null;

    return {
      name: config.name,
      type: "ecmwf-token-generator",
      realm: config.realm,
      scheme: "bearer",
      remote: true,
      takesJwts: true, // the generator's tokens are Keycloak offline tokens, JWTs
      async authenticate(credential, signal) {
        if (credential.scheme !== "bearer") return null;
        const key = sha256Hex(credential.token);
        if (!validated.get(key)) {
          const answer = await post("validate-token", "/validate-token", { token: credential.token, client_id: config.client_id }, signal);
          if (answer?.active !== true) {
            logger.debug("providers.ecmwf_token_generator.refused", { provider: config.name, realm: config.realm, reason: "not active" });
            return null;
          }
          validated.set(key, true);
        }
        let accessToken = exchanged.get(key);
        if (!accessToken) {
          const answer = await post(
            "refresh-access-token",
            "/admin/refresh-access-token",
            { client_id: config.client_id, client_secret: config.client_secret, refresh_token: credential.token },
            signal,
          );
          if (typeof answer?.access_token !== "string") throw new UpstreamError("refresh-access-token: answer has no access_token");
          accessToken = answer.access_token;
          exchanged.set(key, accessToken);
        }
        // An access token the JWKS refuses is a misconfiguration (cert_uri, issuer), worth a warning.
        const verified = await validator.userOf(accessToken, "providers.ecmwf_token_generator.access_token_refused", "warn");
        if (!verified) exchanged.delete(key);
        return verified?.user ?? null;
      },
    };
  },
};
