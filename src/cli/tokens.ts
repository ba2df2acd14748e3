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
import { mayBeApiToken } from "../tokens/format.ts";
import { parseDuration, parseExpiresIn, parseScopeArguments, openCommandStore, progress, storeConfig, tokenTable } from "./common.ts";
import { CONFIG_FLAG, JSON_FLAG, defineCommand, usageError, type CommandHelp, type Values } from "./help.ts";

const OWNER_FLAGS = [
  { name: "user", type: "string", value: "U", description: "the token's owner" },
  { name: "realm", type: "string", value: "R", description: "the owner's realm" },
] as const;

const tokensHelp = {
  name: "tokens",
  summary: "API tokens in the store: create, list, rotate, revoke, import",
  description:
    "Straight against the store the config names (SQLite or PostgreSQL); a running server sees the changes\n" +
    "on its next request. The operator acts as an admin and is audited as cli:$USER.\n" +
    "DURATION: a number with its unit: 3600s, 90m, 12h, 30d.",
  flags: [CONFIG_FLAG],
  subcommands: [
    {
      name: "create",
      args: "--user U --realm R [options]",
      summary: "make a token; its secret alone on stdout, shown this once",
      flags: [
        ...OWNER_FLAGS,
        { name: "note", type: "string", value: "TEXT", description: "what the token is for" },
        { name: "expires-in", type: "string", value: "DURATION|never", description: "its lifetime (default: tokens.default_expires_in)" },
        { name: "scope", type: "string", multiple: true, value: "service:scope", description: "limit it to these scopes (repeat the flag; a bare service: all of it)" },
        { name: "network", type: "string", multiple: true, value: "CIDR", description: "usable only from these networks (repeat the flag)" },
      ],
    },
    {
      name: "list",
      args: "[options]",
      summary: "list the tokens, newest first",
      flags: [
        { name: "user", type: "string", value: "U", description: "only this user's tokens" },
        { name: "realm", type: "string", value: "R", description: "only this realm's tokens" },
        { name: "include-revoked", type: "boolean", description: "revoked tokens too" },
        { name: "expiring", type: "string", value: "DURATION", description: "only live tokens expiring within it (7d)" },
        JSON_FLAG,
      ],
    },
    {
      name: "rotate",
      args: "ID",
      operands: ["ID"],
      summary: "a new secret for a token (same note, scopes, networks, lifetime); the new secret alone on stdout",
      flags: [{ name: "grace", type: "string", value: "DURATION", description: "how long the old secret keeps working (default: it stops at once)" }],
    },
    { name: "revoke", args: "ID|SECRET", operands: ["ID|SECRET"], summary: "revoke a token, by its id (tok_…) or its secret, and the tokens made from it" },
    {
      name: "import",
      args: "TOKENS.json --users USERS.json",
      operands: ["TOKENS.json"],
      summary: "bring auth-o-tron 0.3.7's tokens over, all or nothing",
      description: "TOKENS.json and USERS.json: mongoexport --collection tokens / --collection users of auth-o-tron's MongoDB.",
      flags: [
        { name: "users", type: "string", value: "USERS.json", description: "auth-o-tron's users collection (the owners)" },
        { name: "expires-in", type: "string", value: "DURATION|never", description: "their lifetime (default: tokens.max_expires_in)" },
        { name: "note", type: "string", value: "TEXT", description: 'their note (default: "imported from auth-o-tron")' },
      ],
    },
  ],
} as const satisfies CommandHelp;

export const tokensCommand = defineCommand(tokensHelp, async ({ values, positionals }) => {
  const [action, id] = positionals as [Action, string | undefined];
  // Mistakes are said before the store is opened.
  if (action === "create" && (!values.user || !values.realm)) return usageError("tokens", "create needs --user and --realm");
  if (action === "import" && !values.users) return usageError("tokens", "import needs --users USERS.json: the owners are in auth-o-tron's users collection");
  const scopes = values.scope ? parseScopeArguments(values.scope) : undefined;
  const durations = {
    expiresIn: values["expires-in"] === undefined ? undefined : parseExpiresIn(values["expires-in"]),
    expiringWithin: values.expiring === undefined ? undefined : parseDuration("--expiring", values.expiring),
    grace: values.grace === undefined ? undefined : parseDuration("--grace", values.grace, { zero: true }),
  };
  const problem = [scopes, ...Object.values(durations)].find((value) => typeof value === "string");
  if (problem !== undefined) return usageError("tokens", problem as string);
  return runTokens(action, id, values, { scopes: scopes as Scopes | undefined, ...(durations as { [K in keyof typeof durations]: number | null | undefined }) });
});

type Action = "create" | "list" | "rotate" | "revoke" | "import";

/** The flags' values parsed (never a problem: those were said already); null: never. */
interface Inputs {
  scopes: Scopes | undefined;
  expiresIn: number | null | undefined;
  expiringWithin: number | null | undefined;
  grace: number | null | undefined;
}

async function runTokens(action: Action, id: string | undefined, values: Values<typeof tokensHelp>, inputs: Inputs): Promise<number> {
  const config = await storeConfig(values.config, "tokens");
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
      await warnIfUnknownOwner(config, logger, values.user!, values.realm!);
      const { secret, token } = await tokens.create(operator, { username: values.user!, realm: values.realm! }, {
        note: values.note,
        expiresIn: inputs.expiresIn,
        scopes: inputs.scopes,
        allowedNetworks: values.network,
      });
      // The secret alone on stdout (for scripts); what it is on stderr.
      if (token.lifetime_note) console.error(token.lifetime_note);
      console.error(`created ${token.id} for ${token.username}@${token.realm}, expires ${token.expires_at ?? "never"}; the secret is shown this once:`);
      console.log(secret);
    } else if (action === "import") {
      return await importTokens(config, tokens, id!, values, inputs.expiresIn);
    } else if (action === "list") {
      const list = await tokens.list(operator, { username: values.user, realm: values.realm, includeRevoked: values["include-revoked"], expiringWithin: inputs.expiringWithin ?? undefined });
      console.log(values.json ? JSON.stringify({ tokens: list }, null, 2) : tokenTable(list));
    } else if (action === "rotate") {
      const { secret, token } = await tokens.rotate(operator, id!, { graceSeconds: inputs.grace ?? undefined });
      // As create: the secret alone on stdout.
      console.error(`rotated ${token.rotated_from} to ${token.id} for ${token.username}@${token.realm}, expires ${token.expires_at ?? "never"}; the secret is shown this once:`);
      console.log(secret);
    } else {
      // A secret (gth_…) is looked up by its hash, as DELETE /token/{secret} does; never printed back.
      const token = mayBeApiToken(config.tokens.prefix, id!) ? await tokens.revokeBySecret(operator, id!) : await tokens.revoke(operator, id!);
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
async function importTokens(config: GatehouseConfig, tokens: TokenService, tokensFile: string, values: { users?: string; note?: string }, given: number | null | undefined): Promise<number> {
  const byDefault = config.tokens.allow_non_expiring ? null : config.tokens.max_expires_in;
  const expiresIn = given === undefined ? byDefault : given;
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
    userDocuments = parseMongoExport(readFileSync(values.users!, "utf8"), values.users!);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    console.error(`tokens import: ${error instanceof ImportError ? error.message : `cannot read the file: ${code ?? (error as Error).message}`}`);
    return 1;
  }
  let result;
  const shown = progress("tokens import: importing");
  try {
    // All or nothing: one transaction.
    result = await importAuthOTronTokens(tokens.store, tokenDocuments, userDocuments, {
      grant,
      note: values.note ?? "imported from auth-o-tron",
      operator: operator.operator!,
      now,
      progress: (done, total) => shown.update(`${done}/${total}`, done === total),
    });
  } catch (error) {
    // The database's own reason, not the ORM's query text and parameters.
    const cause = (error as { cause?: unknown }).cause;
    console.error(`tokens import: nothing imported: ${((cause instanceof Error ? cause : error) as Error).message}`);
    return 1;
  } finally {
    shown.end();
  }
  for (const token of result.imported) console.log(`imported ${token.id} for ${token.username}@${token.realm}`);
  for (const problem of result.skipped) console.error(`skipped ${problem}`);
  for (const note of lifetimeNotes) console.error(note);
  console.error(
    `tokens import: ${result.imported.length} imported, ${result.present} already present, ${result.skipped.length} skipped; ` +
      `they expire ${expiresIn === null ? "never" : `in ${expiresIn} seconds (${Math.round(expiresIn / 86400)} days)`}`,
  );
  return result.skipped.length > 0 ? 1 : 0;
}
