// `gatehouse regulation list|release`: the bans of regulation in the store,
// and their release before their time (the operator's answer to "the right
// password gets 401 for 5 minutes"), as GET /api/v1/regulation/bans and POST
// /api/v1/regulation/release are the admins'. A release is audited
// (regulation.released, by cli:<login>); a running server sharing the store
// sees it at its next request (the store's change stamp moves).
import { regulationSettings } from "../config/policies.ts";
import { operatorActor } from "../identity/actor.ts";
import { createLogger } from "../log.ts";
import { Regulator, describeBanTarget, type ActiveBan, type BanTarget } from "../regulation/regulator.ts";
import { parseCommand, openCommandStore, storeConfig, table, type LoadConfig } from "./common.ts";

export const REGULATION_USAGE = `usage:
  gatehouse regulation list [--json]                  the bans in force, soonest to end first
  gatehouse regulation release --user U [--realm R]   end a username's ban now (in every realm without --realm)
  gatehouse regulation release --address A            end an address's ban now`;

const options = {
  config: { type: "string", short: "c" },
  user: { type: "string" },
  realm: { type: "string" },
  address: { type: "string" },
  json: { type: "boolean" },
} as const;

export async function regulationCommand(args: string[], loadConfig: LoadConfig): Promise<number> {
  const parsed = parseCommand(args, options, REGULATION_USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const [action, ...rest] = positionals;
  if ((action !== "list" && action !== "release") || rest.length > 0) {
    console.error(action === undefined ? "regulation: say list or release" : `regulation: unknown subcommand ${action}`);
    console.error(REGULATION_USAGE);
    return 2;
  }
  let target: BanTarget | null = null;
  if (action === "release") {
    const user = values.user?.trim();
    const address = values.address?.trim();
    if (!user === !address) {
      console.error("regulation release: give --user U (with --realm R, optionally) or --address A");
      return 2;
    }
    if (address && values.realm !== undefined) {
      console.error("regulation release: --realm goes with --user (an address is banned in every realm)");
      return 2;
    }
    target = user ? { username: user, realm: values.realm?.trim() || undefined } : { address: address! };
  }
  const config = await storeConfig(values.config, loadConfig, "regulation");
  if (!config) return 2;
  const store = await openCommandStore(config, "regulation");
  if (!store) return 1;
  const logger = createLogger({ level: "warn", format: config.logging.format, write: (line) => console.error(line) });
  const regulator = new Regulator(store, regulationSettings(config).policy, logger);
  try {
    if (target === null) {
      const bans = await regulator.activeBans();
      if (values.json) console.log(JSON.stringify({ bans: bans.map(jsonView) }, null, 2));
      else console.log(banTable(bans));
      return 0;
    }
    const released = await regulator.releaseMatching(operatorActor(), target);
    if (released.length === 0) {
      console.error(`regulation release: no ban in force for ${describeBanTarget(target)}`);
      return 1;
    }
    for (const ban of released) console.log(`released: ${who(ban)} (was banned until ${iso(ban.until)})`);
    return 0;
  } finally {
    await store.close();
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const who = (ban: ActiveBan) => (ban.kind === "address" ? `address ${ban.address}` : `user ${ban.targetUsername} in realm ${ban.targetRealm ?? "(none)"}`);
const jsonView = (ban: ActiveBan) => ({ kind: ban.kind, subject: ban.subject, username: ban.targetUsername, realm: ban.targetRealm, address: ban.address, until: iso(ban.until) });

function banTable(bans: ActiveBan[]): string {
  if (bans.length === 0) return "no bans in force";
  return table(
    ["KIND", "BANNED", "REALM", "UNTIL"],
    bans.map((ban) => [ban.kind, ban.kind === "address" ? ban.address! : ban.targetUsername!, ban.targetRealm ?? "-", iso(ban.until)]),
  );
}
