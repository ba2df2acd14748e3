// The third security review's findings about the regulation of guessing
// (issue 20: findings 3 and 6), through HTTP against servers on loopback,
// with a real slapd for the directory's spellings of a name.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { basic, localUsersConfig, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { slapdAvailable, startSlapd, type Slapd } from "./helpers/slapd.ts";
import { storedExec, storedRows } from "./helpers/stored.ts";
import { portalConfig } from "./helpers/portal.ts";

const authenticate = (app: TestApp, authorization: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/authenticate`, { headers: { authorization, ...headers } });

/** The regulation rows of kind "username", as stored. */
const usernameRows = async (app: TestApp) =>
  (await storedRows<{ subject: string; failures: number; banned_until: number | null }>(
    app,
    "SELECT subject, failures, banned_until FROM regulation_counters WHERE kind = 'username' ORDER BY subject",
  )).map((row) => ({ ...row, banned: row.banned_until !== null }));

describe("finding 3: a username is counted however it is spelled", () => {
  test("case, spaces, compatibility forms and invisible characters count as the one name (config users)", async () => {
    const app = await startApp(
      localUsersConfig(temporaryDirectory("gatehouse-review3-"), [{ username: "alice", password: "alice-pw" }], {
        regulation: { max_retries: 5, find_time: 120, ban_time: 120 },
      }),
    );
    try {
      for (const spelling of ["Alice", " alice", "ALICE  ", "\uFF41lice", "ali\u00ADce"]) {
        expect((await authenticate(app, basic(spelling, "wrong"))).status).toBe(401);
      }
      const refused = await authenticate(app, basic("alice", "alice-pw"));
      expect(refused.status).toBe(401);
      expect(refused.headers.get("retry-after")).not.toBeNull();
      expect(await usernameRows(app)).toEqual([expect.objectContaining({ subject: "local:alice", failures: 5, banned: true })]);
    } finally {
      await app.stop();
    }
  });

  describe.skipIf(!slapdAvailable)("a directory (real slapd)", () => {
    const BASE = "dc=company,dc=com";
    let slapd: Slapd;
    let app: TestApp;
    beforeAll(async () => {
      slapd = await startSlapd();
      const config = localUsersConfig(temporaryDirectory("gatehouse-review3-ldap-"), [], {
        auth: { timeout_in_ms: 3000 },
        // Each header is checked (a success is not answered from /authenticate's memory).
        jwt: { iss: "gatehouse-test", secret: "gatehouse-test-secret-0123456789abcdef", reuse_seconds: 0 },
        regulation: { max_retries: 5, find_time: 120, ban_time: 120 },
      }) as Record<string, any>;
      config.providers = [
        { type: "ldap", name: "corp", realm: "corp", uri: slapd.url, search_base: `ou=people,${BASE}`, bind_dn: `cn=service,${BASE}`, ldap_password: "service-password" },
        { type: "ldap", name: "corp-template", realm: "corp-template", uri: slapd.url, user_dn_template: `uid={username},ou=people,${BASE}` },
      ];
      app = await startApp(config);
    });
    afterAll(async () => {
      await app?.stop();
      await slapd?.stop();
    });

    for (const realm of ["corp", "corp-template"]) {
      test(`${realm}: wrong passwords spread over case and space variants ban jdoe, whichever way the right one is then typed`, async () => {
        const inRealm = { "x-auth-realm": realm };
        // The directory takes each of these as jdoe.
        for (const spelling of ["JDoe", " jdoe", "jdoe  ", "jdoe\u00A0"]) {
          expect((await authenticate(app, basic(spelling, "jdoe-password"), inRealm)).status).toBe(200);
        }
        const variants = ["jdoe", "JDOE", "Jdoe", "jDoe", "jdOE", " jdoe", "jdoe  ", "JDoE"];
        for (let round = 0; round < 4; round++) {
          for (const spelling of variants) expect((await authenticate(app, basic(spelling, `wrong-${round}`), inRealm)).status).toBe(401);
        }
        for (const spelling of ["jdoe", "JDOE", " jdoe", "jdoe  "]) {
          const refused = await authenticate(app, basic(spelling, "jdoe-password"), inRealm);
          expect(refused.status).toBe(401);
          expect(refused.headers.get("retry-after")).not.toBeNull();
        }
        const rows = (await usernameRows(app)).filter((row) => row.subject.startsWith(`${realm}:`));
        expect(rows).toEqual([expect.objectContaining({ subject: `${realm}:jdoe`, banned: true })]);
      });
    }
  });
});

describe("finding 6: a ban holds in the realm it was earned in, and the portal says so", () => {
  const BAN_SECONDS = 120;
  let app: TestApp;
  beforeAll(async () => {
    const dir = temporaryDirectory("gatehouse-review3-realms-");
    app = await startApp(
      portalConfig(dir, {
        providers: [
          { type: "plain", name: "local", realm: "local", users: [{ username: "root", password: "root-pw", roles: ["admin"] }, { username: "carol", password: "carol-pw" }, { username: "alice", password: "alice-pw" }] },
          { type: "plain", name: "lab", realm: "lab", users: [{ username: "root", password: "lab-root-pw" }, { username: "carol", password: "lab-carol-pw" }] },
        ],
        regulation: { max_retries: 5, find_time: 120, ban_time: BAN_SECONDS },
      }),
    );
  });
  afterAll(async () => {
    await app?.stop();
  });

  const tiledLogin = (provider: string, username: string, password: string) =>
    fetch(`${app.url}/api/v1/auth/provider/${provider}/token`, { method: "POST", body: new URLSearchParams({ username, password }) });

  test("five bad attempts for root in one realm ban root there only: root of the other realm still signs in", async () => {
    for (let i = 0; i < 5; i++) expect((await authenticate(app, basic("root", `wrong-${i}`), { "x-auth-realm": "local" })).status).toBe(401);
    expect((await tiledLogin("local", "root", "root-pw")).status).toBe(429);
    expect((await authenticate(app, basic("root", "root-pw"), { "x-auth-realm": "local" })).headers.get("retry-after")).not.toBeNull();
    // The lab's root is someone else.
    expect((await tiledLogin("lab", "root", "lab-root-pw")).status).toBe(200);
    expect((await authenticate(app, basic("root", "lab-root-pw"), { "x-auth-realm": "lab" })).status).toBe(200);
    expect((await authenticate(app, basic("root", "lab-root-pw"))).status).toBe(200);
    const rows = await usernameRows(app);
    expect(rows.find((row) => row.subject === "local:root")?.banned).toBe(true);
    expect(rows.find((row) => row.subject === "lab:root")?.banned ?? false).toBe(false);
    // Audited with the realm.
    const banned = await storedRows(app, "SELECT target_username, target_realm FROM audit_log WHERE event = 'regulation.banned'");
    expect(banned).toContainEqual({ target_username: "root", target_realm: "local" });
  });

  test("an attempt without X-Auth-Realm counts in each realm whose providers checked it", async () => {
    for (let i = 0; i < 5; i++) expect((await authenticate(app, basic("carol", `wrong-${i}`))).status).toBe(401);
    const rows = (await usernameRows(app)).filter((row) => row.subject.endsWith(":carol"));
    expect(rows).toEqual([
      expect.objectContaining({ subject: "lab:carol", failures: 5, banned: true }),
      expect.objectContaining({ subject: "local:carol", failures: 5, banned: true }),
    ]);
  });

  const portalSignIn = (provider: string, username: string, password: string) =>
    fetch(`${app.url}/portal/sign-in`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ provider, username, password }),
    });

  test("the portal's sign-in page says that sign-in for this name is paused, and for how long", async () => {
    // root is banned in realm local (the first test); the page says so, not "Incorrect username or password".
    const response = await portalSignIn("local", "root", "root-pw");
    expect(response.status).toBe(429);
    const retryAfter = Number(response.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(BAN_SECONDS);
    const page = await response.text();
    expect(page).not.toContain("Incorrect username or password");
    expect(page).toMatch(/Sign-in for this username is paused for \d+ minutes? after too many failed attempts/);
    // The same name in the other realm signs in through the portal.
    expect((await portalSignIn("lab", "root", "lab-root-pw")).status).toBe(303);
  });

  test("a row written before bans had a realm bans no one, and is swept when its time is over", async () => {
    // A short ban_time: the sweep runs every second.
    const quick = await startApp(
      localUsersConfig(temporaryDirectory("gatehouse-review3-"), [{ username: "alice", password: "alice-pw" }], { regulation: { ban_time: 5 } }),
    );
    try {
      const now = Date.now();
      await storedExec(quick, `INSERT INTO regulation_counters (kind, subject, failures, window_started_at, banned_until) VALUES ('username', 'alice', 5, ${now}, ${now + 1500})`);
      expect((await authenticate(quick, basic("alice", "alice-pw"))).status).toBe(200);
      const deadline = Date.now() + 15_000;
      while ((await storedRows(quick, "SELECT subject FROM regulation_counters WHERE subject = 'alice'")).length > 0) {
        expect(Date.now()).toBeLessThan(deadline);
        await Bun.sleep(200);
      }
    } finally {
      await quick.stop();
    }
  }, 20_000);
});
