// `openid-offline`: OpenID Connect offline tokens (Keycloak's
// `offline_access` refresh tokens), as auth-o-tron's
// openid_offline_provider.rs handles them:
//   1. introspect the token at {iam_url}/realms/{iam_realm}/protocol/openid-connect/token/introspect,
//      authenticated as the private client; it must be active with the
//      `offline_access` scope (successes remembered 120 s);
//   2. exchange it with the refresh-token grant at …/protocol/openid-connect/token
//      for an access token (remembered 10 s);
//   3. validate that access token against the JWKS at `cert_uri` (jwks.ts).
// Both caches are keyed by the SHA-256 of the offline token, never the token,
// and keep only successes. The OAuth requests are made by oauth4webapi.
//
// Unlike auth-o-tron: the refresh-token grant is made as `public_client_id`
// alone (a public client refreshing its own token, which is how offline
// tokens are issued), not with the private client's secret in a header
// that contradicts the `client_id` in the body.
import { Type } from "@sinclair/typebox";
import * as oauth from "oauth4webapi";
import { sha256Hex } from "../identity/secrets.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { providerSchema, type ProviderType } from "./provider.ts";
import { accessTokenFields, createAccessTokenValidator } from "./jwks.ts";
import { SECURE_URL, UpstreamError, callUpstream, isLoopbackHttp } from "./upstream.ts";

const schema = providerSchema("openid-offline", "OpenID Connect offline tokens, introspected and exchanged for an access token (Bearer)", {
  ...accessTokenFields,
  public_client_id: Type.String({ minLength: 1, description: "The public client the offline tokens were issued to; it makes the refresh-token grant" }),
  private_client_id: Type.String({ minLength: 1, description: "The confidential client that introspects tokens" }),
  private_client_secret: Type.String({ minLength: 1, description: "Its secret (or private_client_secret_file)" }),
  iam_url: Type.String({ pattern: SECURE_URL, description: "Base URL of the identity provider (Keycloak), without /realms/…" }),
  iam_realm: Type.Optional(Type.String({ minLength: 1, description: "The identity provider's realm; default: realm, as auth-o-tron" })),
});

export const INTROSPECTION_CACHE_MS = 120_000;
export const EXCHANGE_CACHE_MS = 10_000;

export const openidOfflineProvider: ProviderType<typeof schema> = {
  type: "openid-offline",
  schema,
  create(config, { logger }) {
    const iamRealm = config.iam_realm ?? config.realm;
    const validator = createAccessTokenValidator({ ...config, iam_realm: iamRealm }, logger);
    const base = `${config.iam_url.replace(/\/+$/, "")}/realms/${encodeURIComponent(iamRealm)}`;
    const server: oauth.AuthorizationServer = {
      issuer: config.issuer ?? base,
      token_endpoint: `${base}/protocol/openid-connect/token`,
      introspection_endpoint: `${base}/protocol/openid-connect/token/introspect`,
    };
    const privateClient: oauth.Client = { client_id: config.private_client_id };
    const privateAuth = oauth.ClientSecretBasic(config.private_client_secret);
    const publicClient: oauth.Client = { client_id: config.public_client_id };
    const introspected = new TtlCache<true>(INTROSPECTION_CACHE_MS, 100_000);
    const exchanged = new TtlCache<string>(EXCHANGE_CACHE_MS, 100_000);

    // oauth4webapi refuses plain http unless told otherwise: allowed only towards this machine.
    const requestOptions = (what: string, signal: AbortSignal) => ({
      signal,
      [oauth.allowInsecureRequests]: isLoopbackHttp(config.iam_url),
      [oauth.customFetch]: (url: string, init: RequestInit) => callUpstream(what, url, { ...init, signal }),
    });

    async function isActiveOfflineToken(token: string, signal: AbortSignal): Promise<boolean> {
      const what = "introspection";
      const response = await oauth.introspectionRequest(server, privateClient, privateAuth, token, requestOptions(what, signal));
      const answer = await processed(what, () => oauth.processIntrospectionResponse(server, privateClient, response));
      if (!answer) return false;
      const scopes = typeof answer.scope === "string" ? answer.scope.split(" ") : [];
      return answer.active === true && scopes.includes("offline_access");
    }

    async function exchange(token: string, signal: AbortSignal): Promise<string | null> {
      const what = "token endpoint";
      const response = await oauth.refreshTokenGrantRequest(server, publicClient, oauth.None(), token, requestOptions(what, signal));
      const answer = await processed(what, () => oauth.processRefreshTokenResponse(server, publicClient, response));
      return answer?.access_token ?? null;
    }

    return {
      name: config.name,
      type: "openid-offline",
      realm: config.realm,
      scheme: "bearer",
      remote: true,
      takesJwts: true, // Keycloak's offline tokens are JWTs
      async authenticate(credential, signal) {
        if (credential.scheme !== "bearer") return null;
        const key = sha256Hex(credential.token);
        if (!introspected.get(key)) {
          if (!(await isActiveOfflineToken(credential.token, signal))) {
            logger.debug("providers.openid_offline.refused", { provider: config.name, realm: config.realm, reason: "not an active offline token" });
            return null;
          }
          introspected.set(key, true);
        }
        let accessToken = exchanged.get(key);
        if (!accessToken) {
          const fresh = await exchange(credential.token, signal);
          if (!fresh) return null;
          exchanged.set(key, fresh);
          accessToken = fresh;
        }
        // An access token the JWKS refuses is a misconfiguration (cert_uri, issuer), worth a warning.
        const verified = await validator.userOf(accessToken, "providers.openid_offline.access_token_refused", "warn");
        if (!verified) exchanged.delete(key);
        return verified?.user ?? null;
      },
    };
  },
};

/**
 * The processed answer; null when the server refused the token (an OAuth
 * error such as invalid_grant: a revoked or unknown token); an
 * UpstreamError for anything else.
 */
async function processed<T>(what: string, process: () => Promise<T>): Promise<T | null> {
  try {
    return await process();
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError && (error.error === "invalid_grant" || error.error === "invalid_token")) return null;
    if (error instanceof oauth.ResponseBodyError || error instanceof oauth.WWWAuthenticateChallengeError) {
      throw new UpstreamError(`${what}: HTTP ${error.status}${error instanceof oauth.ResponseBodyError ? ` ${error.error}` : ""}`);
    }
    if (error instanceof UpstreamError) throw error;
    throw new UpstreamError(`${what}: unexpected answer (${(error as { code?: string }).code ?? "invalid"})`);
  }
}
