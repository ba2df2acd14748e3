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
import { openCommandStore, storeConfig, table } from "./common.ts";
import { CONFIG_FLAG, JSON_FLAG, defineCommand, usageError } from "./help.ts";

export const regulationCommand = defineCommand(
  {
    name: "regulation",
    summary: "the bans of the regulation of guessing: list them, or release one before its time",
    flags: [],
    subcommands: [
      { name: "list", summary: "the bans in force, soonest to end first", flags: [CONFIG_FLAG, JSON_FLAG] },
      {
        name: "release",
        summary: "end a ban now: a username's (in every realm without --realm) or an address's",
        flags: [
          CONFIG_FLAG,
          { name: "user", type: "string", value: "U", description: "the username whose ban ends" },
          { name: "realm", type: "string", value: "R", description: "only in this realm (with --user)" },
          { name: "address", type: "string", value: "A", description: "the client address whose ban ends" },
        ],
      },
    ],
  },
  async ({ values, positionals }) => regulation(positionals[0] as "list" | "release", values),
);

async function regulation(action: "list" | "release", values: { config?: string; user?: string; realm?: string; address?: string; json?: boolean }): Promise<number> {
  let target: BanTarget | null = null;
  if (action === "release") {
    const user = values.user?.trim();
    const address = values.address?.trim();
    if (!user === !address) return usageError("regulation release", "give --user U (with --realm R, optionally) or --address A");
    if (address && values.realm !== undefined) return usageError("regulation release", "--realm goes with --user (an address is banned in every realm)");
    target = user ? { username: user, realm: values.realm?.trim() || undefined } : { address: address! };
  }
  const config = await storeConfig(values.config, "regulation");
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
