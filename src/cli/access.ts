// `gatehouse access check --url URL [--method M] [--user U] …`: what the
// access rules of the config decide for one request, and which rule decides
// it, through the very code /authenticate runs (the request is described to
// it as nginx would, with X-Original-URL and X-Original-Method). Roles and
// scopes are taken as given: no provider is asked. Exit 0: allowed; 1:
// refused (403, or 401 for a request without a credential); 2: usage.
import { ConfigError } from "../config/load.ts";
import { createUser, type User } from "../identity/user.ts";
import { ProxiedRequestFacts, whatIsMissing } from "../access/index.ts";
import { compileAccess, UnreadableRequest, type CompiledRule } from "../access/rules.ts";
import { normaliseScopes } from "../tokens/scopes.ts";
import { loadExistingConfig, parseScopeArguments } from "./common.ts";
import { CONFIG_FLAG, defineCommand, usageError } from "./help.ts";

export const accessCommand = defineCommand(
  {
    name: "access",
    summary: "what the access rules decide for a request, and which rule decides it",
    flags: [CONFIG_FLAG],
    subcommands: [
      {
        name: "check",
        args: "--url URL [options]",
        summary: "what the access rules decide for this request, through the very code /authenticate runs",
        description:
          "Without --user, the request carries no credential. Roles and scopes are taken as given: no provider is asked.",
        flags: [
          { name: "url", type: "string", value: "URL", description: "the request's URL, as nginx sends it in X-Original-URL" },
          { name: "method", type: "string", value: "M", description: "its method (default GET)" },
          { name: "user", type: "string", value: "U", description: "the caller" },
          { name: "realm", type: "string", value: "R", description: "the caller's realm" },
          { name: "roles", type: "string", value: "a,b", description: "the caller's roles, separated by commas" },
          { name: "scopes", type: "string", value: "ecflow:read,…", description: "the caller uses an API token with these scopes (without it: a password or a session, no scope limit)" },
          { name: "ip", type: "string", value: "ADDRESS", description: "the client's address, for rules with networks (without it: unknown)" },
        ],
      },
    ],
    exitCodes: [{ code: 1, meaning: "refused (403, or 401 without a credential)" }],
  },
  async ({ values, positionals }) => {
    const url = values.url;
    if (!url) return usage("check needs --url URL");
    if (!/^https?:\/\/[^/?#\s]+/i.test(url) || !URL.canParse(url)) return usage(`--url ${url}: expected an http(s) URL, such as https://app.example.org/path`);
    const method = (values.method ?? "GET").toUpperCase();
    if (!/^[A-Z]{1,16}$/.test(method)) return usage(`--method ${values.method}: expected an HTTP method`);
    if (!values.user && (values.roles || values.scopes || values.realm)) return usage("--roles, --scopes and --realm describe a caller: give --user too");

    let config;
    try {
      config = (await loadExistingConfig(values.config)).config;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      console.error(error.message);
      return 2;
    }
    let user: User | null = null;
    if (values.user) {
      const scopes = values.scopes === undefined ? undefined : parseScopeArguments(list(values.scopes));
      if (typeof scopes === "string") return usage(scopes.replace("--scope", "--scopes"));
      const known = scopes && normaliseScopes(scopes, config.services);
      if (typeof known === "string") return usage(`--scopes: ${known}`);
      user = createUser({ username: values.user, realm: values.realm ?? "(any)", roles: list(values.roles), scopes: known });
    }

    const request = new Request("http://gatehouse.invalid/authenticate", { headers: { "x-original-url": url, "x-original-method": method } });
    const facts = new ProxiedRequestFacts(() => values.ip ?? null).reset(request, null);
    const path = facts.path();
    const caller = user
      ? `${user.username} (roles: ${user.roles.join(", ") || "none"}; ${user.scopes ? `API token scopes: ${describe(user.scopes)}` : "a password or session: no scope limit"})`
      : "no credential";
    console.log(`${method} ${url} as ${caller}${values.ip ? ` from ${values.ip}` : ""}`);
    console.log(`matched on: path ${path instanceof UnreadableRequest ? "(cannot be read)" : path}`);

    const rules = compileAccess(config.access, config.services);
    if (!rules) return decision(user ? "allowed: no access rules, any authenticated caller passes" : "refused (401): no access rules, a credential is needed", !!user);
    const rule = rules.match(facts);
    if (rule instanceof UnreadableRequest) return decision(`refused (403): this request cannot be checked: ${rule.reason}`, false);
    console.log(rule ? `rule: access.rules[${rule.index}]: ${rule.description}` : `rule: none matches; default_policy: ${rules.defaultPolicy}`);
    return decide(rule, rules.defaultPolicy, user);
  },
);

function decide(rule: CompiledRule | null, defaultPolicy: "authenticated" | "deny", user: User | null): number {
  const policy = rule?.policy ?? defaultPolicy;
  if (policy === "deny") return decision("refused (403): denied to everyone", false);
  if (policy === "bypass") return decision(user ? "allowed: no credential needed (the one sent is still checked)" : "allowed: no credential needed", true);
  if (!user) return decision("refused (401): a credential is needed", false);
  const missing = rule && whatIsMissing(rule, user);
  return missing ? decision(`refused (403): ${user.username} ${missing}`, false) : decision("allowed", true);
}

function decision(text: string, allowed: boolean): number {
  console.log(`decision: ${text}`);
  return allowed ? 0 : 1;
}

const usage = (problem: string) => usageError("access", problem);

const list = (value: string | undefined) => (value ?? "").split(",").map((item) => item.trim()).filter(Boolean);

const describe = (scopes: Record<string, string[]>) =>
  Object.entries(scopes)
    .flatMap(([service, names]) => (names.length > 0 ? names.map((name) => `${service}:${name}`) : [service]))
    .join(", ") || "none";
