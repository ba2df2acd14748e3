// Device-code sign-in (issue 21 § 4) over HTTP: a command line's
// authorization and polls (RFC 8628 in Tiled's shape), and the portal's
// device page where a person approves or denies, each refusal its own test.
// The same flow with `gatehouse login` running as a process and Chromium
// approving is test/login-cli.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { json, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { portalConfig } from "./helpers/portal.ts";
import { storedRows, storedText } from "./helpers/stored.ts";
import { purgeStore } from "../src/store/purge.ts";
import { csrfOf, decideDevice, portalPage, portalSignIn as signInAt } from "./helpers/device.ts";

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ3479]{4}-[BCDFGHJKLMNPQRSTVWXZ3479]{4}$/;
/** Where the guessing tests come from (behind the loopback proxy, which regulation trusts by default). */
const GUESSER = { "x-real-ip": "203.0.113.9" };

let dir: string;
let app: TestApp;

/** Two providers: `local` (alice, root) and `staff` (alice of another realm), to approve with the wrong one. */
function config(dir: string) {
  const base = portalConfig(dir);
  return {
    ...base,
    providers: [...base.providers, { type: "plain", name: "staff", realm: "staff", users: [{ username: "alice", password: "staff-pw" }] }],
    regulation: { address_max_retries: 3, find_time: 60, ban_time: 60 },
  };
}

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-device-");
  app = await startApp(config(dir));
});
afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Started {
  authorization_uri: string;
  verification_uri: string;
  verification_uri_complete: string;
  interval: number;
  device_code: string;
  expires_in: number;
  user_code: string;
}

async function start(provider = "local", headers: Record<string, string> = {}): Promise<Started> {
  const response = await fetch(`${app.url}/api/v1/auth/provider/${provider}/authorize`, { method: "POST", headers: { "user-agent": "gatehouse-login/test (laptop)", ...headers } });
  expect(response.status).toBe(200);
  return json(response);
}

/** A poll, as Tiled's client sends it (JSON) or as RFC 8628 says (a form). */
async function poll(started: Pick<Started, "device_code">, as: "json" | "form" = "form", provider = "local") {
  const body = { grant_type: GRANT, device_code: started.device_code };
  const response = await fetch(`${app.url}/api/v1/auth/provider/${provider}/token`, {
    method: "POST",
    headers: as === "json" ? { "content-type": "application/json", "user-agent": "gatehouse-login/test (laptop)" } : { ...FORM, "user-agent": "gatehouse-login/test (laptop)" },
    body: as === "json" ? JSON.stringify(body) : new URLSearchParams(body),
  });
  return { status: response.status, json: await json(response), headers: response.headers };
}

/** The refusal of a poll, in both shapes at once: Tiled's detail.error and RFC 8628's error. */
function expectRefusal(answer: { status: number; json: any }, error: string) {
  expect({ status: answer.status, error: answer.json.error, detail: answer.json.detail?.error }).toEqual({ status: 400, error, detail: error });
  expect(answer.json.error_description).toBeString();
}

const portalSignIn = (provider: string, username: string, password: string) => signInAt(app.url, provider, username, password);
const page = (path: string, cookie: string | null, headers: Record<string, string> = {}) => portalPage(app.url, path, cookie, headers);
const decide = (cookie: string, userCode: string, decision: "approve" | "deny", headers: Record<string, string> = {}) => decideDevice(app.url, cookie, userCode, decision, headers);

const pendingCount = async () => (await storedRows<{ n: number }>(app, "SELECT count(*) AS n FROM device_authorizations WHERE status = 'pending'"))[0].n;
const sessionsOf = async (username: string) =>
  Number((await storedRows<{ n: number }>(app, "SELECT count(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = ?", username))[0].n);

describe("POST /api/v1/auth/provider/{name}/authorize", () => {
  test("answers Tiled's fields and RFC 8628's; the device code is kept only as its SHA-256, the user code from an alphabet without look-alikes", async () => {
    const response = await fetch(`${app.url}/api/v1/auth/provider/local/authorize`, { method: "POST" });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const started: Started = await json(response);
    expect(Object.keys(started).sort()).toEqual(["authorization_uri", "device_code", "expires_in", "interval", "user_code", "verification_uri", "verification_uri_complete"]);
    expect(started.user_code).toMatch(USER_CODE);
    expect(started.device_code).toMatch(/^[0-9a-f]{64}$/);
    expect([started.interval, started.expires_in]).toEqual([5, 900]);
    expect(started.verification_uri_complete).toBe(`${app.url}/portal/device?code=${started.user_code}&provider=local`);
    expect(started.authorization_uri).toBe(`${app.url}/portal/device?provider=local`);
    // verification_uri is where Tiled's client polls (a JSON POST), and, opened in a browser, leads to the device page.
    expect(started.verification_uri).toBe(`${app.url}/api/v1/auth/provider/local/token`);
    const asTiled = await fetch(started.verification_uri, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ device_code: started.device_code, grant_type: GRANT }),
    });
    expect([asTiled.status, (await json(asTiled)).detail.error]).toEqual([400, "authorization_pending"]);
    const opened = await fetch(started.verification_uri, { redirect: "manual" });
    expect([opened.status, opened.headers.get("location")]).toEqual([303, `${app.url}/portal/device?provider=local`]);
    expect((await fetch(`${app.url}/api/v1/auth/provider/nope/token`, { redirect: "manual" })).status).toBe(404);

    const [row] = await storedRows(app, "SELECT device_code_hash, user_code, status, provider FROM device_authorizations WHERE user_code = ?", started.user_code.replace("-", ""));
    expect(row).toEqual({ device_code_hash: createHash("sha256").update(started.device_code).digest("hex"), user_code: started.user_code.replace("-", ""), status: "pending", provider: "local" });
    expect(await storedText(app)).not.toContain(started.device_code);
    // A form body (RFC 8628's client_id, scope) is accepted and ignored.
    const withForm = await fetch(`${app.url}/api/v1/auth/provider/local/authorize`, { method: "POST", headers: FORM, body: "client_id=cli&scope=openid" });
    expect(withForm.status).toBe(200);
  });

  test("the links never come from an untrusted peer's X-Forwarded-* headers", async () => {
    // As a proxy would send them, with X-Real-IP: a loopback peer forwarding without it is taken for a
    // misconfigured proxy whose X-Real-IP is no longer believed (regulation, issue 20 finding 4).
    const forwarded = { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https", "x-forwarded-prefix": "/phish", "x-real-ip": "192.0.2.10" };
    const started = await start("local", forwarded);
    for (const link of [started.authorization_uri, started.verification_uri, started.verification_uri_complete]) expect(link.startsWith(`${app.url}/`)).toBe(true);
    const opened = await fetch(started.verification_uri, { redirect: "manual", headers: { "x-forwarded-host": "evil.example", "x-real-ip": "192.0.2.10" } });
    expect(opened.headers.get("location")).toStartWith(`${app.url}/portal/device`);
  });

  test("an unknown provider: 404 in Tiled's shape, on the authorization and on the poll; a provider without sign-in (API tokens) is unknown too", async () => {
    for (const name of ["nope", "api-tokens", "access-tokens"]) {
      const response = await fetch(`${app.url}/api/v1/auth/provider/${name}/authorize`, { method: "POST" });
      expect([name, response.status]).toEqual([name, 404]);
      expect((await json(response)).detail).toContain(`No provider "${name}"`);
    }
    const started = await start();
    const polled = await poll(started, "form", "nope");
    expect(polled.status).toBe(404);
    expect(typeof polled.json.detail).toBe("string");
  });
});

describe("polling (RFC 8628 § 3.5)", () => {
  test("before approval: authorization_pending, 400, in Tiled's detail.error and RFC 8628's error, for a JSON poll (Tiled's client) and a form (RFC 8628)", async () => {
    const asTiled = await poll(await start(), "json");
    expectRefusal(asTiled, "authorization_pending");
    expect(asTiled.headers.get("cache-control")).toBe("no-store");
    expectRefusal(await poll(await start(), "form"), "authorization_pending");
    // The password grant on the same route still works; another grant type is refused in words.
    const password = await fetch(`${app.url}/api/v1/auth/provider/local/token`, { method: "POST", headers: FORM, body: "grant_type=password&username=alice&password=alice-pw" });
    expect(password.status).toBe(200);
    const other = await fetch(`${app.url}/api/v1/auth/provider/local/token`, { method: "POST", headers: FORM, body: "grant_type=client_credentials" });
    expect(other.status).toBe(400);
    expect((await json(other)).detail).toContain(GRANT);
    expectRefusal(await poll({ device_code: "" }), "invalid_request");
  });

  test("polling faster than the interval: slow_down, and the interval grows by 5 s for good", async () => {
    const started = await start();
    expectRefusal(await poll(started), "authorization_pending");
    expectRefusal(await poll(started), "slow_down");
    const interval = async () => (await storedRows<{ interval: number }>(app, "SELECT interval FROM device_authorizations WHERE user_code = ?", started.user_code.replace("-", "")))[0].interval;
    expect(Number(await interval())).toBe(10);
    expectRefusal(await poll(started), "slow_down");
    expect(Number(await interval())).toBe(15);
  });

  test("expired: expired_token for the poll, and the device page says the code is unknown or expired", async () => {
    const devices = app.gatehouse.devices!;
    devices.policy.lifetimeSeconds = 1;
    let started: Started;
    try {
      started = await start();
    } finally {
      devices.policy.lifetimeSeconds = 900;
    }
    expect(started.expires_in).toBe(1);
    await Bun.sleep(1100);
    expectRefusal(await poll(started), "expired_token");
    const cookie = await portalSignIn("local", "alice", "alice-pw");
    const shown = await page(`device?code=${started.user_code}`, cookie);
    expect(shown.status).toBe(400);
    expect(shown.text).toContain("Unknown or expired code");
    // An unknown device code (never issued, or purged once expired) is answered alike.
    expectRefusal(await poll({ device_code: "0".repeat(64) }), "expired_token");
    expectRefusal(await poll({ device_code: "not-hex" }), "expired_token");
  });

  test("denied: the person's Deny ends it; the poll gets access_denied, and nobody can approve it afterwards", async () => {
    const started = await start();
    const cookie = await portalSignIn("local", "alice", "alice-pw");
    const denied = await decide(cookie, started.user_code, "deny");
    expect(denied.status).toBe(200);
    expect(denied.text).toContain("Denied: the command line will not be signed in.");
    expectRefusal(await poll(started), "access_denied");
    // The code no longer names a pending request: the page offers the code form again, with no Approve button.
    const shown = await page(`device?code=${started.user_code}`, cookie);
    expect(shown.status).toBe(400);
    expect(shown.text).toContain("Unknown or expired code");
    expect(shown.text).not.toContain("device/approve");
    const again = await decide(cookie, started.user_code, "approve");
    expect(again.status).toBe(400);
    expectRefusal(await poll(started), "access_denied");
  });

  test("approved: the next poll gets a session, as a password login answers; its tokens work; audited", async () => {
    const before = await sessionsOf("alice");
    const started = await start();
    const cookie = await portalSignIn("local", "alice", "alice-pw");
    const approved = await decide(cookie, started.user_code, "approve");
    expect(approved.status).toBe(200);
    expect(approved.text).toContain("Approved: the command line is signed in as");
    const collected = await poll(started, "json");
    expect(collected.status).toBe(200);
    expect(collected.json).toMatchObject({ token_type: "bearer", identity: { id: "alice", provider: "local" }, principal: "local-alice" });
    expect(collected.json.refresh_token).toMatch(/^gtr_/);
    const whoami = await fetch(`${app.url}/api/v1/auth/whoami`, { headers: { authorization: `Bearer ${collected.json.access_token}` } });
    expect((await json(whoami)).username).toBe("alice");
    const refreshed = await fetch(`${app.url}/api/v1/auth/session/refresh`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: collected.json.refresh_token }) });
    expect(refreshed.status).toBe(200);
    // A session of its own (besides the portal's), named by the command line's User-Agent.
    expect(await sessionsOf("alice")).toBe(before + 2);
    const [session] = await storedRows(app, "SELECT provider, user_agent FROM sessions ORDER BY created_at DESC LIMIT 1");
    expect(session).toEqual({ provider: "local", user_agent: "gatehouse-login/test (laptop)" });
    const audited = await storedRows(app, "SELECT event, actor_username, target_username FROM audit_log WHERE event = 'device.approved'");
    expect(audited.at(-1)).toEqual({ event: "device.approved", actor_username: "alice", target_username: "alice" });
  });

  test("a device code is collected once: polled again, invalid_grant; two polls at the same moment make one session", async () => {
    const cookie = await portalSignIn("local", "alice", "alice-pw");
    const first = await start();
    expect((await decide(cookie, first.user_code, "approve")).status).toBe(200);
    expect((await poll(first)).status).toBe(200);
    expectRefusal(await poll(first), "invalid_grant");

    const second = await start();
    expect((await decide(cookie, second.user_code, "approve")).status).toBe(200);
    const before = await sessionsOf("alice");
    const answers = await Promise.all([poll(second), poll(second), poll(second, "json")]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400, 400]);
    for (const answer of answers.filter((answer) => answer.status === 400)) expectRefusal(answer, "invalid_grant");
    expect(await sessionsOf("alice")).toBe(before + 1);

    // Two polls that both read it approved before either collects (on SQLite HTTP requests rarely overlap so
    // closely): the claim in the session's own transaction lets one through.
    const third = await start();
    expect((await decide(cookie, third.user_code, "approve")).status).toBe(200);
    const local = app.gatehouse.pipeline.providers.find((provider) => provider.name === "local")!;
    const collect = () => app.gatehouse.devices!.collect(third.device_code, local, { socket: "127.0.0.1", reported: null }, "test");
    const outcomes = await Promise.allSettled([collect(), collect()]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect((outcomes.find((outcome) => outcome.status === "rejected") as PromiseRejectedResult).reason.error).toBe("invalid_grant");
    expect(await sessionsOf("alice")).toBe(before + 2);
  });
});

describe("the portal's device page", () => {
  test("signed out: to the sign-in page, and back to the device page with its code once signed in", async () => {
    const started = await start();
    const complete = new URL(started.verification_uri_complete);
    const asked = await page(`device${complete.search}`, null);
    expect(asked.status).toBe(303);
    const rd = `device?code=${started.user_code}&provider=local`;
    expect(asked.location).toBe(`/portal/sign-in?${new URLSearchParams({ rd })}`);
    const signedIn = await fetch(`${app.url}/portal/sign-in`, { method: "POST", redirect: "manual", headers: FORM, body: new URLSearchParams({ provider: "local", username: "alice", password: "alice-pw", rd }) });
    expect(signedIn.headers.get("location")).toBe(`/portal/${rd}`);
    // Tiled's authorization_uri (no code yet): the same, and then the code form.
    const tiled = await page(`device${new URL(started.authorization_uri).search}`, null);
    expect(tiled.location).toBe(`/portal/sign-in?${new URLSearchParams({ rd: "device?provider=local" })}`);
  });

  test("the code form (labelled, CSRF), a typed code in any case and spacing, and a confirmation that says what is approved, escaped", async () => {
    const started = await start("local", { "user-agent": "evil <script>alert(1)</script>" });
    const cookie = await portalSignIn("local", "alice", "alice-pw");
    const form = await page("device", cookie);
    expect(form.status).toBe(200);
    expect(form.text).toContain('<label for="user-code">Code</label><input type="text" id="user-code" name="code"');
    const csrf = csrfOf(form.text);
    // Without the CSRF token: refused.
    const forged = await fetch(`${app.url}/portal/device`, { method: "POST", redirect: "manual", headers: { ...FORM, cookie }, body: new URLSearchParams({ code: started.user_code }) });
    expect(forged.status).toBe(403);
    const typed = ` ${started.user_code.replace("-", " ").toLowerCase()} `;
    const response = await fetch(`${app.url}/portal/device`, { method: "POST", redirect: "manual", headers: { ...FORM, cookie }, body: new URLSearchParams({ csrf, code: typed }) });
    expect(response.status).toBe(200);
    const raw = await response.text();
    expect(raw).not.toContain("<script>alert(1)");
    const text = raw.replace(/<[^>]+>/g, "");
    expect(text).toContain("Approve a session for a command-line client on evil &lt;script&gt;alert(1)&lt;/script&gt;, requested at ");
    expect(text).toMatch(/requested at \d{4}-\d\d-\d\d \d\d:\d\d UTC from 127\.0\.0\.1\?/);
    expect(text).toContain(started.user_code);
    expect(await pendingCount()).toBeGreaterThan(0);
  });

  test("approval by a person signed in with another provider: refused, saying so, with a link to sign in with the right one", async () => {
    const started = await start("local");
    const cookie = await portalSignIn("staff", "alice", "staff-pw");
    const shown = await page(`device?code=${started.user_code}`, cookie);
    expect(shown.status).toBe(403);
    expect(shown.text.replace(/<[^>]+>/g, "")).toContain("This request is for signing in with local; you are signed in with staff.");
    const rd = `device?code=${started.user_code}&provider=local`;
    expect(shown.text).toContain(`<a href="sign-in?${new URLSearchParams({ rd }).toString().replace(/&/g, "&amp;")}">Sign in with local</a>`);
    const approved = await fetch(`${app.url}/portal/device/approve`, { method: "POST", redirect: "manual", headers: { ...FORM, cookie }, body: new URLSearchParams({ csrf: csrfOf(shown.text), code: started.user_code }) });
    expect(approved.status).toBe(403);
    expectRefusal(await poll(started), "authorization_pending");
    // The service refuses it too, whatever page asks.
    const request = (await app.gatehouse.devices!.pending(started.user_code))!;
    const staffAlice = { username: "alice", realm: "staff", roles: [], attributes: {} } as never;
    await expect(app.gatehouse.devices!.approve(request, { user: staffAlice, provider: "staff", client: { socket: null, reported: null } })).rejects.toThrow("signing in with local");
    // A link that names the provider shows who should sign in, before any code.
    const asked = await page("device?provider=local", cookie);
    expect(asked.text.replace(/<[^>]+>/g, "")).toContain("The command line asked to sign in with local; you are signed in with staff.");
  });

  test("a guessed user code: unknown or expired, and counted towards the regulation of guessing of that address, which is then refused before any look-up", async () => {
    const started = await start();
    const cookie = await portalSignIn("local", "alice", "alice-pw");
    for (const guess of ["BCDF-GHJK", "QQQQ-QQQQ", "not-a-code"]) {
      const shown = await page(`device?code=${guess}`, cookie, GUESSER);
      expect([guess, shown.status]).toEqual([guess, 400]);
      expect(shown.text).toContain("Unknown or expired code");
    }
    const [counter] = await storedRows(app, "SELECT failures, banned_until FROM regulation_counters WHERE kind = 'address' AND subject = ?", GUESSER["x-real-ip"]);
    expect(Number(counter.failures)).toBe(3);
    expect(Number(counter.banned_until)).toBeGreaterThan(Date.now());
    // Banned: even the right code is not looked up from there (429), by GET or by the form.
    const banned = await page(`device?code=${started.user_code}`, cookie, GUESSER);
    expect(banned.status).toBe(429);
    expect(banned.text).toContain("Too many failed attempts");
    // From elsewhere it is still there, pending, and can be approved.
    expect((await decide(cookie, started.user_code, "approve")).status).toBe(200);
    expect((await poll(started)).status).toBe(200);
  });
});

test("expired authorizations are purged, whatever their status", async () => {
  const started = await start();
  const code = started.user_code.replace("-", "");
  const count = async () => Number((await storedRows<{ n: number }>(app, "SELECT count(*) AS n FROM device_authorizations WHERE user_code = ?", code))[0].n);
  const policy = { intervalSeconds: 0, sessionsAfterSeconds: 86400 * 365, tokensAfterSeconds: 86400 * 365 };
  await purgeStore(app.gatehouse.store!, policy);
  expect(await count()).toBe(1);
  const result = await purgeStore(app.gatehouse.store!, policy, Date.now() + 901_000);
  expect(result.deviceAuthorizations).toBeGreaterThanOrEqual(1);
  expect(await count()).toBe(0);
});

describe("what gatehouse logout needs", () => {
  test("a token scoped to another service revokes itself by its secret; any other token stays out of its reach (403, known or not)", async () => {
    const make = async (scopes: Record<string, string[]>) => {
      const created = await fetch(`${app.url}/api/v1/tokens`, {
        method: "POST",
        headers: { authorization: `Basic ${btoa("alice:alice-pw")}`, "content-type": "application/json" },
        body: JSON.stringify({ scopes }),
      });
      expect(created.status).toBe(201);
      return (await json(created)).token as string;
    };
    const scoped = await make({ ecflow: ["read", "write"] });
    const other = await make({ ecflow: ["read"] });
    const revoke = (secret: string, bearer: string) => fetch(`${app.url}/token/${secret}`, { method: "DELETE", headers: { authorization: `Bearer ${bearer}` } });
    for (const target of [other, `${other.slice(0, -1)}x`, "gth_unknown"]) {
      const refused = await revoke(target, scoped);
      expect([target, refused.status]).toEqual([target, 403]);
      expect((await json(refused)).error).toContain("gatehouse:tokens");
    }
    expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${other}` } })).status).toBe(200);
    expect((await revoke(scoped, scoped)).status).toBe(204);
    expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${scoped}` } })).status).toBe(401);
  });
});
