// `gatehouse tokens create|list|rotate|revoke|import`: for the operator on the host,
// straight against the store the config names, SQLite or PostgreSQL (a running
// server sees the changes on its next request). The operator acts as an admin and is audited as `cli:$USER`.
import { readFileSync } from "node:fs";
import type { GatehouseConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { createLogger } from "../log.ts";
import { createProviders } from "../providers/registry.ts";
import type { Scopes } from "../identity/user.ts";
import { ImportError, importAuthOTronTokens, parseMongoExport } from "../tokens/import.ts";
import { TokenService } from "../tokens/service.ts";
import { tokenPolicy } from "../config/policies.ts";
import { operatorActor, type Owner } from "../identity/actor.ts";
import { Refusal } from "../refusal.ts";
import { parseCommand, parseExpiresIn, parseScopeArguments, openCommandStore, storeConfig, tokenTable, type LoadConfig } from "./common.ts";

const USAGE = `usage:
  gatehouse tokens create --user U --realm R [--note TEXT] [--expires-in SECONDS|30d|never] [--scope service:scope ...] [--network CIDR ...]
  gatehouse tokens list [--user U] [--realm R] [--include-revoked] [--expiring 7d] [--json]
  gatehouse tokens rotate ID [--grace SECONDS]
  gatehouse tokens revoke ID
  gatehouse tokens import TOKENS.json --users USERS.json [--expires-in SECONDS|30d|never] [--note TEXT]
      (auth-o-tron 0.3.7's MongoDB collections, from mongoexport --collection tokens / --collection users)`;

const options = {
  config: { type: "string", short: "c" },
  user: { type: "string" },
  realm: { type: "string" },
  note: { type: "string" },
  "expires-in": { type: "string" },
  scope: { type: "string", multiple: true },
  "include-revoked": { type: "boolean" },
  json: { type: "boolean" },
  users: { type: "string" },
  network: { type: "string", multiple: true },
  expiring: { type: "string" },
  grace: { type: "string" },
} as const;

export async function tokensCommand(args: string[], loadConfig: LoadConfig): Promise<number> {
  const parsed = parseCommand(args, options, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const [action, id] = positionals;
  if (!["create", "list", "rotate", "revoke", "import"].includes(action ?? "") || ((action === "revoke" || action === "rotate" || action === "import") && !id)) {
    console.error(USAGE);
    return 2;
  }
  const config = await storeConfig(values.config, loadConfig, "tokens");
  if (!config) return 2;
  const store = await openCommandStore(config, "tokens");
  if (!store) return 1;
  const logger = createLogger({ level: "warn", format: config.logging.format, write: (line) => console.error(line) });
  // The providers tell which realms can be rechecked later (tokens of the others are capped).
  const providers = createProviders(config.providers, logger, store);
  providers.forEach((provider) => provider.close?.());
  const tokens = new TokenService(store, tokenPolicy(config, providers), logger);
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
      const { secret, token } = await tokens.create(operator, { username: values.user, realm: values.realm }, {
        note: values.note,
        expiresIn,
        scopes,
        allowedNetworks: values.network,
      });
      // The secret alone on stdout (for scripts); what it is on stderr.
      if (token.lifetime_note) console.error(token.lifetime_note);
      console.error(`created ${token.id} for ${token.username}@${token.realm}, expires ${token.expires_at ?? "never"}; the secret is shown this once:`);
      console.log(secret);
    } else if (action === "import") {
      return await importTokens(config, tokens, id!, values);
    } else if (action === "list") {
      const expiringWithin = values.expiring === undefined ? undefined : parseExpiresIn(values.expiring);
      if (typeof expiringWithin === "string" || expiringWithin === null) {
        console.error(`tokens list: --expiring ${values.expiring}: expected seconds or a number with s/m/h/d, e.g. 7d`);
        return 2;
      }
      const list = await tokens.list(operator, { username: values.user, realm: values.realm, includeRevoked: values["include-revoked"], expiringWithin });
      console.log(values.json ? JSON.stringify({ tokens: list }, null, 2) : tokenTable(list));
    } else if (action === "rotate") {
      const grace = values.grace === undefined ? undefined : /^\d{1,5}$/.test(values.grace) ? Number(values.grace) : Number.NaN;
      if (Number.isNaN(grace)) {
        console.error(`tokens rotate: --grace ${values.grace}: expected a whole number of seconds`);
        return 2;
      }
      const { secret, token } = await tokens.rotate(operator, id!, { graceSeconds: grace });
      // As create: the secret alone on stdout.
      console.error(`rotated ${token.rotated_from} to ${token.id} for ${token.username}@${token.realm}, expires ${token.expires_at ?? "never"}; the secret is shown this once:`);
      console.log(secret);
    } else {
      const token = await tokens.revoke(operator, id!);
      console.log(`revoked ${token.id} (${token.username}@${token.realm})`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    console.error(`tokens ${action}: ${error.message}`);
    return 1;
  } finally {
    await tokens.close();
    await store.close();
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

/**
 * auth-o-tron's tokens never expire; Gatehouse's do unless
 * tokens.allow_non_expiring: imported ones get tokens.max_expires_in unless
 * --expires-in says otherwise. Each is checked as `tokens create` checks a
 * token (the same functions): its scopes against the config's services, its
 * expiry within the policy and capped for a realm that cannot be rechecked
 * (finding 8 of issue 20). Prints counts and ids, never a secret.
 */
async function importTokens(config: GatehouseConfig, tokens: TokenService, tokensFile: string, values: { users?: string; note?: string; "expires-in"?: string }): Promise<number> {
  if (!values.users) {
    console.error(`tokens import: --users is required: the owners are in auth-o-tron's users collection\n${USAGE}`);
    return 2;
  }
  const byDefault = config.tokens.allow_non_expiring ? null : config.tokens.max_expires_in;
  const expiresIn = values["expires-in"] === undefined ? byDefault : parseExpiresIn(values["expires-in"]);
  if (typeof expiresIn === "string") {
    console.error(`tokens import: ${expiresIn}`);
    return 2;
  }
  if (expiresIn === null && !config.tokens.allow_non_expiring) {
    console.error("tokens import: --expires-in never needs tokens.allow_non_expiring: true");
    return 2;
  }
  const now = Date.now();
  const operator = operatorActor();
  let expiresAt: number | null;
  try {
    expiresAt = tokens.grantedExpiry(operator, { expiresIn }, now);
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    console.error(`tokens import: ${error.message}`);
    return 2;
  }
  const lifetimeNotes = new Set<string>();
  const grant = (owner: Owner, scopes: Scopes | undefined) => {
    const granted = { scopes: tokens.grantedScopes(operator, tokens.importedScopes(scopes)), ...tokens.cappedForRealm(owner.realm, expiresAt, now) };
    if (granted.lifetimeNote) lifetimeNotes.add(granted.lifetimeNote);
    return granted;
  };
  let tokenDocuments: unknown[];
  let userDocuments: unknown[];
  try {
    tokenDocuments = parseMongoExport(readFileSync(tokensFile, "utf8"), tokensFile);
    userDocuments = parseMongoExport(readFileSync(values.users, "utf8"), values.users);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    console.error(`tokens import: ${error instanceof ImportError ? error.message : `cannot read the file: ${code ?? (error as Error).message}`}`);
    return 1;
  }
  let result;
  try {
    // All or nothing: one transaction.
    result = await importAuthOTronTokens(tokens.store, tokenDocuments, userDocuments, {
      grant,
      note: values.note ?? "imported from auth-o-tron",
      operator: operator.operator!,
      now,
    });
  } catch (error) {
    // The database's own reason, not the ORM's query text and parameters.
    const cause = (error as { cause?: unknown }).cause;
    console.error(`tokens import: nothing imported: ${((cause instanceof Error ? cause : error) as Error).message}`);
    return 1;
  }
  for (const token of result.imported) console.log(`imported ${token.id} for ${token.username}@${token.realm}`);
  for (const problem of result.skipped) console.error(`skipped ${problem}`);
  for (const note of lifetimeNotes) console.error(note);
  console.error(
    `tokens import: ${result.imported.length} imported, ${result.present} already present, ${result.skipped.length} skipped; ` +
      `they expire ${expiresIn === null ? "never" : `in ${expiresIn} seconds`}`,
  );
  return result.skipped.length > 0 ? 1 : 0;
}
