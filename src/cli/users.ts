// `gatehouse users end --user U --realm R`: the operator's one action for a
// compromised account, on the host (as POST /api/v1/auth/users/end is the
// admins'): every live session of the user ends and every live API token of
// theirs is revoked, with the tokens made from them. A running server sharing
// the store refuses them from its next request on.
import { SessionService } from "../sessions/service.ts";
import { TokenService } from "../tokens/service.ts";
import { sessionPolicy, tokenPolicy } from "../config/policies.ts";
import { createLogger } from "../log.ts";
import { operatorActor } from "../identity/actor.ts";
import type { KeySet } from "../keys/keyset.ts";
import { unavailable } from "../refusal.ts";
import { parseCommand, openCommandStore, storeConfig, type LoadConfig } from "./common.ts";

const USAGE = `usage:
  gatehouse users end --user U --realm R   end every session of the user and revoke every API token of theirs`;

const options = {
  config: { type: "string", short: "c" },
  user: { type: "string" },
  realm: { type: "string" },
} as const;

export async function usersCommand(args: string[], loadConfig: LoadConfig): Promise<number> {
  const parsed = parseCommand(args, options, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals[0] !== "end" || positionals.length !== 1 || !values.user || !values.realm) {
    console.error(USAGE);
    return 2;
  }
  const config = await storeConfig(values.config, loadConfig, "users");
  if (!config) return 2;
  const store = await openCommandStore(config, "users");
  if (!store) return 1;
  const logger = createLogger({ level: "warn", format: config.logging.format, write: (line) => console.error(line) });
  const tokens = new TokenService(store, tokenPolicy(config), logger);
  // This command signs nothing and re-reads nobody: the session service's key and provider stay unused.
  const notSigning = { keySet: unavailable<KeySet>("users end signs no token"), iss: config.jwt.iss };
  const sessions = new SessionService(store, sessionPolicy(config), notSigning, () => null, logger, tokens);
  try {
    const ended = await sessions.endEverything(operatorActor(), { username: values.user, realm: values.realm });
    console.log(`${values.user}@${values.realm}: ${ended.sessions} session(s) ended, ${ended.tokens} API token(s) revoked`);
    return 0;
  } finally {
    await tokens.close();
    await store.close();
  }
}
