// An administrator lifts a ban (issue 26 § 2, "Regulation"): before, the right
// password got 401 until ban_time was over. `gatehouse regulation
// list|release`, GET /api/v1/regulation/bans and POST
// /api/v1/regulation/release, and the portal's Bans page list and release
// them; each release is audited, and ends at once the refusal /authenticate
// remembers for the banned username's header (the in-process case: a write
// through this process's own SQLite connection does not move data_version).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { basic, json, startApp, type TestApp } from "./helpers/app.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { portalConfig } from "./helpers/portal.ts";
import { storeIsPostgres } from "./helpers/stored.ts";

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const USERS = ["alice", "bob", "carol", "dave", "erin", "frank"].map((username) => ({ username, password: `${username}-pw` }));

let dir: string;
let app: TestApp;
let configFile: string;

const authenticate = (authorization: string, headers: Record<string, string> = {}) => fetch(`${app.url}/authenticate`, { headers: { authorization, ...headers } });
const api = (path: string, init: RequestInit & { as?: string } = {}) =>
  fetch(`${app.url}${path}`, { ...init, headers: { authorization: basic(init.as ?? "root", `${init.as ?? "root"}-pw`), "content-type": "application/json", ...init.headers } });

/** /authenticate, asked again every 10 ms for up to `ms` until it answers 200; the last answer. */
async function authenticateUntil(authorization: string, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const response = await authenticate(authorization);
    if (response.status === 200 || Date.now() >= deadline) return response;
    await Bun.sleep(10);
  }
}

/** Bans the user (three wrong passwords), then shows /authenticate remembering the refusal of the right one. */
async function ban(username: string) {
  for (let i = 0; i < 3; i++) expect((await authenticate(basic(username, `guess-${i}`))).status).toBe(401);
  for (let i = 0; i < 2; i++) {
    const refused = await authenticate(basic(username, `${username}-pw`));
    expect(refused.status).toBe(401);
    expect(refused.headers.get("retry-after")).not.toBeNull();
  }
}

function gatehouse(...args: string[]) {
  return gatehouseAs({ USER: "operator-7" }, ...args);
}

function gatehouseAs(login: { USER?: string }, ...args: string[]) {
  const { USER: _user, LOGNAME: _logname, ...env } = process.env;
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: dir,
    env: { ...env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", ...login },
    timeout: 60_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-regulation-admin-");
  const config = portalConfig(dir, {
    regulation: { max_retries: 3, address_max_retries: 100, find_time: 60, ban_time: 300, trusted_proxies: ["127.0.0.1", "::1"] },
    jwt: { iss: "gatehouse-test", secret: "gatehouse-test-secret-0123456789abcdef", reuse_seconds: 30 },
  });
  config.providers[0]!.users.push(...USERS);
  app = await startApp(config);
  configFile = join(dir, "config.yaml");
  writeFileSync(configFile, JSON.stringify(app.raw));
});
afterAll(async () => {
  await app?.stop();
});

describe("the API: GET /api/v1/regulation/bans, POST /api/v1/regulation/release", () => {
  test("an admin lists the bans and releases one: the right password is accepted at the very next request, and the release is audited", async () => {
    await ban("alice");
    const listed = await api("/api/v1/regulation/bans");
    expect(listed.status).toBe(200);
    expect(listed.headers.get("cache-control")).toBe("no-store");
    const { bans } = await json(listed);
    const alice = bans.find((entry: any) => entry.username === "alice");
    expect(alice).toMatchObject({ kind: "username", subject: "local:alice", realm: "local", address: null });
    expect(alice.retry_after).toBeGreaterThan(250);

    const released = await api("/api/v1/regulation/release", { method: "POST", body: JSON.stringify({ username: "Alice", realm: "local" }) });
    expect(released.status).toBe(200);
    expect((await json(released)).released.map((entry: any) => entry.subject)).toEqual(["local:alice"]);
    // At once, though /authenticate remembered the refusal of this very header.
    const after = await authenticate(basic("alice", "alice-pw"));
    expect(after.status).toBe(200);
    expect(after.headers.get("retry-after")).toBeNull();

    const again = await api("/api/v1/regulation/release", { method: "POST", body: JSON.stringify({ username: "alice", realm: "local" }) });
    expect(again.status).toBe(404);
    expect((await json(again)).error).toBe("No ban in force for alice in realm local");

    const audit = await json(await api("/api/v1/audit?event=regulation.released"));
    const event = audit.events.find((entry: any) => entry.subject.username === "alice");
    expect(event).toMatchObject({ actor: { username: "root", realm: "local" }, subject: { username: "alice", realm: "local" } });
    expect(event.detail).toMatchObject({ kind: "username", subject: "local:alice", by: "admin" });
  });

  test("an address's ban is released by address", async () => {
    const from = { "x-real-ip": "192.0.2.77" };
    // The address is banned after 100 failures (each of another name, so that no username is banned).
    for (let i = 0; i < 100; i++) await authenticate(basic(`nobody${i}`, "wrong"), from);
    expect((await authenticate(basic("carol", "carol-pw"), from)).status).toBe(401);
    const released = await api("/api/v1/regulation/release", { method: "POST", body: JSON.stringify({ address: "192.0.2.77" }) });
    expect(released.status).toBe(200);
    expect((await json(released)).released[0]).toMatchObject({ kind: "address", address: "192.0.2.77", realm: null });
    expect((await authenticate(basic("carol", "carol-pw"), from)).status).toBe(200);
  });

  test("for admins only; a body that names nothing is a 4xx with a message", async () => {
    const refused = await api("/api/v1/regulation/bans", { as: "dave" });
    expect(refused.status).toBe(403);
    expect((await json(refused)).error).toContain("admin");
    expect((await api("/api/v1/regulation/release", { as: "dave", method: "POST", body: JSON.stringify({ username: "dave" }) })).status).toBe(403);
    const empty = await api("/api/v1/regulation/release", { method: "POST", body: "{}" });
    expect([400, 422]).toContain(empty.status);
    expect(typeof (await json(empty)).error).toBe("string");
  });

  test("the body is read as every JSON route's: a form is refused (415), one over 64 KiB too (413), unread", async () => {
    const form = await api("/api/v1/regulation/release", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "username=alice" });
    expect(form.status).toBe(415);
    expect(typeof (await json(form)).error).toBe("string");
    const huge = await api("/api/v1/regulation/release", { method: "POST", body: JSON.stringify({ username: "x".repeat(70_000) }) });
    expect(huge.status).toBe(413);
  });
});

describe("the CLI: gatehouse regulation list|release", () => {
  test("list shows the ban; release ends it for the running server at once, audited as cli:<login>", async () => {
    await ban("bob");
    const list = gatehouse("regulation", "list", "--config", configFile);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^KIND\s+BANNED\s+REALM\s+UNTIL$/m);
    expect(list.stdout).toMatch(/^username\s+bob\s+local\s+\d{4}-\d\d-\d\dT/m);
    const listed = JSON.parse(gatehouse("regulation", "list", "--json", "--config", configFile).stdout);
    expect(listed.bans.some((entry: any) => entry.subject === "local:bob")).toBe(true);

    // Without --realm: the name's bans in every realm.
    const released = gatehouse("regulation", "release", "--user", "bob", "--config", configFile);
    // Only the line saying which config and store the command used (issue 26 § 2).
    expect(released.stderr).toMatch(/^regulation: config \S+config\.yaml \(--config\); store (SQLite \S+gatehouse\.db|PostgreSQL postgres:\/\/\S+)\n$/);
    expect(released.code).toBe(0);
    expect(released.stdout).toContain("released: user bob in realm local");
    // SQLite: at the very next request (the file's data_version moved). PostgreSQL:
    // when the CLI's NOTIFY reaches this server's LISTEN, within milliseconds but
    // not synchronously with the CLI's exit (under CI load it came after).
    const after = await authenticateUntil(basic("bob", "bob-pw"), storeIsPostgres ? 2_000 : 0);
    expect(after.status).toBe(200);

    const audit = await json(await api("/api/v1/audit?event=regulation.released&subject=bob"));
    expect(audit.events[0].actor.username).toBe("cli:operator-7");

    const none = gatehouse("regulation", "release", "--user", "bob", "--realm", "local", "--config", configFile);
    expect(none.code).toBe(1);
    expect(none.stderr.trim().split("\n").at(-1)).toBe("regulation release: no ban in force for bob in realm local");
  });

  test("without $USER, the audit names the operator by the system's login name, not cli:unknown (issue 26 § 3)", async () => {
    await ban("frank");
    const released = gatehouseAs({}, "regulation", "release", "--user", "frank", "--realm", "local", "--config", configFile);
    expect(released.code).toBe(0);
    const audit = await json(await api("/api/v1/audit?event=regulation.released&subject=frank"));
    // The passwd file's name of this uid (Bun's os.userInfo() says "unknown" without $USER).
    const name = readFileSync("/etc/passwd", "utf8").split("\n").map((line) => line.split(":")).find((fields) => fields[2] === String(process.getuid!()))![0];
    expect(audit.events[0].actor.username).toBe(`cli:${name}`);
    expect(audit.events[0].actor.username).not.toBe("cli:unknown");
  });

  test("usage errors exit 2 with one clear line; --help exits 0", () => {
    const nothing = gatehouse("regulation", "release", "--config", configFile);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr.trim()).toBe("gatehouse regulation release: give --user U (with --realm R, optionally) or --address A (see gatehouse regulation release --help)");
    const both = gatehouse("regulation", "release", "--user", "x", "--address", "192.0.2.1", "--config", configFile);
    expect(both.code).toBe(2);
    const unknown = gatehouse("regulation", "lift", "--config", configFile);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toMatch(/^gatehouse regulation: unknown command "lift"; one of: list or release \(see gatehouse regulation --help\)$/);
    const help = gatehouse("regulation", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("release  end a ban now");
    const releaseHelp = gatehouse("regulation", "release", "--help");
    expect(releaseHelp.code).toBe(0);
    expect(releaseHelp.stdout).toContain("gatehouse regulation release");
    expect(releaseHelp.stdout).toContain("--user U");
  });
});

describe("the portal: Bans (admin)", () => {
  async function signIn(username: string) {
    const response = await fetch(`${app.url}/portal/sign-in`, {
      method: "POST",
      redirect: "manual",
      headers: { ...FORM, origin: app.url },
      body: new URLSearchParams({ provider: "local", username, password: `${username}-pw` }),
    });
    expect(response.status).toBe(303);
    return response.headers.get("set-cookie")!.split(";")[0]!;
  }

  test("lists the bans; Release (with the CSRF token) ends one at once; without the token it is refused", async () => {
    const cookie = await signIn("root");
    await ban("erin");
    const page = await fetch(`${app.url}/portal/admin/regulation`, { headers: { cookie } });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain("user <strong>erin</strong>");
    expect(text).toContain('<a href="admin/regulation" aria-current="page">Bans</a>');
    const csrf = text.match(/name="csrf" value="([^"]+)"/)![1]!;
    const form = { kind: "username", subject: "local:erin" };

    const forged = await fetch(`${app.url}/portal/admin/regulation/release`, { method: "POST", redirect: "manual", headers: { ...FORM, cookie, origin: app.url }, body: new URLSearchParams(form) });
    expect(forged.status).toBe(403);
    expect((await authenticate(basic("erin", "erin-pw"))).status).toBe(401);

    const released = await fetch(`${app.url}/portal/admin/regulation/release`, {
      method: "POST",
      redirect: "manual",
      headers: { ...FORM, cookie, origin: app.url },
      body: new URLSearchParams({ ...form, csrf }),
    });
    expect(released.status).toBe(303);
    expect(released.headers.get("location")).toEndWith("admin/regulation?done=released");
    expect((await authenticate(basic("erin", "erin-pw"))).status).toBe(200);
    const after = await (await fetch(`${app.url}/portal/admin/regulation?done=released`, { headers: { cookie } })).text();
    expect(after).toContain("Released");
    expect(after).not.toContain("user <strong>erin</strong>");
  });

  test("is for admins only", async () => {
    const cookie = await signIn("dave");
    const page = await fetch(`${app.url}/portal/admin/regulation`, { headers: { cookie } });
    expect(page.status).toBe(403);
  });
});
