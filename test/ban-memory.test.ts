// /authenticate remembers a username's ban for the Authorization header, as it
// remembers any definite refusal (issue 24 § 2: every refusal at least as fast
// as a success): a client repeating a banned password is answered from memory,
// with a Retry-After that counts down and every refusal counted, for as long
// as the ban holds. The memory never outlives the ban: one lifted by another
// process (a write to the store) ends it at the next request. An address's ban
// is never remembered by header: the same header from another address is
// checked as ever.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { basic, localUsersConfig, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";

const USERS = ["alice", "bob", "carol"].map((username) => ({ username, password: `${username}-pw` }));

let dir: string;
let app: TestApp;

const authenticate = (authorization: string, headers: Record<string, string> = {}) => fetch(`${app.url}/authenticate`, { headers: { authorization, ...headers } });
const scrape = async () => parsePrometheus(await app.gatehouse.metrics!.render());
const refusalsCounted = async () => (await scrape()).value("gatehouse_regulation_refusals_total", { kind: "username" }) ?? 0;
const remembered = async () => (await scrape()).value("gatehouse_auth_remembered_answers_total") ?? 0;

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-ban-memory-");
  app = await startApp(
    localUsersConfig(dir, USERS, {
      // Long enough that neither the ban nor the memory ends on its own during a test.
      regulation: { max_retries: 3, address_max_retries: 3, find_time: 60, ban_time: 60, trusted_proxies: ["127.0.0.1", "::1"] },
      jwt: { iss: "gatehouse-test", secret: "gatehouse-test-secret-0123456789abcdef", reuse_seconds: 30 },
    }),
  );
});
afterAll(async () => {
  await app?.stop();
});

describe("a username's ban, remembered by /authenticate", () => {
  test("every repeat is refused from memory, with Retry-After counting down from the ban's end, and counted", async () => {
    for (let i = 0; i < 3; i++) expect((await authenticate(basic("alice", `guess-${i}`))).status).toBe(401);
    const first = await authenticate(basic("alice", "alice-pw"));
    expect(first.status).toBe(401);
    expect(first.headers.get("www-authenticate")).toContain("Basic");
    const retryAfter = Number(first.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(50);
    expect(retryAfter).toBeLessThanOrEqual(60);

    const countedBefore = await refusalsCounted();
    const rememberedBefore = await remembered();
    for (let i = 0; i < 20; i++) {
      const again = await authenticate(basic("alice", "alice-pw"));
      expect(again.status).toBe(401);
      expect(again.headers.get("cache-control")).toBe("no-store");
      expect(Number(again.headers.get("retry-after"))).toBeLessThanOrEqual(retryAfter);
    }
    // Each answer from memory counts as a refusal of the ban, as a checked one does, and as a remembered answer.
    expect((await refusalsCounted()) - countedBefore).toBe(20);
    expect((await remembered()) - rememberedBefore).toBe(20);
    // Other users are not affected.
    expect((await authenticate(basic("bob", "bob-pw"))).status).toBe(200);
  });

  test("a ban lifted by another process (its row deleted from the store) ends the memory at the next request", async () => {
    expect((await authenticate(basic("alice", "alice-pw"))).status).toBe(401);
    // What `gatehouse regulation release` or another instance's sweep does: a write by another connection.
    const other = new Database(join(dir, "gatehouse.db"));
    try {
      other.run("DELETE FROM regulation_counters WHERE kind = 'username'");
    } finally {
      other.close();
    }
    const released = await authenticate(basic("alice", "alice-pw"));
    expect(released.status).toBe(200);
    expect(released.headers.get("retry-after")).toBeNull();
  });

  test("an address's ban is not remembered by header: the same header from another address is checked", async () => {
    // Three failures from 192.0.2.1 (each a different user, so no username reaches its limit) ban the address.
    for (const username of ["bob", "carol", "nobody"]) {
      expect((await authenticate(basic(username, "wrong"), { "x-real-ip": "192.0.2.1" })).status).toBe(401);
    }
    const fromBanned = await authenticate(basic("carol", "carol-pw"), { "x-real-ip": "192.0.2.1" });
    expect(fromBanned.status).toBe(401);
    expect(fromBanned.headers.get("retry-after")).not.toBeNull();
    // The same Authorization header from another address: checked, and right.
    expect((await authenticate(basic("carol", "carol-pw"), { "x-real-ip": "192.0.2.2" })).status).toBe(200);
  });
});

describe("a refusal that depends on the address is never remembered by header", () => {
  let lab: TestApp;
  const from = (address: string) => ({ "x-real-ip": address });
  const ask = (authorization: string, headers: Record<string, string>) => fetch(`${lab.url}/authenticate`, { headers: { authorization, ...headers } });

  beforeAll(async () => {
    const labDir = temporaryDirectory("gatehouse-ban-memory-realms-");
    lab = await startApp({
      ...localUsersConfig(labDir, [{ username: "carol", password: "carol-pw" }], {
        regulation: { max_retries: 3, address_max_retries: 3, find_time: 60, ban_time: 60, trusted_proxies: ["127.0.0.1", "::1"] },
        jwt: { iss: "gatehouse-test", secret: "gatehouse-test-secret-0123456789abcdef", reuse_seconds: 30 },
      }),
      providers: [
        { type: "plain", name: "local", realm: "local", users: [{ username: "carol", password: "carol-pw" }] },
        { type: "plain", name: "lab", realm: "lab", users: [{ username: "carol", password: "lab-carol-pw" }] },
      ],
    });
  });
  afterAll(async () => {
    await lab?.stop();
  });

  test("carol banned in one realm, an address banned in the other: the same header from another address is checked in the second", async () => {
    // carol of the realm local banned by her username (three failures, each from its own address)...
    for (const [i, address] of ["192.0.2.51", "192.0.2.52", "192.0.2.53"].entries()) {
      expect((await ask(basic("carol", `guess-${i}`), { ...from(address), "x-auth-realm": "local" })).status).toBe(401);
    }
    // ...and the address 192.0.2.9 banned (three failures of other names).
    for (const username of ["dave", "erin", "frank"]) expect((await ask(basic(username, "wrong"), from("192.0.2.9"))).status).toBe(401);

    // From 192.0.2.9, lab's carol is refused by the address's ban, local's by her own: refused unchecked.
    const banned = await ask(basic("carol", "lab-carol-pw"), from("192.0.2.9"));
    expect(banned.status).toBe(401);
    expect(banned.headers.get("retry-after")).not.toBeNull();
    // The same header from elsewhere: lab's carol is checked, and right.
    const elsewhere = await ask(basic("carol", "lab-carol-pw"), from("192.0.2.10"));
    expect(elsewhere.status).toBe(200);
  });
});
