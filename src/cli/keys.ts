// `gatehouse keys list|rotate|retire KID`: the signing keys in the store (SQLite or PostgreSQL).
import type { GatehouseConfig } from "../config/schema.ts";
import { openKeySet } from "../keys/open.ts";
import type { ManagedKeySet } from "../keys/managed.ts";
import { createLogger } from "../log.ts";
import { configuredKeys, keySettings } from "../config/policies.ts";
import { operatorActor } from "../identity/actor.ts";
import type { StoreBackend } from "../store/backend.ts";
import { openCommandStore, storeConfig } from "./common.ts";
import { CONFIG_FLAG, usageError, type CliCommand, type CommandHelp } from "./help.ts";

const keysHelp = {
  name: "keys",
  summary: "managed signing keys in the store: list, rotate, retire",
  description: "Only for managed keys (jwt.alg ES256/RS256… without jwt.private_key); shared secrets and configured keys are edited in the config.",
  flags: [CONFIG_FLAG],
  subcommands: [
    { name: "list", summary: "the keys, their state and schedule (makes the first key of a new store)" },
    { name: "rotate", summary: "publish a new key now; it signs after keys.publish_ahead" },
    {
      name: "retire",
      args: "KID",
      summary: "retire a previous key early: the tokens it signed stop verifying at once",
      description: "A key that may still verify live tokens is retired only with --yes (it says how many it ends).",
      flags: [{ name: "yes", type: "boolean", description: "retire it even though live tokens still need it" }],
    },
  ],
} as const satisfies CommandHelp;

export const keysCommand: CliCommand = {
  ...keysHelp,
  async run(args) {
    // A kid is base64url and may begin with "-": every argument but --config and --yes is taken as written.
    const positionals: string[] = [];
    let configPath: string | undefined;
    let yes = false;
    for (let index = 0; index < args.length; index++) {
      const arg = args[index]!;
      if (arg === "--config" || arg === "-c") {
        configPath = args[++index];
        if (configPath === undefined) return usageError("keys", `${arg} needs a value`);
      } else if (arg.startsWith("--config=")) configPath = arg.slice("--config=".length);
      else if (arg === "--yes") yes = true;
      else if (arg !== "--") positionals.push(arg);
    }
    const [action, kid, ...extra] = positionals;
    if (!["list", "rotate", "retire"].includes(action ?? "")) {
      return usageError("keys", action === undefined ? "say what to do: list, rotate or retire" : `unknown command "${action}"; one of: list, rotate or retire`);
    }
    if (action === "retire" && !kid) return usageError("keys", "retire needs the KID of a previous key (gatehouse keys list)");
    const unexpected = action === "retire" ? extra[0] : kid;
    if (unexpected !== undefined) return usageError("keys", `unexpected argument ${unexpected}`);
    const config = await storeConfig(configPath, "keys");
    if (!config) return 2;
    return keys(config, action as "list" | "rotate" | "retire", kid, yes);
  },
};

async function keys(config: GatehouseConfig, action: "list" | "rotate" | "retire", kid: string | undefined, yes: boolean): Promise<number> {
  const store = await openCommandStore(config, "keys");
  if (!store) return 1;
  const logger = createLogger({ level: "warn", format: config.logging.format, write: (line) => console.error(line) });
  try {
    const { managed } = await openKeySet(keySettings(config), store, logger, { poll: false, sessionKeys: false });
    if (!managed) {
      console.error(
        configuredKeys(config)
          ? "keys: the signing key is jwt.private_key (kid jwt.kid) from the config; rotate it in stages with jwt.additional_public_keys (see docs/signing-keys.md)"
          : "keys: jwt.alg is HS256, so the keys are the shared secrets jwt.secret / jwt.secrets; edit those to rotate",
      );
      return 2;
    }
    try {
      const actor = operatorActor();
      if (action === "rotate") {
        const next = await managed.rotate(actor);
        console.log(`rotating to ${next}: in the store now; ${whenServersSeeIt(config)}; it signs after keys.publish_ahead (${config.keys.publish_ahead} s)`);
      } else if (action === "retire") {
        const code = await retire(config, store, managed, kid!, yes, actor);
        if (code !== 0) return code;
      }
      const when = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());
      for (const key of await managed.list()) {
        console.log(
          [key.kid, key.alg, key.state.padEnd(8), `created ${when(key.createdAt)}`, key.state === "next" ? `signs from ${when(key.activatesAt)}` : "", key.state === "previous" ? `retires ${when(key.retiresAt)}` : ""]
            .filter(Boolean)
            .join("  "),
        );
      }
      return 0;
    } finally {
      managed.close();
    }
  } finally {
    await store.close();
  }
}

/** When running servers publish a key changed here: PostgreSQL tells them at once; on SQLite they re-read the keys every keys.poll_interval. */
function whenServersSeeIt(config: GatehouseConfig): string {
  return config.store.type === "postgres"
    ? "running servers sharing the store load it at once (PostgreSQL notifies them)"
    : `running servers load it at their next poll, within keys.poll_interval (${config.keys.poll_interval} s)`;
}

/**
 * Retires a previous key early. While tokens it signed may still be live
 * (it stopped signing less than their lifetime ago), only with --yes, having
 * said what it ends: the live sessions whose access token it signed, and
 * /authenticate's JWTs (not stored: counted by their time of expiry).
 */
async function retire(config: GatehouseConfig, store: StoreBackend, managed: ManagedKeySet, kid: string, yes: boolean, actor: ReturnType<typeof operatorActor>): Promise<number> {
  const key = (await managed.list()).find((each) => each.kid === kid);
  if (key?.state === "previous" && !yes) {
    const now = Date.now();
    const stopped = key.deactivatedAt ?? now;
    const jwtsUntil = stopped + config.jwt.exp * 1000;
    const accessMaxAge = config.authentication.access_token_max_age * 1000;
    const sessions = (await store.read.listSessions({ now })).filter((session) => {
      const minted = session.refreshedAt ?? session.createdAt;
      return minted >= (key.activatedAt ?? 0) && minted < stopped && minted + accessMaxAge > now;
    }).length;
    const sessionsUntil = stopped + accessMaxAge;
    if (jwtsUntil > now || sessions > 0) {
      const parts = [
        `the access tokens of ${sessions} live session(s)${sessions > 0 ? " (each session's next refresh gets a new one)" : ""}`,
        jwtsUntil > now ? `the JWTs /authenticate signed with it until ${new Date(stopped).toISOString()} (not stored, so not counted: each lives jwt.exp, ${config.jwt.exp} s, the last until ${new Date(jwtsUntil).toISOString()})` : "",
      ].filter(Boolean);
      console.error(
        `keys retire: ${kid} still verifies live tokens: ${parts.join("; and ")}. Retiring it now ends them; ` +
          `give --yes to retire it anyway, or leave it: it retires by itself at ${new Date(key.retiresAt ?? Math.max(jwtsUntil, sessionsUntil)).toISOString()}`,
      );
      return 1;
    }
  }
  const outcome = await managed.retire(kid, actor);
  if (outcome !== "retired") {
    console.error(outcome === "not-found" ? `keys retire: no live key ${kid} (gatehouse keys list)` : `keys retire: ${kid} is next or current; only a previous key can be retired`);
    return 1;
  }
  console.log(`retired ${kid}: tokens it signed no longer verify; ${whenServersSeeIt(config)}`);
  return 0;
}
