// `gatehouse tokens create|list|revoke`: for the operator on the host,
// straight against the local store (a running server sees the changes on its
// next request). The operator acts as an admin and is audited as `cli:$USER`.
import type { GatehouseConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { createLogger } from "../log.ts";
import { createProviders } from "../providers/registry.ts";
import { openStore } from "../store/database.ts";
import { TokenService, tokenPolicy } from "../tokens/service.ts";
import { operatorActor } from "../identity/actor.ts";
import { Refusal } from "../refusal.ts";
import { parseCommand, parseExpiresIn, parseScopeArguments, storeConfig, tokenTable, type LoadConfig } from "./common.ts";

const USAGE = `usage:
  gatehouse tokens create --user U --realm R [--note TEXT] [--expires-in SECONDS|30d|never] [--scope service:scope ...]
  gatehouse tokens list [--user U] [--realm R] [--include-revoked] [--json]
  gatehouse tokens revoke ID`;

const options = {
  config: { type: "string", short: "c" },
  user: { type: "string" },
  realm: { type: "string" },
  note: { type: "string" },
  "expires-in": { type: "string" },
  scope: { type: "string", multiple: true },
  "include-revoked": { type: "boolean" },
  json: { type: "boolean" },
} as const;

export async function tokensCommand(args: string[], loadConfig: LoadConfig): Promise<number> {
  const parsed = parseCommand(args, options, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const [action, id] = positionals;
  if (!["create", "list", "revoke"].includes(action ?? "") || (action === "revoke" && !id)) {
    console.error(USAGE);
    return 2;
  }
  const config = await storeConfig(values.config, loadConfig, "tokens");
  if (!config) return 2;
  const store = openStore(config.store.path);
  const logger = createLogger({ level: "warn", format: config.logging.format, write: (line) => console.error(line) });
  const tokens = new TokenService(store, tokenPolicy(config), logger);
  const operator = operatorActor();
  try {
    if (action === "create") {
      if (!values.user || !values.realm) {
        console.error(`tokens create: --user and --realm are required\n${USAGE}`);
        return 2;
      }
      const scopes = values.scope ? parseScopeArguments(values.scope) : undefined;
      const expiresIn = values["expires-in"] === undefined ? undefined : parseExpiresIn(values["expires-in"]);
      if (typeof scopes === "string" || typeof expiresIn === "string") {
        console.error(`tokens create: ${typeof scopes === "string" ? scopes : expiresIn}`);
        return 2;
      }
      await warnIfUnknownOwner(config, logger, values.user, values.realm);
      const { secret, token } = tokens.create(operator, { username: values.user, realm: values.realm }, {
        note: values.note,
        expiresIn,
        scopes,
      });
      // The secret alone on stdout (for scripts); what it is on stderr.
      console.error(`created ${token.id} for ${token.username}@${token.realm}, expires ${token.expires_at ?? "never"}; the secret is shown this once:`);
      console.log(secret);
    } else if (action === "list") {
      const list = tokens.list(operator, { username: values.user, realm: values.realm, includeRevoked: values["include-revoked"] });
      console.log(values.json ? JSON.stringify({ tokens: list }, null, 2) : tokenTable(list));
    } else {
      const token = tokens.revoke(operator, id!);
      console.log(`revoked ${token.id} (${token.username}@${token.realm})`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    console.error(`tokens ${action}: ${error.message}`);
    return 1;
  } finally {
    tokens.close();
    store.close();
  }
}

/**
 * A token whose owner the realm's providers do not know would be refused on
 * every use; say so (the token is still created: the user may be added later).
 */
async function warnIfUnknownOwner(config: GatehouseConfig, logger: Logger, username: string, realm: string) {
  const describers = createProviders(config.providers, logger).filter((provider) => provider.realm === realm && provider.describeUser);
  if (describers.length === 0) return;
  for (const provider of describers) if (await provider.describeUser!(username, AbortSignal.timeout(5000))) return;
  console.error(`warning: no provider of realm "${realm}" knows user "${username}": the token will be refused until one does`);
}
