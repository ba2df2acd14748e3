// Access rules on /authenticate: before the identity, the rule that matches
// the request the proxy asks about (a `deny`, or a request that cannot be
// read, ends it with 403); after it, whether the caller passes that rule.
//
// The 403 has a short body saying what is missing: HTML for a browser's page
// navigation, JSON `{"error": …}` otherwise. Caddy's forward_auth and
// Traefik's forwardAuth pass it to the client; nginx's auth_request answers
// its own 403 page and discards it (`error_page 403` can show one of the
// application's own). 200 and 401 keep their empty bodies (nginx keeps its
// auth_request connection alive only then), and a 403 is never a redirect.
import type { RequestContext } from "../identity/request.ts";
import type { User } from "../identity/user.ts";
import { describeOriginalRequest, readDescription, sameDescription, type RequestDescription } from "../identity/original-request.ts";
import type { Logger } from "../log.ts";
import { errorAnswer } from "../modules/errors.ts";
import { html } from "../modules/portal/html.ts";
import { whatIsMissing } from "./decision.ts";
import { normalisePath, UnreadablePath } from "./path.ts";
import type { AccessSection } from "./schema.ts";
import type { Service } from "../tokens/scopes.ts";
type DescribedRequest = ReturnType<typeof describeOriginalRequest>;

import { compileAccess, UnreadableRequest, type AccessRules, type CompiledRule, type RequestFacts } from "./rules.ts";

export interface AccessControl {
  /**
   * The rule the caller must pass once known (null: any authenticated caller,
   * as without rules), or the answer that ends the request now: 403.
   */
  check(request: Request, context: RequestContext): CompiledRule | null | Response;
  /** The 403 for a caller the rule does not let through, or null. */
  refuse(rule: CompiledRule, user: User, context: RequestContext): Response | null;
}

/** The answer to a request a `bypass` rule lets through without a credential: as a success, without identity. */
export const admittedWithoutCredential = () => new Response(null, { status: 200, headers: { "cache-control": "no-store" } });

/**
 * The request a proxy asks about, as the rules read it: the headers that
 * describe it are read once, when a rule first asks (a rule on networks
 * alone reads none), and the client's address only when a rule on networks
 * gets that far. One is reused from request to request (`reset`): matching
 * is synchronous.
 */
export class ProxiedRequestFacts<Context = unknown> implements RequestFacts {
  private request: Request | undefined;
  private context: Context | undefined;
  private original: DescribedRequest | undefined;
  private normalised: string | UnreadableRequest | undefined;
  private client: string | null | undefined;

  constructor(private readonly clientAddress: (context: Context) => string | null) {}

  private description: RequestDescription | undefined;

  /** A new request; its description when it was read already. */
  reset(request: Request, context: Context, description?: RequestDescription): this {
    this.request = request;
    this.context = context;
    this.description = description;
    this.original = undefined;
    this.normalised = undefined;
    this.client = undefined;
    return this;
  }

  private described(): DescribedRequest {
    return (this.original ??= describeOriginalRequest(this.request!, this.description));
  }

  host(): string | UnreadableRequest {
    const { host, problems } = this.described();
    if (problems?.host || host === null) return new UnreadableRequest(problems?.host ?? "no host");
    // nginx serves `app.example.org.` as `app.example.org`: so must the rules.
    return host.endsWith(".") ? host.slice(0, -1) : host;
  }

  path(): string | UnreadableRequest {
    if (this.normalised !== undefined) return this.normalised;
    const { path, problems } = this.described();
    if (problems?.path) return (this.normalised = new UnreadableRequest(problems.path));
    const normal = normalisePath(path);
    return (this.normalised = normal instanceof UnreadablePath ? new UnreadableRequest(normal.reason) : normal);
  }

  method(): string | UnreadableRequest {
    const { method, problems } = this.described();
    return problems?.method ? new UnreadableRequest(problems.method) : method;
  }

  address(): string | null {
    if (this.client === undefined) this.client = this.clientAddress(this.context!);
    return this.client;
  }

  /** Whether a rule asked for the client's address (the answer then depends on it). */
  get addressAsked(): boolean {
    return this.client !== undefined;
  }
}

/** The access rules of the config (`access`, with its `services`) on /authenticate, or null without an `access` section. */
export function createAccessControl(
  access: AccessSection | undefined,
  services: readonly Service[],
  clientAddress: (context: RequestContext) => string | null,
  logger: Logger,
): AccessControl | null {
  const rules = compileAccess(access, services);
  if (!rules) return null;
  let warnedUnreadable = false;
  const facts = new ProxiedRequestFacts(clientAddress);
  // The rule a description leads to, remembered in two generations (see below).
  let recent = new Map<string, Remembered>();
  let older = new Map<string, Remembered>();
  let misses = 0;

  /**
   * The rule for this request. Reading how the proxy describes it (six
   * headers), parsing, normalising the path and going through 50 rules cost
   * more than the 5 % of an answer they may take: so the rule found for a
   * description is remembered, keyed by the URL or path header, and checked
   * against every header it came from. It depends on
   * nothing else (the config is this generation's), unless a rule asked for
   * the client's address: such answers are not remembered. At most twice
   * REMEMBERED_DESCRIPTIONS, none longer than REMEMBERED_KEY_LENGTH (a few MB).
   * Only one description missed in REMEMBER_ONE_IN is remembered: a URL that
   * comes back is soon among them, and a stream of URLs never seen again
   * (an identifier in every path) does not pay for filling the memory with
   * them, which costs more than it saves (measured: a new URL on every
   * request cost 31 % with every one remembered, 14 % with none).
   */
  const decide = (request: Request, context: RequestContext): ReturnType<AccessRules["match"]> => {
    if (!rules.readsDescription) return rules.match(facts.reset(request, context));
    const description = readDescription(request);
    const key = description.url ?? description.forwardedUri ?? description.uri ?? "";
    const known = recent.get(key) ?? older.get(key);
    if (known && sameDescription(known.description, description)) return known.rule;
    const rule = rules.match(facts.reset(request, context, description));
    if (++misses % REMEMBER_ONE_IN === 0 && !facts.addressAsked && key.length <= REMEMBERED_KEY_LENGTH) {
      if (recent.size >= REMEMBERED_DESCRIPTIONS) {
        older = recent;
        recent = new Map();
      }
      recent.set(key, { description, rule });
    }
    return rule;
  };

  const forbidden = (context: RequestContext, message: string, rule: string, reason: string): Response => {
    if (logger.enabled("debug")) logger.debug("access.refused", { rule, reason, method: context.originalMethod, path: context.originalPath });
    return forbiddenAnswer(context.headers, message);
  };

  return {
    check(request, context) {
      const rule = decide(request, context);
      if (rule instanceof UnreadableRequest) {
        // Once, at warn: a proxy that describes requests in two ways refuses every one (docs/web-applications.md#access-rules).
        if (!warnedUnreadable) logger.warn("access.unreadable_request", { reason: rule.reason, detail: "refused (403); logged once, then at debug" });
        warnedUnreadable = true;
        return forbidden(context, `This request cannot be checked: ${rule.reason}.`, "none", rule.reason);
      }
      if (rule === null) return rules.defaultPolicy === "deny" ? forbidden(context, DENIED, "default_policy", "deny") : null;
      if (rule.policy === "deny") return forbidden(context, DENIED, ruleName(rule), "deny");
      // A rule that asks only for authentication is the default behaviour: nothing more to check.
      return rule.policy === "bypass" || rule.roles || rule.users || rule.scopes ? rule : null;
    },
    refuse(rule, user, context) {
      const missing = whatIsMissing(rule, user);
      return missing ? forbidden(context, `Signed in as ${user.username}, who ${missing}.`, ruleName(rule), missing) : null;
    },
  };
}

const DENIED = "Access to this address is not allowed.";
/** Descriptions remembered with their rule (per generation), and the longest URL or path kept. */
const REMEMBERED_DESCRIPTIONS = 4096;
const REMEMBERED_KEY_LENGTH = 1024;
const REMEMBER_ONE_IN = 8;

interface Remembered {
  description: RequestDescription;
  rule: ReturnType<AccessRules["match"]>;
}
const ruleName = (rule: CompiledRule) => `access.rules[${rule.index}]`;

/** A page navigation of a person's browser: it asks for HTML, with no credential of its own and not from a script. */
function isBrowserNavigation(headers: Headers): boolean {
  return !headers.has("authorization") && !headers.has("x-requested-with") && (headers.get("accept")?.includes("text/html") ?? false);
}

function forbiddenAnswer(headers: Headers, message: string): Response {
  if (!isBrowserNavigation(headers)) return errorAnswer("error", 403, message);
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Access refused</title>
<style>body{font:1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}h1{font-size:1.5rem}</style>
</head><body><main><h1>Access refused</h1><p>${message}</p></main></body></html>`;
  return new Response(page.text, {
    status: 403,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
      "x-content-type-options": "nosniff",
    },
  });
}

export { compileAccess, describeRule, type AccessRules, type CompiledRule } from "./rules.ts";
export { whatIsMissing } from "./decision.ts";
