// Access rules, compiled once (at start-up, and again at each reload, as the
// whole config is) and matched for every request a proxy asks about: the
// first rule whose conditions all hold decides; none, and `default_policy`
// does. A rule's conditions are read only when it is examined.
//
// What a rule asks and the request does not say, or says in a way that
// cannot be believed, refuses the request (UnreadableRequest, answered 403)
// when that rule is examined: no host, path or method named by the proxy, a
// path that cannot be decoded, the request described twice, a client
// address unknown (a trusted proxy that sends no X-Real-IP). Never guessed
// at: with first-match rules, a guess either way can let a request past a
// refusal or into a rule that grants it.
import type { BlockList } from "node:net";
import type { Scopes } from "../identity/user.ts";
import { isTrustedPeer, parseCidr, trustedProxyList, trustedProxyProblems } from "../identity/trusted-proxies.ts";
import { normaliseScopes, type Service } from "../tokens/scopes.ts";
import { normalisePath, UnreadablePath } from "./path.ts";
import type { AccessRuleConfig, AccessSection } from "./schema.ts";

export type Policy = "bypass" | "deny" | "authenticated";

export interface CompiledRule {
  /** Its place in the config: access.rules[index]. */
  index: number;
  policy: Policy;
  /** Exact host names, and the suffixes of wildcards (".example.org" for *.example.org); null: any host. */
  hosts: { exact: ReadonlySet<string>; suffixes: readonly string[] } | null;
  /** `segments`: what each condition asks of a path's first segment, to rule the rule out at once (Candidates). */
  paths: { prefixes: readonly string[]; patterns: readonly RegExp[]; segments: readonly SegmentNeed[] } | null;
  methods: ReadonlySet<string> | null;
  networks: BlockList | null;
  roles: readonly string[] | null;
  users: readonly string[] | null;
  scopes: Scopes | null;
  /** The same, as (service, scopes) pairs: checked on every request, without making anything. */
  scopePairs: readonly (readonly [string, readonly string[]])[] | null;
  /** One line for logs and `gatehouse access check`. */
  description: string;
}

/** A request that cannot be matched as described, refused whatever the rules say. */
export class UnreadableRequest {
  constructor(readonly reason: string) {}
}

/**
 * What the rules ask of a request, each worked out when first asked. A string
 * in place of an answer says why it cannot be believed.
 */
export interface RequestFacts {
  /** Lower-case, without port or trailing dot. */
  host(): string | UnreadableRequest;
  /** Normalised (path.ts). */
  path(): string | UnreadableRequest;
  /** Upper-case. */
  method(): string | UnreadableRequest;
  /** The client's address; null when unknown. */
  address(): string | null;
}

export interface AccessRules {
  readonly rules: readonly CompiledRule[];
  readonly defaultPolicy: "authenticated" | "deny";
  /** Whether any rule asks about the host, path or method (else only the address is read). */
  readonly readsDescription: boolean;
  /** The rule that decides, null for the default policy. */
  match(facts: RequestFacts): CompiledRule | null | UnreadableRequest;
}

const HOST = /^(?:(\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])$/;
const METHOD = /^[A-Za-z]{1,16}$/;

/** A config host entry, lower-case and without a trailing dot; null when it is not a host name or `*.domain`. */
function hostEntry(entry: string): string | null {
  const host = entry.trim().toLowerCase().replace(/\.$/, "");
  return HOST.test(host) ? host : null;
}

/** Candidate lists remembered per host: most sites have a few, and an attacker's made-up ones stop being remembered at this many. */
const REMEMBERED_HOSTS = 1024;
/** The key of a host or method that cannot be read: no rule is left out for it, and one that asks refuses the request. */
const UNREADABLE = "\u0000";
const UNKNOWN_ADDRESS = new UnreadableRequest("the client's address is unknown (a trusted proxy that sends no X-Real-IP)");

/**
 * The rules that may apply to the requests of one host and method, in
 * order; and, per first segment of a path (`v1` of /v1/suites), those of
 * them that path may match: comparing a path with 40 prefixes one by one
 * costs more than all the rest (measured), and a path's first segment rules
 * most of them out at once.
 */
class Candidates {
  private readonly bySegment = new Map<string, readonly CompiledRule[]>();

  constructor(readonly rules: readonly CompiledRule[]) {}

  /** The rules, without those whose paths cannot match a path beginning with this segment. */
  forSegment(segment: string): readonly CompiledRule[] {
    let found = this.bySegment.get(segment);
    if (found) return found;
    found = this.rules.filter((rule) => !rule.paths || rule.paths.segments.some((needed) => segmentMayMatch(needed, segment)));
    if (this.bySegment.size < REMEMBERED_SEGMENTS) this.bySegment.set(segment, found);
    return found;
  }
}

/** Segments remembered per candidate list (beyond, the list is filtered for each request). */
const REMEMBERED_SEGMENTS = 256;

/** What a path condition asks of a path's first segment. */
type SegmentNeed = { equals: string } | { startsWith: string } | "any";

function segmentMayMatch(need: SegmentNeed, segment: string): boolean {
  if (need === "any") return true;
  return "equals" in need ? segment === need.equals : segment.startsWith(need.startsWith);
}

/** From the text every match begins with: "/v1/…" needs the segment v1, "/metrics" one that begins with metrics. */
function segmentNeed(literal: string | null): SegmentNeed {
  if (literal === null || !literal.startsWith("/")) return "any";
  const rest = literal.slice(1);
  const slash = rest.indexOf("/");
  if (slash >= 0) return { equals: rest.slice(0, slash) };
  return rest === "" ? "any" : { startsWith: rest };
}

/** The first segment of a normalised path (`/v1/x` → v1, `/` → ""). */
function firstSegment(path: string): string {
  const slash = path.indexOf("/", 1);
  return slash < 0 ? path.slice(1) : path.slice(1, slash);
}

export function compileAccess(section: AccessSection | undefined, services: readonly Service[]): AccessRules | null {
  if (!section) return null;
  const problems = accessProblems(section, services).problems;
  // config check refuses these first; serve never starts with them.
  if (problems.length > 0) throw new Error(problems[0]);
  const rules = section.rules.map(compileRule);
  const anyHosts = rules.some((rule) => rule.hosts);
  const namedMethods = new Set(rules.flatMap((rule) => [...(rule.methods ?? [])]));
  const byHost = new Map<string, Map<string, Candidates>>();
  // One Candidates per distinct list, however many hosts lead to it: what is remembered per path segment stays bounded.
  const lists = new Map<string, Candidates>();

  /** The rules for a host and a method ("" when no rule names it; UNREADABLE: every rule, as for both). */
  const candidatesFor = (host: string, method: string): Candidates => {
    let byMethod = byHost.get(host);
    const remember = byMethod !== undefined || byHost.size < REMEMBERED_HOSTS;
    if (!byMethod) {
      byMethod = new Map();
      if (remember) byHost.set(host, byMethod);
    }
    let found = byMethod.get(method);
    if (found) return found;
    const list = rules.filter(
      (rule) =>
        (!rule.hosts || host === UNREADABLE || hostMatches(rule.hosts, host)) && (!rule.methods || method === UNREADABLE || rule.methods.has(method)),
    );
    const signature = list.map((rule) => rule.index).join(",");
    found = lists.get(signature);
    if (!found) lists.set(signature, (found = new Candidates(list)));
    byMethod.set(method, found);
    return found;
  };

  return {
    rules,
    defaultPolicy: section.default_policy,
    readsDescription: anyHosts || namedMethods.size > 0 || rules.some((rule) => rule.paths),
    match(facts) {
      const host = anyHosts ? facts.host() : "";
      const method = namedMethods.size > 0 ? facts.method() : "";
      const candidates = candidatesFor(
        host instanceof UnreadableRequest ? UNREADABLE : host,
        method instanceof UnreadableRequest ? UNREADABLE : namedMethods.has(method) ? method : "",
      );
      let list = candidates.rules;
      let path: string | undefined;
      for (let index = 0; index < list.length; index++) {
        const rule = list[index]!;
        if (rule.hosts && host instanceof UnreadableRequest) return host;
        if (rule.methods && method instanceof UnreadableRequest) return method;
        if (rule.paths) {
          if (path === undefined) {
            const read = facts.path();
            if (read instanceof UnreadableRequest) return read;
            path = read;
            // Every rule before this one has no paths: the narrower list has them at the same places.
            list = candidates.forSegment(firstSegment(path));
            if (list[index] !== rule) {
              index--;
              continue;
            }
          }
          if (!pathMatches(rule.paths, path)) continue;
        }
        // Last: finding the client's address costs the most (the peer, from the server).
        if (rule.networks) {
          const address = facts.address();
          if (address === null) return UNKNOWN_ADDRESS;
          if (!isTrustedPeer(rule.networks, address)) continue;
        }
        return rule;
      }
      return null;
    },
  };
}

function hostMatches(hosts: NonNullable<CompiledRule["hosts"]>, host: string): boolean {
  if (hosts.exact.has(host)) return true;
  for (const suffix of hosts.suffixes) if (host.length > suffix.length && host.endsWith(suffix)) return true;
  return false;
}

function pathMatches(paths: NonNullable<CompiledRule["paths"]>, path: string): boolean {
  for (const prefix of paths.prefixes) if (path.startsWith(prefix)) return true;
  for (const pattern of paths.patterns) if (pattern.test(path)) return true;
  return false;
}

function compileRule(rule: AccessRuleConfig, index: number): CompiledRule {
  const hosts = rule.hosts?.map((entry) => hostEntry(entry)!);
  const networks = rule.networks ? trustedProxyList(rule.networks) : null;
  return {
    index,
    policy: rule.policy ?? "authenticated",
    hosts: hosts
      ? { exact: new Set(hosts.filter((host) => !host.startsWith("*."))), suffixes: hosts.filter((host) => host.startsWith("*.")).map((host) => host.slice(1)) }
      : null,
    paths: rule.paths
      ? {
          prefixes: rule.paths.filter((path) => !path.startsWith("^")),
          patterns: rule.paths.filter((path) => path.startsWith("^")).map((path) => new RegExp(path)),
          segments: rule.paths.map((path) => segmentNeed(path.startsWith("^") ? literalPrefix(path) : path)),
        }
      : null,
    methods: rule.methods ? new Set(rule.methods.map((method) => method.toUpperCase())) : null,
    networks: typeof networks === "string" ? null : networks,
    roles: rule.roles ?? null,
    users: rule.users ?? null,
    scopes: rule.scopes ?? null,
    scopePairs: rule.scopes ? Object.entries(rule.scopes) : null,
    description: describeRule(rule),
  };
}

/** "hosts ecflow.example.org; methods POST, PUT → scopes ecflow: write", for logs and the access check. */
export function describeRule(rule: AccessRuleConfig): string {
  const conditions = (["hosts", "paths", "methods", "networks"] as const)
    .filter((key) => rule[key])
    .map((key) => `${key} ${rule[key]!.join(", ")}`);
  const who = [
    rule.roles && `roles ${rule.roles.join(", ")}`,
    rule.users && `users ${rule.users.join(", ")}`,
    rule.scopes &&
      `scopes ${Object.entries(rule.scopes)
        .map(([service, names]) => (names.length > 0 ? names.map((name) => `${service}:${name}`).join(", ") : service))
        .join(", ")}`,
  ].filter(Boolean);
  const outcome = rule.policy === "bypass" || rule.policy === "deny" ? rule.policy : who.length > 0 ? who.join(" or ") : "authenticated";
  return `${conditions.length > 0 ? conditions.join("; ") : "every request"} → ${outcome}`;
}

// ---------------------------------------------------------------- config check

/**
 * `config check`'s findings: `problems` refuse the config (an invalid regular
 * expression, an unknown service or scope…); `shadowed` names rules an
 * earlier one makes unreachable, a warning from `config check` and `serve`
 * alike.
 */
export function accessProblems(section: AccessSection | undefined, services: readonly Service[]): { problems: string[]; shadowed: string[] } {
  if (!section) return { problems: [], shadowed: [] };
  const problems: string[] = [];
  section.rules.forEach((rule, index) => {
    const at = `access.rules[${index}]`;
    rule.hosts?.forEach((entry, item) => {
      if (!hostEntry(entry)) problems.push(`${at}.hosts[${item}]: "${entry}" is not a host name or *.domain (no scheme, port or path; xn-- for other scripts)`);
    });
    rule.paths?.forEach((entry, item) => problems.push(...pathProblems(entry, `${at}.paths[${item}]`)));
    rule.methods?.forEach((entry, item) => {
      if (!METHOD.test(entry)) problems.push(`${at}.methods[${item}]: "${entry}" is not an HTTP method`);
    });
    if (rule.networks) problems.push(...trustedProxyProblems(rule.networks, `${at}.networks`));
    if ((rule.policy === "bypass" || rule.policy === "deny") && (rule.roles || rule.users || rule.scopes)) {
      problems.push(`${at}: roles, users and scopes say who may pass once authenticated; with policy ${rule.policy} they mean nothing (leave policy out)`);
    }
    if (rule.scopes) {
      const known = normaliseScopes(rule.scopes, services);
      if (typeof known === "string") problems.push(`${at}.scopes: ${known}`);
    }
  });
  if (problems.length > 0) return { problems, shadowed: [] };
  const shadowed: string[] = [];
  section.rules.forEach((rule, index) => {
    const earlier = section.rules.findIndex((other, otherIndex) => otherIndex < index && covers(other, rule));
    if (earlier >= 0) {
      shadowed.push(
        `access.rules[${index}]: never applies: access.rules[${earlier}] (${describeRule(section.rules[earlier]!)}) comes first and matches every request it does; move it earlier or remove it`,
      );
    }
  });
  return { problems, shadowed };
}

function pathProblems(entry: string, at: string): string[] {
  if (entry.startsWith("^")) {
    try {
      new RegExp(entry);
      return [];
    } catch (error) {
      return [`${at}: "${entry}" is not a valid regular expression: ${(error as Error).message}`];
    }
  }
  if (!entry.startsWith("/")) return [`${at}: "${entry}" is neither a path prefix (/…) nor a regular expression (^…)`];
  const normal = normalisePath(entry);
  if (normal instanceof UnreadablePath) return [`${at}: "${entry}" can never match: ${normal.reason}`];
  if (normal !== entry) {
    return [`${at}: "${entry}" can never match: paths are matched decoded, without dot segments, repeated slashes or ;parameters; write "${normal}"`];
  }
  return [];
}

/**
 * Whether rule `a` matches every request `b` does, provably: each of its
 * conditions is absent or holds at least what b's holds. Conservative: a
 * regular expression covers only itself (and what the literal text a prefix
 * rule's begins with), so some unreachable rules go unreported, never the
 * other way round.
 */
function covers(a: AccessRuleConfig, b: AccessRuleConfig): boolean {
  // A request a cannot read (no address, no method…) is refused at a: b is not reached either.
  return (
    coversEach(a.hosts, b.hosts, hostCovers) &&
    coversEach(a.paths, b.paths, pathCovers) &&
    coversEach(a.methods, b.methods, (x, y) => x.toUpperCase() === y.toUpperCase()) &&
    coversEach(a.networks, b.networks, networkCovers)
  );
}

/** Absent in a: any value; absent in b alone: a cannot be shown to cover it; else every entry of b within one of a's. */
function coversEach(a: readonly string[] | undefined, b: readonly string[] | undefined, within: (outer: string, inner: string) => boolean): boolean {
  if (!a) return true;
  if (!b) return false;
  return b.every((inner) => a.some((outer) => within(outer, inner)));
}

function hostCovers(outerEntry: string, innerEntry: string): boolean {
  const outer = hostEntry(outerEntry)!;
  const inner = hostEntry(innerEntry)!;
  if (outer === inner) return true;
  // *.example.org covers a.example.org and *.a.example.org.
  return outer.startsWith("*.") && inner.replace(/^\*/, "").endsWith(outer.slice(1)) && inner.replace(/^\*\./, "").length > outer.length - 2;
}

function pathCovers(outer: string, inner: string): boolean {
  if (outer === inner) return true;
  if (outer.startsWith("^")) return false;
  const literal = inner.startsWith("^") ? literalPrefix(inner) : inner;
  return literal !== null && literal.startsWith(outer);
}

/**
 * The text every match of a regular expression `^…` begins with: its literal
 * characters up to the first special one (one before a quantifier, which may
 * repeat it zero times); null when an alternation at the top level means
 * no text is certain.
 */
export function literalPrefix(pattern: string): string | null {
  if (hasTopLevelAlternation(pattern)) return null;
  let literal = "";
  for (let index = 1; index < pattern.length; index++) {
    const char = pattern[index]!;
    if (char === "\\" && index + 1 < pattern.length && /[^A-Za-z0-9]/.test(pattern[index + 1]!)) {
      literal += pattern[++index];
      continue;
    }
    if ("\\^$.|?*+()[]{}".includes(char)) {
      return "?*{".includes(char) ? literal.slice(0, -1) : literal;
    }
    literal += char;
  }
  return literal;
}

function networkCovers(outerEntry: string, innerEntry: string): boolean {
  const outer = parseCidr(outerEntry);
  const inner = parseCidr(innerEntry);
  if (typeof outer === "string" || typeof inner === "string" || outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  const list = trustedProxyList([outerEntry]);
  return typeof list !== "string" && isTrustedPeer(list, inner.address);
}

/** Whether an expression has a `|` outside any group or class (`^/a|/b`: /b may match anywhere). */
function hasTopLevelAlternation(pattern: string): boolean {
  let depth = 0;
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index]!;
    if (char === "\\") index++;
    else if (char === "[") {
      while (index < pattern.length && pattern[index] !== "]") index += pattern[index] === "\\" ? 2 : 1;
    } else if (char === "(") depth++;
    else if (char === ")") depth--;
    else if (char === "|" && depth === 0) return true;
  }
  return false;
}
