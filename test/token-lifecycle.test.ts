// API tokens through their whole life (issue 23): rotation with reuse
// detection, network limits, expiry reminders and unused tokens. Over HTTP
// against a server on an ephemeral port, on SQLite and (STORE_SUITES)
// PostgreSQL.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { basic, logEvents, startApp, type TestApp } from "./helpers/app.ts";
import { purgeStore } from "../src/store/purge.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { storedRows } from "./helpers/stored.ts";
import { portalCookie } from "./helpers/portal.ts";
import { generateOpaqueToken, hashOpaqueToken as sha256, parseOpaqueToken } from "../src/tokens/format.ts";

const ALICE = basic("alice", "alice-pw");
const BOB = basic("bob", "bob-pw");
const ADMIN = basic("root", "root-pw");
const FORM = { "content-type": "application/x-www-form-urlencoded" };

function config(dir: string, tokens: Record<string, unknown> = {}) {
  return {
    version: "2.0.0",
    logging: { level: "info", format: "json" },
    providers: [
      {
        type: "plain",
        name: "local",
        realm: "local",
        users: [
          { username: "alice", password: "alice-pw" },
          { username: "bob", password: "bob-pw" },
          { username: "root", password: "root-pw", roles: ["admin"] },
        ],
      },
    ],
    // Answers remembered for 30 s: rotation and network limits must hold through them.
    jwt: { iss: "lifecycle-test", exp: 600, secret: "lifecycle-test-secret-0123456789abcdef", reuse_seconds: 30 },
    store: { enabled: true, type: "sqlite", path: join(dir, "gatehouse.db") },
    services: [{ name: "ecflow", scopes: ["read", "write"] }],
    tokens: { max_rotation_grace: 60, ...tokens },
  };
}

let dir: string;
let app: TestApp;

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-lifecycle-");
  app = await startApp(config(dir));
});
afterAll(async () => {
  await app?.stop();
});

async function call(method: string, path: string, authorization?: string, body?: unknown, headers: Record<string, string> = {}, on: TestApp = app) {
  const response = await fetch(`${on.url}${path}`, {
    method,
    headers: { ...(authorization ? { authorization } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null, text };
}

interface Created {
  token: string;
  id: string;
  expires_at: string | null;
  created_at: string;
  note: string;
  scopes: unknown;
  family_id: string;
  rotated_from: string | null;
  allowed_networks: string[] | null;
}

async function createToken(authorization: string, body: Record<string, unknown> = {}, on: TestApp = app): Promise<Created> {
  const created = await call("POST", "/api/v1/tokens", authorization, body, {}, on);
  expect(created.status).toBe(201);
  return created.json;
}

async function rotate(id: string, authorization: string, body?: Record<string, unknown>, on: TestApp = app) {
  return call("POST", `/api/v1/tokens/${id}/rotate`, authorization, body, {}, on);
}

const authenticate = (token: string, headers: Record<string, string> = {}, on: TestApp = app) =>
  fetch(`${on.url}/authenticate`, { headers: { authorization: `Bearer ${token}`, ...headers } }).then((response) => response.status);

const tokenOf = async (id: string, authorization = ALICE, on: TestApp = app) => (await call("GET", `/api/v1/tokens/${id}`, authorization, undefined, {}, on)).json;

async function auditEvents(event: string, on: TestApp = app) {
  return storedRows<{ token_id: string; detail: string | Record<string, unknown>; address: string | null; target_username: string }>(
    on,
    `SELECT token_id, detail, address, target_username FROM audit_log WHERE event = '${event}' ORDER BY id`,
  );
}
const detailOf = (row: { detail: string | Record<string, unknown> }) => (typeof row.detail === "string" ? JSON.parse(row.detail) : row.detail);

/** Waits until `check` holds (a revocation made after the answer, off the request's path), at most 5 s. */
async function eventually(check: () => Promise<boolean>) {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met within 5 s");
    await Bun.sleep(50);
  }
}

describe("§ 1 rotation with reuse detection", () => {
  test("rotation without grace: a new secret with the same note, scopes and lifetime; the old one stops at once, remembered answers included", async () => {
    const old = await createToken(ALICE, { note: "nightly suite", expires_in: 86400, scopes: { ecflow: ["read"] } });
    // Remembered (jwt.reuse_seconds: 30) before the rotation.
    expect(await authenticate(old.token)).toBe(200);
    expect(await authenticate(old.token)).toBe(200);
    const rotated = await rotate(old.id, ALICE);
    expect(rotated.status).toBe(201);
    const fresh = rotated.json as Created;
    expect(fresh.token).toMatch(/^gth_[0-9A-Za-z]{36}$/);
    expect(fresh.id).not.toBe(old.id);
    expect(fresh).toMatchObject({ note: "nightly suite", scopes: { ecflow: ["read"] }, rotated_from: old.id, family_id: old.id, status: "active" });
    expect(Date.parse(fresh.expires_at!) - Date.parse(fresh.created_at)).toBe(86400 * 1000);
    expect(await authenticate(fresh.token)).toBe(200);
    expect(await authenticate(old.token)).toBe(401);
    // The family is visible in the list: rotated from / rotated to.
    const listed = (await call("GET", "/api/v1/tokens?include_revoked=true", ALICE)).json.tokens as Record<string, unknown>[];
    expect(listed.find((token) => token.id === old.id)).toMatchObject({ rotated_to: fresh.id, family_id: old.id });
    expect(listed.find((token) => token.id === fresh.id)).toMatchObject({ rotated_from: old.id, family_id: old.id });
  });

  test("with grace: the old secret works until the grace ends; presented after it, the whole family is revoked (not a sibling family), audited with the family and the client's address", async () => {
    const first = await createToken(ALICE, { note: "family" });
    const sibling = await createToken(ALICE, { note: "another family" });
    const second = (await rotate(first.id, ALICE)).json as Created;
    const third = (await rotate(second.id, ALICE, { grace_seconds: 1 })).json as Created;
    expect(third.family_id).toBe(first.id);
    expect((await tokenOf(second.id)).rotated_until).not.toBeNull();
    expect(await authenticate(second.token)).toBe(200); // within its grace
    expect(await authenticate(third.token)).toBe(200);
    await Bun.sleep(1100);
    // After the grace: the old secret, from a client a trusted proxy (loopback) names.
    expect(await authenticate(second.token, { "x-real-ip": "198.51.100.23" })).toBe(401);
    await eventually(async () => (await tokenOf(third.id)).status === "revoked");
    expect(await authenticate(third.token)).toBe(401);
    for (const id of [first.id, second.id, third.id]) {
      const view = await tokenOf(id);
      expect(view.status).toBe("revoked");
      expect(view.revoked_reason).toContain(`rotated-away token ${second.id} was presented again from 198.51.100.23`);
    }
    expect(await authenticate(sibling.token)).toBe(200);
    expect((await tokenOf(sibling.id)).status).toBe("active");
    const events = (await auditEvents("token.reuse_detected")).filter((row) => row.token_id === second.id);
    expect(events).toHaveLength(1);
    expect(events[0].address).toBe("198.51.100.23");
    expect(events[0].target_username).toBe("alice");
    expect(detailOf(events[0])).toMatchObject({ family: first.id, address: "198.51.100.23" });
    expect(detailOf(events[0]).revoked).toEqual(expect.arrayContaining([first.id, second.id, third.id]));
    // Presented again: already revoked, nothing more to do.
    expect(await authenticate(second.token)).toBe(401);
    await Bun.sleep(100);
    expect((await auditEvents("token.reuse_detected")).filter((row) => row.token_id === second.id)).toHaveLength(1);
  });

  test("a rotated-away secret used right after a rotation without grace is a reuse too: the family goes, and with it the tokens made with it", async () => {
    const old = await createToken(ALICE, { note: "leaked" });
    const child = await createToken(`Bearer ${old.token}`, { note: "made with the old one" });
    const fresh = (await rotate(old.id, ALICE)).json as Created;
    expect(await authenticate(child.token)).toBe(200);
    expect(await authenticate(old.token)).toBe(401);
    await eventually(async () => (await tokenOf(fresh.id)).status === "revoked");
    expect((await tokenOf(child.id)).status).toBe("revoked");
    expect(await authenticate(child.token)).toBe(401);
  });

  test("a token rotates itself (a deployment switching over); the new one keeps the lifetime and is not bound by the old one's expiry", async () => {
    const old = await createToken(ALICE, { note: "self", expires_in: 3600 });
    await Bun.sleep(20);
    const rotated = await rotate(old.id, `Bearer ${old.token}`, { grace_seconds: 30 });
    expect(rotated.status).toBe(201);
    expect(Date.parse(rotated.json.expires_at)).toBeGreaterThan(Date.parse(old.expires_at!));
    expect(await authenticate(old.token)).toBe(200);
    expect(await authenticate(rotated.json.token)).toBe(200);
  });

  test("rotation by a non-owner is refused as for an unknown token (404), audited; an admin may rotate anyone's", async () => {
    const mine = await createToken(ALICE, { note: "alice's" });
    const refused = await rotate(mine.id, BOB);
    expect(refused.status).toBe(404);
    expect(refused.json).toEqual({ error: `Token ${mine.id} not found` });
    expect((await auditEvents("token.rotate_denied")).some((row) => row.token_id === mine.id)).toBe(true);
    expect(await authenticate(mine.token)).toBe(200);
    const byAdmin = await rotate(mine.id, ADMIN);
    expect(byAdmin.status).toBe(201);
    expect(byAdmin.json.username).toBe("alice");
  });

  test("bad input: 4xx with {error}, never a 500", async () => {
    const token = await createToken(ALICE, { note: "bad input" });
    expect((await rotate(token.id, ALICE, { grace_seconds: 61 })).json.error).toContain("tokens.max_rotation_grace");
    for (const body of [{ grace_seconds: 61 }, { grace_seconds: -1 }, { grace_seconds: 1.5 }, { grace_seconds: "ten" }, { grace_seconds: null }, { grace_seconds: 3601 }, { grace: 5 }]) {
      const answer = await rotate(token.id, ALICE, body);
      expect(answer.status).toBe(400);
      expect(typeof answer.json.error).toBe("string");
    }
    const notJson = await call("POST", `/api/v1/tokens/${token.id}/rotate`, ALICE, "{", { "content-type": "application/json" });
    expect(notJson.status).toBe(400);
    expect((await rotate("tok_nosuchtoken", ALICE)).status).toBe(404);
    const fresh = (await rotate(token.id, ALICE)).json as Created;
    const again = await rotate(token.id, ALICE);
    expect(again.status).toBe(409);
    expect(again.json.error).toContain(`already rotated to ${fresh.id}`);
    expect((await call("DELETE", `/api/v1/tokens/${fresh.id}`, ALICE)).status).toBe(204);
    expect((await rotate(fresh.id, ALICE)).status).toBe(409);
  });

  test("the portal: a Rotate button (a POST form with CSRF) shows the new secret once; the owner sees a reuse and its reason", async () => {
    const portal = await startApp({ ...config(dir), portal: { enabled: true } });
    try {
      const cookie = await portalCookie(portal.url, "alice", "alice-pw");
      const token = await createToken(ALICE, { note: "portal rotation" }, portal);
      const page = await (await fetch(`${portal.url}/portal/tokens`, { headers: { cookie } })).text();
      expect(page).toContain(`aria-label="Rotate token portal rotation"`);
      const csrf = page.match(/name="csrf" value="([^"]+)"/)![1];
      const post = (form: Record<string, string>) =>
        fetch(`${portal.url}/portal/tokens/rotate`, { method: "POST", redirect: "manual", headers: { ...FORM, cookie, origin: portal.url }, body: new URLSearchParams(form) });
      expect((await post({ id: token.id, back: "tokens" })).status).toBe(403); // no CSRF token
      const rotated = await post({ id: token.id, back: "tokens", csrf, grace_seconds: "0" });
      expect(rotated.status).toBe(201);
      const shown = await rotated.text();
      const secret = shown.match(/id="secret" class="secret" value="(gth_[0-9A-Za-z]{36})"/)![1];
      expect(shown).toContain(`<code>${token.id}</code>`);
      expect(await authenticate(secret, {}, portal)).toBe(200);
      expect(await authenticate(token.token, {}, portal)).toBe(401); // a reuse: the family goes
      await eventually(async () => (await authenticate(secret, {}, portal)) === 401);
      const after = await (await fetch(`${portal.url}/portal/tokens`, { headers: { cookie } })).text();
      expect(after).toContain("A rotated-away token was presented again");
      expect(after).toContain(`revoked: its rotated-away token ${token.id} was presented again`);
    } finally {
      await portal.stop();
    }
  });

  test("gatehouse tokens rotate ID: the new secret alone on stdout", async () => {
    const token = await createToken(ALICE, { note: "cli rotation" });
    const configFile = join(dir, "cli-config.json");
    writeFileSync(configFile, JSON.stringify(app.raw));
    const run = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "tokens", "rotate", token.id, "--grace", "30s", "--config", configFile], {
      env: { ...process.env, USER: "operator" },
      timeout: 60_000,
    });
    expect(run.exitCode).toBe(0);
    const secret = run.stdout.toString().trim();
    expect(secret).toMatch(/^gth_[0-9A-Za-z]{36}$/);
    expect(run.stderr.toString()).toContain(`rotated ${token.id} to tok_`);
    expect(await authenticate(secret)).toBe(200);
    expect(await authenticate(token.token)).toBe(200); // its 30 s of grace
    const refused = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "tokens", "rotate", token.id, "--config", configFile], { timeout: 60_000 });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.toString()).toContain("already rotated");
  });
});

describe("§ 4 network limits", () => {
  // Requests from loopback (a trusted proxy by default) naming the client in X-Real-IP, as nginx does.
  const from = (address: string) => ({ "x-real-ip": address });

  test("a limited token works from inside its networks only: 401 outside, audited; a refusal does not stick, nor does a remembered success let an outside address in", async () => {
    const limited = await createToken(ALICE, { note: "limited", allowed_networks: ["192.0.2.0/24", "2001:db8::/32"] });
    expect(limited.allowed_networks).toEqual(["192.0.2.0/24", "2001:db8::/32"]);
    expect((await tokenOf(limited.id)).allowed_networks).toEqual(["192.0.2.0/24", "2001:db8::/32"]);
    expect(await authenticate(limited.token, from("192.0.2.7"))).toBe(200);
    // Remembered for 30 s: still refused from outside.
    expect(await authenticate(limited.token, from("198.51.100.9"))).toBe(401);
    // That refusal is not remembered either: inside works at once.
    expect(await authenticate(limited.token, from("192.0.2.8"))).toBe(200);
    expect(await authenticate(limited.token, from("2001:db8::5"))).toBe(200);
    expect(await authenticate(limited.token, from("2001:db9::5"))).toBe(401);
    // No address known (a trusted proxy that names none): outside every network.
    expect(await authenticate(limited.token)).toBe(401);
    // The API refuses it too.
    expect((await call("GET", "/api/v1/tokens", `Bearer ${limited.token}`, undefined, from("198.51.100.9"))).status).toBe(401);
    expect((await call("GET", "/api/v1/tokens", `Bearer ${limited.token}`, undefined, from("192.0.2.9"))).status).toBe(200);
    // Written after the answer (off the request's path).
    const refusedFrom = async () => (await auditEvents("token.network_refused")).filter((row) => row.token_id === limited.id);
    await eventually(async () => (await refusedFrom()).some((row) => row.address === "2001:db9::5"));
    const refused = await refusedFrom();
    expect(refused.map((row) => row.address)).toEqual(expect.arrayContaining(["198.51.100.9", "2001:db9::5"]));
    expect(detailOf(refused[0])).toMatchObject({ allowed_networks: ["192.0.2.0/24", "2001:db8::/32"] });
    // Still a live token, with its use recorded from inside.
    expect((await tokenOf(limited.id)).status).toBe("active");
    // An unlimited token is not affected by any of this.
    const open = await createToken(ALICE, { note: "anywhere" });
    expect(open.allowed_networks).toBeNull();
    expect(await authenticate(open.token, from("198.51.100.9"))).toBe(200);
    expect(await authenticate(open.token)).toBe(200);
  });

  test("a token made with a token only narrows its parent's networks; omitted, it inherits them", async () => {
    const parent = await createToken(ALICE, { note: "parent", allowed_networks: ["192.0.2.0/24"] });
    const inside = { "x-real-ip": "192.0.2.1" };
    const make = (body: Record<string, unknown>) => call("POST", "/api/v1/tokens", `Bearer ${parent.token}`, body, inside);
    const inherited = await make({ note: "inherits" });
    expect(inherited.status).toBe(201);
    expect(inherited.json.allowed_networks).toEqual(["192.0.2.0/24"]);
    const narrower = await make({ note: "narrower", allowed_networks: ["192.0.2.128/25", "192.0.2.9"] });
    expect(narrower.status).toBe(201);
    expect(await authenticate(narrower.json.token, from("192.0.2.9"))).toBe(200);
    expect(await authenticate(narrower.json.token, from("192.0.2.10"))).toBe(401);
    const wider = await make({ note: "wider", allowed_networks: ["192.0.0.0/16"] });
    expect(wider.status).toBe(403);
    expect(wider.json.error).toContain("192.0.0.0/16 not within 192.0.2.0/24");
    expect((await make({ note: "elsewhere", allowed_networks: ["198.51.100.0/24"] })).status).toBe(403);
    expect((await make({ note: "other family", allowed_networks: ["2001:db8::/32"] })).status).toBe(403);
    // From outside, the parent cannot make anything at all.
    expect((await call("POST", "/api/v1/tokens", `Bearer ${parent.token}`, { note: "outside" }, from("203.0.113.1"))).status).toBe(401);
    // A rotation keeps the networks.
    const rotated = await rotate(inherited.json.id, ALICE);
    expect(rotated.json.allowed_networks).toEqual(["192.0.2.0/24"]);
  });

  test("bad input: 400 with {error}, never a 500", async () => {
    const tooMany = Array.from({ length: 17 }, (_, index) => `10.0.${index}.0/24`);
    for (const allowed_networks of [tooMany, [], ["not-a-network"], ["10.0.0.0/33"], ["10.0.0.0/8/1"], [42], "10.0.0.0/8", null, ["::1/129"]]) {
      const answer = await call("POST", "/api/v1/tokens", ALICE, { note: "bad", allowed_networks });
      expect(answer.status).toBe(400);
      expect(typeof answer.json.error).toBe("string");
    }
    const sixteen = await call("POST", "/api/v1/tokens", ALICE, { note: "sixteen", allowed_networks: tooMany.slice(0, 16) });
    expect(sixteen.status).toBe(201);
  });

  test("gatehouse tokens create --network, and the portal's field", async () => {
    const configFile = join(dir, "cli-config.json");
    writeFileSync(configFile, JSON.stringify(app.raw));
    const cli = (...args: string[]) => Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "tokens", ...args, "--config", configFile], { timeout: 60_000 });
    const created = cli("create", "--user", "alice", "--realm", "local", "--note", "from the CLI", "--network", "192.0.2.0/28", "--network", "2001:db8::/48");
    expect(created.exitCode).toBe(0);
    const secret = created.stdout.toString().trim();
    expect(await authenticate(secret, from("192.0.2.3"))).toBe(200);
    expect(await authenticate(secret, from("192.0.2.30"))).toBe(401);
    const bad = cli("create", "--user", "alice", "--realm", "local", "--network", "192.0.2.0/40");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.toString()).toContain("invalid prefix length");

    const portal = await startApp({ ...config(dir), portal: { enabled: true } });
    try {
      const cookie = await portalCookie(portal.url, "alice", "alice-pw");
      const form = await (await fetch(`${portal.url}/portal/tokens/new`, { headers: { cookie } })).text();
      expect(form).toContain(`<label for="networks">Usable only from`);
      const csrf = form.match(/name="csrf" value="([^"]+)"/)![1];
      const nonce = form.match(/name="nonce" value="([^"]+)"/)![1];
      const post = (networks: string, formNonce: string) =>
        fetch(`${portal.url}/portal/tokens/new`, {
          method: "POST",
          headers: { ...FORM, cookie, origin: portal.url },
          body: new URLSearchParams({ csrf, nonce: formNonce, note: "portal limited", expires: "7", scope: "ecflow:read", networks }),
        });
      const refused = await post("192.0.2.0/99", nonce);
      expect(refused.status).toBe(400);
      expect(await refused.text()).toContain("invalid prefix length");
      const made = await post("192.0.2.0/24, 2001:db8::/32", nonce);
      expect(made.status).toBe(201);
      const page = await made.text();
      expect(page).toContain("<dt>Usable from</dt><dd>192.0.2.0/24, 2001:db8::/32</dd>");
      const portalSecret = page.match(/id="secret" class="secret" value="(gth_[0-9A-Za-z]{36})"/)![1];
      expect(await authenticate(portalSecret, from("192.0.2.1"), portal)).toBe(200);
      expect(await authenticate(portalSecret, from("203.0.113.1"), portal)).toBe(401);
      const list = await (await fetch(`${portal.url}/portal/tokens`, { headers: { cookie } })).text();
      expect(list).toContain("only from 192.0.2.0/24, 2001:db8::/32");
    } finally {
      await portal.stop();
    }
  });
});

describe("§ 2 expiry reminders and unused tokens", () => {
  const DAY = 86400;
  /** The purge's policy in these tests: what has ended is kept (ten years), so the clock moved ahead deletes nothing. */
  const KEEP_ENDED = { intervalSeconds: 0, sessionsAfterSeconds: 3650 * DAY, tokensAfterSeconds: 3650 * DAY };

  test("tokens expiring within tokens.remind_before (7 days) are marked in the API, the portal's list and home page, and the CLI's --expiring", async () => {
    const reminders = await startApp({ ...config(temporaryDirectory("gatehouse-lifecycle-remind-")), portal: { enabled: true } });
    try {
      const soon = await createToken(ALICE, { note: "expires in 3 days", expires_in: 3 * DAY }, reminders);
      const later = await createToken(ALICE, { note: "expires in 20 days", expires_in: 20 * DAY }, reminders);
      await createToken(BOB, { note: "bob's, in 1 day", expires_in: DAY }, reminders);
      expect((await tokenOf(soon.id, ALICE, reminders)).expiring_soon).toBe(true);
      expect((await tokenOf(later.id, ALICE, reminders)).expiring_soon).toBe(false);

      const cookie = await portalCookie(reminders.url, "alice", "alice-pw");
      const home = await (await fetch(`${reminders.url}/portal/`, { headers: { cookie } })).text();
      expect(home).toContain("One of your API tokens expires soon (the first, expires in 3 days,");
      const list = await (await fetch(`${reminders.url}/portal/tokens`, { headers: { cookie } })).text();
      expect(list.match(/<strong class="expiring">expires soon<\/strong>/g)).toHaveLength(1);
      expect(list).toContain("One token expires soon");

      const configFile = join(dir, "remind-config.json");
      writeFileSync(configFile, JSON.stringify(reminders.raw));
      const cli = (...args: string[]) => Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "tokens", "list", ...args, "--config", configFile], { timeout: 60_000 });
      const week = JSON.parse(cli("--expiring", "7d", "--json").stdout.toString()).tokens as { id: string; username: string }[];
      expect(week.map((token) => token.username).sort()).toEqual(["alice", "bob"]);
      expect(week.map((token) => token.id)).toContain(soon.id);
      const month = JSON.parse(cli("--expiring", "30d", "--json", "--user", "alice", "--realm", "local").stdout.toString()).tokens as { id: string }[];
      expect(month.map((token) => token.id).sort()).toEqual([soon.id, later.id].sort());
      expect(cli("--expiring", "7d").stdout.toString()).toContain("active (expiring soon)");
      const bad = cli("--expiring", "soon");
      expect(bad.exitCode).toBe(2);

      // The gauge, by window, as a scrape renders it (store-wide).
      const scraped = await reminders.gatehouse.metrics!.render();
      expect(scraped).toContain('gatehouse_tokens_expiring{window="1d"} 1');
      expect(scraped).toContain('gatehouse_tokens_expiring{window="7d"} 2');
      expect(scraped).toContain('gatehouse_tokens_expiring{window="30d"} 3');
      // A revoked or rotated-away token is not counted.
      await rotate(soon.id, ALICE, undefined, reminders);
      expect(await reminders.gatehouse.metrics!.render()).toContain('gatehouse_tokens_expiring{window="7d"} 2'); // its successor expires in 3 days too
      expect((await call("DELETE", `/api/v1/tokens/${later.id}`, ALICE, undefined, {}, reminders)).status).toBe(204);
      expect(await reminders.gatehouse.metrics!.render()).toContain('gatehouse_tokens_expiring{window="30d"} 2');
    } finally {
      await reminders.stop();
    }
  });

  test("tokens.expire_unused_after: the purge revokes a token unused that long (never used: since its creation), and those made with it, audited as token.expired_unused; with a clock the test controls", async () => {
    const unused = await startApp({ ...config(temporaryDirectory("gatehouse-lifecycle-unused-"), { expire_unused_after: 2 }), purge: { interval: 0 } });
    try {
      const gatehouse = unused.gatehouse;
      const policy = KEEP_ENDED;
      const idle = await createToken(ALICE, { note: "never used", expires_in: 30 * DAY }, unused);
      const child = await createToken(`Bearer ${idle.token}`, { note: "made with the idle one" }, unused);
      const busy = await createToken(ALICE, { note: "used", expires_in: 30 * DAY }, unused);
      // Nothing is unused for 2 s yet.
      expect((await purgeStore(gatehouse.store!, policy, Date.now(), gatehouse.tokens)).expiredUnused).toBe(0);
      await Bun.sleep(2200);
      expect(await authenticate(busy.token, {}, unused)).toBe(200);
      expect(await authenticate(child.token, {}, unused)).toBe(200);
      const first = await purgeStore(gatehouse.store!, policy, Date.now(), gatehouse.tokens);
      expect(first.expiredUnused).toBe(1);
      expect(await authenticate(idle.token, {}, unused)).toBe(401);
      expect(await authenticate(child.token, {}, unused)).toBe(401); // its parent's revocation takes it
      expect(await authenticate(busy.token, {}, unused)).toBe(200);
      const view = await tokenOf(idle.id, ALICE, unused);
      expect(view.status).toBe("revoked");
      expect(view.revoked_reason).toBe("not used for 2 seconds (tokens.expire_unused_after)");
      const audited = await auditEvents("token.expired_unused", unused);
      expect(audited.map((row) => row.token_id)).toEqual([idle.id]);
      expect(audited[0].target_username).toBe("alice");
      // The test's clock, 5 s on: the busy one is unused by then too.
      const later = await purgeStore(gatehouse.store!, policy, Date.now() + 5000, gatehouse.tokens);
      expect(later.expiredUnused).toBe(1);
      expect(await authenticate(busy.token, {}, unused)).toBe(401);
      expect(logEvents(unused).filter((line) => line.event === "tokens.expired_unused").map((line) => line.id).sort()).toEqual([idle.id, busy.id].sort());
    } finally {
      await unused.stop();
    }
  });

  test("off by default: the purge revokes nothing unused", async () => {
    const gatehouse = app.gatehouse;
    const idle = await createToken(ALICE, { note: "idle, but expiry of unused tokens is off", expires_in: 300 * DAY });
    const result = await purgeStore(gatehouse.store!, KEEP_ENDED, Date.now() + 299 * DAY * 1000, gatehouse.tokens);
    expect(result.expiredUnused).toBe(0);
    expect((await tokenOf(idle.id)).status).toBe("active");
  });
});

describe("§ 3 leak reports", () => {
  // GitHub's signing keys, as a test key pair: P-256, SHA-256, DER signatures in base64.
  const github = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const stranger = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const KEY_ID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
  const keysJson = (entries: [string, KeyObject][]) =>
    JSON.stringify({ public_keys: entries.map(([key_identifier, key]) => ({ key_identifier, key: key.export({ type: "spki", format: "pem" }), is_current: true })) });
  const signed = (body: string, privateKey: KeyObject = github.privateKey) => sign("sha256", Buffer.from(body), { key: privateKey, dsaEncoding: "der" }).toString("base64");
  let leaks: TestApp;

  beforeAll(async () => {
    const leakDir = temporaryDirectory("gatehouse-lifecycle-leaks-");
    writeFileSync(join(leakDir, "github-keys.json"), keysJson([[KEY_ID, github.publicKey]]));
    leaks = await startApp({ ...config(leakDir, { leaks: { github_keys_file: join(leakDir, "github-keys.json") } }), portal: { enabled: true } });
  });
  afterAll(async () => {
    await leaks?.stop();
  });

  const report = (body: string, headers: Record<string, string>, authorization?: string) =>
    call("POST", "/api/v1/tokens/report-leak", authorization, body, headers, leaks);
  const githubHeaders = (body: string, keyId = KEY_ID, privateKey?: KeyObject) => ({
    "github-public-key-identifier": keyId,
    "github-public-key-signature": signed(body, privateKey),
  });
  const entry = (token: string, url = "https://github.com/octo/suite/blob/main/ecflow.env") => ({ token, type: "gatehouse_api_token", url, source: "content" });

  test("GitHub's signed report: live tokens revoked at once (and those made with them), labels per report, no secret echoed, audited with the URL, shown to the owner", async () => {
    const live = await createToken(ALICE, { note: "leaked one" }, leaks);
    const child = await createToken(`Bearer ${live.token}`, { note: "made with the leaked one" }, leaks);
    const revoked = await createToken(ALICE, { note: "revoked before" }, leaks);
    expect((await call("DELETE", `/api/v1/tokens/${revoked.id}`, ALICE, undefined, {}, leaks)).status).toBe(204);
    const unknown = generateOpaqueToken("gth_");
    const body = JSON.stringify([entry(live.token), entry(unknown), entry(revoked.token), entry("ghp_notoursatall"), entry(live.token)]);
    const answer = await report(body, githubHeaders(body));
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual([
      { token_hash: sha256(live.token), token_type: "gatehouse_api_token", label: "true_positive" },
      { token_hash: sha256(unknown), token_type: "gatehouse_api_token", label: "false_positive" },
      { token_hash: sha256(revoked.token), token_type: "gatehouse_api_token", label: "true_positive" },
      { token_hash: sha256("ghp_notoursatall"), token_type: "gatehouse_api_token", label: "false_positive" },
      { token_hash: sha256(live.token), token_type: "gatehouse_api_token", label: "true_positive" },
    ]);
    for (const secret of [live.token, unknown, revoked.token]) expect(answer.text).not.toContain(secret);
    expect(await authenticate(live.token, {}, leaks)).toBe(401);
    expect(await authenticate(child.token, {}, leaks)).toBe(401);
    const view = await tokenOf(live.id, ALICE, leaks);
    expect(view.status).toBe("revoked");
    expect(view.revoked_reason).toBe("found public at https://github.com/octo/suite/blob/main/ecflow.env");
    const audited = await auditEvents("token.leaked", leaks);
    expect(audited.map((row) => row.token_id)).toEqual([live.id]);
    expect(detailOf(audited[0])).toEqual({ url: "https://github.com/octo/suite/blob/main/ecflow.env", source: "content", type: "gatehouse_api_token" });
    const cookie = await portalCookie(leaks.url, "alice", "alice-pw");
    const page = await (await fetch(`${leaks.url}/portal/tokens`, { headers: { cookie } })).text();
    expect(page).toContain("revoked: found public at https://github.com/octo/suite/blob/main/ecflow.env");
  });

  test("a bad signature: 401 and nothing revoked (another key, an altered body, an unknown or missing key identifier)", async () => {
    const token = await createToken(ALICE, { note: "must survive" }, leaks);
    const body = JSON.stringify([entry(token.token)]);
    const attempts: Record<string, string>[] = [
      githubHeaders(body, KEY_ID, stranger.privateKey),
      { ...githubHeaders(body), "github-public-key-signature": signed(JSON.stringify([entry(token.token, "https://elsewhere.example")])) },
      githubHeaders(body, "no-such-key"),
      { "github-public-key-signature": signed(body) },
      { "github-public-key-identifier": KEY_ID, "github-public-key-signature": "bm90IGEgc2lnbmF0dXJl" },
      { "github-public-key-identifier": KEY_ID, "github-public-key-signature": "" },
    ];
    for (const headers of attempts) {
      const answer = await report(body, headers);
      expect(answer.status).toBe(401);
      expect(typeof answer.json.error).toBe("string");
    }
    expect(await authenticate(token.token, {}, leaks)).toBe(200);
    expect((await auditEvents("token.leaked", leaks)).some((row) => row.token_id === token.id)).toBe(false);
  });

  test("without GitHub's signature: an admin's plain list is taken; anyone else is refused", async () => {
    const token = await createToken(ALICE, { note: "found by our own scanner" }, leaks);
    const body = JSON.stringify([{ token: token.token, url: "https://intranet.example/wiki/page" }]);
    expect((await report(body, {})).status).toBe(401);
    const byAlice = await report(body, {}, ALICE);
    expect(byAlice.status).toBe(403);
    expect(await authenticate(token.token, {}, leaks)).toBe(200);
    const byAdmin = await report(body, {}, ADMIN);
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.json).toEqual([{ token_hash: sha256(token.token), token_type: "gatehouse_api_token", label: "true_positive" }]);
    expect(await authenticate(token.token, {}, leaks)).toBe(401);
    const audited = (await auditEvents("token.leaked", leaks)).find((row) => row.token_id === token.id)!;
    expect(detailOf(audited).url).toBe("https://intranet.example/wiki/page");
    // Bad input: 400 with {error}.
    for (const bad of ["{", "{}", "[1]", '[{"url": "x"}]', '[{"token": 5}]', JSON.stringify(Array.from({ length: 1001 }, () => ({ token: "x" })))]) {
      const answer = await report(bad, {}, ADMIN);
      expect(answer.status).toBe(400);
      expect(typeof answer.json.error).toBe("string");
    }
  });

  test("keys from a URL (tokens.leaks.github_keys_url), as GitHub publishes them", async () => {
    const keyServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(keysJson([["k1", github.publicKey]]), { headers: { "content-type": "application/json" } }) });
    const fromUrl = await startApp(config(temporaryDirectory("gatehouse-lifecycle-leak-url-"), { leaks: { github_keys_url: `http://127.0.0.1:${keyServer.port}/meta/public_keys/secret_scanning` } }));
    try {
      const token = await createToken(ALICE, { note: "leaked, keys by URL" }, fromUrl);
      const body = JSON.stringify([entry(token.token)]);
      expect((await call("POST", "/api/v1/tokens/report-leak", undefined, body, githubHeaders(body, "k1", stranger.privateKey), fromUrl)).status).toBe(401);
      expect(await authenticate(token.token, {}, fromUrl)).toBe(200);
      const answer = await call("POST", "/api/v1/tokens/report-leak", undefined, body, githubHeaders(body, "k1"), fromUrl);
      expect(answer.status).toBe(200);
      expect(answer.json[0].label).toBe("true_positive");
      expect(await authenticate(token.token, {}, fromUrl)).toBe(401);
      // Not configured at all: signed reports are refused, saying why.
      const none = await call("POST", "/api/v1/tokens/report-leak", undefined, body, githubHeaders(body), app);
      expect(none.status).toBe(401);
      expect(none.json.error).toContain("tokens.leaks.github_keys_url");
    } finally {
      await fromUrl.stop();
      keyServer.stop(true);
    }
  });

  test("the published format: the regular expression and checksum of docs/api-tokens.md, and the gitleaks rule, against real tokens and near-misses", () => {
    const readme = readFileSync(join(projectRoot, "docs/api-tokens.md"), "utf8");
    const published = new RegExp(readme.match(/^Regular expression: `(.+)`$/m)![1]!);
    const rule = readFileSync(join(projectRoot, "docs/gitleaks-gatehouse.toml"), "utf8");
    const gitleaks = new RegExp(rule.match(/^regex = '''(.+)'''$/m)![1]!);
    const entropyFloor = Number(rule.match(/^entropy = ([\d.]+)$/m)![1]);
    // The checksum as docs/api-tokens.md describes it, written again here: CRC32 (IEEE) of the 30 random characters, as 6 base62 digits.
    const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const checksumOf = (random: string) => {
      let crc = 0xffffffff;
      for (const byte of Buffer.from(random)) {
        crc ^= byte;
        for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
      }
      let value = (crc ^ 0xffffffff) >>> 0;
      let digits = "";
      for (let i = 0; i < 6; i++) {
        digits = base62[value % 62] + digits;
        value = Math.floor(value / 62);
      }
      return digits;
    };
    const entropy = (text: string) => {
      const counts = new Map<string, number>();
      for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
      return [...counts.values()].reduce((sum, count) => sum - (count / text.length) * Math.log2(count / text.length), 0);
    };
    for (let i = 0; i < 500; i++) {
      const token = generateOpaqueToken("gth_");
      for (const pattern of [published, gitleaks]) expect(`export TOKEN=${token}\n`.match(pattern)?.[1] ?? `export TOKEN=${token}\n`.match(pattern)?.[0]).toBe(token);
      expect(checksumOf(token.slice(4, 34))).toBe(token.slice(34));
      expect(entropy(token)).toBeGreaterThan(entropyFloor);
    }
    const real = generateOpaqueToken("gth_");
    const nearMisses = [
      real.slice(0, -1), // 35 characters
      `${real}x`, // 37
      `ghp_${real.slice(4)}`, // GitHub's prefix
      `xgth_${real.slice(4)}`, // inside a longer word
      `gth-${real.slice(4)}`,
      `gth_${real.slice(4, 20)}-${real.slice(21)}`, // a character outside base62
      `GTH_${real.slice(4)}`,
    ];
    for (const missed of nearMisses) {
      expect(published.test(missed)).toBe(false);
      expect(gitleaks.test(missed)).toBe(false);
    }
    // A look-alike of the right shape matches the expression; the checksum tells it apart.
    const lookAlike = `gth_${real.slice(4, 34)}${real.slice(34) === "000000" ? "000001" : "000000"}`;
    expect(gitleaks.test(lookAlike)).toBe(true);
    expect(checksumOf(lookAlike.slice(4, 34))).not.toBe(lookAlike.slice(34));
    expect(parseOpaqueToken("gth_", lookAlike)).toBe(false);
  });
});

describe("§ 2 webhook notifications", () => {
  const SECRET = "webhook-signing-secret-0123456789";
  interface Received {
    headers: Record<string, string>;
    body: string;
    status: number;
  }
  const received: Received[] = [];
  let hook: ReturnType<typeof Bun.serve>;
  let notified: TestApp;
  const seen = new Set<string>();

  beforeAll(async () => {
    // Fails the first attempt of every event (500), then takes it; the leaked event's first answer also comes late.
    hook = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        const body = await request.text();
        const id = request.headers.get("x-gatehouse-delivery") ?? "";
        const status = seen.has(id) ? 204 : 500;
        seen.add(id);
        if (status === 500 && request.headers.get("x-gatehouse-event") === "token.leaked") await Bun.sleep(1500);
        received.push({ headers: Object.fromEntries(request.headers), body, status });
        return new Response(null, { status });
      },
    });
    const hookDir = temporaryDirectory("gatehouse-lifecycle-webhook-");
    writeFileSync(join(hookDir, "webhook-secret"), `${SECRET}\n`);
    notified = await startApp(
      {
        ...config(hookDir, {
          expire_unused_after: 2,
          notifications: { webhook: { url: `http://127.0.0.1:${hook.port}/hooks/gatehouse?key=not-for-logs`, secret_file: join(hookDir, "webhook-secret") } },
        }),
        purge: { interval: 0 },
      },
      {},
      { webhookRetryBaseMs: 200 },
    );
  });
  afterAll(async () => {
    await notified?.stop();
    hook?.stop(true);
  });

  /** The events delivered (answered 2xx), by type. */
  const delivered = (type: string) =>
    received.filter((entry) => entry.status < 300 && entry.headers["x-gatehouse-event"] === type).map((entry) => JSON.parse(entry.body) as { id: string; type: string; occurred_at: string; data: Record<string, any> });

  test("each event is posted signed (HMAC-SHA256 of the body), with a timestamp and an id for de-duplication, retried after a 500, never blocking the request; failures counted and logged without the secret", async () => {
    const KEEP = { intervalSeconds: 0, sessionsAfterSeconds: 3650 * 86400, tokensAfterSeconds: 3650 * 86400 };
    const gatehouse = notified.gatehouse;
    // token.expiring: the purge tells once per token.
    const expiring = await createToken(ALICE, { note: "expires in 3 days", expires_in: 3 * 86400 }, notified);
    // token.expired_unused: unused for 2 s, by the test's clock.
    const idle = await createToken(ALICE, { note: "idle", expires_in: 30 * 86400 }, notified);
    await purgeStore(gatehouse.store!, KEEP, Date.now(), gatehouse.tokens);
    await purgeStore(gatehouse.store!, KEEP, Date.now() + 3000, gatehouse.tokens);
    // token.reuse_detected
    const rotated = await createToken(ALICE, { note: "rotated" }, notified);
    await rotate(rotated.id, ALICE, undefined, notified);
    expect(await authenticate(rotated.token, { "x-real-ip": "203.0.113.50" }, notified)).toBe(401);
    // token.leaked: the webhook answers late, the report does not wait for it.
    const leaked = await createToken(ALICE, { note: "leaked" }, notified);
    const started = performance.now();
    const reportAnswer = await call("POST", "/api/v1/tokens/report-leak", ADMIN, JSON.stringify([{ token: leaked.token, url: "https://paste.example/x" }]), {}, notified);
    expect(reportAnswer.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(1000);

    await eventually(async () => ["token.expiring", "token.expired_unused", "token.reuse_detected", "token.leaked"].every((type) => delivered(type).length > 0));
    const [expiringEvent] = delivered("token.expiring");
    expect(expiringEvent!.data).toMatchObject({ token_id: expiring.id, username: "alice", realm: "local", note: "expires in 3 days", expires_at: expiring.expires_at });
    expect(delivered("token.expired_unused").map((event) => event.data.token_id)).toContain(idle.id);
    expect(delivered("token.reuse_detected")[0]!.data).toMatchObject({ token_id: rotated.id, family: rotated.id, address: "203.0.113.50", username: "alice" });
    expect(delivered("token.leaked")[0]!.data).toMatchObject({ token_id: leaked.id, url: "https://paste.example/x" });
    // Told once: another purge sends no second token.expiring for the same token.
    await purgeStore(gatehouse.store!, KEEP, Date.now(), gatehouse.tokens);
    await Bun.sleep(300);
    expect(delivered("token.expiring").filter((event) => event.data.token_id === expiring.id)).toHaveLength(1);

    for (const entry of received) {
      const body = JSON.parse(entry.body);
      expect(entry.headers["content-type"]).toBe("application/json");
      expect(entry.headers["x-gatehouse-signature"]).toBe(`sha256=${createHmac("sha256", SECRET).update(entry.body).digest("hex")}`);
      expect(entry.headers["x-gatehouse-delivery"]).toBe(body.id);
      expect(entry.headers["x-gatehouse-event"]).toBe(body.type);
      expect(Math.abs(Number(entry.headers["x-gatehouse-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
      expect(Date.parse(body.occurred_at)).toBeGreaterThan(0);
      for (const secret of [expiring.token, idle.token, rotated.token, leaked.token, SECRET]) expect(entry.body).not.toContain(secret);
    }
    // Every event was refused once (500) and delivered on a retry with the same id and body.
    for (const event of ["token.expiring", "token.expired_unused", "token.reuse_detected", "token.leaked"].flatMap((type) => delivered(type))) {
      const attempts = received.filter((entry) => entry.headers["x-gatehouse-delivery"] === event.id);
      expect(attempts.map((entry) => entry.status)).toEqual([500, 204]);
      expect(attempts[0]!.body).toBe(attempts[1]!.body);
    }
    const metrics = await gatehouse.metrics!.render();
    expect(Number(metrics.match(/^gatehouse_webhook_failures_total (\d+)$/m)![1])).toBeGreaterThanOrEqual(4);
    expect(Number(metrics.match(/^gatehouse_webhook_deliveries_total (\d+)$/m)![1])).toBeGreaterThanOrEqual(4);
    const failures = logEvents(notified).filter((line) => line.event === "notifications.failed");
    expect(failures.length).toBeGreaterThanOrEqual(4);
    expect(failures[0]).toMatchObject({ webhook: `http://127.0.0.1:${hook.port}`, error: "status 500", retrying: true });
    for (const line of notified.logs) {
      expect(line).not.toContain(SECRET);
      expect(line).not.toContain("not-for-logs");
    }
  }, 30_000);
});
