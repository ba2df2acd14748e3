// Builds the key set the settings ask for: an RSA key from the config
// (jwt.private_key, as auth-o-tron 0.4.0), shared HS256 secrets, or managed
// key pairs in the store. Used by the server and by `gatehouse keys`; the
// settings are built from the config by config/policies.ts (keySettings).
import { randomBytes } from "node:crypto";
import type { StoreBackend } from "../store/backend.ts";
import type { Logger } from "../log.ts";
import { sharedSecretKeySet, type KeySet } from "./keyset.ts";
import { configuredKeySet, type ConfiguredKeys } from "./configured.ts";
import { ManagedKeySet, type ManagedAlg, type ManagedKeyOptions } from "./managed.ts";
import { defaultMasterKeyFile, loadMasterKey, type MasterKey } from "./master-key.ts";

export type SigningAlgorithm = "HS256" | ManagedAlg;

/** Where the master key comes from besides GATEHOUSE_MASTER_KEY (read when it is opened). */
export interface MasterKeySettings {
  storeType: "sqlite" | "postgres";
  /** The SQLite store's file (master.key goes next to it), or ":memory:". */
  storePath: string;
  /** keys.master_key_file. */
  file?: string;
}

export interface KeySettings {
  /** auth-o-tron 0.4.0's signing key from the config (jwt.private_key), or null. */
  configured: ConfiguredKeys | null;
  alg: SigningAlgorithm;
  /** The shared HS256 secrets, the signing one first. */
  sharedSecrets: string[];
  /** Managed key pairs' schedule (pollSeconds: the one used when polling is asked for). */
  managed: Omit<ManagedKeyOptions, "alg">;
  master: MasterKeySettings;
}

/**
 * The key set backends' JWTs are signed with, and the one sessions' access
 * tokens are signed with (`sessionKeySet`, null without a store). They are
 * the same with managed or configured key pairs. With shared HS256 secrets they differ: every
 * backend holds the secret, so any backend could sign an access token for
 * anyone; access tokens are signed with a managed key only Gatehouse holds
 * (kept in the store like managed mode's, never published).
 */
export async function openKeySet(
  settings: KeySettings,
  store: StoreBackend | null,
  logger: Logger,
  options: { poll: boolean; sessionKeys?: boolean } = { poll: true },
): Promise<{ keySet: KeySet; managed: ManagedKeySet | null; sessionKeySet: KeySet | null }> {
  const configured = settings.configured;
  if (configured) {
    // A private key only Gatehouse holds (backends have the public half): it signs access tokens too.
    const keySet = await configuredKeySet(configured);
    return { keySet, managed: null, sessionKeySet: store ? keySet : null };
  }
  const alg = settings.alg;
  if (alg === "HS256") {
    const sessionKeySet = store && options.sessionKeys !== false ? await openManagedKeySet(settings, store, logger, "ES256", options.poll) : null;
    return { keySet: await sharedSecretKeySet(settings.sharedSecrets), managed: null, sessionKeySet };
  }
  if (!store) throw new Error(`jwt.alg ${alg} needs the store`);
  const managed = await openManagedKeySet(settings, store, logger, alg, options.poll);
  return { keySet: managed, managed, sessionKeySet: managed };
}

/**
 * The master key that seals what the store must keep secret (managed signing
 * keys, an identity provider's refresh tokens): GATEHOUSE_MASTER_KEY, else
 * keys.master_key_file, else master.key next to a SQLite store (made at first
 * start). `purpose` names what needs it, in the refusal.
 */
export async function openMasterKey(settings: MasterKeySettings, logger: Logger, purpose: string): Promise<MasterKey> {
  const unshared = unsharedMasterKey(settings, process.env.GATEHOUSE_MASTER_KEY, purpose);
  if (unshared) throw new Error(unshared);
  // A store in memory holds nothing beyond this process: neither does its master key (no master.key in the working folder).
  const ephemeral = settings.storePath === ":memory:" && !settings.file ? randomBytes(32).toString("base64url") : undefined;
  const master = await loadMasterKey({
    env: process.env.GATEHOUSE_MASTER_KEY ?? ephemeral,
    file: settings.file,
    defaultFile: defaultMasterKeyFile(settings.storePath),
  });
  logger.info("keys.master_key", { origin: master.origin, purpose });
  return master;
}

/**
 * Instances sharing a PostgreSQL store open what each other sealed: a master.key file made by each
 * instance in its own data folder would differ, and a second instance could not open it. Refuse to guess
 * (`config check` asks too).
 */
export function unsharedMasterKey(settings: MasterKeySettings, fromEnvironment: string | undefined, purpose: string): string | null {
  if (settings.storeType !== "postgres" || fromEnvironment || settings.file) return null;
  return `store.type postgres with ${purpose} needs the same master key on every instance: set GATEHOUSE_MASTER_KEY or keys.master_key_file`;
}

async function openManagedKeySet(
  settings: KeySettings,
  store: StoreBackend,
  logger: Logger,
  alg: ManagedAlg,
  poll: boolean,
): Promise<ManagedKeySet> {
  const master = await openMasterKey(settings.master, logger, "managed signing keys");
  const managed = await ManagedKeySet.open(
    store,
    master,
    { ...settings.managed, alg, pollSeconds: poll ? settings.managed.pollSeconds : 0 },
    logger,
  );
  return managed;
}
