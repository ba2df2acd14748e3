// `gatehouse keys list|rotate|retire KID`: the signing keys in the store (SQLite or PostgreSQL).
import type { GatehouseConfig } from "../config/schema.ts";
import { openKeySet } from "../keys/open.ts";
import { createLogger } from "../log.ts";
import { configuredKeys, keySettings } from "../config/policies.ts";
import { operatorActor } from "../identity/actor.ts";
import { openCommandStore } from "./common.ts";

const USAGE = "usage: gatehouse keys list | gatehouse keys rotate | gatehouse keys retire KID";

export async function keysCommand(args: string[], config: GatehouseConfig): Promise<number> {
  const [action, kid] = args;
  if (!["list", "rotate", "retire"].includes(action ?? "") || (action === "retire" && !kid)) {
    console.error(USAGE);
    return 2;
  }
  if (!config.store.enabled) {
    console.error("keys: the store is disabled (store.enabled: false); keys are jwt.secret");
    return 2;
  }
  const store = await openCommandStore(config, "keys");
  if (!store) return 1;
  const logger = createLogger({ level: "warn", format: config.logging.format, write: (line) => console.error(line) });
  try {
    const { managed } = await openKeySet(keySettings(config), store, logger, { poll: false, sessionKeys: false });
    if (!managed) {
      console.error(
        configuredKeys(config)
          ? "keys: the signing key is jwt.private_key (kid jwt.kid) from the config; rotate it in stages with jwt.additional_public_keys (see the README)"
          : "keys: jwt.alg is HS256, so the keys are the shared secrets jwt.secret / jwt.secrets; edit those to rotate",
      );
      return 2;
    }
    const actor = operatorActor();
    if (action === "rotate") {
      const next = await managed.rotate(actor);
      console.log(`rotating to ${next}: published now, signs after keys.publish_ahead (${config.keys.publish_ahead} s)`);
    } else if (action === "retire") {
      const outcome = await managed.retire(kid!, actor);
      if (outcome !== "retired") {
        console.error(outcome === "not-found" ? `keys: no live key ${kid}` : `keys: ${kid} is next or current; only a previous key can be retired`);
        return 1;
      }
      console.log(`retired ${kid}: tokens it signed no longer verify`);
    }
    const when = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());
    for (const key of await managed.list()) {
      console.log(
        [key.kid, key.alg, key.state.padEnd(8), `created ${when(key.createdAt)}`, key.state === "next" ? `signs from ${when(key.activatesAt)}` : "", key.state === "previous" ? `retires ${when(key.retiresAt)}` : ""]
          .filter(Boolean)
          .join("  "),
      );
    }
    managed.close();
    return 0;
  } finally {
    await store.close();
  }
}
