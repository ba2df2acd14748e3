// Every provider type Gatehouse knows, by its config `type`.
import type { ProviderType } from "./provider.ts";
import { plainProvider } from "./plain.ts";
import { ecmwfApiProvider } from "./ecmwf-api.ts";

export const providerTypes: ProviderType<any>[] = [plainProvider, ecmwfApiProvider];

/** Types auth-o-tron has that Gatehouse does not offer yet: a clear error instead of a crash. */
export const plannedProviderTypes = ["jwt", "efas-api", "openid-offline", "ldap", "trusted-header", "ecmwf-token-generator"];

export function findProviderType(type: string): ProviderType<any> | undefined {
  return providerTypes.find((candidate) => candidate.type === type);
}
