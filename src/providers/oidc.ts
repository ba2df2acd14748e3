// `oidc`: signing in with an organisation's identity provider (Keycloak,
// Entra ID, Google, ORCID…) through the browser: OpenID Connect's
// authorization code flow with PKCE, as Tiled's "external" providers and
// every single sign-on proxy do. A sign-in provider: it makes sessions (the
// portal, Tiled's routes, the device flow), and never answers /authenticate
// itself, so its `scheme` is "external" and no request credential reaches it.
//
// The protocol is oauth4webapi's (discovery, PKCE, the authorization response
// with RFC 9207's `iss`, the code grant, the ID token's claims: iss, aud, azp,
// exp, iat, nonce). On top of it, the ID token's signature is verified here
// against the provider's JWKS, with the algorithm pinned by the key and an
// allow-list (`id_token_algorithms`): OpenID Connect lets a client skip that
// for a token received over TLS from the token endpoint, but a misrouted or
// mixed-up token endpoint is exactly what a signature check catches.
//
// What the flow keeps between the redirect and the callback (state, nonce,
// the PKCE verifier) is sign-in/flows.ts's business: this file builds the
// request and checks the answer, given those values.
import { Type, type Static } from "@sinclair/typebox";
import * as oauth from "oauth4webapi";
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from "jose";
import type { User } from "../identity/user.ts";
import { createUser } from "../identity/user.ts";
import type { Logger } from "../log.ts";
import type { StoreBackend } from "../store/backend.ts";
import { andThen, type MaybePromise } from "../identity/maybe-promise.ts";
import { providerSchema, type Provider, type ProviderType, type Sealer } from "./provider.ts";
import { RemoteKeySet } from "./jwks.ts";
import { SECURE_URL, UpstreamError, callUpstream, describeNetworkFailure, isLoopbackHttp } from "./upstream.ts";

const schema = providerSchema("oidc", "Sign-in with an OpenID Connect identity provider, through the browser (portal, Tiled's external mode, device flow)", {
  display_name: Type.Optional(Type.String({ minLength: 1, maxLength: 80, description: "The sign-in button's label (default: name)" })),
  issuer: Type.String({ pattern: SECURE_URL, description: "The provider's issuer (https; http only to loopback); discovery at /.well-known/openid-configuration" }),
  client_id: Type.String({ minLength: 1, description: "Gatehouse's client at the provider" }),
  client_secret: Type.Optional(Type.String({ minLength: 1, description: "Its secret (or client_secret_file); without one, a public client with PKCE" })),
  client_authentication: Type.Union([Type.Literal("client_secret_basic"), Type.Literal("client_secret_post")], {
    default: "client_secret_basic",
    description: "How the client secret is sent to the token endpoint",
  }),
  scopes: Type.Array(Type.String({ minLength: 1, pattern: "^[!#-\\[\\]-~]+$" }), {
    default: ["openid", "profile", "email"],
    description: "Scopes asked for; must include openid",
  }),
  username_claim: Type.String({ minLength: 1, default: "preferred_username", description: "Claim holding the username (`sub` when the claim is absent)" }),
  roles_claim: Type.Optional(Type.String({ minLength: 1, description: "Claim holding roles or groups (a list or a space-separated string; a dotted path reaches into objects)" })),
  role_mapping: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1 }), { description: "Claim value → Gatehouse role; unmapped values are kept as they are" })),
  required_claims: Type.Optional(
    Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
      description: "Claims a person must carry (a list claim must contain the value); anyone else is refused with a page saying so",
    }),
  ),
  prompt: Type.Optional(Type.String({ minLength: 1, description: "OpenID Connect `prompt`, e.g. login (as Tiled sends)" })),
  authorization_endpoint: Type.Optional(Type.String({ pattern: SECURE_URL, description: "Without discovery (ORCID-style): the authorization endpoint" })),
  token_endpoint: Type.Optional(Type.String({ pattern: SECURE_URL, description: "Without discovery: the token endpoint" })),
  jwks_uri: Type.Optional(Type.String({ pattern: SECURE_URL, description: "Without discovery: the JWKS" })),
  userinfo_endpoint: Type.Optional(Type.String({ pattern: SECURE_URL, description: "Without discovery: the userinfo endpoint (asked when a claim is not in the ID token)" })),
  end_session_endpoint: Type.Optional(Type.String({ pattern: SECURE_URL, description: "Without discovery: the provider's logout" })),
  end_session: Type.Boolean({ default: false, description: "Sign-out also sends the browser to the provider's end_session_endpoint" }),
  id_token_algorithms: Type.Array(Type.String({ minLength: 1 }), {
    default: ["RS256", "PS256", "ES256", "EdDSA"],
    description: "Signature algorithms accepted for ID tokens (asymmetric only)",
  }),
  recheck_on_refresh: Type.Boolean({
    default: false,
    description:
      "Keep the provider's refresh token (sealed with the master key) and ask the provider again at each session refresh: a person disabled there loses the session, and what was made in it",
  }),
  redirect_on_success: Type.Optional(Type.String({ minLength: 1, description: "Tiled clients: where the browser goes after a sign-in, instead of the page showing the refresh token" })),
  discovery_cache_seconds: Type.Integer({ minimum: 1, default: 3600, description: "How long discovery metadata is used before it is fetched again" }),
});
export type OidcConfig = Static<typeof schema>;

const ASYMMETRIC_ALGORITHMS = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);
const EXPLICIT_ENDPOINTS = ["authorization_endpoint", "token_endpoint", "jwks_uri"] as const;

/** Who signed in, as the identity provider vouched for them. */
export interface ExternalIdentity {
  issuer: string;
  /** `sub`: the account's key, with the provider and issuer (never the e-mail). */
  subject: string;
  username: string;
  roles: string[];
  attributes: Record<string, string>;
  /** The provider's refresh token, kept (sealed) only with recheck_on_refresh. */
  refreshToken?: string;
}

/** What the flow holds for one sign-in, derived per flow (sign-in/flows.ts). */
export interface FlowSecrets {
  redirectUri: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/**
 * A sign-in refused, in words for the person at the browser (never a secret,
 * never a stack trace). `status`: 4xx for the person's side or the provider's
 * refusal, 502/504 for a provider that is down or slow.
 */
export class SignInRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** For the log line: a short machine-readable reason. */
    readonly reason: string,
  ) {
    super(message);
  }
}

export interface ExternalSignIn {
  readonly displayName: string;
  readonly redirectOnSuccess?: string;
  /** Where a sign-out may send the browser (end_session: true): the issuer's origin and the named end_session_endpoint's. */
  readonly logoutOrigins: readonly string[];
  /** The URL to send the browser to. */
  authorizationUrl(flow: FlowSecrets, signal: AbortSignal): Promise<URL>;
  /** Checks the provider's answer at the redirect URI and exchanges the code, once: the person, or a SignInRefusal. */
  complete(callback: URL, flow: FlowSecrets, signal: AbortSignal): Promise<ExternalIdentity>;
  /** Where to send the browser to end the provider's session too (end_session: true), or null. */
  endSessionUrl(postLogoutRedirectUri: string, signal: AbortSignal): Promise<URL | null>;
  /** recheck_on_refresh: the person as the provider describes them now, from a refresh token; null when it refuses it (invalid_grant). */
  refresh(refreshToken: string, subject: string, signal: AbortSignal): Promise<ExternalIdentity | null>;
}

export interface OidcProvider extends Provider {
  readonly signIn: ExternalSignIn;
}

/** The sign-in half of a provider that has one (an `oidc` provider). */
export function externalSignIn(provider: Provider): ExternalSignIn | undefined {
  return provider.scheme === "external" ? (provider as OidcProvider).signIn : undefined;
}

/** A claim by name, or a dotted path into objects (`realm_access.roles`). */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let value: unknown = claims;
  for (const part of path.split(".")) {
    if (!value || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Roles from the roles claim (a list, or a space-separated string), through role_mapping. */
export function rolesFrom(claims: Record<string, unknown>, config: Pick<OidcConfig, "roles_claim" | "role_mapping">): string[] {
  if (!config.roles_claim) return [];
  const value = claimAt(claims, config.roles_claim);
  const raw = Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : typeof value === "string" ? value.split(/\s+/) : [];
  const mapping = config.role_mapping ?? {};
  return [...new Set(raw.filter((role) => role !== "").map((role) => (Object.hasOwn(mapping, role) ? mapping[role] : role)))];
}

/** The required claim that this person does not carry, or null. */
export function missingRequiredClaim(claims: Record<string, unknown>, required: OidcConfig["required_claims"]): string | null {
  for (const [name, expected] of Object.entries(required ?? {})) {
    const value = claimAt(claims, name);
    const met = Array.isArray(value) ? value.includes(expected) : value === expected;
    if (!met) return name;
  }
  return null;
}

const ATTRIBUTE_CLAIMS = ["email", "name", "given_name", "family_name"] as const;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export const oidcProvider: ProviderType<typeof schema> = {
  type: "oidc",
  schema,
  check(config) {
    const problems: string[] = [];
    if (!config.scopes.includes("openid")) problems.push('scopes: must include "openid"');
    const given = EXPLICIT_ENDPOINTS.filter((key) => config[key] !== undefined);
    if (given.length > 0 && given.length < EXPLICIT_ENDPOINTS.length) {
      problems.push(`${EXPLICIT_ENDPOINTS.filter((key) => config[key] === undefined).join(", ")}: required with ${given.join(", ")} (a provider without discovery names all three)`);
    }
    const symmetric = config.id_token_algorithms.filter((alg) => !ASYMMETRIC_ALGORITHMS.has(alg));
    if (symmetric.length > 0) problems.push(`id_token_algorithms: ${symmetric.join(", ")} not accepted (asymmetric algorithms only: ${[...ASYMMETRIC_ALGORITHMS].join(", ")})`);
    return problems;
  },
  create(config, { logger, store, sealer }) {
    const signIn = createSignIn(config, logger);
    return {
      name: config.name,
      type: "oidc",
      realm: config.realm,
      scheme: "external",
      remote: false,
      signIn,
      // Never called for a request (no credential has the scheme "external"); a sign-in goes through `signIn`.
      authenticate: () => null,
      rememberedUser: store ? (username) => rememberedUser(store, config, username) : undefined,
      recheck: config.recheck_on_refresh && store && sealer ? (username, signal) => recheck(store, sealer, config, signIn, username, signal, logger) : undefined,
    } satisfies OidcProvider;
  },
};

/** The person as the provider described them at their last sign-in (external_accounts); at once on SQLite. */
function rememberedUser(store: StoreBackend, config: OidcConfig, username: string): MaybePromise<User | null> {
  return andThen(store.read.externalAccountOf(config.name, username, config.realm), (account) =>
    account ? createUser({ username, realm: config.realm, roles: account.roles, attributes: account.attributes }) : null,
  );
}

/** What a sealed refresh token is bound to: the account it belongs to. */
export const sealedTokenId = (provider: string, issuer: string, subject: string) => `oidc-refresh:${provider}:${issuer}:${subject}`;

/**
 * recheck_on_refresh: asks the provider about the person now, with the refresh
 * token kept at their sign-in, and records what it says (roles, attributes,
 * the refresh token it may have rotated). Null when the provider no longer
 * accepts the token (a person disabled or signed out there) or no longer meets
 * required_claims; throws when the provider cannot be reached (the session
 * refresh then answers 503 and the session stays).
 */
async function recheck(
  store: StoreBackend,
  sealer: Sealer,
  config: OidcConfig,
  signIn: ExternalSignIn,
  username: string,
  signal: AbortSignal,
  logger: Logger,
): Promise<User | null> {
  const account = await store.read.externalAccountOf(config.name, username, config.realm);
  if (!account) return null;
  const remembered = createUser({ username, realm: config.realm, roles: account.roles, attributes: account.attributes });
  // Signed in before recheck_on_refresh was set, or the provider gave no refresh token: nothing to ask with.
  if (!account.refreshTokenSealed) return remembered;
  const id = sealedTokenId(config.name, account.issuer, account.subject);
  let identity: ExternalIdentity | null;
  try {
    identity = await signIn.refresh(await sealer.unseal(account.refreshTokenSealed, id), account.subject, signal);
  } catch (error) {
    if (error instanceof SignInRefusal && error.status === 403) identity = null; // no longer meets required_claims
    else throw error;
  }
  if (!identity) {
    logger.info("providers.oidc.recheck_refused", { provider: config.name, username });
    return null;
  }
  const sealed = identity.refreshToken ? await sealer.seal(identity.refreshToken, id) : undefined;
  await store.transaction(async (q) =>
    q.updateExternalAccount({ provider: config.name, issuer: account.issuer, subject: account.subject }, identity.roles, identity.attributes, Date.now(), sealed),
  );
  return createUser({ username, realm: config.realm, roles: identity.roles, attributes: identity.attributes });
}

/** The provider's endpoints (discovered, or as configured), its keys, and the requests a sign-in makes to them. */
function oidcConnection(config: OidcConfig, logger: Logger) {
  const issuer = new URL(config.issuer);
  const insecure = isLoopbackHttp(config.issuer);
  const client: oauth.Client = { client_id: config.client_id };
  const clientAuth = !config.client_secret
    ? oauth.None()
    : config.client_authentication === "client_secret_post"
      ? oauth.ClientSecretPost(config.client_secret)
      : oauth.ClientSecretBasic(config.client_secret);
  const explicit: oauth.AuthorizationServer | null = config.authorization_endpoint
    ? {
        issuer: config.issuer,
        authorization_endpoint: config.authorization_endpoint,
        token_endpoint: config.token_endpoint,
        jwks_uri: config.jwks_uri,
        userinfo_endpoint: config.userinfo_endpoint,
        end_session_endpoint: config.end_session_endpoint,
      }
    : null;
  let discovered: { metadata: oauth.AuthorizationServer; at: number } | null = null;
  let keySet: RemoteKeySet | null = null;

  // oauth4webapi refuses plain http: allowed only towards this machine (tests, development).
  const requestOptions = (what: string, signal: AbortSignal) => ({
    signal,
    [oauth.allowInsecureRequests]: insecure,
    [oauth.customFetch]: (url: string, init: RequestInit) => callUpstream(`${config.name} ${what}`, url, { ...init, signal }),
  });

  async function metadata(signal: AbortSignal): Promise<oauth.AuthorizationServer> {
    if (explicit) return explicit;
    if (discovered && Date.now() - discovered.at < config.discovery_cache_seconds * 1000) return discovered.metadata;
    try {
      const response = await oauth.discoveryRequest(issuer, requestOptions("discovery", signal));
      const found = await oauth.processDiscoveryResponse(issuer, response);
      discovered = { metadata: found, at: Date.now() };
      return found;
    } catch (error) {
      // A stale copy beats no sign-in while the provider's discovery document is briefly unavailable.
      if (discovered) {
        logger.warn("providers.oidc.discovery_stale", { provider: config.name, error: reasonOf(error) });
        return discovered.metadata;
      }
      throw unreachable(config, "discovery", error);
    }
  }

  function keys(as: oauth.AuthorizationServer): RemoteKeySet {
    if (!as.jwks_uri) throw new SignInRefusal(502, `${displayName(config)} publishes no keys (jwks_uri): the sign-in cannot be checked`, "no_jwks_uri");
    if (!keySet) keySet = new RemoteKeySet(as.jwks_uri, 600_000, 5_000, logger, config.name);
    return keySet;
  }

  /** The ID token's signature, by a key of the provider's JWKS, with an allowed algorithm. */
  async function verifySignature(as: oauth.AuthorizationServer, idToken: string): Promise<void> {
    let header: { alg?: string; kid?: string };
    try {
      header = decodeProtectedHeader(idToken);
    } catch {
      throw new SignInRefusal(502, "The identity provider's answer could not be read", "id_token_malformed");
    }
    const { alg, kid } = header;
    if (!alg || !config.id_token_algorithms.includes(alg) || !ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw new SignInRefusal(502, "The identity provider signed the sign-in with an algorithm this server does not accept", "id_token_algorithm");
    }
    if (!kid) throw new SignInRefusal(502, "The identity provider's ID token names no key (kid)", "id_token_no_kid");
    let key: Awaited<ReturnType<RemoteKeySet["keyFor"]>>;
    try {
      key = await keys(as).keyFor(kid, alg);
    } catch (error) {
      throw unreachable(config, "JWKS", error);
    }
    if (!key) throw new SignInRefusal(502, "The identity provider's ID token is signed by a key it does not publish", "id_token_unknown_key");
    try {
      await jwtVerify(idToken, key, { algorithms: [alg] });
    } catch {
      throw new SignInRefusal(502, "The identity provider's ID token signature is not valid", "id_token_signature");
    }
  }

  async function userinfoClaims(as: oauth.AuthorizationServer, accessToken: string, subject: string, signal: AbortSignal): Promise<Record<string, unknown>> {
    if (!as.userinfo_endpoint) return {};
    try {
      const response = await oauth.userInfoRequest(as, client, accessToken, requestOptions("userinfo", signal));
      return (await oauth.processUserInfoResponse(as, client, subject, response)) as Record<string, unknown>;
    } catch (error) {
      logger.warn("providers.oidc.userinfo_failed", { provider: config.name, error: reasonOf(error) });
      return {};
    }
  }

  /** The claims, with what userinfo says of the same subject when they lack the username claim or the roles claim. */
  async function withUserinfo(as: oauth.AuthorizationServer, claims: Record<string, unknown>, accessToken: string, subject: string, signal: AbortSignal) {
    const needsUserinfo = claimAt(claims, config.username_claim) === undefined || (config.roles_claim && claimAt(claims, config.roles_claim) === undefined);
    if (needsUserinfo) {
      const extra = await userinfoClaims(as, accessToken, subject, signal);
      for (const [name, value] of Object.entries(extra)) if (!Object.hasOwn(claims, name)) claims[name] = value;
    }
    return claims;
  }

  return { issuer, client, clientAuth, requestOptions, metadata, verifySignature, withUserinfo };
}

/** Who the provider's claims name, as this server keeps them; refused when they do not meet the config (required_claims, the username's form). */
function identityFrom(config: OidcConfig, as: oauth.AuthorizationServer, claims: Record<string, unknown>): ExternalIdentity {
  const subject = claims.sub;
  if (typeof subject !== "string" || subject === "") throw new SignInRefusal(502, "The identity provider's answer names nobody (no sub)", "no_subject");
  const missing = missingRequiredClaim(claims, config.required_claims);
  if (missing !== null) {
    throw new SignInRefusal(403, `Your ${displayName(config)} account does not meet this server's requirements (${missing}). Ask your administrator.`, `required_claim:${missing}`);
  }
  const named = claimAt(claims, config.username_claim);
  const username = typeof named === "string" && named !== "" ? named : subject;
  if (CONTROL.test(username) || username.length > 256) {
    throw new SignInRefusal(403, `Your ${displayName(config)} username cannot be used here. Ask your administrator.`, "username_invalid");
  }
  const attributes: Record<string, string> = {};
  for (const name of ATTRIBUTE_CLAIMS) {
    const value = claims[name];
    if (typeof value === "string" && !CONTROL.test(value)) attributes[name] = value;
  }
  const roles = rolesFrom(claims, config).filter((role) => !CONTROL.test(role) && !role.includes(","));
  return { issuer: as.issuer, subject, username, roles, attributes };
}

function createSignIn(config: OidcConfig, logger: Logger): ExternalSignIn {
  const { issuer, client, clientAuth, requestOptions, metadata, verifySignature, withUserinfo } = oidcConnection(config, logger);

  return {
    displayName: displayName(config),
    redirectOnSuccess: config.redirect_on_success,
    logoutOrigins: config.end_session
      ? [...new Set([issuer.origin, ...(config.end_session_endpoint ? [new URL(config.end_session_endpoint).origin] : [])])]
      : [],

    async authorizationUrl(flow, signal) {
      const as = await metadata(signal);
      if (!as.authorization_endpoint) throw new SignInRefusal(502, `${displayName(config)} names no authorization endpoint`, "no_authorization_endpoint");
      const url = new URL(as.authorization_endpoint);
      const parameters: Record<string, string> = {
        client_id: config.client_id,
        response_type: "code",
        redirect_uri: flow.redirectUri,
        scope: config.scopes.join(" "),
        state: flow.state,
        nonce: flow.nonce,
        code_challenge: await oauth.calculatePKCECodeChallenge(flow.codeVerifier),
        code_challenge_method: "S256",
        ...(config.prompt ? { prompt: config.prompt } : {}),
      };
      for (const [name, value] of Object.entries(parameters)) url.searchParams.set(name, value);
      return url;
    },

    async complete(callback, flow, signal) {
      const as = await metadata(signal);
      let parameters: URLSearchParams;
      try {
        // The state, RFC 9207's iss (mix-up defence with several providers), and the provider's own error.
        parameters = oauth.validateAuthResponse(as, client, callback, flow.state);
      } catch (error) {
        if (error instanceof oauth.AuthorizationResponseError) {
          const denied = error.error === "access_denied";
          const words = denied ? "You did not allow the sign-in, or the identity provider refused it" : "The identity provider could not sign you in";
          throw new SignInRefusal(denied ? 403 : 400, `${words} (${error.error}${error.error_description ? `: ${error.error_description.slice(0, 200)}` : ""}).`, `provider_error:${error.error}`);
        }
        throw new SignInRefusal(400, "The identity provider's answer does not belong to this sign-in", `authorization_response:${reasonOf(error)}`);
      }
      let result: oauth.TokenEndpointResponse;
      try {
        const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, parameters, flow.redirectUri, flow.codeVerifier, requestOptions("token endpoint", signal));
        result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: flow.nonce, requireIdToken: true });
      } catch (error) {
        if (error instanceof oauth.ResponseBodyError) {
          // invalid_grant: a code used twice, expired, or for another client or redirect URI.
          throw new SignInRefusal(400, `The identity provider did not accept this sign-in (${error.error}); start again`, `token_error:${error.error}`);
        }
        if (error instanceof SignInRefusal) throw error;
        if (error instanceof oauth.OperationProcessingError) {
          throw new SignInRefusal(502, "The identity provider's answer did not pass this server's checks; start again, or ask your administrator", `id_token:${error.code}`);
        }
        throw unreachable(config, "token endpoint", error);
      }
      await verifySignature(as, result.id_token!);
      const claims = { ...(oauth.getValidatedIdTokenClaims(result) as Record<string, unknown>) };
      const identity = identityFrom(config, as, await withUserinfo(as, claims, result.access_token, claims.sub as string, signal));
      return config.recheck_on_refresh && result.refresh_token ? { ...identity, refreshToken: result.refresh_token } : identity;
    },

    async refresh(refreshToken, subject, signal) {
      const as = await metadata(signal);
      let result: oauth.TokenEndpointResponse;
      try {
        const response = await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, requestOptions("token endpoint", signal));
        result = await oauth.processRefreshTokenResponse(as, client, response);
      } catch (error) {
        if (error instanceof oauth.ResponseBodyError && (error.error === "invalid_grant" || error.error === "unauthorized_client")) return null;
        throw unreachable(config, "token endpoint", error);
      }
      // An ID token when the provider sends one (its signature too), else what userinfo says of the same subject.
      let claims: Record<string, unknown>;
      if (result.id_token) {
        await verifySignature(as, result.id_token);
        claims = { ...(oauth.getValidatedIdTokenClaims(result) as Record<string, unknown>) };
        if (claims.sub !== subject) return null;
      } else {
        claims = { sub: subject };
      }
      const identity = identityFrom(config, as, await withUserinfo(as, claims, result.access_token, subject, signal));
      return result.refresh_token ? { ...identity, refreshToken: result.refresh_token } : identity;
    },

    async endSessionUrl(postLogoutRedirectUri, signal) {
      if (!config.end_session) return null;
      const as = await metadata(signal).catch(() => null);
      if (!as?.end_session_endpoint) return null;
      const url = new URL(as.end_session_endpoint);
      url.searchParams.set("client_id", config.client_id);
      url.searchParams.set("post_logout_redirect_uri", postLogoutRedirectUri);
      return url;
    },
  };
}

const displayName = (config: Pick<OidcConfig, "display_name" | "name">) => config.display_name ?? config.name;

function reasonOf(error: unknown): string {
  if (error instanceof oauth.OperationProcessingError) return error.code ?? error.message;
  if (error instanceof UpstreamError) return error.message;
  return describeNetworkFailure(error);
}

/** The provider down, slow or answering nonsense: a 502 (504 for a time-out) that says so, never a 500. */
function unreachable(config: OidcConfig, what: string, error: unknown): SignInRefusal {
  if (error instanceof SignInRefusal) return error;
  const timedOut = (error as { name?: string })?.name === "TimeoutError" || (error as { name?: string })?.name === "AbortError";
  return new SignInRefusal(
    timedOut ? 504 : 502,
    `${displayName(config)} ${timedOut ? "did not answer in time" : "could not be reached"}; try again later`,
    `${what}:${reasonOf(error)}`,
  );
}

export type { JWTPayload };
