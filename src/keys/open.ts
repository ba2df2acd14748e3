// Builds the key set a config asks for: an RSA key from the config
// (jwt.private_key, as auth-o-tron 0.4.0), shared HS256 secrets, or managed
// key pairs in the store. Used by the server and by `gatehouse keys`.
import { dirname, join } from "node:path";
import type { GatehouseConfig } from "../config/schema.ts";
import { configuredKeys, sharedSecrets, signingAlgorithm } from "../config/load.ts";
import type { Store } from "../store/database.ts";
import type { Logger } from "../log.ts";
import { sharedSecretKeySet, type KeySet } from "./keyset.ts";
import { configuredKeySet } from "./configured.ts";
import { ManagedKeySet } from "./managed.ts";
import { loadMasterKey } from "./master-key.ts";

/** The longest lifetime of a token Gatehouse signs (a backend's JWT, a session's access token): a previous key must outlive it. */
export function longestTokenLifetime(config: GatehouseConfig): number {
  return Math.max(config.jwt.exp, config.authentication.access_token_max_age);
}

export async function openKeySet(
  config: GatehouseConfig,
  store: Store | null,
  logger: Logger,
  options: { poll: boolean } = { poll: true },
): Promise<{ keySet: KeySet; managed: ManagedKeySet | null }> {
  const configured = configuredKeys(config);
  if (configured) return { keySet: await configuredKeySet(configured), managed: null };
  const alg = signingAlgorithm(config);
  if (alg === "HS256") return { keySet: await sharedSecretKeySet(sharedSecrets(config)), managed: null };
  if (!store) throw new Error(`jwt.alg ${alg} needs the store`);
  const master = await loadMasterKey({
    env: process.env.GATEHOUSE_MASTER_KEY,
    file: config.keys.master_key_file,
    defaultFile: join(dirname(config.store.path), "master.key"),
  });
  logger.info("keys.master_key", { origin: master.origin });
  const managed = await ManagedKeySet.open(
    store,
    master,
    {
      alg,
      publishAheadSeconds: config.keys.publish_ahead,
      keepPreviousSeconds: longestTokenLifetime(config) + config.keys.retire_margin,
      rotateEverySeconds: config.keys.rotate_every,
      pollSeconds: options.poll ? config.keys.poll_interval : 0,
    },
    logger,
  );
  return { keySet: managed, managed };
}
