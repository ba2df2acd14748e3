// Access rules (issue 22, § 3): by host, normalised path, method and network,
// to bypass, deny, or roles, users and token scopes. The pieces first (the
// path the rules see, the request as the proxy describes it, matching, config
// check), then /authenticate through HTTP on an ephemeral port, then the
// `gatehouse access check` command and a reload.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { normalisePath, UnreadablePath } from "../src/access/path.ts";
import { compileAccess, literalPrefix, UnreadableRequest, type RequestFacts } from "../src/access/rules.ts";
import { ProxiedRequestFacts } from "../src/access/index.ts";
import { describeOriginalRequest } from "../src/identity/original-request.ts";
import { buildConfig, ConfigError } from "../src/config/load.ts";
import type { AccessSection } from "../src/access/schema.ts";
import { basic, startApp, type TestApp } from "./helpers/app.ts";
import { projectRoot, spawnGatehouse, temporaryDirectory } from "./helpers/gatehouse.ts";

const services = [
  { name: "ecflow", scopes: ["read", "write"] },
  { name: "gatehouse", scopes: ["tokens", "sessions", "admin"] },
];

/** The example of the issue, and a few more. */
const exampleRules: AccessSection = {
  default_policy: "authenticated",
  rules: [
    { hosts: ["docs.example.org"], policy: "bypass" },
    { hosts: ["*.example.org"], paths: ["^/admin/"], roles: ["admin"] },
    { hosts: ["ecflow.example.org"], methods: ["POST", "PUT", "DELETE"], scopes: { ecflow: ["write"] } },
    { networks: ["10.0.0.0/8"], paths: ["/metrics"], policy: "bypass" },
    { paths: ["/internal/"], policy: "deny" },
    { hosts: ["ops.example.org"], users: ["carol"] },
    { hosts: ["app.example.org"], paths: ["^(?i:/secret/)"], roles: ["admin"] },
  ],
};

function baseConfig(access?: unknown, dir = temporaryDirectory("gatehouse-access-")): Record<string, any> {
  return {
    version: "2.0.0",
    logging: { level: "warn" },
    providers: [
      {
        type: "plain",
        name: "people",
        realm: "local",
        users: [
          { username: "alice", password: "alice-pw", roles: ["admin"] },
          { username: "bob", password: "bob-pw", roles: ["staff"] },
          { username: "carol", password: "carol-pw" },
        ],
      },
    ],
    store: { enabled: true, path: join(dir, "gatehouse.db") },
    services: [{ name: "ecflow", scopes: ["read", "write"] }],
    jwt: { iss: "gatehouse-access-test", secret: "access-test-secret-0123456789abcdef" },
    include_legacy_headers: true,
    metrics: { enabled: false },
    ...(access === undefined ? {} : { access }),
  };
}

// ---------------------------------------------------------------- the path

describe("the path the rules see: decoded, dot segments and repeated slashes resolved, the query apart", () => {
  const cases: [string, string][] = [
    ["/admin/x", "/admin/x"],
    ["/a/../admin/x", "/admin/x"],
    ["/%61dmin/", "/admin/"],
    ["//admin/", "/admin/"],
    ["///admin//x", "/admin/x"],
    ["/admin/%2e%2e/", "/"],
    ["/public/%2e%2e/admin/", "/admin/"],
    ["/public/.%2E/admin/", "/admin/"],
    ["/public/./../admin", "/admin"],
    ["/../../admin/", "/admin/"],
    ["/a/b/..", "/a/"],
    ["/a/b/.", "/a/b/"],
    ["/", "/"],
    ["/ADMIN/", "/ADMIN/"],
    ["/public/..;/admin/", "/admin/"],
    ["/admin;jsessionid=1/x", "/admin/x"],
    ["/caf%C3%A9", "/café"],
    ["/caf\xc3\xa9", "/café"],
    ["/a%3Fb", "/a?b"],
    ["/x.js", "/x.js"],
    ["/a..b/...", "/a..b/..."],
  ];
  for (const [raw, normal] of cases) {
    test(`${JSON.stringify(raw)} is ${JSON.stringify(normal)}`, () => expect(normalisePath(raw)).toBe(normal));
  }

  const refused: [string, RegExp][] = [
    ["/admin%2Fx", /encoded slash/],
    ["/public%2F..%2Fadmin/", /encoded slash/],
    ["/admin%5Cx", /encoded slash or backslash/],
    ["/public\\..\\admin", /backslash/],
    ["/admin%00/", /control character/],
    ["/admin%0d%0a/", /control character/],
    ["/admin%zz", /not an escape/],
    ["/admin%4", /not an escape/],
    ["/admin%ff", /not UTF-8/],
    ["/%C0%AE%C0%AE/admin", /not UTF-8/],
    ["/public#/../admin", /fragment/],
    ["/a b", /space/],
    ["relative", /begin with \//],
  ];
  for (const [raw, reason] of refused) {
    test(`${JSON.stringify(raw)} is refused, not guessed at`, () => {
      const result = normalisePath(raw);
      expect(result).toBeInstanceOf(UnreadablePath);
      expect((result as UnreadablePath).reason).toMatch(reason);
    });
  }
});

// ---------------------------------------------------------------- described once

describe("the request as the proxy describes it: once, or refused", () => {
  const problems = (headers: Record<string, string>, method = "GET") =>
    describeOriginalRequest(new Request("http://gatehouse/authenticate", { method, headers })).problems ?? fine;
  const fine = { target: null, host: null, path: null, method: null };

  test("one way is fine: X-Original-URL, the X-Forwarded pair, or X-Original-URI", () => {
    expect(problems({ "x-original-url": "https://a.example.org/x", "x-original-method": "POST" })).toEqual(fine);
    expect(problems({ "x-forwarded-host": "a.example.org", "x-forwarded-uri": "/x", "x-forwarded-method": "PUT" })).toEqual(fine);
    expect(problems({ host: "a.example.org", "x-original-uri": "/x", "x-original-method": "POST" })).toEqual(fine);
  });

  test("two ways (a client adding the header its proxy does not set) are refused", () => {
    expect(problems({ "x-original-uri": "/v1/x", "x-original-url": "https://docs.example.org/v1/x" }).target).toMatch(/2 ways/);
    expect(problems({ "x-original-uri": "/v1/x", "x-forwarded-uri": "/x", "x-forwarded-host": "docs.example.org" }).target).toMatch(/2 ways/);
    expect(problems({ "x-forwarded-uri": "/x", "x-forwarded-host": "a", "x-original-url": "https://docs.example.org/x" }).target).toMatch(/2 ways/);
  });

  test("the headers of another proxy's set are never looked at: a client's X-Forwarded-Host beside X-Original-URI, its X-Original-Method beside X-Forwarded-Method", () => {
    const described = (headers: Record<string, string>) => describeOriginalRequest(new Request("http://gatehouse/authenticate", { headers }));
    const seed = described({ host: "ecflow.example.org", "x-original-uri": "/v1/x", "x-original-method": "POST", "x-forwarded-host": "docs.example.org", "x-forwarded-method": "GET" });
    expect(seed).toMatchObject({ host: "ecflow.example.org", method: "POST", problems: null });
    const caddy = described({ "x-forwarded-host": "ecflow.example.org", "x-forwarded-uri": "/v1/x", "x-forwarded-method": "DELETE", "x-original-method": "GET" });
    expect(caddy).toMatchObject({ host: "ecflow.example.org", method: "DELETE", problems: null });
  });

  test("a repeated header (joined by a comma) is refused; a comma in a path is not", () => {
    expect(problems({ "x-original-url": "https://a.example.org/x, https://docs.example.org/" }).target).toMatch(/X-Original-URL/);
    expect(problems({ "x-forwarded-host": "docs.example.org, a.example.org", "x-forwarded-uri": "/" }).target).toMatch(/X-Forwarded-Host/);
    expect(problems({ "x-original-uri": "/x, /y" }).target).toMatch(/X-Original-URI/);
    expect(problems({ "x-original-url": "https://a.example.org/a,b" }).target).toBeNull();
  });

  test("a method that contradicts the request's own, or is not one, is refused", () => {
    expect(problems({ "x-original-uri": "/", "x-original-method": "GET" }, "POST").method).toMatch(/is a POST/);
    expect(problems({ "x-original-uri": "/", "x-original-method": "GET, POST" }).method).toMatch(/not one method/);
    // Caddy and Traefik ask with GET whatever the method was.
    expect(problems({ "x-forwarded-uri": "/", "x-forwarded-method": "DELETE" }, "GET").method).toBeNull();
  });

  test("what no header names is unknown: the path is not /, the method not the subrequest's own GET (nginx asks with GET whatever the method)", () => {
    expect(problems({ host: "a.example.org", "x-original-method": "GET" })).toEqual({ ...fine, path: expect.stringMatching(/no header names the path/) });
    expect(problems({ host: "a.example.org", "x-original-uri": "/" })).toEqual({ ...fine, method: expect.stringMatching(/no header names the method/) });
    expect(problems({ "x-original-uri": "/", "x-original-method": "GET" })).toEqual({ ...fine, host: expect.stringMatching(/no header names the host/) });
    expect(problems({ "x-forwarded-host": "a.example.org", "x-forwarded-uri": "/", "x-original-method": "GET" })).toEqual({ ...fine, method: expect.stringMatching(/X-Forwarded-Method/) });
  });
});

// ---------------------------------------------------------------- matching

/** Facts of a request described by X-Original-URL, as nginx would. */
function facts(url: string, method = "GET", address: string | null = null): RequestFacts {
  return new ProxiedRequestFacts(() => address).reset(new Request("http://gatehouse/authenticate", { headers: { "x-original-url": url, "x-original-method": method } }), null);
}

describe("matching: the first rule whose conditions all hold", () => {
  const rules = compileAccess(exampleRules, services)!;
  const index = (url: string, method = "GET", address: string | null = null) => {
    const rule = rules.match(facts(url, method, address));
    return rule instanceof UnreadableRequest ? rule.reason : (rule?.index ?? null);
  };

  test("hosts: exact, or every subdomain (not the domain itself), without case, whatever the port, with or without the final dot", () => {
    expect(index("https://docs.example.org/x")).toBe(0);
    expect(index("https://DOCS.Example.ORG:8443/x")).toBe(0);
    expect(index("https://docs.example.org./x")).toBe(0);
    expect(index("https://app.example.org/admin/")).toBe(1);
    expect(index("https://a.b.example.org/admin/")).toBe(1);
    expect(index("https://APP.EXAMPLE.ORG./admin/")).toBe(1);
    expect(index("https://example.org/admin/")).toBeNull();
    expect(index("https://example.org.evil.test/admin/")).toBeNull();
    expect(index("https://badexample.org/admin/")).toBeNull();
  });

  test("first match wins: docs.example.org/admin/ is the bypass rule's", () => {
    expect(index("https://docs.example.org/admin/")).toBe(0);
  });

  test("paths are matched normalised: no spelling slips past ^/admin/", () => {
    for (const path of ["/admin/x", "/a/../admin/x", "/%61dmin/", "//admin/", "/public/%2e%2e/admin/", "/public/..;/admin/"]) {
      expect(index(`https://app.example.org${path}`)).toBe(1);
    }
    expect(index("https://app.example.org/admin/%2e%2e/")).toBeNull(); // that is "/", as nginx serves it
    expect(index("https://app.example.org/admin%2Fx")).toMatch(/encoded slash/);
    expect(index("https://app.example.org/admin/?next=/internal/")).toBe(1); // the query is not the path
    expect(index("https://app.example.org/x?/admin/")).toBeNull();
  });

  test("paths are compared with case; a rule that ignores case says so", () => {
    expect(index("https://app.example.org/ADMIN/")).toBeNull();
    expect(index("https://app.example.org/SeCrEt/x")).toBe(6);
  });

  test("a plain prefix is a prefix of the path (/internal/ also covers /internal/x, not /internal)", () => {
    expect(index("https://x.test/internal/a")).toBe(4);
    expect(index("https://x.test/internal")).toBeNull();
    expect(index("https://x.test/metrics-and-more", "GET", "10.1.2.3")).toBe(3);
  });

  test("methods", () => {
    expect(index("https://ecflow.example.org/v1/x", "POST")).toBe(2);
    expect(index("https://ecflow.example.org/v1/x", "delete")).toBe(2);
    expect(index("https://ecflow.example.org/v1/x", "GET")).toBeNull();
  });

  test("networks: the client's address; unknown, a rule that asks for it refuses the request (never a guess)", () => {
    expect(index("https://x.test/metrics", "GET", "10.9.8.7")).toBe(3);
    expect(index("https://x.test/metrics", "GET", "::ffff:10.9.8.7")).toBe(3);
    expect(index("https://x.test/metrics", "GET", "192.0.2.1")).toBeNull();
    expect(index("https://x.test/metrics", "GET", null)).toMatch(/address is unknown/);
    // Only a rule that gets that far asks: here the path differs first.
    expect(index("https://x.test/other", "GET", null)).toBeNull();
  });

  test("an unknown host or method refuses the request at the first rule that asks for it", () => {
    const section: AccessSection = { default_policy: "authenticated", rules: [{ paths: ["/open/"], policy: "bypass" }, { hosts: ["a.test"], policy: "bypass" }, { methods: ["POST"], policy: "deny" }] };
    const compiled = compileAccess(section, services)!;
    const described = (headers: Record<string, string>) => new ProxiedRequestFacts(() => null).reset(new Request("http://gatehouse/authenticate", { headers }), null);
    expect((compiled.match(described({ "x-original-uri": "/open/x" })) as { index: number }).index).toBe(0);
    expect(compiled.match(described({ "x-original-uri": "/x", "x-original-method": "GET" }))).toEqual(new UnreadableRequest(expect.stringMatching(/no header names the host/)));
    expect(compiled.match(described({ "x-original-url": "https://b.test/x" }))).toEqual(new UnreadableRequest(expect.stringMatching(/no header names the method/)));
    expect(compiled.match(described({ "x-original-url": "https://b.test/x", "x-original-method": "GET" }))).toBeNull();
    const unreadableHost = new ProxiedRequestFacts(() => null).reset(new Request("http://gatehouse/authenticate", { headers: { "x-forwarded-uri": "/", "x-forwarded-host": "bad host" } }), null);
    expect(compiled.match(unreadableHost)).toBeInstanceOf(UnreadableRequest);
  });

  test("conditions are read only when a rule asks: an unreadable path refuses only where paths are matched", () => {
    expect(index("https://docs.example.org/a%2Fb")).toBe(0);
    expect(index("https://app.example.org/a%2Fb")).toMatch(/encoded slash/);
  });

  test("the same rule as reading the rules one by one, for random rules and requests (the per-host index, the one-pass path test)", () => {
    // A small deterministic generator: the same cases on every run.
    let seed = 22;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pick = <T,>(items: readonly T[]): T => items[random(items.length)]!;
    const hosts = ["a.test", "b.test", "*.test", "x.a.test", "*.a.test"];
    const paths = ["/", "/a/", "/a/b", "^/a/", "^/a/b$", "^(?i:/A/)", "^/x|/y/", "^/(a|b)/", "/b", "^/[ab]/c"];
    const methods = ["GET", "POST", "PUT"];
    const networks = ["10.0.0.0/8", "192.0.2.0/24"];
    const policies = ["bypass", "deny", undefined] as const;
    const requestHosts = ["a.test", "b.test", "x.a.test", "y.x.a.test", "c.test", "test"];
    const requestPaths = ["/", "/a/", "/a/b", "/a/bc", "/A/x", "/b/c", "/q/y/z", "/x", "/b", "/c"];
    const addresses = ["10.1.1.1", "192.0.2.9", "203.0.113.1", null];
    for (let round = 0; round < 60; round++) {
      const ruleConfigs = Array.from({ length: 1 + random(12) }, () => {
        const rule: Record<string, unknown> = {};
        if (random(2)) rule.hosts = [pick(hosts), ...(random(3) ? [] : [pick(hosts)])];
        if (random(2)) rule.paths = [pick(paths), ...(random(3) ? [] : [pick(paths)])];
        if (random(3) === 0) rule.methods = [pick(methods)];
        if (random(4) === 0) rule.networks = [pick(networks)];
        const policy = pick(policies);
        if (policy) rule.policy = policy;
        return rule;
      });
      const section = { default_policy: "authenticated", rules: ruleConfigs } as AccessSection;
      const compiled = compileAccess(section, services)!;
      for (let request = 0; request < 40; request++) {
        const host = pick(requestHosts);
        const path = pick(requestPaths);
        const method = pick(methods);
        const address = pick(addresses);
        const got = compiled.match(facts(`https://${host}${path}`, method, address));
        const expected = ruleConfigs.findIndex((rule) => {
          const hostOk = !rule.hosts || (rule.hosts as string[]).some((entry) => (entry.startsWith("*.") ? host.endsWith(entry.slice(1)) : host === entry));
          const pathOk = !rule.paths || (rule.paths as string[]).some((entry) => (entry.startsWith("^") ? new RegExp(entry).test(path) : path.startsWith(entry)));
          const methodOk = !rule.methods || (rule.methods as string[]).includes(method);
          // An unknown address refuses the request at the first rule that gets as far as asking for it (-2).
          const networkOk =
            !rule.networks || address === null || (rule.networks as string[]).some((net) => (net.startsWith("10.") ? address.startsWith("10.") : address.startsWith("192.0.2.")));
          return hostOk && pathOk && methodOk && networkOk;
        });
        const refused = expected >= 0 && ruleConfigs[expected]!.networks && address === null;
        const result = got instanceof UnreadableRequest ? -2 : ((got as { index: number } | null)?.index ?? -1);
        expect({ round, host, path, method, address, rule: result }).toEqual({ round, host, path, method, address, rule: refused ? -2 : expected });
      }
    }
  });

  test("an operator's expression with groups of its own is tested alone, with the same result", () => {
    const compiled = compileAccess({ default_policy: "authenticated", rules: [{ paths: ["^/(x)\\1/"], policy: "deny" }, { paths: ["^/(?<name>a)/"], policy: "bypass" }, { paths: ["/b/"] }] }, services)!;
    expect((compiled.match(facts("https://h.test/xx/")) as { index: number }).index).toBe(0);
    expect((compiled.match(facts("https://h.test/a/")) as { index: number }).index).toBe(1);
    expect((compiled.match(facts("https://h.test/b/")) as { index: number }).index).toBe(2);
    expect(compiled.match(facts("https://h.test/x/"))).toBeNull();
  });

  test("a literal prefix of a regular expression, for the shadowing check", () => {
    expect(literalPrefix("^/admin/")).toBe("/admin/");
    expect(literalPrefix("^\\/admin\\/x")).toBe("/admin/x");
    expect(literalPrefix("^/admin/x?")).toBe("/admin/");
    expect(literalPrefix("^/a|/b")).toBeNull();
    expect(literalPrefix("^/a(/|$)")).toBe("/a");
    expect(literalPrefix("^/a[/]b")).toBe("/a");
  });
});

// ---------------------------------------------------------------- config check

describe("config check of the access section", () => {
  const check = (access: unknown, extra: Record<string, unknown> = {}) => {
    try {
      const loaded = buildConfig({ ...baseConfig(access), ...extra }, "test", {});
      return { problems: [] as string[], weaknesses: loaded.weaknesses };
    } catch (error) {
      if (error instanceof ConfigError) return { problems: error.problems, weaknesses: [] };
      throw error;
    }
  };

  test("the issue's example is valid, and TypeBox defaults default_policy", () => {
    expect(check({ rules: exampleRules.rules })).toEqual({ problems: [], weaknesses: [] });
    expect(buildConfig(baseConfig({ rules: [] }), "test", {}).config.access).toEqual({ default_policy: "authenticated", rules: [] });
  });

  test("names an invalid regular expression, a bad host, method or network, a prefix that can never match", () => {
    const { problems } = check({
      rules: [
        { paths: ["^/admin/(x"] },
        { hosts: ["https://app.example.org/"] },
        { methods: ["GE T"] },
        { networks: ["10.0.0.0/33"] },
        { paths: ["admin/"] },
        { paths: ["/a/../admin/"] },
        { paths: ["/a%2Fb"] },
      ],
    });
    expect(problems).toEqual([
      expect.stringMatching(/^access\.rules\[0\]\.paths\[0\]: "\^\/admin\/\(x" is not a valid regular expression/),
      expect.stringMatching(/^access\.rules\[1\]\.hosts\[0\]: .* is not a host name/),
      expect.stringMatching(/^access\.rules\[2\]\.methods\[0\]: "GE T" is not an HTTP method/),
      expect.stringMatching(/^access\.rules\[3\]\.networks\[0\]: .*prefix length/),
      expect.stringMatching(/^access\.rules\[4\]\.paths\[0\]: "admin\/" is neither/),
      expect.stringMatching(/^access\.rules\[5\]\.paths\[0\]: .* write "\/admin\/"/),
      expect.stringMatching(/^access\.rules\[6\]\.paths\[0\]: .*encoded slash/),
    ]);
  });

  test("names unknown services and scopes, against `services` (Gatehouse's own included)", () => {
    expect(check({ rules: [{ scopes: { tiled: ["read"] } }] }).problems).toEqual([expect.stringMatching(/^access\.rules\[0\]\.scopes: Unknown service "tiled"; valid services and scopes: ecflow: read, write/)]);
    expect(check({ rules: [{ scopes: { ecflow: ["admin"] } }] }).problems).toEqual([expect.stringMatching(/^access\.rules\[0\]\.scopes: Unknown scope "admin" for service "ecflow"/)]);
    expect(check({ rules: [{ scopes: { gatehouse: ["tokens"] } }] }).problems).toEqual([]);
  });

  test("refuses a typo'd key (a rule missing its condition would match everything), an empty list, roles with bypass", () => {
    expect(check({ rules: [{ path: ["/admin/"], policy: "bypass" }] }).problems.join("\n")).toMatch(/access\/rules\/0|access\.rules\[0\]/);
    expect(check({ rules: [{ hosts: [], policy: "deny" }] }).problems.join("\n")).toMatch(/access\.rules\[0\]\.hosts/);
    expect(check({ rules: [{ paths: ["/a/"], policy: "bypass", roles: ["admin"] }] }).problems).toEqual([expect.stringMatching(/with policy bypass they mean nothing/)]);
    expect(check({ default_policy: "allow", rules: [] }).problems.join("\n")).toMatch(/access\.default_policy/);
  });

  test("names rules an earlier rule shadows: the same conditions, or a superset earlier", () => {
    const { problems, weaknesses } = check({
      rules: [
        { hosts: ["*.example.org"], paths: ["/admin/"], policy: "deny" }, // 0
        { hosts: ["app.example.org"], paths: ["/admin/x/"], roles: ["admin"] }, // 1: within 0
        { hosts: ["*.example.org"], paths: ["^/admin/y"], policy: "bypass" }, // 2: its literal text is within 0
        { hosts: ["*.example.org"], paths: ["/admin/"], policy: "deny" }, // 3: the same as 0
        { hosts: ["example.org"], paths: ["/admin/"], policy: "deny" }, // 4: the apex is not *.example.org
        { methods: ["POST"], networks: ["10.0.0.0/8"], policy: "bypass" }, // 5
        { methods: ["post"], networks: ["10.1.0.0/16"], paths: ["/x"], policy: "bypass" }, // 6: within 5
        { methods: ["POST", "PUT"], networks: ["10.1.0.0/16"], policy: "bypass" }, // 7: PUT is not within 5
        { paths: ["^/admin/(x|y)"], policy: "deny" }, // 8: a regular expression covers only itself
        { paths: ["^/admin/(x|y)"], policy: "deny" }, // 9: the same as 8
        { policy: "bypass" }, // 10: every request
        { hosts: ["z.test"], policy: "deny" }, // 11: after a catch-all
      ],
    });
    expect(problems).toEqual([]);
    expect(weaknesses.map((text) => text.match(/^access\.rules\[(\d+)\].*access\.rules\[(\d+)\]/)!.slice(1).join(" < "))).toEqual([
      "1 < 0",
      "2 < 0",
      "3 < 0",
      "6 < 5",
      "9 < 8",
      "11 < 10",
    ]);
  });

  test("`gatehouse config check` warns of a shadowed rule (serve runs with the same warning) and refuses an invalid expression, naming each", () => {
    const dir = temporaryDirectory("gatehouse-access-check-");
    const run = (access: unknown) => {
      const file = join(dir, "config.yaml");
      writeFileSync(file, JSON.stringify(baseConfig(access, dir)));
      const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "config", "check", file], { stdout: "pipe", stderr: "pipe" });
      return { code: result.exitCode, text: result.stdout.toString() + result.stderr.toString() };
    };
    const shadowed = run({ rules: [{ paths: ["/admin/"], policy: "bypass" }, { paths: ["/admin/users/"], roles: ["admin"] }] });
    expect(shadowed.code).toBe(0);
    expect(shadowed.text).toContain("warning: access.rules[1]: never applies: access.rules[0] (paths /admin/ → bypass) comes first");
    const invalid = run({ rules: [{ paths: ["^/(admin"] }] });
    expect(invalid.code).toBe(1);
    expect(invalid.text).toContain('access.rules[0].paths[0]: "^/(admin" is not a valid regular expression');
    expect(run({ rules: [{ paths: ["/admin/users/"], roles: ["admin"] }, { paths: ["/admin/"], policy: "bypass" }] }).code).toBe(0);
  });

  test("is conservative: a regular expression does not cover a prefix, nor a host list a rule without hosts", () => {
    const { weaknesses } = check({
      rules: [
        { paths: ["^/a/"], policy: "deny" },
        { paths: ["/a/b/"], policy: "deny" },
        { hosts: ["a.test", "*.a.test"], policy: "bypass" },
        { policy: "deny" },
      ],
    });
    expect(weaknesses).toEqual([]);
  });
});

// ---------------------------------------------------------------- /authenticate

describe("/authenticate with access rules", () => {
  let app: TestApp;
  let readToken = "";
  let writeToken = "";

  beforeAll(async () => {
    app = await startApp(baseConfig(exampleRules));
    const create = async (scopes: Record<string, string[]>) => {
      const response = await fetch(`${app.url}/api/v1/tokens`, {
        method: "POST",
        headers: { authorization: basic("bob", "bob-pw"), "content-type": "application/json" },
        body: JSON.stringify({ note: "access", scopes }),
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { token: string }).token;
    };
    readToken = await create({ ecflow: ["read"] });
    writeToken = await create({ ecflow: ["write"] });
  });
  afterAll(() => app.stop());

  /** nginx's way: X-Original-URL and X-Original-Method. */
  const ask = (url: string, options: { authorization?: string; method?: string; headers?: Record<string, string> } = {}) =>
    fetch(`${app.url}/authenticate`, {
      headers: {
        "x-original-url": url,
        "x-original-method": options.method ?? "GET",
        ...(options.authorization ? { authorization: options.authorization } : {}),
        ...options.headers,
      },
    });
  const bob = basic("bob", "bob-pw");
  const alice = basic("alice", "alice-pw");

  test("bypass: no credential needed, 200 with an empty body and no identity", async () => {
    const response = await ask("https://docs.example.org/guide/");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
    expect(response.headers.get("authorization")).toBeNull();
    expect(response.headers.get("x-auth-username")).toBeNull();
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  test("bypass: a credential that is sent is still checked (valid: forwarded; invalid: 401 as ever)", async () => {
    const valid = await ask("https://docs.example.org/guide/", { authorization: bob });
    expect(valid.status).toBe(200);
    expect(valid.headers.get("x-auth-username")).toBe("bob");
    expect(decodeJwt(valid.headers.get("authorization")!.slice(7)).username).toBe("bob");
    const invalid = await ask("https://docs.example.org/guide/", { authorization: basic("bob", "wrong") });
    expect(invalid.status).toBe(401);
    expect(invalid.headers.get("www-authenticate")).toBe('Basic realm="local"');
    expect(await invalid.text()).toBe("");
  });

  test("deny: 403 for everyone, with or without a credential, the admin included", async () => {
    for (const authorization of [undefined, alice, bob, "Bearer not-even-a-token"]) {
      const response = await ask("https://app.example.org/internal/x", { authorization });
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({ error: "Access to this address is not allowed." });
    }
  });

  test("roles: the admin passes, another caller gets 403 saying what is missing, no credential 401", async () => {
    expect((await ask("https://app.example.org/admin/users", { authorization: alice })).status).toBe(200);
    const refused = await ask("https://app.example.org/admin/users", { authorization: bob });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toBe("application/json");
    expect(refused.headers.get("cache-control")).toBe("no-store");
    expect(refused.headers.get("authorization")).toBeNull();
    expect(await refused.json()).toEqual({ error: "Signed in as bob, who needs the role admin." });
    const anonymous = await ask("https://app.example.org/admin/users");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("location")).toBeNull();
    expect(await anonymous.text()).toBe("");
  });

  test("users: only the users named", async () => {
    expect((await ask("https://ops.example.org/", { authorization: basic("carol", "carol-pw") })).status).toBe(200);
    const refused = await ask("https://ops.example.org/", { authorization: alice });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe("Signed in as alice, who is not one of the users this address is open to.");
  });

  test("a browser's page navigation gets the 403 as a short HTML page; a never a redirect", async () => {
    const page = await ask("https://app.example.org/internal/", { headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" } });
    expect(page.status).toBe(403);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("location")).toBeNull();
    expect(page.headers.get("content-security-policy")).toBe("default-src 'none'; style-src 'unsafe-inline'");
    expect(await page.text()).toContain("<p>Access to this address is not allowed.</p>");
    // The same from a script, or with a credential of its own: JSON.
    expect((await ask("https://app.example.org/internal/", { headers: { accept: "text/html", "x-requested-with": "XMLHttpRequest" } })).headers.get("content-type")).toBe("application/json");
    expect((await ask("https://app.example.org/admin/", { authorization: bob, headers: { accept: "text/html" } })).headers.get("content-type")).toBe("application/json");
  });

  test("methods with token scopes: a token scoped ecflow: [read] cannot POST where the rule asks for write", async () => {
    const v1 = "https://ecflow.example.org/v1/suites";
    expect((await ask(v1, { authorization: `Bearer ${readToken}`, method: "GET" })).status).toBe(200);
    const post = await ask(v1, { authorization: `Bearer ${readToken}`, method: "POST" });
    expect(post.status).toBe(403);
    expect(await post.json()).toEqual({ error: "Signed in as bob, who uses an API token without the scope ecflow:write this request needs." });
    expect((await ask(v1, { authorization: `Bearer ${writeToken}`, method: "POST" })).status).toBe(200);
    expect((await ask(v1, { authorization: `Bearer ${writeToken}`, method: "DELETE" })).status).toBe(200);
    // A password holds what its owner holds.
    expect((await ask(v1, { authorization: bob, method: "PUT" })).status).toBe(200);
  });

  test("remembered answers remember the identity, never the decision", async () => {
    const token = `Bearer ${readToken}`;
    const v1 = "https://ecflow.example.org/v1/suites";
    for (let round = 0; round < 3; round++) {
      expect((await ask(v1, { authorization: token, method: "GET" })).status).toBe(200);
      expect((await ask(v1, { authorization: token, method: "POST" })).status).toBe(403);
      expect((await ask("https://app.example.org/admin/", { authorization: bob })).status).toBe(403);
      expect((await ask("https://app.example.org/other/", { authorization: bob })).status).toBe(200);
    }
  });

  test("path spellings cannot slip past a rule: each is refused for bob", async () => {
    for (const path of ["/admin/x", "/a/../admin/x", "/%61dmin/", "//admin/", "/public/%2e%2e/admin/", "/public/..;/admin/", "/admin;x=1/", "/admin/./"]) {
      const response = await ask(`https://app.example.org${path}`, { authorization: bob });
      expect({ path, status: response.status }).toEqual({ path, status: 403 });
    }
    for (const path of ["/admin%2Fx", "/public%2F..%2Fadmin%2F", "/public\\..\\admin\\", "/admin%00/", "/admin%zz/", "/admin%ff/"]) {
      const response = await ask(`https://app.example.org${path}`, { authorization: alice });
      expect({ path, status: response.status }).toEqual({ path, status: 403 });
      expect(((await response.json()) as { error: string }).error).toStartWith("This request cannot be checked: ");
    }
    // Paths are compared with case: /ADMIN/ is another path (an application that ignores case needs ^(?i:…)).
    expect((await ask("https://app.example.org/ADMIN/", { authorization: bob })).status).toBe(200);
    expect((await ask("https://app.example.org/SECRET/", { authorization: bob })).status).toBe(403);
  });

  test("each proxy's way of describing the request; two at once are refused", async () => {
    const asked = (headers: Record<string, string>, method = "GET") => fetch(`${app.url}/authenticate`, { method, headers: { authorization: bob, ...headers } });
    // Caddy and Traefik: X-Forwarded-*, asked with GET.
    expect((await asked({ "x-forwarded-proto": "https", "x-forwarded-host": "app.example.org", "x-forwarded-uri": "/admin/", "x-forwarded-method": "GET" })).status).toBe(403);
    expect((await asked({ "x-forwarded-host": "docs.example.org", "x-forwarded-uri": "/x", "x-forwarded-method": "POST" })).status).toBe(200);
    // The seed's nginx block: Host and X-Original-URI; nginx asks with GET whatever the method, so X-Original-Method it must send.
    expect((await asked({ host: "ecflow.example.org", "x-original-uri": "/v1/x", "x-original-method": "POST" })).status).toBe(200);
    const noMethod = await asked({ host: "ecflow.example.org", "x-original-uri": "/v1/x" });
    expect(noMethod.status).toBe(403);
    expect(((await noMethod.json()) as { error: string }).error).toMatch(/no header names the method/);
    const spoofed = await asked({ "x-original-uri": "/internal/x", "x-original-url": "https://docs.example.org/internal/x" });
    expect(spoofed.status).toBe(403);
    expect(((await spoofed.json()) as { error: string }).error).toMatch(/2 ways/);
    // A POST described as a GET by a header the proxy did not set.
    const post = await fetch(`${app.url}/authenticate`, { method: "POST", headers: { authorization: `Bearer ${readToken}`, host: "ecflow.example.org", "x-original-uri": "/v1/x", "x-original-method": "GET" } });
    expect(post.status).toBe(403);
    expect(app.logs.some((line) => line.includes('"access.unreadable_request"'))).toBe(true);
  });

  test("the rule remembered for a description is used only for the very same headers", async () => {
    // One description missed in eight is remembered: enough times, and these are.
    for (let round = 0; round < 20; round++) {
      expect((await ask("https://app.example.org/admin/x", { authorization: alice })).status).toBe(200);
      expect((await ask("https://ecflow.example.org/v1/x", { authorization: `Bearer ${readToken}` })).status).toBe(200);
    }
    // The same URL described a second way: not the remembered answer.
    const twice = await ask("https://app.example.org/admin/x", { authorization: alice, headers: { "x-forwarded-uri": "/admin/x" } });
    expect(twice.status).toBe(403);
    // A method contradicting the request's own, where a rule asks for the method.
    expect((await ask("https://ecflow.example.org/v1/x", { authorization: `Bearer ${readToken}` })).status).toBe(200);
    const post = await fetch(`${app.url}/authenticate`, { method: "POST", headers: { authorization: `Bearer ${readToken}`, "x-original-url": "https://ecflow.example.org/v1/x", "x-original-method": "GET" } });
    expect(post.status).toBe(403);
    expect((await ask("https://ecflow.example.org/v1/x", { authorization: `Bearer ${readToken}` })).status).toBe(200);
    expect((await ask("https://app.example.org/admin/x", { authorization: alice })).status).toBe(200);
  });

  test("networks: the client's address as regulation reads it (a trusted proxy's X-Real-IP)", async () => {
    expect((await ask("https://x.test/metrics", { headers: { "x-real-ip": "10.1.2.3" } })).status).toBe(200);
    expect((await ask("https://x.test/metrics", { headers: { "x-real-ip": "192.0.2.1" } })).status).toBe(401);
    // Loopback is a trusted proxy: without X-Real-IP the address is unknown, and a rule asking for it refuses.
    const unknown = await ask("https://x.test/metrics");
    expect(unknown.status).toBe(403);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/address is unknown/);
  });

  test("never a 500: odd descriptions get 403 or an answer", async () => {
    const odd: Record<string, string>[] = [
      { "x-original-url": "https://app.example.org/%" },
      { "x-original-url": "https://app.example.org/%C3" },
      { "x-original-url": "https://[::1/admin/" },
      { "x-original-url": "https://user@app.example.org/admin/" },
      { "x-original-url": "ftp://app.example.org/admin/" },
      { "x-original-url": "https:\\\\app.example.org\\admin" },
      { "x-forwarded-host": "a".repeat(5000), "x-forwarded-uri": "/" },
      { "x-original-uri": `/${"%2e%2e/".repeat(2000)}admin/` },
      { "x-original-method": "G\u00e9T", "x-original-uri": "/" },
    ];
    for (const headers of odd) {
      const response = await fetch(`${app.url}/authenticate`, { headers: { authorization: alice, ...headers } });
      expect([200, 401, 403]).toContain(response.status);
    }
  });
});

describe("default_policy: deny", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(baseConfig({ default_policy: "deny", rules: [{ hosts: ["app.example.org"] }, { hosts: ["pub.example.org"], policy: "bypass" }] }));
  });
  afterAll(() => app.stop());
  const ask = (url: string, authorization?: string) =>
    fetch(`${app.url}/authenticate`, { headers: { "x-original-url": url, ...(authorization ? { authorization } : {}) } });

  test("a request no rule matches is refused (403) for everyone; a rule that only asks for authentication lets anyone authenticated through", async () => {
    expect((await ask("https://other.example.org/", basic("alice", "alice-pw"))).status).toBe(403);
    expect((await ask("https://other.example.org/")).status).toBe(403);
    expect((await ask("https://app.example.org/", basic("bob", "bob-pw"))).status).toBe(200);
    expect((await ask("https://app.example.org/")).status).toBe(401);
    expect((await ask("https://pub.example.org/")).status).toBe(200);
  });
});

describe("without an access section, or with rules that let everyone authenticated through: answers as today", () => {
  let plain: TestApp;
  let ruled: TestApp;
  beforeAll(async () => {
    plain = await startApp(baseConfig());
    ruled = await startApp(baseConfig({ default_policy: "authenticated", rules: [{ hosts: ["elsewhere.test"], policy: "deny" }] }));
  });
  afterAll(async () => {
    await plain.stop();
    await ruled.stop();
  });

  test("the same status, headers (but the JWT's times) and empty body", async () => {
    const requests: Record<string, string>[] = [
      {},
      { authorization: basic("bob", "bob-pw") },
      { authorization: basic("bob", "wrong") },
      { authorization: "Basic %%%" },
      { authorization: basic("bob", "bob-pw"), "x-original-url": "https://app.example.org/admin/%2F" },
      { "x-original-url": "https://app.example.org/internal/" },
    ];
    for (const headers of requests) {
      const [a, b] = await Promise.all([plain, ruled].map((app) => fetch(`${app.url}/authenticate`, { headers })));
      const shape = async (response: Response) => ({
        status: response.status,
        headers: [...response.headers].filter(([name]) => !["date", "authorization"].includes(name)),
        jwt: response.headers.has("authorization"),
        body: await response.text(),
      });
      expect(await shape(b!)).toEqual(await shape(a!));
    }
  });
});

// ---------------------------------------------------------------- the command and a reload

describe("gatehouse access check", () => {
  const dir = temporaryDirectory("gatehouse-access-cli-");
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, JSON.stringify(baseConfig(exampleRules, dir)));
  const run = (...args: string[]) => {
    const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "access", ...args, "--config", configPath], { stdout: "pipe", stderr: "pipe" });
    return { code: result.exitCode, out: result.stdout.toString(), err: result.stderr.toString() };
  };

  test("prints the decision and the rule that made it; exit 1 when refused", () => {
    const refused = run("check", "--url", "https://ecflow.example.org/v1/x", "--method", "POST", "--user", "alice", "--scopes", "ecflow:read");
    expect(refused.code).toBe(1);
    expect(refused.out).toContain("rule: access.rules[2]: hosts ecflow.example.org; methods POST, PUT, DELETE → scopes ecflow:write\n");
    expect(refused.out).toContain("decision: refused (403): alice uses an API token without the scope ecflow:write this request needs\n");
  });

  test("exit 0 when allowed: a password holds its owner's scopes; a normalised path; a bypass", () => {
    const allowed = run("check", "--url", "https://ecflow.example.org/v1/x", "--method", "POST", "--user", "alice");
    expect(allowed.code).toBe(0);
    expect(allowed.out).toContain("decision: allowed\n");
    const admin = run("check", "--url", "https://app.example.org/a/../%61dmin/x", "--user", "alice", "--roles", "staff,admin");
    expect(admin.code).toBe(0);
    expect(admin.out).toContain("matched on: path /admin/x\n");
    expect(admin.out).toContain("rule: access.rules[1]: hosts *.example.org; paths ^/admin/ → roles admin\n");
    const metrics = run("check", "--url", "https://x.test/metrics", "--ip", "10.0.0.1");
    expect(metrics.code).toBe(0);
    expect(metrics.out).toContain("decision: allowed: no credential needed\n");
  });

  test("the default policy, and a request without credential", () => {
    const anonymous = run("check", "--url", "https://app.example.org/other");
    expect(anonymous.code).toBe(1);
    expect(anonymous.out).toContain("rule: none matches; default_policy: authenticated\n");
    expect(anonymous.out).toContain("decision: refused (401): a credential is needed\n");
  });

  test("exit 2 for a usage mistake", () => {
    expect(run("check").code).toBe(2);
    expect(run("check", "--url", "not a url").code).toBe(2);
    expect(run("check", "--url", "https://a.test/", "--roles", "admin").code).toBe(2);
    const scopes = run("check", "--url", "https://a.test/", "--user", "x", "--scopes", "tiled:read");
    expect(scopes.code).toBe(2);
    expect(scopes.err).toContain('Unknown service "tiled"');
    expect(run("verify", "--url", "https://a.test/").code).toBe(2);
  });
});

describe("a reload (SIGHUP) compiles the rules again", () => {
  test("a path let through before the reload is denied after it", async () => {
    const dir = temporaryDirectory("gatehouse-access-reload-");
    const config = { ...baseConfig({ rules: [{ paths: ["/open/"], policy: "bypass" }] }, dir), logging: { level: "info" } };
    const server = await spawnGatehouse({ cwd: dir, config: JSON.stringify(config) });
    try {
      const ask = () => fetch(`${server.url}/authenticate`, { headers: { "x-original-uri": "/open/x" } });
      expect((await ask()).status).toBe(200);
      writeFileSync(server.configPath, readFileSync(server.configPath, "utf8").replace("bypass", "deny"));
      server.process.kill("SIGHUP");
      const deadline = Date.now() + 10_000;
      while ((await ask()).status !== 403 && Date.now() < deadline) await Bun.sleep(100);
      expect((await ask()).status).toBe(403);
    } finally {
      await server.stop();
    }
  });
});
