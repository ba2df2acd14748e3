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
import { openCommandStore, storeConfig } from "./common.ts";
import { CONFIG_FLAG, defineCommand, usageError } from "./help.ts";

export const usersCommand = defineCommand(
  {
    name: "users",
    summary: "end a user's sessions and revoke their API tokens",
    flags: [CONFIG_FLAG],
    subcommands: [
      {
        name: "end",
        args: "--user U --realm R",
        summary: "end every live session of the user and revoke every live API token of theirs (with the tokens made from them)",
        description: "A running server sharing the store refuses them from its next request on. Exit 1 when the user had nothing live.",
        flags: [
          { name: "user", type: "string", value: "U", description: "the user" },
          { name: "realm", type: "string", value: "R", description: "their realm" },
        ],
      },
    ],
  },
  async ({ values, positionals }) => {
    if (!values.user || !values.realm) return usageError("users", "end needs --user and --realm");
    const config = await storeConfig(values.config, "users");
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
      if (ended.sessions === 0 && ended.tokens === 0) {
        // Exit 1: a mistyped name (or realm) must not look like a compromised account dealt with.
        console.error(`users end: nobody found: ${values.user}@${values.realm} has no live session and no live API token in this store; nothing was ended`);
        return 1;
      }
      console.log(`${values.user}@${values.realm}: ${ended.sessions} session(s) ended, ${ended.tokens} API token(s) revoked`);
      return 0;
    } finally {
      await tokens.close();
      await store.close();
    }
  },
);
