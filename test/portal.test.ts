// The portal over plain HTTP: its cookie (flags over HTTP and behind an HTTPS
// proxy, under a sub-path), the CSRF and Origin checks on every state-changing
// request, the security headers, escaping, refresh of an expired access token,
// and the switches (portal.enabled, a disabled store).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { startWhoAmI } from "./helpers/who-am-i.ts";
import { portalConfig } from "./helpers/portal.ts";
import { randomBase62 } from "../src/tokens/format.ts";

const FORM = { "content-type": "application/x-www-form-urlencoded" };

interface SignedIn {
  cookie: string;
  setCookie: string;
  csrf: string;
}

async function signIn(app: TestApp, username: string, password: string, headers: Record<string, string> = {}): Promise<SignedIn> {
  const response = await fetch(`${app.url}/portal/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { ...FORM, ...headers },
    body: new URLSearchParams({ provider: "local", username, password }),
  });
  expect(response.status).toBe(303);
  const setCookie = response.headers.get("set-cookie")!;
  const cookie = setCookie.split(";")[0];
  const page = await fetch(`${app.url}/portal/tokens/new`, { headers: { cookie, ...headers } });
  expect(page.status).toBe(200);
  const csrf = (await page.text()).match(/name="csrf" value="([^"]+)"/)![1];
  return { cookie, setCookie, csrf };
}

function post(app: TestApp, path: string, form: Record<string, string>, headers: Record<string, string>) {
  return fetch(`${app.url}${path}`, { method: "POST", redirect: "manual", headers: { ...FORM, ...headers }, body: new URLSearchParams(form) });
}

describe("the portal over HTTP", () => {
  let dir: string;
  let app: TestApp;
  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-portal-");
    app = await startApp(portalConfig(dir));
  });
  afterAll(async () => {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // Each a form of its own: a new-token form is single-use (its nonce).
  const newToken = (note: string) => ({ note, expires: "7", scope: "ecflow:read", nonce: randomBase62(22) });

  test("over plain HTTP the cookie is HttpOnly, SameSite=Lax, not Secure, for the portal's path alone", async () => {
    const { setCookie } = await signIn(app, "alice", "alice-pw");
    expect(setCookie).toMatch(/^gatehouse_session=gbs_[0-9A-Za-z]{36}; Path=\/portal\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    expect(setCookie).not.toContain("Secure");
  });

  test("behind an HTTPS proxy: __Secure- prefix, Secure, the portal's path; links and redirects under the proxy's prefix", async () => {
    const proxy = { "x-forwarded-proto": "https", "x-forwarded-host": "portal.example", "x-forwarded-prefix": "/auth" };
    const response = await post(app, "/portal/sign-in", { provider: "local", username: "alice", password: "alice-pw" }, proxy);
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/auth/portal/");
    const [setCookie, legacy] = response.headers.getSetCookie();
    expect(setCookie).toMatch(/^__Secure-gatehouse_session=gbs_[^;]+; Path=\/auth\/portal\/; Secure; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    // The cookie of earlier releases (Path=/, live tokens inside) is removed from the browser.
    expect(legacy).toBe("__Host-gatehouse_session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    const cookie = setCookie.split(";")[0];
    const page = await fetch(`${app.url}/portal/tokens`, { headers: { cookie, ...proxy } });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain('<base href="/auth/portal/">');
    // Over HTTPS only the __Secure- cookie counts: a plain one could have been planted over plain HTTP.
    const plain = cookie.replace("__Secure-gatehouse_session", "gatehouse_session");
    const refused = await fetch(`${app.url}/portal/tokens`, { headers: { cookie: plain, ...proxy }, redirect: "manual" });
    expect(refused.status).toBe(303);
    expect(refused.headers.get("location")).toBe("/auth/portal/sign-in?rd=tokens");
  });

  test("a page asked for while signed out is where the sign-in returns to; never anywhere but a portal page", async () => {
    const asked = await fetch(`${app.url}/portal/sessions?done=revoked`, { redirect: "manual" });
    expect(asked.headers.get("location")).toBe("/portal/sign-in?rd=sessions%3Fdone%3Drevoked");
    const page = await (await fetch(`${app.url}/portal/sign-in?rd=sessions%3Fdone%3Drevoked`)).text();
    expect(page).toContain('<input type="hidden" name="rd" value="sessions?done=revoked">');
    const back = await post(app, "/portal/sign-in", { provider: "local", username: "alice", password: "alice-pw", rd: "sessions?done=revoked" }, {});
    expect(back.headers.get("location")).toBe("/portal/sessions?done=revoked");
    for (const rd of ["//evil.example", "https://evil.example", "/\\evil.example", "\\evil.example", "javascript:alert(1)", "../api/v1/tokens", "a/../../x", "tokens\r\nSet-Cookie: x=y", "sign-in"]) {
      const answer = await post(app, "/portal/sign-in", { provider: "local", username: "alice", password: "alice-pw", rd }, {});
      expect([rd, answer.headers.get("location")]).toEqual([rd, "/portal/"]);
    }
  });

  test("over plain HTTP under a prefix, the cookie's Path is the portal's public path", async () => {
    const response = await post(app, "/portal/sign-in", { provider: "local", username: "alice", password: "alice-pw" }, { "x-forwarded-prefix": "/auth" });
    expect(response.headers.get("set-cookie")).toMatch(/^gatehouse_session=[^;]+; Path=\/auth\/portal\/; HttpOnly; SameSite=Lax;/);
  });

  test("every page: strict CSP, no framing, no referrer, never cached", async () => {
    const { cookie } = await signIn(app, "alice", "alice-pw");
    for (const path of ["/portal/sign-in", "/portal/", "/portal/tokens", "/portal/tokens/new", "/portal/sessions"]) {
      const response = await fetch(`${app.url}${path}`, { headers: { cookie } });
      expect(response.status).toBe(200);
      const csp = response.headers.get("content-security-policy")!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(response.headers.get("cache-control")).toBe("no-store");
      const text = await response.text();
      expect(text).not.toMatch(/<script>|<style|\sstyle="|\son[a-z]+="/);
    }
    const css = await fetch(`${app.url}/portal/assets/portal.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toContain("text/css");
    expect((await fetch(`${app.url}/portal/assets/portal.js`)).headers.get("content-type")).toContain("javascript");
    expect((await fetch(`${app.url}/portal/assets/nothing.js`)).status).toBe(404);
  });

  test("a state-changing request without the CSRF token, with a wrong one, or from another origin is refused", async () => {
    const { cookie, csrf } = await signIn(app, "alice", "alice-pw");
    const before = (await app.gatehouse.tokens!.list({ user: { username: "alice", realm: "local" }, admin: false, client: { socket: null, reported: null } })).length;

    const missing = await post(app, "/portal/tokens/new", newToken("no csrf"), { cookie, origin: app.url });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain("CSRF");
    const wrong = await post(app, "/portal/tokens/new", { ...newToken("wrong csrf"), csrf: `${csrf.slice(0, -2)}AA` }, { cookie, origin: app.url });
    expect(wrong.status).toBe(403);
    const foreign = await post(app, "/portal/tokens/new", { ...newToken("foreign"), csrf }, { cookie, origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    expect(await foreign.text()).toContain("Cross-origin");
    const crossSite = await post(app, "/portal/tokens/new", { ...newToken("cross-site"), csrf }, { cookie, "sec-fetch-site": "cross-site" });
    expect(crossSite.status).toBe(403);
    // Another session's token does not fit this one.
    const other = await signIn(app, "alice", "alice-pw");
    const otherSessions = await post(app, "/portal/tokens/new", { ...newToken("other session"), csrf: other.csrf }, { cookie, origin: app.url });
    expect(otherSessions.status).toBe(403);
    const after = (await app.gatehouse.tokens!.list({ user: { username: "alice", realm: "local" }, admin: false, client: { socket: null, reported: null } })).length;
    expect(after).toBe(before);

    const good = await post(app, "/portal/tokens/new", { ...newToken("good"), csrf }, { cookie, origin: app.url, "sec-fetch-site": "same-origin" });
    expect(good.status).toBe(201);
    expect(good.headers.get("cache-control")).toBe("no-store");
    expect(await good.text()).toMatch(/value="gth_[A-Za-z0-9]+"/);
    // Chromium sends "Origin: null" from a page with Referrer-Policy: no-referrer; Fetch Metadata vouches for it.
    const nullOrigin = await post(app, "/portal/tokens/new", { ...newToken("null origin"), csrf }, { cookie, origin: "null", "sec-fetch-site": "same-origin" });
    expect(nullOrigin.status).toBe(201);
    const nullAlone = await post(app, "/portal/tokens/new", { ...newToken("null alone"), csrf }, { cookie, origin: "null" });
    expect(nullAlone.status).toBe(403);
  });

  test("the JSON API takes the cookie too, with the CSRF token in X-CSRF-Token for what changes state", async () => {
    const { cookie, csrf } = await signIn(app, "alice", "alice-pw");
    const listed = await fetch(`${app.url}/api/v1/tokens`, { headers: { cookie } });
    expect(listed.status).toBe(200);
    const body = JSON.stringify({ note: "from the API", scopes: { tiled: ["read"] } });
    const json = { "content-type": "application/json", cookie };
    expect((await fetch(`${app.url}/api/v1/tokens`, { method: "POST", headers: json, body })).status).toBe(403);
    const created = await fetch(`${app.url}/api/v1/tokens`, { method: "POST", headers: { ...json, "x-csrf-token": csrf }, body });
    expect(created.status).toBe(201);
  });

  test("sign-in from another site is refused (login CSRF); a wrong password is a page, not a session", async () => {
    const foreign = await post(app, "/portal/sign-in", { provider: "local", username: "alice", password: "alice-pw" }, { origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("set-cookie")).toBeNull();
    const wrong = await post(app, "/portal/sign-in", { provider: "local", username: "alice", password: "nope" }, {});
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    expect(await wrong.text()).toContain("Incorrect username or password");
    expect(app.logs.some((line) => line.includes("nope"))).toBe(false);
  });

  test("sign out everywhere else ends every other session of the person, not this one", async () => {
    const here = await signIn(app, "alice", "alice-pw");
    const elsewhere = await signIn(app, "alice", "alice-pw");
    const done = await post(app, "/portal/sessions/revoke-others", { csrf: here.csrf }, { cookie: here.cookie, origin: app.url });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/portal/sessions?done=others");
    expect((await fetch(`${app.url}/portal/sessions`, { headers: { cookie: here.cookie } })).status).toBe(200);
    expect((await fetch(`${app.url}/portal/sessions`, { headers: { cookie: elsewhere.cookie }, redirect: "manual" })).status).toBe(303);
    const owner = { user: { username: "alice", realm: "local" }, admin: false, client: { socket: null, reported: null } };
    expect(await app.gatehouse.sessions!.list(owner)).toHaveLength(1);
  });

  test("what a user typed is shown as text", async () => {
    const { cookie, csrf } = await signIn(app, "alice", "alice-pw");
    const note = `<script>alert("x")</script><img src=x onerror=alert(1)>`;
    const created = await post(app, "/portal/tokens/new", { ...newToken(note), csrf }, { cookie, origin: app.url });
    expect(created.status).toBe(201);
    const list = await (await fetch(`${app.url}/portal/tokens`, { headers: { cookie } })).text();
    expect(list).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;");
    expect(list).not.toContain("<script>alert");
    expect(list).not.toContain("<img");
    const signInPage = await post(app, "/portal/sign-in", { provider: "local", username: `"><b>x</b>`, password: "no" }, {});
    const text = await signInPage.text();
    expect(text).toContain('value="&quot;&gt;&lt;b&gt;x&lt;/b&gt;"');
  });

  test("a token cannot carry more than the form offers, nor outlive tokens.max_expires_in", async () => {
    const { cookie, csrf } = await signIn(app, "alice", "alice-pw");
    const unknown = await post(app, "/portal/tokens/new", { note: "x", expires: "7", scope: "ecflow:admin", csrf, nonce: randomBase62(22) }, { cookie, origin: app.url });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("Unknown scope");
    const none = await post(app, "/portal/tokens/new", { note: "x", expires: "7", csrf, nonce: randomBase62(22) }, { cookie, origin: app.url });
    expect(none.status).toBe(400);
    const tooLong = await post(app, "/portal/tokens/new", { note: "x", expires: "custom", expires_on: "2999-01-01", scope: "ecflow:read", csrf, nonce: randomBase62(22) }, { cookie, origin: app.url });
    expect(tooLong.status).toBe(400);
    const form = await (await fetch(`${app.url}/portal/tokens/new`, { headers: { cookie } })).text();
    expect(form).toContain('max="');
    expect(form).not.toContain('value="never"');
  });

  test("a person cannot revoke someone else's token through the portal; an admin can", async () => {
    const alice = await signIn(app, "alice", "alice-pw");
    const created = await post(app, "/portal/tokens/new", { ...newToken("alice's"), csrf: alice.csrf }, { cookie: alice.cookie, origin: app.url });
    const id = (await created.text()).match(/<code>(tok_[A-Za-z0-9]+)<\/code>/)![1];
    const root = await signIn(app, "root", "root-pw");
    const bobTry = await post(app, "/portal/tokens/revoke", { id: "tok_doesnotexist", csrf: alice.csrf }, { cookie: alice.cookie, origin: app.url });
    expect(bobTry.status).toBe(404);
    const byAdmin = await post(app, "/portal/tokens/revoke", { id, csrf: root.csrf, back: "admin/users?user=alice" }, { cookie: root.cookie, origin: app.url });
    expect(byAdmin.status).toBe(303);
    expect(byAdmin.headers.get("location")).toBe("/portal/admin/users?user=alice&done=revoked");
    const offsite = await post(app, "/portal/tokens/revoke", { id, csrf: root.csrf, back: "//evil.example/" }, { cookie: root.cookie, origin: app.url });
    expect(offsite.status).toBe(404); // already revoked; and `back` never leaves the portal:
    const again = await post(app, "/portal/tokens/new", { ...newToken("x"), csrf: alice.csrf }, { cookie: alice.cookie, origin: app.url });
    const second = (await again.text()).match(/<code>(tok_[A-Za-z0-9]+)<\/code>/)![1];
    const redirected = await post(app, "/portal/tokens/revoke", { id: second, csrf: alice.csrf, back: "//evil.example/" }, { cookie: alice.cookie, origin: app.url });
    expect(redirected.headers.get("location")).toBe("/portal/tokens?done=revoked");
  });

  test("the audit log pages by 50, newest first, and filters by event, actor, subject and day", async () => {
    const root = await signIn(app, "root", "root-pw");
    const today = new Date().toISOString().slice(0, 10);
    const first = await (await fetch(`${app.url}/portal/admin/audit`, { headers: { cookie: root.cookie } })).text();
    const rows = (text: string) => (text.match(/<tr><td><time/g) ?? []).length;
    expect(rows(first)).toBeGreaterThan(0);
    const filtered = await (await fetch(`${app.url}/portal/admin/audit?event=session.created&subject=root&from=${today}&to=${today}`, { headers: { cookie: root.cookie } })).text();
    expect(rows(filtered)).toBeGreaterThan(0);
    expect(filtered).not.toContain(`<code class="nowrap muted">token.`);
    expect(filtered).toContain(`<code class="nowrap muted">session.created</code>`);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const none = await (await fetch(`${app.url}/portal/admin/audit?from=${tomorrow}`, { headers: { cookie: root.cookie } })).text();
    expect(none).toContain("No events match.");
    // Enough events for a second page.
    for (let i = 0; i < 60; i++) await signIn(app, "alice", "alice-pw");
    const page1 = await (await fetch(`${app.url}/portal/admin/audit?event=session`, { headers: { cookie: root.cookie } })).text();
    expect(rows(page1)).toBe(50);
    const next = page1.match(/href="(admin\/audit\?event=session&amp;before=\d+)">Older events/)![1].replaceAll("&amp;", "&");
    const page2 = await (await fetch(`${app.url}/portal/${next}`, { headers: { cookie: root.cookie } })).text();
    expect(rows(page2)).toBeGreaterThan(0);
    expect(page2).toContain(">Newest<");
  });
});

describe("a browser session older than an access token may live", () => {
  test("is read again from the provider by the next portal page; the cookie stays the same, and the session slides", async () => {
    const dir = temporaryDirectory("gatehouse-portal-refresh-");
    const app = await startApp({ ...portalConfig(dir), authentication: { access_token_max_age: 1 } });
    try {
      const { cookie } = await signIn(app, "alice", "alice-pw");
      const owner = { user: { username: "alice", realm: "local" }, admin: false, client: { socket: null, reported: null } };
      const [before] = await app.gatehouse.sessions!.list(owner);
      expect(before.refreshed_at).toBeNull();
      await Bun.sleep(1100);
      const page = await fetch(`${app.url}/portal/tokens`, { headers: { cookie } });
      expect(page.status).toBe(200);
      expect(page.headers.get("set-cookie")).toBeNull();
      const [after] = await app.gatehouse.sessions!.list(owner);
      expect(after.refreshed_at).not.toBeNull();
      expect(Date.parse(after.refresh_expires_at)).toBeGreaterThan(Date.parse(before.refresh_expires_at));
      // Two tabs at once: both are answered (nothing rotates, so nothing can be reused).
      await Bun.sleep(1100);
      const pages = await Promise.all([1, 2].map(() => fetch(`${app.url}/portal/tokens`, { headers: { cookie } })));
      expect(pages.map((answer) => answer.status)).toEqual([200, 200]);
    } finally {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("switches", () => {
  test("portal.enabled: false serves no portal", async () => {
    const dir = temporaryDirectory("gatehouse-portal-off-");
    const app = await startApp({ ...portalConfig(dir), portal: { enabled: false } });
    try {
      expect((await fetch(`${app.url}/portal/sign-in`)).status).toBe(404);
    } finally {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("without the store the portal says why it cannot work", async () => {
    const dir = temporaryDirectory("gatehouse-portal-nostore-");
    const app = await startApp({ ...portalConfig(dir), store: { enabled: false }, jwt: { iss: "x", secret: "0123456789abcdef0123456789abcdef" } });
    try {
      const response = await fetch(`${app.url}/portal/sign-in`);
      expect(response.status).toBe(503);
      expect(await response.text()).toContain("store.enabled: false");
    } finally {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a configured portal.public_url decides links and cookie flags", async () => {
    const dir = temporaryDirectory("gatehouse-portal-url-");
    const app = await startApp({ ...portalConfig(dir), portal: { public_url: "https://id.example.org/gate/portal/" } });
    try {
      const response = await post(app, "/portal/sign-in", { provider: "local", username: "alice", password: "alice-pw" }, { origin: "https://id.example.org" });
      expect(response.status).toBe(303);
      expect(response.headers.get("location")).toBe("/gate/portal/");
      expect(response.headers.get("set-cookie")).toMatch(/^__Secure-gatehouse_session=[^;]+; Path=\/gate\/portal\/; Secure;/);
    } finally {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("other providers and key modes", () => {
  test("an ECMWF API key signs in as a session of the ecmwf-api provider; a wrong key does not", async () => {
    const whoAmI = startWhoAmI();
    whoAmI.users.set("good-key-0123456789", { uid: "emma" });
    const dir = temporaryDirectory("gatehouse-portal-apikey-");
    const base = portalConfig(dir);
    const app = await startApp({ ...base, providers: [...base.providers, { type: "ecmwf-api", name: "ecmwf", realm: "ecmwf", uri: whoAmI.url }] });
    try {
      const page = await (await fetch(`${app.url}/portal/sign-in`)).text();
      expect(page).toContain('<label for="p1-key">API key</label>');
      const wrong = await post(app, "/portal/sign-in", { provider: "ecmwf", api_key: "bad-key-0123456789" }, {});
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toContain("This API key was not accepted.");
      const good = await post(app, "/portal/sign-in", { provider: "ecmwf", api_key: "good-key-0123456789" }, {});
      expect(good.status).toBe(303);
      const cookie = good.headers.get("set-cookie")!.split(";")[0];
      const me = await (await fetch(`${app.url}/portal/`, { headers: { cookie } })).text();
      expect(me).toContain("<dd>emma</dd>");
      expect(me).toContain("<dd>ecmwf</dd>");
      // The key itself is kept nowhere: not in the cookie, not in a log line.
      expect(cookie).not.toContain("good-key");
      expect(app.logs.some((line) => line.includes("good-key-0123456789"))).toBe(false);
    } finally {
      await app.stop();
      whoAmI.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("shared-secret keys: the keys page explains how to rotate jwt.secrets, and the rotate button is not offered", async () => {
    const dir = temporaryDirectory("gatehouse-portal-hs-");
    const base = portalConfig(dir);
    const app = await startApp({ ...base, jwt: { iss: "x", secrets: ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"] } });
    try {
      const root = await signIn(app, "root", "root-pw");
      const page = await (await fetch(`${app.url}/portal/admin/keys`, { headers: { cookie: root.cookie } })).text();
      expect(page).toContain("<code>jwt.secrets</code>");
      expect(page).not.toContain("Rotate signing key");
      const rotate = await post(app, "/portal/admin/keys/rotate", { confirm: "yes", csrf: root.csrf }, { cookie: root.cookie, origin: app.url });
      expect(rotate.status).toBe(409);
    } finally {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("rotating needs the box ticked, and the admin role", async () => {
    const dir = temporaryDirectory("gatehouse-portal-rotate-");
    const app = await startApp(portalConfig(dir));
    try {
      const before = (await app.gatehouse.keys.managed!.list()).length;
      const root = await signIn(app, "root", "root-pw");
      const unticked = await post(app, "/portal/admin/keys/rotate", { csrf: root.csrf }, { cookie: root.cookie, origin: app.url });
      expect(unticked.status).toBe(400);
      const alice = await signIn(app, "alice", "alice-pw");
      const person = await post(app, "/portal/admin/keys/rotate", { confirm: "yes", csrf: alice.csrf }, { cookie: alice.cookie, origin: app.url });
      expect(person.status).toBe(403);
      expect((await app.gatehouse.keys.managed!.list()).length).toBe(before);
    } finally {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an identity too large for a browser cookie signs in all the same: the cookie holds a handle, not the identity", async () => {
    const dir = temporaryDirectory("gatehouse-portal-large-");
    const base = portalConfig(dir);
    const big = { username: "big", password: "big-pw", attributes: { notes: "x".repeat(5000) } };
    const app = await startApp({ ...base, providers: [{ ...base.providers[0], users: [...base.providers[0].users, big] }] });
    try {
      const response = await post(app, "/portal/sign-in", { provider: "local", username: "big", password: "big-pw" }, {});
      expect(response.status).toBe(303);
      const cookie = response.headers.get("set-cookie")!.split(";")[0];
      expect(cookie.length).toBeLessThan(100);
      const page = await fetch(`${app.url}/portal/`, { headers: { cookie } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("x".repeat(5000));
    } finally {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
