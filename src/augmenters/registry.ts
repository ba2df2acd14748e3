// Every augmenter type Gatehouse knows, by its config `type`.
import type { AugmenterType } from "./augmenter.ts";
import { plainAugmenter } from "./plain.ts";
import { plainAdvancedAugmenter } from "./plain-advanced.ts";
import { ldapAugmenter } from "./ldap.ts";

export const augmenterTypes: AugmenterType<any>[] = [plainAugmenter, plainAdvancedAugmenter, ldapAugmenter];

export const plannedAugmenterTypes: string[] = [];

export function findAugmenterType(type: string): AugmenterType<any> | undefined {
  return augmenterTypes.find((candidate) => candidate.type === type);
}
