// Issue 20 (the third security review), the portal's findings:
//   2: the portal's cookie reached every application of the host over HTTPS, and carried live tokens;
//   5: trusted-header sign-in opened a session on every GET of the sign-in page, cross-site too;
//   7: a rotated refresh token kept working for 30 s through the portal;
//  12: reloading the "token created" page created a second token.
// Each through HTTP against a real server; finding 2 also through real nginx
// over TLS with Chromium, as the issue reproduced it.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { startApp, type TestApp } from "./helpers/app.ts";
import { chromiumAvailable, launchChromium } from "./helpers/browser.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, type RunningNginx } from "./helpers/nginx.ts";
import { portalConfig } from "./helpers/portal.ts";
import { storedRows, storedText } from "./helpers/stored.ts";
import { sha256Hex } from "../src/identity/secrets.ts";

setDefaultTimeout(60_000);
const FORM = { "content-type": "application/x-www-form-urlencoded" };

function post(app: TestApp, path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${app.url}${path}`, { method: "POST", redirect: "manual", headers: { ...FORM, ...headers }, body: new URLSearchParams(form) });
}

async function signIn(app: TestApp, username = "alice", password = `${username}-pw`) {
  const response = await post(app, "/portal/sign-in", { provider: "local", username, password });
  expect(response.status).toBe(303);
  const cookie = response.headers.get("set-cookie")!.split(";")[0];
  return { cookie, value: cookie.slice(cookie.indexOf("=") + 1) };
}

/** The new-token form as the browser gets it: its CSRF token and its single-use nonce. */
async function newTokenForm(app: TestApp, cookie: string) {
  const page = await (await fetch(`${app.url}/portal/tokens/new`, { headers: { cookie } })).text();
  return { csrf: page.match(/name="csrf" value="([^"]+)"/)![1], nonce: page.match(/name="nonce" value="([^"]+)"/)![1] };
}

const ALICE = { user: { username: "alice", realm: "local" }, admin: false, client: { socket: null, reported: null } };

describe("finding 2: the portal's cookie is an opaque handle, for the portal's path alone", () => {
  let dir: string;
  let app: TestApp;
  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-review3-portal-");
    app = await startApp(portalConfig(dir));
  });
  afterAll(async () => {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("what the cookie holds is no credential anywhere else: not a Bearer for /authenticate or the API, not a refresh token", async () => {
    const { cookie, value } = await signIn(app);
    expect(value).toMatch(/^gbs_[0-9A-Za-z]{36}$/);
    const home = await fetch(`${app.url}/portal/`, { headers: { cookie } });
    expect(home.status).toBe(200);
    // The provider the person signed in with (it said "access-tokens", the provider of the tokens the cookie held).
    expect(await home.text()).toContain("<dt>Signed in with</dt><dd>local</dd>");
    for (const part of [value, ...value.split("~")]) {
      const bearer = { authorization: `Bearer ${part}` };
      expect((await fetch(`${app.url}/authenticate`, { headers: bearer })).status).toBe(401);
      const create = await fetch(`${app.url}/api/v1/tokens`, { method: "POST", headers: { ...bearer, "content-type": "application/json" }, body: "{}" });
      expect(create.status).toBe(401);
      const refresh = await fetch(`${app.url}/api/v1/auth/session/refresh`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: part }),
      });
      expect(refresh.status).toBe(401);
    }
  });

  test("the store keeps only the handle's SHA-256: a copy of the database holds nothing a browser could present", async () => {
    const { value } = await signIn(app);
    const rows = await storedRows<{ hash: string; kind: string }>(app, "SELECT hash, kind FROM session_handles");
    expect(rows).toContainEqual({ hash: sha256Hex(value), kind: "portal" });
    expect(await storedText(app)).not.toContain(value);
  });

  test("a sign-out ends the handle's session at once: the same cookie is then no session at all", async () => {
    const { cookie } = await signIn(app);
    const { csrf } = await newTokenForm(app, cookie);
    expect((await post(app, "/portal/sign-out", { csrf }, { cookie, origin: app.url })).status).toBe(303);
    const after = await fetch(`${app.url}/portal/`, { headers: { cookie }, redirect: "manual" });
    expect(after.status).toBe(303);
    expect(after.headers.get("location")).toBe("/portal/sign-in");
    expect(after.headers.getSetCookie()).toEqual(["gatehouse_session=; Path=/portal/; HttpOnly; SameSite=Lax; Max-Age=0"]);
  });

  test("a cookie of an earlier release (refresh and access tokens inside) is no session: the person signs in again", async () => {
    const login = await fetch(`${app.url}/api/v1/auth/provider/local/token`, {
      method: "POST",
      headers: FORM,
      body: new URLSearchParams({ username: "alice", password: "alice-pw" }),
    });
    const tokens = (await login.json()) as { refresh_token: string; access_token: string };
    const legacy = `gatehouse_session=csrfsecret~${tokens.refresh_token}~${tokens.access_token}`;
    const page = await fetch(`${app.url}/portal/`, { headers: { cookie: legacy }, redirect: "manual" });
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/portal/sign-in");
  });
});

const nginxAndChromium =
  nginxAvailable("review3-portal finding 2 (nginx over TLS)") &&
  chromiumAvailable("review3-portal finding 2 (nginx over TLS)") &&
  Bun.which("openssl") !== null;

describe.skipIf(!nginxAndChromium)("finding 2, through nginx over TLS: another application of the host never receives the portal's cookie", () => {
  let dir: string;
  let app: TestApp;
  let nginx: RunningNginx;
  let browser: Browser;
  let wiki: ReturnType<typeof Bun.serve>;
  const cookiesSeenByWiki: string[] = [];
  let base: string;

  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-review3-tls-");
    app = await startApp(portalConfig(dir));
    // Another application of the host: records the Cookie header of every request it receives.
    wiki = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        cookiesSeenByWiki.push(request.headers.get("cookie") ?? "");
        return new Response("<!doctype html><title>wiki</title><p>wiki page</p>", { headers: { "content-type": "text/html" } });
      },
    });
    const nginxDir = temporaryDirectory("gatehouse-review3-nginx-");
    const openssl = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", join(nginxDir, "private.key"), "-out", join(nginxDir, "certificate.crt"), "-days", "2", "-subj", "/CN=127.0.0.1"],
      { stdout: "pipe", stderr: "pipe" },
    );
    if (openssl.exitCode !== 0) throw new Error(`openssl failed: ${openssl.stderr.toString()}`);
    const port = freePort();
    // docs/portal.md's block over TLS, with a second application at /wiki/ and a protected /v1/.
    nginx = await startNginx({
      dir: nginxDir,
      http: (root) => `
  upstream gatehouse_upstream { server 127.0.0.1:${new URL(app.url).port}; keepalive 16; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${root}/certificate.crt;
    ssl_certificate_key ${root}/private.key;
    location = /auth {
      internal;
      proxy_pass http://gatehouse_upstream/authenticate;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location /auth/ {
      proxy_pass http://gatehouse_upstream/;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Prefix /auth;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location /wiki/ { proxy_pass http://127.0.0.1:${wiki.port}; }
    location /v1/ { auth_request /auth; alias ${root}/v1/; }
  }`,
    });
    mkdirSync(join(nginx.dir, "v1"), { mode: 0o755 });
    writeFileSync(join(nginx.dir, "v1", "index.html"), "protected\n", { mode: 0o644 });
    base = `https://127.0.0.1:${port}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await nginx?.stop();
    wiki?.stop(true);
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (nginx) rmSync(nginx.dir, { recursive: true, force: true });
  });

  test("signed in at /auth/portal/, the browser sends nothing of Gatehouse's to /wiki/; the cookie is __Secure- with the portal's path", async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const page = await context.newPage();
      await page.goto(`${base}/auth/portal/`);
      await page.getByLabel("Username").fill("alice");
      await page.getByLabel("Password").fill("alice-pw");
      await Promise.all([page.waitForURL(`${base}/auth/portal/`), page.getByRole("button", { name: "Sign in" }).click()]);
      const cookies = await context.cookies();
      expect(cookies.map(({ name, path, secure, httpOnly }) => ({ name, path, secure, httpOnly }))).toEqual([
        { name: "__Secure-gatehouse_session", path: "/auth/portal/", secure: true, httpOnly: true },
      ]);
      await page.goto(`${base}/wiki/page`);
      expect(await page.textContent("p")).toBe("wiki page");
      expect(cookiesSeenByWiki.length).toBeGreaterThan(0);
      for (const seen of cookiesSeenByWiki) expect(seen).not.toContain("gatehouse");
      // Even a backend that got hold of the value could not use it through nginx's auth_request.
      const stolen = cookies[0].value;
      const protectedPage = await fetch(`${base}/v1/index.html`, { headers: { authorization: `Bearer ${stolen}` }, tls: { rejectUnauthorized: false } });
      expect(protectedPage.status).toBe(401);
    } finally {
      await context.close();
    }
  });
});

describe("finding 5: trusted-header sign-in opens a session only for a page the person opened, and reuses a live one", () => {
  const TESTADMIN = { "sec-georchestra-preauthenticated": "true", "preauth-username": "testadmin", "preauth-roles": "ROLE_USER" };
  const NAVIGATION = { "sec-fetch-site": "none", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" };
  let dir: string;
  let app: TestApp;
  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-review3-header-");
    const base = portalConfig(dir);
    app = await startApp({
      ...base,
      providers: [
        ...base.providers,
        { type: "trusted-header", name: "front", realm: "georchestra", trusted_proxies: ["127.0.0.1/32", "::1"], create_accounts: true, headers: { roles: "preauth-roles" } },
      ],
      authentication: { max_sessions_per_user: 3 },
    });
  });
  afterAll(async () => {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const liveSessions = async () =>
    (await storedRows<{ n: number }>(app, "SELECT count(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'testadmin' AND s.revoked_at IS NULL"))[0].n;
  const signInPage = (headers: Record<string, string>) => fetch(`${app.url}/portal/sign-in`, { headers: { ...TESTADMIN, ...headers }, redirect: "manual" });

  test("requests another site makes (an image, a frame, a script, a cross-site link) open no session", async () => {
    const crossSite = [
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" },
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe" },
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "script" },
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" },
      { "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" },
    ];
    for (const headers of crossSite) {
      const answer = await signInPage(headers);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("set-cookie")).toBeNull();
      // The page offers to continue: a link of our own, whose navigation is same-origin.
      expect(await answer.text()).toContain('<a href="sign-in">');
    }
    expect(await liveSessions()).toBe(0);
  });

  test("a page the person opened signs them in; opening it again with the cookie keeps that one session", async () => {
    const first = await signInPage(NAVIGATION);
    expect(first.status).toBe(303);
    const cookie = first.headers.get("set-cookie")!.split(";")[0];
    expect(await liveSessions()).toBe(1);
    for (const headers of [NAVIGATION, { "sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" }]) {
      const again = await signInPage({ ...headers, cookie });
      expect(again.status).toBe(303);
      expect(again.headers.get("set-cookie")).toBeNull();
    }
    expect(await liveSessions()).toBe(1);
    expect((await fetch(`${app.url}/portal/`, { headers: { ...TESTADMIN, cookie } })).status).toBe(200);
  });

  test("however many cross-site requests, the person is never locked out by max_sessions_per_user", async () => {
    for (let i = 0; i < 5; i++) await signInPage({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" });
    const mine = await signInPage(NAVIGATION);
    expect(mine.status).toBe(303);
  });
});

describe("finding 7: nothing in the portal's cookie rotates, so an older copy has no window of its own", () => {
  test("after the session's identity is read again, the cookie is the same one, and the answer carries no token", async () => {
    const dir = temporaryDirectory("gatehouse-review3-refresh-");
    const app = await startApp({ ...portalConfig(dir), authentication: { access_token_max_age: 1 } });
    try {
      const { cookie, value } = await signIn(app);
      expect(value).not.toContain("gtr_");
      expect(value).not.toMatch(/eyJ/);
      await Bun.sleep(1100);
      const owner = await fetch(`${app.url}/portal/tokens`, { headers: { cookie } });
      expect(owner.status).toBe(200);
      expect(owner.headers.get("set-cookie")).toBeNull();
      const [session] = await app.gatehouse.sessions!.list(ALICE);
      expect(session.refreshed_at).not.toBeNull();
      // The one copy there is: after sign-out nobody has a way in, at once.
      const { csrf } = await newTokenForm(app, cookie);
      await post(app, "/portal/sign-out", { csrf }, { cookie, origin: app.url });
      expect((await fetch(`${app.url}/portal/tokens`, { headers: { cookie }, redirect: "manual" })).status).toBe(303);
    } finally {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("finding 12: the new-token form makes one token, however often it is sent", () => {
  let dir: string;
  let app: TestApp;
  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-review3-nonce-");
    app = await startApp(portalConfig(dir));
  });
  afterAll(async () => {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const tokensNoted = async (note: string) => (await app.gatehouse.tokens!.list(ALICE, { includeRevoked: true })).filter((token) => token.note === note);

  test("sent again (a reload of the 'token created' page): 409, saying so, and still one token", async () => {
    const { cookie } = await signIn(app);
    const form = await newTokenForm(app, cookie);
    const body = { note: "reloaded", expires: "7", scope: "ecflow:read", ...form };
    const first = await post(app, "/portal/tokens/new", body, { cookie, origin: app.url });
    expect(first.status).toBe(201);
    const second = await post(app, "/portal/tokens/new", body, { cookie, origin: app.url });
    expect(second.status).toBe(409);
    const page = await second.text();
    expect(page).toContain("already sent");
    expect(page).not.toContain("gth_");
    // The page it answers with is a fresh form, with a nonce of its own.
    expect(page.match(/name="nonce" value="([^"]+)"/)![1]).not.toBe(form.nonce);
    expect(await tokensNoted("reloaded")).toHaveLength(1);
  });

  test("sent twice at once: one token", async () => {
    const { cookie } = await signIn(app);
    const form = await newTokenForm(app, cookie);
    const body = { note: "double click", expires: "7", scope: "ecflow:read", ...form };
    const answers = await Promise.all([1, 2, 3].map(() => post(app, "/portal/tokens/new", body, { cookie, origin: app.url })));
    expect(answers.map((answer) => answer.status).toSorted()).toEqual([201, 409, 409]);
    expect(await tokensNoted("double click")).toHaveLength(1);
  });

  test("a form refused for its content keeps its nonce and may be sent again corrected; a missing nonce is refused", async () => {
    const { cookie } = await signIn(app);
    const form = await newTokenForm(app, cookie);
    const wrong = await post(app, "/portal/tokens/new", { note: "corrected", expires: "7", scope: "ecflow:nonsense", ...form }, { cookie, origin: app.url });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain(`name="nonce" value="${form.nonce}"`);
    const right = await post(app, "/portal/tokens/new", { note: "corrected", expires: "7", scope: "ecflow:read", ...form }, { cookie, origin: app.url });
    expect(right.status).toBe(201);
    const missing = await post(app, "/portal/tokens/new", { note: "no nonce", expires: "7", scope: "ecflow:read", csrf: form.csrf }, { cookie, origin: app.url });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain("out of date");
    expect(await tokensNoted("no nonce")).toHaveLength(0);
  });
});
