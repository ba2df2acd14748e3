// Every augmenter type Gatehouse knows, by its config `type`.
import type { AugmenterType } from "./augmenter.ts";
import { plainAugmenter } from "./plain.ts";
import { plainAdvancedAugmenter } from "./plain-advanced.ts";

export const augmenterTypes: AugmenterType<any>[] = [plainAugmenter, plainAdvancedAugmenter];

export const plannedAugmenterTypes = ["ldap"];

export function findAugmenterType(type: string): AugmenterType<any> | undefined {
  return augmenterTypes.find((candidate) => candidate.type === type);
}
