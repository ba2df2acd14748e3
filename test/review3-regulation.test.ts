// The third security review's findings about the regulation of guessing
// (issue 20: findings 1, 3 and 6), through HTTP against servers on loopback,
// with a real slapd for the directory's spellings of a name.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import argon2 from "argon2";
import { basic, localUsersConfig, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { slapdAvailable, startSlapd, type Slapd } from "./helpers/slapd.ts";
import { storedExec, storedRows } from "./helpers/stored.ts";
import { portalConfig } from "./helpers/portal.ts";
import { hashPassword } from "../src/identity/passwords.ts";
import { argon2Load } from "../src/identity/argon2-limit.ts";

const authenticate = (app: TestApp, authorization: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/authenticate`, { headers: { authorization, ...headers } });

/** The regulation rows of kind "username", as stored. */
const usernameRows = async (app: TestApp) =>
  (await storedRows<{ subject: string; failures: number; banned_until: number | null }>(
    app,
    "SELECT subject, failures, banned_until FROM regulation_counters WHERE kind = 'username' ORDER BY subject",
  )).map((row) => ({ ...row, banned: row.banned_until !== null }));

/** Until every argon2 check started (also those whose request has already been answered) has ended. */
async function argon2Drained(): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (argon2Load().running + argon2Load().waiting > 0) {
    if (Date.now() > deadline) throw new Error("argon2 checks still running after 30 s");
    await Bun.sleep(10);
  }
}

/**
 * Watches argon2 verifications in this process (the server runs in it): how
 * many were made against a hash, and how many at most at once.
 */
function watchArgon2(hash: string) {
  const original = argon2.verify;
  const seen = { calls: 0, inFlight: 0, maxInFlight: 0, passwords: [] as string[] };
  (argon2 as { verify: typeof argon2.verify }).verify = (async (digest: string, password: string | Buffer, ...rest: unknown[]) => {
    if (digest !== hash) return original(digest, password, ...(rest as []));
    seen.calls++;
    seen.passwords.push(String(password));
    seen.maxInFlight = Math.max(seen.maxInFlight, ++seen.inFlight);
    try {
      return await original(digest, password, ...(rest as []));
    } finally {
      seen.inFlight--;
    }
  }) as typeof argon2.verify;
  return { seen, restore: () => ((argon2 as { verify: typeof argon2.verify }).verify = original) };
}

describe("finding 1: guesses that time out are counted, and a right password is never remembered after its deadline", () => {
  let aliceHash: string;
  let bobHash: string;
  beforeAll(async () => {
    [aliceHash, bobHash] = await Promise.all([hashPassword("alice-pw"), hashPassword("bob-pw")]);
  });
  const hashedUsers = () => [
    { username: "alice", password_hash: aliceHash },
    { username: "bob", password_hash: bobHash },
  ];
  /** Loopback is a trusted proxy by default and these requests carry no X-Real-IP: regulated by username only. */
  function start(timeoutMs: number, regulation: Record<string, unknown> = {}) {
    const config = localUsersConfig(temporaryDirectory("gatehouse-review3-"), [], {
      auth: { timeout_in_ms: timeoutMs },
      regulation: { max_retries: 5, find_time: 120, ban_time: 120, ...regulation },
    }) as Record<string, any>;
    config.providers[0].users = hashedUsers();
    return startApp(config);
  }

  test("a check that outlives auth.timeout_in_ms is counted as a failure, and its right password is not remembered", async () => {
    // 1 ms: no argon2 check (≈30 ms) ends in time, so every check finishes after its request was answered.
    const app = await start(1);
    try {
      const watch = watchArgon2(aliceHash);
      try {
        expect((await authenticate(app, basic("alice", "alice-pw"))).status).toBe(401);
        await argon2Drained();
        expect(watch.seen.calls).toBe(1); // the check did run, to its end, after the deadline
        // Sent again, the right password is verified again (and runs out of time again), never taken from the cache.
        expect((await authenticate(app, basic("alice", "alice-pw"))).status).toBe(401);
        await argon2Drained();
        expect(watch.seen.calls).toBe(2);
      } finally {
        watch.restore();
      }
      // Both timed-out attempts counted against alice (in her realm).
      expect(await usernameRows(app)).toEqual([expect.objectContaining({ subject: "local:alice", failures: 2, banned: false })]);
    } finally {
      await app.stop();
    }
  });

  test("a flood of guesses faster than argon2 takes them: a ban follows, and the right password sent after it is refused unchecked", async () => {
    const app = await start(300);
    try {
      const guesses = Array.from({ length: 100 }, (_, index) => (index === 60 ? "alice-pw" : `guess-${index}`));
      const flood = await Promise.all(guesses.map((password) => authenticate(app, basic("alice", password)).then((response) => response.status)));
      expect(flood.filter((status) => status === 200)).toEqual([]);
      await argon2Drained();
      // Counted, and banned: the flood's checks that ran out of time are guesses like the others.
      expect(await usernameRows(app)).toEqual([expect.objectContaining({ subject: "local:alice", banned: true })]);
      const watch = watchArgon2(aliceHash);
      try {
        const after = await authenticate(app, basic("alice", "alice-pw"));
        expect(after.status).toBe(401);
        expect(Number(after.headers.get("retry-after"))).toBeGreaterThan(0);
        expect(watch.seen.calls).toBe(0); // refused by the ban, not answered from a cache
      } finally {
        watch.restore();
      }
    } finally {
      await app.stop();
    }
  }, 30_000);

  test("one check in flight per username: a flood for one name takes one argon2 slot, so another user still signs in meanwhile", async () => {
    // No ban here (max_retries high): the flood runs its whole course.
    const app = await start(400, { max_retries: 1000 });
    const watch = watchArgon2(aliceHash);
    try {
      const flood = Promise.all(Array.from({ length: 60 }, (_, index) => authenticate(app, basic("alice", `guess-${index}`))));
      await Bun.sleep(20);
      // bob's check is not stuck behind alice's sixty (≈30 ms each, two at a time: ≈900 ms > 400 ms).
      expect((await authenticate(app, basic("bob", "bob-pw"))).status).toBe(200);
      await flood;
      await argon2Drained();
      expect(watch.seen.maxInFlight).toBe(1);
    } finally {
      watch.restore();
      await app.stop();
    }
  }, 30_000);

  test("one check in flight per username: a person's parallel requests wait for the first check and all succeed, with one argon2 run", async () => {
    const app = await start(5000);
    const watch = watchArgon2(aliceHash);
    try {
      const statuses = await Promise.all(Array.from({ length: 12 }, () => authenticate(app, basic("alice", "alice-pw")).then((response) => response.status)));
      expect(statuses).toEqual(Array(12).fill(200));
      expect(watch.seen.calls).toBe(1); // the others waited, then found it verified
    } finally {
      watch.restore();
      await app.stop();
    }
  }, 30_000);
});

describe("finding 3: a username is counted however it is spelled", () => {
  test("case, spaces and compatibility forms count as the one name; invisible characters are refused before any check (config users)", async () => {
    const app = await startApp(
      localUsersConfig(temporaryDirectory("gatehouse-review3-"), [{ username: "alice", password: "alice-pw" }], {
        regulation: { max_retries: 5, find_time: 120, ban_time: 120 },
      }),
    );
    try {
      for (const spelling of ["Alice", " alice", "ALICE  ", "\uFF41lice", "aLiCe"]) {
        expect((await authenticate(app, basic(spelling, "wrong"))).status).toBe(401);
      }
      // A name with an invisible character is no username at all (finding 11): refused before any
      // password check, so it can neither be a guess of alice's password nor escape her count.
      expect((await authenticate(app, basic("ali\u00ADce", "alice-pw"))).status).toBe(401);
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
    // A failure is written after its answer (on PostgreSQL, a moment later): wait for the fifth to land.
    const carolRows = async () => (await usernameRows(app)).filter((row) => row.subject.endsWith(":carol"));
    const deadline = Date.now() + 5000;
    let rows = await carolRows();
    while (rows.some((row) => row.failures < 5) && Date.now() < deadline) {
      await Bun.sleep(10);
      rows = await carolRows();
    }
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
