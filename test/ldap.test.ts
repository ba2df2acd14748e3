// The ldap provider (Basic sign-in) and the ldap augmenter against a private
// OpenLDAP server (test/helpers/slapd.ts, test/fixtures/ldap/).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { basic, startApp, type TestApp } from "./helpers/app.ts";
import { freePort, slapdAvailable, startSlapd, type Slapd } from "./helpers/slapd.ts";
import { startWhoAmI, type WhoAmI } from "./helpers/who-am-i.ts";
import { escapeDnValue, escapeFilterValue, rolesFromGroups } from "../src/identity/ldap.ts";

const BASE = "dc=company,dc=com";
const SERVICE = { bind_dn: `cn=service,${BASE}`, ldap_password: "service-password" };
const JWT = { iss: "gatehouse-test", exp: 3600, secret: "a-test-secret-that-is-long-enough", reuse_seconds: 0 };
const INJECTIONS = ["*", "*)(uid=*", "jdoe)(uid=*", "*)(|(uid=*))", "jdoe*", "jdoe\u0000", "uid=jdoe,ou=people", "jdoe,ou=people,dc=company,dc=com"];

let slapd: Slapd;
let app: TestApp;

const searchProvider = (uri: string, extra: Record<string, unknown> = {}) => ({
  type: "ldap",
  name: "corp-search",
  realm: "corp",
  uri,
  search_base: `ou=people,${BASE}`,
  ...SERVICE,
  ...extra,
});

/** Basic credentials through /authenticate, optionally for one realm. */
const signIn = (target: TestApp, username: string, password: string, realm?: string) =>
  fetch(`${target.url}/authenticate`, { headers: { authorization: basic(username, password), ...(realm ? { "x-auth-realm": realm } : {}) } });
const rolesOf = (response: Response) => (response.headers.get("x-auth-roles") ?? "").split(",").filter(Boolean).sort();

describe.skipIf(!slapdAvailable)("ldap", () => {
  beforeAll(async () => {
    slapd = await startSlapd();
    const plainUsers = [
      { username: "jdoe", password: "local-password" },
      { username: "*", password: "local-password" },
    ];
    app = await startApp({
      version: "2.0.0",
      auth: { timeout_in_ms: 3000 },
      providers: [
        searchProvider(slapd.url),
        {
          type: "ldap",
          name: "corp-template",
          realm: "corp-template",
          uri: slapd.url,
          user_dn_template: `uid={username},ou=people,${BASE}`,
          filters: ["OU=Operations"],
        },
        { ...searchProvider(slapd.ldapsUrl, { ca_file: slapd.caFile }), name: "corp-ldaps", realm: "corp-ldaps" },
        { ...searchProvider(slapd.url, { start_tls: true, ca_file: slapd.caFile }), name: "corp-starttls", realm: "corp-starttls" },
        { ...searchProvider(slapd.ldapsUrl), name: "corp-untrusted", realm: "corp-untrusted" },
        { type: "plain", name: "local-filter", realm: "aug-filter", users: plainUsers },
        { type: "plain", name: "local-filters", realm: "aug-filters", users: plainUsers },
        { type: "plain", name: "local-team", realm: "aug-team", users: plainUsers },
      ],
      augmenters: [
        // auth-o-tron's documented examples, pointed at this server (the user is found by cn under the base).
        { type: "ldap", name: "ldap_groups", realm: "aug-filter", uri: slapd.url, search_base: BASE, filter: "OU=ApplicationRoles,DC=company,DC=com", ...SERVICE },
        {
          type: "ldap",
          name: "ldap_teams",
          realm: "aug-filters",
          uri: slapd.url,
          search_base: BASE,
          filters: ["OU=ApplicationRoles,DC=company,DC=com", "OU=Operations,DC=company,DC=com"],
          ...SERVICE,
        },
        { type: "ldap", name: "ldap_team_a", realm: "aug-team", uri: slapd.url, search_base: BASE, filters: ["OU=TeamA"], ...SERVICE },
      ],
      jwt: JWT,
      include_legacy_headers: true,
      store: { enabled: false },
    });
  });
  afterAll(async () => {
    await app?.stop();
    await slapd?.stop();
  });

  describe("provider", () => {
    test("a good password: the user, with every group's CN as a role", async () => {
      const response = await signIn(app, "jdoe", "jdoe-password", "corp");
      expect(response.status).toBe(200);
      expect(response.headers.get("x-auth-username")).toBe("jdoe");
      expect(response.headers.get("x-auth-realm")).toBe("corp");
      expect(rolesOf(response)).toEqual(["Admin", "Editors", "Staff"]);
    });

    test("the username takes the directory's spelling, whatever the case typed", async () => {
      const response = await signIn(app, "JDoe", "jdoe-password", "corp");
      expect(response.status).toBe(200);
      expect(response.headers.get("x-auth-username")).toBe("jdoe");
    });

    test("a bad password, an unknown user, an empty password, a user without password: 401", async () => {
      expect((await signIn(app, "jdoe", "wrong", "corp")).status).toBe(401);
      expect((await signIn(app, "nobody", "jdoe-password", "corp")).status).toBe(401);
      expect((await signIn(app, "jdoe", "", "corp")).status).toBe(401); // an unauthenticated bind would "succeed"
      expect((await signIn(app, "x", "", "corp")).status).toBe(401);
      expect((await signIn(app, "jdoe", "", "corp-template")).status).toBe(401);
    });

    test("filter-injection usernames match no one, by search or by DN template", async () => {
      for (const username of INJECTIONS) {
        for (const realm of ["corp", "corp-template"]) {
          expect({ username, realm, status: (await signIn(app, username, "jdoe-password", realm)).status }).toEqual({ username, realm, status: 401 });
        }
      }
    });

    test("a DN template binds directly; filters give hierarchical roles", async () => {
      const response = await signIn(app, "jdoe", "jdoe-password", "corp-template");
      expect(response.status).toBe(200);
      expect(rolesOf(response)).toEqual(["/Operations/TeamA/Admin"]);
      expect((await signIn(app, "asmith", "asmith-password", "corp-template")).status).toBe(200);
      expect((await signIn(app, "asmith", "jdoe-password", "corp-template")).status).toBe(401);
    });

    test("ldaps:// and StartTLS with the CA file; a certificate not trusted is a logged TLS failure", async () => {
      expect((await signIn(app, "jdoe", "jdoe-password", "corp-ldaps")).status).toBe(200);
      expect((await signIn(app, "jdoe", "jdoe-password", "corp-starttls")).status).toBe(200);
      expect((await signIn(app, "jdoe", "jdoe-password", "corp-untrusted")).status).toBe(401);
      const failure = app.logs.find((line) => line.includes("auth.provider.error") && line.includes("corp-untrusted"));
      expect(failure).toContain("TLS");
    });

    test("describeUser (API tokens' owners) reads the groups with the service account", async () => {
      const provider = app.gatehouse.pipeline.providers.find((candidate) => candidate.name === "corp-search")!;
      const signal = AbortSignal.timeout(3000);
      const owner = await provider.describeUser!("jdoe", signal);
      expect(owner?.roles.sort()).toEqual(["Admin", "Editors", "Staff"]);
      expect(await provider.describeUser!("*", signal)).toBeNull();
      expect(await provider.describeUser!("nobody", signal)).toBeNull();
      // Without a service account the provider cannot look users up.
      expect(app.gatehouse.pipeline.providers.find((candidate) => candidate.name === "corp-template")!.describeUser).toBeUndefined();
    });

    test("no password ever reaches the logs", () => {
      const logs = app.logs.join("\n");
      for (const secret of ["jdoe-password", "asmith-password", "service-password", "local-password"]) expect(logs).not.toContain(secret);
    });
  });

  describe("augmenter, compared with auth-o-tron's documented examples", () => {
    test("filter: the groups under OU=ApplicationRoles, as their CN", async () => {
      const response = await signIn(app, "jdoe", "local-password", "aug-filter");
      expect(response.status).toBe(200);
      expect(rolesOf(response)).toEqual(["Editors"]);
    });

    test("filters: hierarchical paths from the matched ancestor down to the group's CN", async () => {
      const response = await signIn(app, "jdoe", "local-password", "aug-filters");
      expect(rolesOf(response)).toEqual(["/com/company/ApplicationRoles/Editors", "/com/company/Operations/TeamA/Admin"]);
      expect(rolesOf(await signIn(app, "jdoe", "local-password", "aug-team"))).toEqual(["/TeamA/Admin"]);
    });

    test("a username that is a filter (`*`) finds no entry and adds nothing", async () => {
      const response = await signIn(app, "*", "local-password", "aug-filter");
      expect(response.status).toBe(200);
      expect(rolesOf(response)).toEqual([]);
    });
  });

  describe("a directory down or hanging", () => {
    let whoAmI: WhoAmI;
    let hanging: { port: number; stop(closeActive?: boolean): void };
    let mixed: TestApp;
    beforeAll(async () => {
      whoAmI = startWhoAmI();
      whoAmI.users.set("good-key", { uid: "keyholder" });
      whoAmI.slow.set("slow-key", 6000);
      // Accepts connections and never answers.
      hanging = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      mixed = await startApp({
        version: "2.0.0",
        auth: { timeout_in_ms: 1500 },
        providers: [
          searchProvider(slapd.url),
          { ...searchProvider(`ldap://127.0.0.1:${hanging.port}`), name: "hanging", realm: "hanging" },
          { ...searchProvider(`ldap://127.0.0.1:${freePort()}`), name: "down", realm: "down" },
          { type: "plain", name: "local", realm: "local", users: [{ username: "alice", password: "alice-password" }] },
          { type: "ecmwf-api", name: "ecmwf", realm: "ecmwf", uri: whoAmI.url },
        ],
        jwt: JWT,
        include_legacy_headers: true,
        store: { enabled: false },
      });
    });
    afterAll(async () => {
      await mixed.stop();
      hanging.stop(true);
      whoAmI.stop();
    });

    test("other providers still answer at once while a directory hangs", async () => {
      const started = performance.now();
      const response = await signIn(mixed, "alice", "alice-password");
      expect(response.status).toBe(200);
      expect(response.headers.get("x-auth-realm")).toBe("local");
      expect(performance.now() - started).toBeLessThan(1200);
    });

    test("a hanging directory is cut off at auth.timeout_in_ms; one that is down is refused at once", async () => {
      let started = performance.now();
      expect((await signIn(mixed, "jdoe", "jdoe-password", "hanging")).status).toBe(401);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1400);
      expect(elapsed).toBeLessThan(4500);
      expect(mixed.logs.some((line) => line.includes("auth.provider.timeout") && line.includes("hanging"))).toBe(true);
      started = performance.now();
      expect((await signIn(mixed, "jdoe", "jdoe-password", "down")).status).toBe(401);
      expect(performance.now() - started).toBeLessThan(1200); // well before the 1.5 s limit
      expect(mixed.logs.some((line) => line.includes("auth.provider.error") && line.includes("connection refused"))).toBe(true);
    });

    test("Basic and Bearer at once across realms: the first success wins and the slow provider is cut off", async () => {
      const headers = (authorization: string) => ({ headers: { authorization } });
      let started = performance.now();
      let response = await fetch(`${mixed.url}/authenticate`, headers(`${basic("jdoe", "jdoe-password")}, Bearer slow-key`));
      expect(response.status).toBe(200);
      expect(response.headers.get("x-auth-realm")).toBe("corp");
      expect(performance.now() - started).toBeLessThan(1200); // the slow key service (6 s) was not waited for
      started = performance.now();
      response = await fetch(`${mixed.url}/authenticate`, headers(`${basic("jdoe", "wrong")}, Bearer good-key`));
      expect(response.status).toBe(200);
      expect(response.headers.get("x-auth-username")).toBe("keyholder");
      started = performance.now();
      response = await fetch(`${mixed.url}/authenticate`, headers(`${basic("jdoe", "wrong")}, Bearer slow-key`));
      expect(response.status).toBe(401);
      expect(performance.now() - started).toBeLessThan(4500); // cut off at 1.5 s, not 6 s
    });
  });
});

describe("escaping and group rules (no server needed)", () => {
  test("RFC 4515 filter values and RFC 4514 DN values", () => {
    expect(escapeFilterValue("*)(uid=*")).toBe("\\2a\\29\\28uid=\\2a");
    expect(escapeFilterValue("a\\b\u0000\u001f\u007f")).toBe("a\\5cb\\00\\1f\\7f");
    expect(escapeFilterValue("Zoë")).toBe("Zoë");
    expect(escapeDnValue("Doe, John+1")).toBe("Doe\\, John\\+1");
    expect(escapeDnValue(" #lead trail ")).toBe("\\ #lead trail\\ ");
    expect(escapeDnValue("#x")).toBe("\\#x");
    expect(escapeDnValue('a"b<c>d;e=f\\')).toBe('a\\"b\\<c\\>d\\;e\\=f\\\\');
  });

  test("auth-o-tron's own cases for filter and filters", () => {
    const dn = "CN=SomeRole,OU=TeamB,OU=TeamA,DC=example,DC=com";
    expect(rolesFromGroups(["CN=SomeRole,OU=TeamA,DC=example,DC=com"], { filter: "TeamA" })).toEqual(["SomeRole"]);
    expect(rolesFromGroups([dn], { filters: ["OU=TeamA", "OU=TeamB"] })).toEqual(["/TeamA/TeamB/SomeRole", "/TeamB/SomeRole"]);
    expect(rolesFromGroups([dn], { filters: ["OU=TeamA,OU=TeamB"] })).toEqual(["/TeamA/TeamB/SomeRole"]);
    expect(rolesFromGroups([dn], { filters: ["OU=TeamB,OU=TeamA"] })).toEqual(["/TeamA/TeamB/SomeRole"]);
    expect(rolesFromGroups(["CN=SomeRole,OU=TeamC,OU=TeamB,OU=TeamA,DC=example,DC=com"], { filters: ["OU=TeamA,OU=TeamC"] })).toEqual([]);
    expect(rolesFromGroups(["CN=SomeRole,OU=TeamC,DC=example,DC=com"], { filters: ["OU=TeamA", "OU=TeamB"] })).toEqual([]);
    expect(rolesFromGroups(["OU=SomeOU,DC=example,DC=com"], {})).toEqual([]);
    expect(rolesFromGroups(["OU=SomeOU,CN=RoleA,CN=RoleB,DC=example,DC=com"], {})).toEqual(["RoleA"]);
    // An escaped comma stays inside its value (auth-o-tron would cut "Doe\").
    expect(rolesFromGroups(["CN=Doe\\, John,OU=People,DC=example,DC=com"], {})).toEqual(["Doe, John"]);
  });
});
