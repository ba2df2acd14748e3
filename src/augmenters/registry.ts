// Every augmenter type Gatehouse knows, by its config `type`.
import type { Augmenter, AugmenterType } from "./augmenter.ts";
import type { Logger } from "../log.ts";
import { plainAugmenter } from "./plain.ts";
import { plainAdvancedAugmenter } from "./plain-advanced.ts";
import { ldapAugmenter } from "./ldap.ts";

export const augmenterTypes: AugmenterType<any>[] = [plainAugmenter, plainAdvancedAugmenter, ldapAugmenter];

export const plannedAugmenterTypes: string[] = [];

export function findAugmenterType(type: string): AugmenterType<any> | undefined {
  return augmenterTypes.find((candidate) => candidate.type === type);
}

/** The configured augmenters, in config order (the config loader has checked every entry against its type's schema). */
export function createAugmenters(entries: readonly ({ type: string } & Record<string, unknown>)[], logger: Logger): Augmenter[] {
  return entries.map((entry) => findAugmenterType(entry.type)!.create(entry, { logger }));
}
