// What each feature is given: its plain settings, built here from the whole
// config at start-up. config/ sits above the features (scripts/layers.ts):
// it may import their types, constants and checks, and no feature imports
// the config. Sections a feature can take as they are (store, tls, access)
// are passed directly; the config's type satisfies the feature's own. The
// single sign-on policy is built in sso.ts, next to its checks.
import type { GatehouseConfig } from "./schema.ts";
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
