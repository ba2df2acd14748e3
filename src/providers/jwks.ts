// Validating an identity provider's access tokens against its JWKS: the one
// piece `jwt`, `openid-offline` and `ecmwf-token-generator` share.
//
// - The key set is fetched from `cert_uri` and kept `jwks_cache_seconds`
//   (600, as auth-o-tron). A token naming a `kid` the set lacks (a key the
//   provider has just rotated in) makes one refetch at once, but never more
//   than one every `jwks_refetch_seconds` (5): a flood of junk tokens with made-up
//   `kid`s costs the identity provider at most one request per few seconds.
//   Concurrent requests share one fetch.
// - When the identity provider is down, the keys already known keep
//   verifying, even past their cache time: an outage there does not log
//   anybody out here. A key is forgotten only when a fresh set lacks it.
// - The algorithm is pinned by the key: the key's `alg` when it names one,
//   else the family of its type and curve. A token cannot choose `none`, an
//   HMAC with a public key, or any algorithm the key was not made for.
//   Symmetric (`oct`) keys are never taken from a JWKS: a published secret
//   would let anybody sign tokens.
// - `exp` is required; `exp`/`nbf` get `leeway_seconds` of clock skew; the
//   issuer is checked (auth-o-tron does not): the configured `issuer`, else a
//   Keycloak issuer ending in `/realms/<iam_realm>`; `audience` when set.
import { Type, type Static } from "@sinclair/typebox";
import { decodeProtectedHeader, importJWK, jwtVerify, errors, type JWK, type JWTPayload } from "jose";
import { createUser, type User } from "../identity/user.ts";
import type { Logger } from "../log.ts";
import { SECURE_URL, UpstreamError, callUpstream, upstreamJson } from "./upstream.ts";

/** Fields every JWKS-validating provider adds to its config entry. */
export const accessTokenFields = {
  cert_uri: Type.String({ pattern: SECURE_URL, description: "URL of the identity provider's JWKS (https, or http to loopback)" }),
  issuer: Type.Optional(
    Type.String({ minLength: 1, description: "The exact `iss` tokens must carry; default: any issuer ending in /realms/<iam_realm> (Keycloak)" }),
  ),
  audience: Type.Optional(
    Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
      description: "When set, a token's `aud` must name (one of) these",
    }),
  ),
  role_claims: Type.Array(Type.String({ minLength: 1 }), {
    default: ["realm_access.roles", "resource_access.*.roles", "entitlements"],
    description: "Dotted paths of the claims holding roles (`*` matches any key), as auth-o-tron reads them by default",
  }),
  leeway_seconds: Type.Integer({ minimum: 0, maximum: 300, default: 30, description: "Clock skew allowed on exp and nbf" }),
  jwks_cache_seconds: Type.Integer({ minimum: 1, default: 600, description: "How long the JWKS is used before it is fetched again" }),
  jwks_refetch_seconds: Type.Integer({
    minimum: 1,
    default: 5,
    description: "A token with an unknown kid refetches the JWKS at once, but at most this often (junk tokens cannot hammer the identity provider)",
  }),
};
const accessTokenConfig = Type.Object(accessTokenFields);
export type AccessTokenConfig = Static<typeof accessTokenConfig>;

/** A JWKS fetch has its own limit: it is shared by every request waiting on it, whatever their own deadlines. */
const JWKS_FETCH_TIMEOUT_MS = 10_000;

const ALGORITHMS_BY_KEY: Record<string, string[]> = {
  RSA: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
  "EC/P-256": ["ES256"],
  "EC/P-384": ["ES384"],
  "EC/P-521": ["ES512"],
  "OKP/Ed25519": ["EdDSA", "Ed25519"],
};
const ASYMMETRIC = new Set(Object.values(ALGORITHMS_BY_KEY).flat());

/** The algorithms a key may verify: its own `alg` when it names one, else its type's family. */
function algorithmsFor(jwk: JWK): string[] {
  const family = ALGORITHMS_BY_KEY[jwk.kty === "RSA" ? "RSA" : `${jwk.kty}/${jwk.crv}`] ?? [];
  if (jwk.alg) return family.includes(jwk.alg) ? [jwk.alg] : [];
  return family;
}

export type Verdict = { ok: true; payload: JWTPayload } | { ok: false; reason: string };

/** The identity provider's keys, by `kid`, with the refetch rules above. */
export class RemoteKeySet {
  private keys = new Map<string, JWK>();
  private imported = new Map<string, Promise<CryptoKey | Uint8Array>>();
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | null = null;
  /** How many times the JWKS was asked for (tests read it). */
  fetches = 0;

  constructor(
    private readonly url: string,
    private readonly cacheMs: number,
    private readonly cooldownMs: number,
    private readonly logger: Logger,
    private readonly provider: string,
  ) {}

  /** The key for `kid`, refetching the set when it is stale or lacks it (within the cooldown); null when unknown. */
  async keyFor(kid: string, alg: string): Promise<CryptoKey | Uint8Array | null> {
    const now = Date.now();
    const known = this.keys.has(kid);
    const stale = now - this.fetchedAt >= this.cacheMs;
    const mayAsk = now - this.attemptedAt >= this.cooldownMs;
    if ((stale || !known) && mayAsk) {
      try {
        await this.refresh();
      } catch (error) {
        // Keys already known keep verifying during an outage; without one, the request fails as an upstream error.
        if (!this.keys.has(kid)) throw error;
        this.logger.warn("providers.jwks.stale", { provider: this.provider, error: (error as Error).message });
      }
    }
    const jwk = this.keys.get(kid);
    if (!jwk || !algorithmsFor(jwk).includes(alg)) return null;
    const cacheKey = `${kid}\u0000${alg}`;
    let key = this.imported.get(cacheKey);
    if (!key) {
      key = importJWK(jwk, alg) as Promise<CryptoKey | Uint8Array>;
      this.imported.set(cacheKey, key);
      key.catch(() => this.imported.delete(cacheKey));
    }
    return key;
  }

  private refresh(): Promise<void> {
    this.inFlight ??= this.fetchKeys().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async fetchKeys(): Promise<void> {
    this.attemptedAt = Date.now();
    this.fetches++;
    const response = await callUpstream("JWKS", this.url, {
      signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS),
      headers: { accept: "application/json, application/jwk-set+json" },
    });
    const body = (await upstreamJson("JWKS", response)) as { keys?: unknown };
    if (!body || !Array.isArray(body.keys)) throw new UpstreamError("JWKS: answer has no keys array");
    const keys = new Map<string, JWK>();
    for (const jwk of body.keys as JWK[]) {
      if (!jwk || typeof jwk.kid !== "string" || (jwk.use !== undefined && jwk.use !== "sig")) continue;
      if (algorithmsFor(jwk).length === 0) continue; // symmetric, or a type we do not verify with
      keys.set(jwk.kid, jwk);
    }
    // Keys whose content changed under the same kid are imported again.
    for (const cacheKey of this.imported.keys()) {
      const kid = cacheKey.split("\u0000")[0];
      if (JSON.stringify(keys.get(kid)) !== JSON.stringify(this.keys.get(kid))) this.imported.delete(cacheKey);
    }
    this.keys = keys;
    this.fetchedAt = Date.now();
    this.logger.debug("providers.jwks.fetched", { provider: this.provider, keys: keys.size });
  }
}

export interface AccessTokenValidator {
  readonly keySet: RemoteKeySet;
  /** Checks signature, expiry and issuer/audience. Throws only when the JWKS cannot be had. */
  validate(token: string): Promise<Verdict>;
  /** The user a validated token describes, as auth-o-tron's jwt provider builds it. */
  userFrom(payload: JWTPayload): User;
  /** validate() then userFrom(); a refusal is logged as `event` with its reason, and gives null. */
  userOf(token: string, event: string, level: "debug" | "warn"): Promise<{ user: User; payload: JWTPayload } | null>;
}

export function createAccessTokenValidator(
  config: AccessTokenConfig & { name: string; realm: string; iam_realm: string },
  logger: Logger,
): AccessTokenValidator {
  const keySet = new RemoteKeySet(config.cert_uri, config.jwks_cache_seconds * 1000, config.jwks_refetch_seconds * 1000, logger, config.name);
  const realmSuffix = `/realms/${config.iam_realm}`;
  if (!config.issuer && !config.cert_uri.includes(`${realmSuffix}/`)) {
    logger.warn("providers.jwks.issuer_guess", {
      provider: config.name,
      message: `tokens must have an issuer ending in ${realmSuffix}; set issuer: for an identity provider other than Keycloak`,
    });
  }
  const rolePaths = config.role_claims.map((path) => path.split("."));

  async function validate(token: string): Promise<Verdict> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return { ok: false, reason: "malformed" };
    }
    if (typeof header.alg !== "string" || !ASYMMETRIC.has(header.alg)) return { ok: false, reason: "algorithm not accepted" };
    if (typeof header.kid !== "string") return { ok: false, reason: "no kid" };
    const key = await keySet.keyFor(header.kid, header.alg);
    if (!key) return { ok: false, reason: "unknown key" };
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [header.alg],
        issuer: config.issuer,
        audience: config.audience,
        clockTolerance: config.leeway_seconds,
        requiredClaims: ["exp", "sub"],
      });
      if (!config.issuer && !(typeof payload.iss === "string" && payload.iss.endsWith(realmSuffix))) {
        return { ok: false, reason: "wrong issuer" };
      }
      return { ok: true, payload };
    } catch (error) {
      return { ok: false, reason: refusalReason(error) };
    }
  }

  function userFrom(payload: JWTPayload): User {
    const roles = rolePaths.flatMap((path) => stringsAt(payload, path));
    const { preferred_username, sub, scope } = payload as Record<string, unknown>;
    // auth-o-tron keeps every other claim as an attribute (non-strings as JSON);
    // `exp` among them caps the lifetime of the JWT Gatehouse issues.
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries(payload)) {
      if (CLAIMS_NOT_ATTRIBUTES.has(name) || value === undefined || value === null) continue;
      attributes[name] = typeof value === "string" ? value : JSON.stringify(value);
    }
    // auth-o-tron puts `scope` in the JWT's `scopes` under the provider's name;
    // there `scopes` limits API tokens to configured services, so it stays an attribute.
    if (typeof scope === "string") attributes.scope = scope;
    const username = typeof preferred_username === "string" && preferred_username !== "" ? preferred_username : String(sub);
    return createUser({ username, realm: config.realm, roles, attributes });
  }

  async function userOf(token: string, event: string, level: "debug" | "warn") {
    const verdict = await validate(token);
    if (verdict.ok) return { user: userFrom(verdict.payload), payload: verdict.payload };
    logger[level](event, { provider: config.name, realm: config.realm, reason: verdict.reason });
    return null;
  }

  return { keySet, validate, userFrom, userOf };
}

const CLAIMS_NOT_ATTRIBUTES = new Set(["sub", "scope", "realm_access", "resource_access", "entitlements"]);

/** The strings found at a dotted path (`*` is any key), flattening arrays at the end. */
function stringsAt(value: unknown, path: string[]): string[] {
  if (path.length === 0) {
    if (typeof value === "string") return [value];
    return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return [];
  const [head, ...rest] = path;
  const record = value as Record<string, unknown>;
  if (head === "*") return Object.values(record).flatMap((child) => stringsAt(child, rest));
  return Object.hasOwn(record, head) ? stringsAt(record[head], rest) : [];
}

function refusalReason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim} ${error.reason}`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  return "invalid";
}

/** How long a success from this token may be remembered: until the token expires. */
export function msUntilExpiry(payload: JWTPayload, now = Date.now()): number {
  return typeof payload.exp === "number" ? payload.exp * 1000 - now : 0;
}
