// The audit log, readable: GET /api/v1/audit for admins (filters, cursor
// paging, clear 4xx), `gatehouse audit` with the same filters (on SQLite and
// on PostgreSQL), and retention.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { basic, json, localUsersConfig, startApp, type TestApp } from "./helpers/app.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { writeFileSync } from "node:fs";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";
import { openPgBackend } from "../src/store/pg/backend.ts";

const ROOT = basic("root", "root-pw");
const ALICE = basic("alice", "alice-pw");

const USERS = [
  { username: "alice", password: "alice-pw" },
  { username: "bob", password: "bob-pw" },
  { username: "root", password: "root-pw", roles: ["admin"] },
];

function config(dir: string, audit: object = {}) {
  const base = localUsersConfig(dir, USERS, { audit });
  // A second realm, for the realm filter.
  return { ...base, providers: [...base.providers, { type: "plain", name: "lab", realm: "lab", users: [{ username: "erin", password: "erin-pw" }] }] };
}

let dir: string;
let app: TestApp;
const tokenIds: string[] = [];

const audit = async (query = "", authorization = ROOT) => fetch(`${app.url}/api/v1/audit${query}`, { headers: { authorization } });
const eventsOf = async (query = "") => {
  const response = await audit(query);
  expect(response.status).toBe(200);
  return (await json(response)) as { events: { id: number; event: string; at: string; actor: any; subject: any }[]; next_cursor: string | null };
};

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-audit-");
  app = await startApp(config(dir));
  // alice makes three tokens and revokes one; erin (realm lab) makes one; bob is refused someone else's.
  for (const who of [ALICE, ALICE, ALICE, basic("erin", "erin-pw")]) {
    const created = await fetch(`${app.url}/api/v1/tokens`, { method: "POST", headers: { authorization: who } });
    tokenIds.push((await json(created)).id);
  }
  expect((await fetch(`${app.url}/api/v1/tokens/${tokenIds[0]}`, { method: "DELETE", headers: { authorization: ALICE } })).status).toBe(204);
  expect((await fetch(`${app.url}/api/v1/tokens/${tokenIds[1]}`, { method: "DELETE", headers: { authorization: basic("bob", "bob-pw") } })).status).toBe(404);
});
afterAll(async () => {
  await app?.stop();
});

describe("GET /api/v1/audit", () => {
  test("is for admins only", async () => {
    expect((await fetch(`${app.url}/api/v1/audit`)).status).toBe(401);
    const refused = await audit("", ALICE);
    expect(refused.status).toBe(403);
    expect((await json(refused)).error).toContain("admin");
  });

  test("newest first, each event with who, on whom, when and from where", async () => {
    const { events, next_cursor } = await eventsOf();
    expect(next_cursor).toBeNull();
    // The oldest: the key that signs sessions' access tokens, made at the first start (issue 9, finding 1).
    expect(events.map((event) => event.event)).toEqual(["token.delete_denied", "token.revoked", "token.created", "token.created", "token.created", "token.created", "key.created"]);
    const revoked = events[1]!;
    expect(revoked.actor).toEqual({ username: "alice", realm: "local", token_id: null });
    expect(revoked.subject).toEqual({ username: "alice", realm: "local", token_id: tokenIds[0] });
    expect(new Date(revoked.at).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  test("filters: event, event prefix, actor, subject (user or token), realm, time range", async () => {
    expect((await eventsOf("?event=token.created")).events).toHaveLength(4);
    expect((await eventsOf("?event=token.*")).events).toHaveLength(6);
    expect((await eventsOf("?event=token.%25")).events).toHaveLength(0); // LIKE's own characters are literal
    expect((await eventsOf("?event=token.delete_*")).events.map((e) => e.event)).toEqual(["token.delete_denied"]); // _ too, on SQLite as well
    expect((await eventsOf("?event=tok_n.*")).events).toHaveLength(0);
    // A family, as the portal takes it (issue 26 § 3: one rule everywhere): `token` is token.*, and nothing else.
    expect((await eventsOf("?event=token")).events).toHaveLength(6);
    expect((await eventsOf("?event=TOKEN")).events).toHaveLength(6);
    expect((await eventsOf("?event=key")).events.map((e) => e.event)).toEqual(["key.created"]);
    expect((await eventsOf("?event=tok")).events).toHaveLength(0);
    expect((await eventsOf("?event=token.creat")).events).toHaveLength(0);
    expect((await eventsOf("?actor=bob")).events.map((e) => e.event)).toEqual(["token.delete_denied"]);
    expect((await eventsOf(`?subject=${tokenIds[0]}`)).events.map((e) => e.event)).toEqual(["token.revoked", "token.created"]);
    expect((await eventsOf("?subject=erin")).events).toHaveLength(1);
    expect((await eventsOf("?realm=lab")).events.map((e) => e.subject.username)).toEqual(["erin"]);
    expect((await eventsOf("?since=1h")).events).toHaveLength(7);
    expect((await eventsOf("?until=1h")).events).toHaveLength(0);
    expect((await eventsOf(`?since=${new Date(Date.now() + 60_000).toISOString()}`)).events).toHaveLength(0);
    expect((await eventsOf("?since=2000-01-01&until=2100-01-01&event=token.revoked")).events).toHaveLength(1);
  });

  test("cursor paging walks every event once, newest first", async () => {
    const seen: number[] = [];
    let query = "?limit=4";
    for (;;) {
      const page = await eventsOf(query);
      expect(page.events.length).toBeLessThanOrEqual(4);
      seen.push(...page.events.map((event) => event.id));
      if (!page.next_cursor) break;
      query = `?limit=4&cursor=${page.next_cursor}`;
    }
    expect(seen).toHaveLength(7);
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);
    expect(new Set(seen).size).toBe(7);
    // With a filter, the cursor continues within it.
    const first = await eventsOf("?event=token.created&limit=3");
    const second = await eventsOf(`?event=token.created&limit=3&cursor=${first.next_cursor}`);
    expect([...first.events, ...second.events].map((event) => event.event)).toEqual(Array(4).fill("token.created"));
    expect(second.next_cursor).toBeNull();
  });

  test("bad input is a clear 400", async () => {
    for (const [query, message] of [
      ["?cursor=nonsense", "cursor"],
      ["?since=yesterday", "since"],
      ["?limit=0", "limit"],
      ["?limit=5000", "limit"],
      ["?until=2026-13-45", "until"],
    ]) {
      const response = await audit(query!);
      expect(response.status).toBe(400);
      expect((await json(response)).error).toContain(message!);
    }
  });
});

describe("gatehouse audit", () => {
  const cli = (...args: string[]) => {
    writeFileSync(join(dir, "config.yaml"), JSON.stringify(config(dir)));
    const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "audit", "--config", join(dir, "config.yaml"), ...args]);
    return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
  };

  test("the same filters and paging as the API", () => {
    // A family (issue 26 § 3), as in the API and the portal.
    const family = JSON.parse(cli("--event", "token", "--json").stdout);
    expect(family.events.map((event: { event: string }) => event.event)).toEqual(["token.delete_denied", "token.revoked", "token.created", "token.created", "token.created", "token.created"]);
    const json = cli("--event", "token.created", "--realm", "local", "--json");
    expect(json.code).toBe(0);
    const page = JSON.parse(json.stdout);
    expect(page.events.map((event: { subject: { username: string } }) => event.subject.username)).toEqual(["alice", "alice", "alice"]);
    const text = cli("--actor", "alice", "--limit", "2");
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split("\n")).toHaveLength(2);
    expect(text.stdout).toContain("token.revoked");
    const cursor = text.stderr.match(/--cursor (\S+)/)![1]!;
    const rest = cli("--actor", "alice", "--limit", "2", "--cursor", cursor);
    expect(rest.stdout.trim().split("\n")).toHaveLength(2);
    expect(rest.stdout).toContain("token.created");
    expect(cli("--since", "someday").code).toBe(2);
    expect(cli("--since", "someday").stderr).toContain("--since: someday");
  });
});

describe.skipIf(!postgresAvailable)("gatehouse audit on a PostgreSQL store", () => {
  let pg: Postgres;
  let file: string;
  const T0 = Date.parse("2026-11-01T00:00:00Z");
  const cli = (...args: string[]) => {
    const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "audit", "--config", file, ...args], {
      env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "" },
      // A command that left a PostgreSQL pool or listener open would never exit: killed here, it fails its test.
      timeout: 60_000,
    });
    return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
  };

  beforeAll(async () => {
    pg = await startPostgres("gatehouse_audit");
    const backend = await openPgBackend({ url: pg.url });
    try {
      await backend.transaction(async (q) => {
        const at = (minutes: number) => T0 + minutes * 60_000;
        await q.recordAudit({ at: at(0), event: "token.created", actorUsername: "alice", actorRealm: "local", targetUsername: "alice", targetRealm: "local", tokenId: "tok_a" });
        await q.recordAudit({ at: at(1), event: "token.created", actorUsername: "erin", actorRealm: "lab", targetUsername: "erin", targetRealm: "lab", tokenId: "tok_e" });
        await q.recordAudit({ at: at(2), event: "token.revoked", actorUsername: "alice", actorRealm: "local", targetUsername: "alice", targetRealm: "local", tokenId: "tok_a" });
        await q.recordAudit({ at: at(3), event: "token.delete_denied", actorUsername: "bob", actorRealm: "local", targetUsername: "alice", targetRealm: "local", tokenId: "tok_a" });
        await q.recordAudit({ at: at(4), event: "session.login_failed", actorUsername: "mallory", address: "10.0.0.9", detail: { reason: "bad password" } });
      });
    } finally {
      await backend.close();
    }
    const dir = temporaryDirectory("gatehouse-audit-pg-");
    file = join(dir, "config.yaml");
    writeFileSync(file, JSON.stringify({ ...config(dir), store: { type: "postgres", url: pg.url } }));
  }, 120_000);
  afterAll(async () => {
    await pg?.destroy();
  });

  test("filters (an event prefix with _ too), text and JSON, cursor paging", () => {
    const created = cli("--event", "token.created", "--realm", "lab", "--json");
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout).events.map((event: { subject: { token_id: string } }) => event.subject.token_id)).toEqual(["tok_e"]);

    const prefixed = cli("--event", "session.login_*", "--json");
    expect(prefixed.code).toBe(0);
    const [failed] = JSON.parse(prefixed.stdout).events;
    expect(failed).toMatchObject({ event: "session.login_failed", at: "2026-11-01T00:04:00.000Z", address: "10.0.0.9", detail: { reason: "bad password" } });
    expect(JSON.parse(cli("--event", "token.delete_*", "--json").stdout).events.map((event: { event: string }) => event.event)).toEqual(["token.delete_denied"]);
    expect(JSON.parse(cli("--event", "tok_n.*", "--json").stdout).events).toEqual([]);

    const text = cli("--subject", "tok_a", "--limit", "2");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^2026-11-01T00:03:00\.000Z  token\.delete_denied +bob@local → alice@local tok_a  -\n2026-11-01T00:02:00\.000Z  token\.revoked/);
    const cursor = text.stderr.match(/--cursor (\S+)/)![1]!;
    const rest = cli("--subject", "tok_a", "--limit", "2", "--cursor", cursor);
    expect(rest.stdout.trim().split("\n")).toEqual([expect.stringContaining("token.created")]);
    expect(rest.stderr).toStartWith("audit: config "); // which config and store (issue 26 § 2), and no further page
    expect(rest.stderr).not.toContain("more:");
    expect(cli("--since", "2026-11-01T00:03Z", "--until", "2026-11-01T00:04Z").stdout).toContain("token.delete_denied");
    expect(cli("--actor", "nobody").stdout.trim()).toBe("no events");
    expect(cli("--cursor", "nonsense").stderr).toContain("--cursor: not a cursor this server gave");
  }, 120_000);
});

describe("retention", () => {
  test("events older than audit.retention are purged on schedule", async () => {
    const own = temporaryDirectory("gatehouse-audit-");
    const short = await startApp(config(own, { retention: 1, purge_interval: 1 }));
    try {
      const created = await fetch(`${short.url}/api/v1/tokens`, { method: "POST", headers: { authorization: ALICE } });
      expect(created.status).toBe(201);
      const count = async () => (await json(await fetch(`${short.url}/api/v1/audit`, { headers: { authorization: ROOT } }))).events.length;
      expect(await count()).toBe(2); // the token, and the sessions' signing key made at start
      const deadline = Date.now() + 15_000;
      while ((await count()) > 0) {
        expect(Date.now()).toBeLessThan(deadline);
        await Bun.sleep(250);
      }
      expect(short.logs.some((line) => line.includes('"audit.purged"'))).toBe(true);
    } finally {
      await short.stop();
    }
  }, 30_000);
});
