// Builds the key set a config asks for: an RSA key from the config
// (jwt.private_key, as auth-o-tron 0.4.0), shared HS256 secrets, or managed
// key pairs in the store. Used by the server and by `gatehouse keys`.
import { randomBytes } from "node:crypto";
import type { GatehouseConfig } from "../config/schema.ts";
import { configuredKeys, sharedSecrets, signingAlgorithm } from "../config/load.ts";
import type { StoreBackend } from "../store/backend.ts";
import type { Logger } from "../log.ts";
import { sharedSecretKeySet, type KeySet } from "./keyset.ts";
import { configuredKeySet } from "./configured.ts";
import { ManagedKeySet } from "./managed.ts";
import { defaultMasterKeyFile, loadMasterKey, type MasterKey } from "./master-key.ts";

/** The longest lifetime of a token Gatehouse signs (a backend's JWT, a session's access token): a previous key must outlive it. */
export function longestTokenLifetime(config: GatehouseConfig): number {
  return Math.max(config.jwt.exp, config.authentication.access_token_max_age);
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
  config: GatehouseConfig,
  store: StoreBackend | null,
  logger: Logger,
  options: { poll: boolean; sessionKeys?: boolean } = { poll: true },
): Promise<{ keySet: KeySet; managed: ManagedKeySet | null; sessionKeySet: KeySet | null }> {
  const configured = configuredKeys(config);
  if (configured) {
    // A private key only Gatehouse holds (backends have the public half): it signs access tokens too.
    const keySet = await configuredKeySet(configured);
    return { keySet, managed: null, sessionKeySet: store ? keySet : null };
  }
  const alg = signingAlgorithm(config);
  if (alg === "HS256") {
    const sessionKeySet = store && options.sessionKeys !== false ? await openManagedKeySet(config, store, logger, "ES256", options.poll) : null;
    return { keySet: await sharedSecretKeySet(sharedSecrets(config)), managed: null, sessionKeySet };
  }
  if (!store) throw new Error(`jwt.alg ${alg} needs the store`);
  const managed = await openManagedKeySet(config, store, logger, alg, options.poll);
  return { keySet: managed, managed, sessionKeySet: managed };
}

/**
 * The master key that seals what the store must keep secret (managed signing
 * keys, an identity provider's refresh tokens): GATEHOUSE_MASTER_KEY, else
 * keys.master_key_file, else master.key next to a SQLite store (made at first
 * start). `purpose` names what needs it, in the refusal.
 */
export async function openMasterKey(config: GatehouseConfig, logger: Logger, purpose: string): Promise<MasterKey> {
  // Instances sharing a PostgreSQL store open what each other sealed: a master.key file made by each
  // instance in its own data folder would differ, and a second instance could not open it. Refuse to guess.
  if (config.store.type === "postgres" && !process.env.GATEHOUSE_MASTER_KEY && !config.keys.master_key_file) {
    throw new Error(`store.type postgres with ${purpose} needs the same master key on every instance: set GATEHOUSE_MASTER_KEY or keys.master_key_file`);
  }
  // A store in memory holds nothing beyond this process: neither does its master key (no master.key in the working folder).
  const ephemeral = config.store.path === ":memory:" && !config.keys.master_key_file ? randomBytes(32).toString("base64url") : undefined;
  const master = await loadMasterKey({
    env: process.env.GATEHOUSE_MASTER_KEY ?? ephemeral,
    file: config.keys.master_key_file,
    defaultFile: defaultMasterKeyFile(config.store.path),
  });
  logger.info("keys.master_key", { origin: master.origin, purpose });
  return master;
}

async function openManagedKeySet(
  config: GatehouseConfig,
  store: StoreBackend,
  logger: Logger,
  alg: "ES256" | "EdDSA" | "RS256",
  poll: boolean,
): Promise<ManagedKeySet> {
  const master = await openMasterKey(config, logger, "managed signing keys");
  const managed = await ManagedKeySet.open(
    store,
    master,
    {
      alg,
      publishAheadSeconds: config.keys.publish_ahead,
      keepPreviousSeconds: longestTokenLifetime(config) + config.keys.retire_margin,
      rotateEverySeconds: config.keys.rotate_every,
      pollSeconds: poll ? config.keys.poll_interval : 0,
    },
    logger,
  );
  return managed;
}
