// What each feature is given: its plain settings, built here from the whole
// config at start-up. config/ sits above the features (scripts/layers.ts):
// it may import their types, constants and checks, and no feature imports
// the config. Sections a feature can take as they are (store, tls, access)
// are passed directly; the config's type satisfies the feature's own. The
// single sign-on policy is built in sso.ts, next to its checks.
import type { GatehouseConfig } from "./schema.ts";
import type { ConfiguredKeys } from "../keys/configured.ts";
import type { KeySettings, MasterKeySettings, SigningAlgorithm } from "../keys/open.ts";
import type { Provider } from "../providers/provider.ts";
import type { RegulationSettings } from "../regulation/index.ts";
import type { SessionPolicy } from "../sessions/service.ts";
import type { PurgePolicy } from "../store/purge.ts";
import { recheckableRealms, type TokenPolicy } from "../tokens/service.ts";

export function tokenPolicy(config: GatehouseConfig, providers: readonly Pick<Provider, "realm" | "describeUser">[] | null = null): TokenPolicy {
  return {
    prefix: config.tokens.prefix,
    defaultExpiresIn: config.tokens.default_expires_in,
    maxExpiresIn: config.tokens.max_expires_in,
    allowNonExpiring: config.tokens.allow_non_expiring,
    services: config.services,
    recheckableRealms: providers ? recheckableRealms(providers) : "all",
    unverifiableMaxAge: config.authentication.unverifiable_max_age,
    maxRotationGrace: config.tokens.max_rotation_grace,
    remindBefore: config.tokens.remind_before,
    expireUnusedAfter: config.tokens.expire_unused_after,
  };
}

export function sessionPolicy(config: GatehouseConfig): SessionPolicy {
  const { authentication } = config;
  return {
    accessTokenMaxAge: authentication.access_token_max_age,
    refreshTokenMaxAge: authentication.refresh_token_max_age,
    sessionMaxAge: authentication.session_max_age,
    unverifiableMaxAge: authentication.unverifiable_max_age,
    maxSessionsPerUser: authentication.max_sessions_per_user,
  };
}

export function purgePolicy(config: GatehouseConfig): PurgePolicy {
  return {
    intervalSeconds: config.purge.interval,
    sessionsAfterSeconds: config.purge.sessions_after,
    tokensAfterSeconds: config.purge.tokens_after,
  };
}

export function regulationSettings(config: GatehouseConfig): RegulationSettings {
  const settings = config.regulation;
  return {
    policy: {
      maxRetries: settings.max_retries,
      addressMaxRetries: settings.address_max_retries,
      findTimeMs: settings.find_time * 1000,
      banTimeMs: settings.ban_time * 1000,
    },
    trustedProxies: settings.trusted_proxies,
  };
}

/** The shared HS256 secrets, signing one first: jwt.secret, then jwt.secrets (Tiled's list). */
export function sharedSecrets(config: GatehouseConfig): string[] {
  return [...new Set([config.jwt.secret, ...(config.jwt.secrets ?? [])].filter((secret): secret is string => !!secret))];
}

/** RS256 with the config's key (auth-o-tron 0.4.0), else the configured algorithm, else HS256 when a secret is given, else managed ES256 keys. */
export function signingAlgorithm(config: GatehouseConfig): SigningAlgorithm {
  if (config.jwt.private_key !== undefined) return "RS256";
  return config.jwt.alg ?? (config.jwt.secret || config.jwt.secrets?.length ? "HS256" : "ES256");
}

/** auth-o-tron 0.4.0's signing key from the config, or null. A PEM given on one line with `\n` escapes is accepted too. */
export function configuredKeys(config: GatehouseConfig): ConfiguredKeys | null {
  if (config.jwt.private_key === undefined) return null;
  const pem = (text: string) => (text.includes("\n") ? text : text.replace(/\\n/g, "\n"));
  return {
    kid: config.jwt.kid ?? "",
    privateKeyPem: pem(config.jwt.private_key),
    additionalPublicKeys: config.jwt.additional_public_keys.map((entry) => ({ kid: entry.kid, publicKeyPem: pem(entry.public_key) })),
  };
}

/** The longest lifetime of a token Gatehouse signs (a backend's JWT, a session's access token): a previous key must outlive it. */
function longestTokenLifetime(config: GatehouseConfig): number {
  return Math.max(config.jwt.exp, config.authentication.access_token_max_age);
}

/** What the master key seals for identity providers that keep a refresh token (recheck_on_refresh), in serve's log and refusals. */
export const REFRESH_TOKENS_PURPOSE = "identity providers' refresh tokens (recheck_on_refresh)";

/** Whether an identity provider (oidc) keeps its refresh token, sealed with the master key (recheck_on_refresh). */
export function sealsRefreshTokens(config: GatehouseConfig): boolean {
  return config.providers.some((entry) => entry.type === "oidc" && (entry as { recheck_on_refresh?: boolean }).recheck_on_refresh);
}

export function masterKeySettings(config: GatehouseConfig): MasterKeySettings {
  return { storeType: config.store.type, storePath: config.store.path, file: config.keys.master_key_file };
}

export function keySettings(config: GatehouseConfig): KeySettings {
  return {
    configured: configuredKeys(config),
    alg: signingAlgorithm(config),
    sharedSecrets: sharedSecrets(config),
    managed: {
      publishAheadSeconds: config.keys.publish_ahead,
      keepPreviousSeconds: longestTokenLifetime(config) + config.keys.retire_margin,
      rotateEverySeconds: config.keys.rotate_every,
      pollSeconds: config.keys.poll_interval,
    },
    master: masterKeySettings(config),
  };
}
