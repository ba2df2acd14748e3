// `gatehouse login` and `gatehouse logout` (issue 21 § 5) run as processes,
// as a person runs them, against a server on an ephemeral port: Chromium
// opens the URL login prints, signs in and approves; login ends with a
// scoped, expiring token in a temporary .ecflowapirc (0600, the other entries
// untouched) that authenticates; logout revokes it. Then each failure with
// its message and exit status.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeJwt } from "jose";
import type { Browser } from "playwright-core";
import { startApp, type TestApp } from "./helpers/app.ts";
import { chromiumAvailable, launchChromium, seriousViolations } from "./helpers/browser.ts";
import { decideDevice, machine, portalSignIn, prompt, run } from "./helpers/device.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { portalConfig } from "./helpers/portal.ts";
import { storedRows } from "./helpers/stored.ts";

setDefaultTimeout(120_000);
const browserEnabled = chromiumAvailable("login-cli (gatehouse login approved in chromium)");

let dir: string;
let app: TestApp;

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-login-");
  app = await startApp(portalConfig(dir));
  // Polls every second rather than every five: the flow is the same, the suite quicker.
  app.gatehouse.devices!.policy.intervalSeconds = 1;
});
afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const rcPath = (home: string) => join(home, ".ecflowapirc");
const readRc = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const pattern = () => `http://127\\.0\\.0\\.1:${new URL(app.url).port}`;
const OTHER_ENTRY = { server: "https://ecflow\\.example\\.int:443", type: "basic", api: { username: "someone", password: "kept-as-it-was" } };

describe.skipIf(!browserEnabled)("gatehouse login with a browser", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test("login prints a URL and a code; Chromium signs in there and approves; the token lands in ~/.ecflowapirc (0600, the other entry untouched) and works; logout revokes it", async () => {
    const where = machine();
    writeFileSync(rcPath(where.home), JSON.stringify({ version: 1, tokens: [OTHER_ENTRY] }), { mode: 0o644 });
    const login = run(where, "login", "--server", app.url, "--scopes", "ecflow:read,ecflow:write", "--expires-in", "30d", "--note", "laptop");
    const { link, code } = await prompt(login);
    expect(link).toBe(`${app.url}/portal/device?code=${code}&provider=local`);

    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      // Signed out: the link leads to the sign-in form, and back to the request once signed in.
      await page.goto(link);
      expect(new URL(page.url()).pathname).toBe("/portal/sign-in");
      await page.getByLabel("Username").fill("alice");
      await page.getByLabel("Password").fill("alice-pw");
      await Promise.all([page.waitForURL(/\/portal\/device\?code=/), page.getByRole("button", { name: "Sign in" }).click()]);
      const request = await page.locator("p.request").textContent();
      expect(request).toMatch(/^Approve a session for a command-line client on gatehouse-login\/\S+ \(.+\), requested at \d{4}-\d\d-\d\d \d\d:\d\d UTC from 127\.0\.0\.1\?$/);
      expect(await page.locator("dl.identity").textContent()).toContain(code);
      const violations = await seriousViolations(page);
      expect(violations.map((violation) => `${violation.id}: ${violation.help}`)).toEqual([]);
      mkdirSync(join(projectRoot, "docs/screenshots"), { recursive: true });
      await page.screenshot({ path: join(projectRoot, "docs/screenshots/device-approve.png"), fullPage: true });
      await page.getByRole("button", { name: "Approve" }).click();
      await page.getByRole("status").waitFor();
      expect(await page.getByRole("status").textContent()).toContain("Approved: the command line is signed in as alice");
    } finally {
      await context.close();
    }

    const result = await login.done;
    expect(result.stderr).toContain("Signed in as alice (provider local)");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("");
    expect(statSync(rcPath(where.home)).mode & 0o777).toBe(0o600);
    const rc = readRc(rcPath(where.home));
    expect(rc.tokens).toHaveLength(2);
    const [entry, other] = rc.tokens;
    expect(other).toEqual(OTHER_ENTRY);
    expect(entry).toEqual({ server: pattern(), type: "bearer", api: { url: app.url, key: expect.stringMatching(/^gth_[A-Za-z0-9]+$/), email: "" } });

    // The token authenticates, with exactly the scopes asked for, for 30 days.
    const authenticated = await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${entry.api.key}` } });
    expect(authenticated.status).toBe(200);
    const jwt = decodeJwt(authenticated.headers.get("authorization")!.replace(/^Bearer /, ""));
    expect([jwt.username, jwt.scopes]).toEqual(["alice", { ecflow: ["read", "write"] }]);
    const [token] = await storedRows(app, "SELECT note, expires_at, created_at, session_id FROM tokens ORDER BY created_at DESC LIMIT 1");
    expect(token.note).toBe("laptop");
    expect(Number(token.expires_at) - Number(token.created_at)).toBe(30 * 86400 * 1000);
    // The session it was made with is over (the token outlives it); `gatehouse client` reads the file as ecflow_client does.
    const [session] = await storedRows(app, "SELECT revoked_reason, user_agent FROM sessions WHERE id = ?", token.session_id);
    expect(session.revoked_reason).toBe("logout");
    expect(session.user_agent).toStartWith("gatehouse-login/");
    const whoami = await run(where, "client", "--server", app.url, "whoami").done;
    expect([whoami.code, JSON.parse(whoami.stdout).username]).toEqual([0, "alice"]);

    const logout = await run(where, "logout", "--server", app.url).done;
    expect(logout.stderr).toContain("Signed out: the token is revoked");
    expect(logout.code).toBe(0);
    expect(readRc(rcPath(where.home)).tokens).toEqual([OTHER_ENTRY]);
    expect(statSync(rcPath(where.home)).mode & 0o777).toBe(0o600);
    expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${entry.api.key}` } })).status).toBe(401);
  });
});

describe("gatehouse login and logout: the other outcomes, each with its message and exit status", () => {
  /** Runs login until it prints its code, then lets a person decide over HTTP. */
  async function loginDecided(where: { home: string; cwd: string }, decision: "approve" | "deny", ...args: string[]) {
    const login = run(where, "login", "--server", app.url, ...args);
    const { code } = await prompt(login);
    const cookie = await portalSignIn(app.url, "local", "alice", "alice-pw");
    expect((await decideDevice(app.url, cookie, code, decision)).status).toBe(200);
    return login.done;
  }

  test("--print: the token on standard output, and no file written; a second login replaces the first's entry and revokes its token", async () => {
    const where = machine();
    const printed = await loginDecided(where, "approve", "--print");
    expect(printed.code).toBe(0);
    expect(printed.stdout.trim()).toMatch(/^gth_[A-Za-z0-9]+$/);
    expect(existsSync(rcPath(where.home))).toBe(false);
    expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${printed.stdout.trim()}` } })).status).toBe(200);

    // No file anywhere yet: ~/.ecflowapirc is created. Logging in again for the same server replaces the entry.
    expect((await loginDecided(where, "approve")).code).toBe(0);
    const first = readRc(rcPath(where.home)).tokens[0].api.key;
    const second = await loginDecided(where, "approve");
    expect(second.stderr).toContain("The token of the earlier login for this server is revoked.");
    const tokens = readRc(rcPath(where.home)).tokens;
    expect(tokens).toHaveLength(1);
    expect(tokens[0].api.key).not.toBe(first);
    expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${first}` } })).status).toBe(401);
  });

  test("denied in the browser: exit 3, saying so; nothing written", async () => {
    const where = machine();
    const result = await loginDecided(where, "deny");
    expect(result.stderr).toContain("login: the sign-in was denied in the browser");
    expect(result.code).toBe(3);
    expect(existsSync(rcPath(where.home))).toBe(false);
  });

  test("not approved in time: exit 4, saying so", async () => {
    const devices = app.gatehouse.devices!;
    devices.policy.lifetimeSeconds = 2;
    const where = machine();
    const login = run(where, "login", "--server", app.url);
    try {
      await prompt(login);
    } finally {
      devices.policy.lifetimeSeconds = 900;
    }
    const result = await login.done;
    expect(result.stderr).toContain("login: the sign-in expired before it was approved: run gatehouse login again");
    expect(result.code).toBe(4);
  });

  test("several providers and none chosen: exit 2, listing them; an unknown one: exit 2", async () => {
    const several = await startApp(
      portalConfig(temporaryDirectory("gatehouse-login-several-"), {
        providers: [
          { type: "plain", name: "local", realm: "local", users: [{ username: "alice", password: "alice-pw" }] },
          { type: "plain", name: "staff", realm: "staff", users: [{ username: "alice", password: "staff-pw" }] },
        ],
      }),
    );
    try {
      const result = await run(machine(), "login", "--server", several.url).done;
      expect(result.stderr).toContain(`login: ${several.url}/ has several providers; choose one with --provider NAME:\n  local\n  staff`);
      expect(result.code).toBe(2);
      const unknown = await run(machine(), "login", "--server", several.url, "--provider", "nope").done;
      expect(unknown.stderr).toContain('no provider "nope" takes a sign-in');
      expect(unknown.code).toBe(2);
    } finally {
      await several.stop();
    }
  });

  test("the server unreachable, or not a Gatehouse: exit 1 with the reason; bad arguments: exit 2", async () => {
    const unreachable = await run(machine(), "login", "--server", "http://127.0.0.1:1").done;
    expect(unreachable.stderr).toContain("login: cannot reach the server: GET http://127.0.0.1:1/api/v1/");
    expect(unreachable.code).toBe(1);
    const notOurs = await run(machine(), "login", "--server", `${app.url}/portal/assets`).done;
    expect(notOurs.stderr).toContain("does not answer as a Gatehouse or Tiled server");
    expect(notOurs.code).toBe(1);
    for (const args of [["--server", "not a url"], ["--server", app.url, "--scopes", "ecflow:"], ["--server", app.url, "--expires-in", "soon"], []]) {
      const result = await run(machine(), "login", ...args).done;
      expect([args, result.code]).toEqual([args, 2]);
    }
  });

  test("logout with no entry for the server: exit 1, the file left as it was; a token already revoked: its entry removed all the same", async () => {
    const where = machine();
    writeFileSync(rcPath(where.home), JSON.stringify({ version: 1, tokens: [OTHER_ENTRY] }), { mode: 0o600 });
    const none = await run(where, "logout", "--server", app.url).done;
    expect(none.stderr).toContain(`has no entry of gatehouse login for http://127.0.0.1:${new URL(app.url).port}`);
    expect(none.code).toBe(1);
    expect(readRc(rcPath(where.home)).tokens).toEqual([OTHER_ENTRY]);

    const stale = { server: pattern(), type: "bearer", api: { url: app.url, key: "gth_revokedlongagoXXXXXXXXXXXXXXXXXXXXXX", email: "" } };
    writeFileSync(rcPath(where.home), JSON.stringify({ version: 1, tokens: [stale, OTHER_ENTRY] }), { mode: 0o600 });
    const gone = await run(where, "logout", "--server", app.url).done;
    expect(gone.stderr).toContain("The token was no longer valid; its entry is removed");
    expect(gone.code).toBe(0);
    expect(readRc(rcPath(where.home)).tokens).toEqual([OTHER_ENTRY]);

    const unreachable = await run(where, "logout", "--server", "http://127.0.0.1:1").done;
    expect(unreachable.code).toBe(1);
  });

  test("logout when the server cannot be reached: exit 1, saying so, without the token's secret (its revocation route names it in the path)", async () => {
    const where = machine();
    const secret = "gth_unreachableXXXXXXXXXXXXXXXXXXXXXXXXX";
    // Nothing listens on port 1.
    const entry = { server: "http://127\\.0\\.0\\.1:1", type: "bearer", api: { url: "http://127.0.0.1:1", key: secret, email: "" } };
    writeFileSync(rcPath(where.home), JSON.stringify({ version: 1, tokens: [entry] }), { mode: 0o600 });
    const result = await run(where, "logout", "--server", "http://127.0.0.1:1").done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cannot reach the server: DELETE http://127.0.0.1:1/token/<token>");
    expect(result.stderr + result.stdout).not.toContain(secret);
    expect(readRc(rcPath(where.home)).tokens).toEqual([entry]);
  });
});
