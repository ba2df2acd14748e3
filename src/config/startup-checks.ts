// What `serve` checks at start-up beyond the file itself, run by `config check`
// with the same functions, so that both give one verdict: the TLS files (found,
// read, the key decrypted with its pass phrase and matching the certificate),
// the master key, and with `--connect` the store (reachable, and the managed
// signing keys in it opened with the master key).
import { accessSync, constants, existsSync } from "node:fs";
import { dirname } from "node:path";
import type { GatehouseConfig } from "./schema.ts";
import type { Env } from "./environment.ts";
import { configuredKeys, masterKeySettings, REFRESH_TOKENS_PURPOSE, sealsRefreshTokens } from "./policies.ts";
import { loadTls } from "../tls.ts";
import { decryptWithMasterKey, defaultMasterKeyFile, loadMasterKey, type MasterKey } from "../keys/master-key.ts";
import { openBackend } from "../store/open.ts";
import { unsharedMasterKey } from "../keys/open.ts";
import { redactSecrets, redactUrl } from "../store/pg/url.ts";

/** Whether serve opens the master key: managed keys (session keys too) in the store, or an identity provider's sealed refresh tokens. */
function usesMasterKey(config: GatehouseConfig): boolean {
  return config.store.enabled && (!configuredKeys(config) || sealsRefreshTokens(config));
}

/** The master key serve would open, without making one (serve makes master.key next to a SQLite store at its first start). */
async function existingMasterKey(config: GatehouseConfig, env: Env): Promise<MasterKey | null> {
  const settings = masterKeySettings(config);
  const unshared = unsharedMasterKey(settings, env.GATEHOUSE_MASTER_KEY, sealsRefreshTokens(config) ? REFRESH_TOKENS_PURPOSE : "managed signing keys");
  if (unshared) throw new Error(unshared);
  const { file, storePath } = settings;
  const defaultFile = defaultMasterKeyFile(storePath);
  if (!env.GATEHOUSE_MASTER_KEY && !file && (storePath === ":memory:" || !existsSync(defaultFile))) return null;
  return loadMasterKey({ env: env.GATEHOUSE_MASTER_KEY, file, defaultFile });
}

/** The TLS files and the master key, as serve reads them at start-up. */
export async function startupProblems(config: GatehouseConfig, env: Env = process.env): Promise<string[]> {
  const problems: string[] = [];
  if (config.tls) {
    try {
      loadTls(config.tls, config.server);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (usesMasterKey(config)) {
    try {
      await existingMasterKey(config, env);
    } catch (error) {
      problems.push(`master key: ${(error as Error).message}`);
    }
  }
  return problems;
}

/** `config check --connect`: the store answers, and the signing keys in it open with the master key. */
export async function storeProblems(config: GatehouseConfig, env: Env = process.env): Promise<{ problems: string[]; notes: string[] }> {
  const { store } = config;
  if (!store.enabled) return { problems: [], notes: ["store: disabled (store.enabled: false), nothing to connect to"] };
  if (store.type === "sqlite" && store.path !== ":memory:" && !existsSync(store.path)) {
    let folder = dirname(store.path);
    while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder);
    try {
      accessSync(folder, constants.W_OK);
      return { problems: [], notes: [`store: ${store.path} does not exist yet; serve creates it`] };
    } catch {
      return { problems: [`store.path: ${store.path} does not exist and cannot be made: ${folder} is not writable`], notes: [] };
    }
  }
  const where = store.type === "postgres" ? redactUrl(store.url ?? "") : store.path;
  let backend;
  try {
    backend = await openBackend(store, { migrate: false });
    await backend.check();
  } catch (error) {
    await backend?.close().catch(() => {});
    return { problems: [`store: cannot reach ${where}: ${redactSecrets((error as Error)?.message ?? String(error), store.url)}`], notes: [] };
  }
  const problems: string[] = [];
  const notes = [`store: ${where} answers`];
  try {
    const master = usesMasterKey(config) ? await existingMasterKey(config, env).catch(() => null) : null;
    const rows = master ? await backend.read.liveKeys() : [];
    for (const row of rows) {
      try {
        await decryptWithMasterKey(master!, row.privateKeySealed, row.kid);
      } catch (error) {
        problems.push(`keys: ${(error as Error).message}`);
      }
    }
  } catch {
    notes.push("store: its schema is not up to date; serve migrates it at start-up (or gatehouse migrate)");
  } finally {
    await backend.close();
  }
  return { problems, notes };
}
