// Every provider type Gatehouse knows, by its config `type`.
import type { Provider, ProviderType, Sealer } from "./provider.ts";
import type { Logger } from "../log.ts";
import type { StoreBackend } from "../store/backend.ts";
import { plainProvider } from "./plain.ts";
import { ecmwfApiProvider } from "./ecmwf-api.ts";
import { efasApiProvider } from "./efas-api.ts";
import { jwtProvider } from "./jwt.ts";
import { openidOfflineProvider } from "./openid-offline.ts";
import { ecmwfTokenGeneratorProvider } from "./ecmwf-token-generator.ts";
import { ldapProvider } from "./ldap.ts";
import { trustedHeaderProvider } from "./trusted-header.ts";
import { oidcProvider } from "./oidc.ts";

export const providerTypes: ProviderType<any>[] = [
  plainProvider,
  ecmwfApiProvider,
  efasApiProvider,
  jwtProvider,
  openidOfflineProvider,
  ecmwfTokenGeneratorProvider,
  ldapProvider,
  trustedHeaderProvider,
  oidcProvider,
];

/** Types auth-o-tron has that Gatehouse does not offer yet: a clear error instead of a crash. */
export const plannedProviderTypes: string[] = [];

export function findProviderType(type: string): ProviderType<any> | undefined {
  return providerTypes.find((candidate) => candidate.type === type);
}

/** The configured providers, in config order (the config loader has checked every entry against its type's schema). */
export function createProviders(
  entries: readonly ({ type: string } & Record<string, unknown>)[],
  logger: Logger,
  store: StoreBackend | null = null,
  sealer: Sealer | null = null,
): Provider[] {
  return entries.map((entry) => findProviderType(entry.type)!.create(entry, { logger, store, sealer }));
}
