// The portal reads like a product (issue 26 § 4): sessions name the browser
// and system in words with the raw User-Agent on demand, the admin audit page
// shows each event as a row of named fields with its details as key/value
// pairs, and admins list users (paged, sortable by last sign-in) with their
// tokens and sessions a click away. Over HTTP; portal-browser.test.ts clicks
// through the same pages in Chromium.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { describeUserAgent } from "../src/modules/portal/user-agent.ts";
import { basic, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { portalConfig } from "./helpers/portal.ts";

const FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

describe("a User-Agent in words", () => {
  test.each([
    [FIREFOX, "Firefox on Linux"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on Windows"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"],
    ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari on macOS"],
    ["Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iOS"],
    ["Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"],
    ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome on Linux"],
    ["ecflow_client/5.19.0", "ecflow_client 5.19"],
    ["curl/8.5.0", "curl 8.5"],
    ["python-requests/2.31.0", "python-requests 2.31"],
    ["Go-http-client/1.1", "Go-http-client 1.1"],
    ["gatehouse-cli", "gatehouse-cli"],
    ["", "Unknown device"],
  ])("%p → %p", (userAgent, words) => {
    expect(describeUserAgent(userAgent)).toBe(words);
  });
});

let dir: string;
let app: TestApp;

async function signIn(username: string, userAgent = FIREFOX) {
  const response = await fetch(`${app.url}/portal/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: app.url, "user-agent": userAgent },
    body: new URLSearchParams({ provider: "local", username, password: `${username}-pw` }),
  });
  expect(response.status).toBe(303);
  return response.headers.get("set-cookie")!.split(";")[0]!;
}
const page = async (path: string, cookie: string) => {
  const response = await fetch(`${app.url}/portal/${path}`, { headers: { cookie } });
  expect(response.status).toBe(200);
  return response.text();
};

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-portal-admin-");
  const config = portalConfig(dir);
  // Enough people for two pages of 50.
  config.providers[0]!.users.push(...Array.from({ length: 55 }, (_, i) => ({ username: `user${String(i).padStart(2, "0")}`, password: `user${String(i).padStart(2, "0")}-pw` })));
  app = await startApp(config);
});
afterAll(async () => {
  await app?.stop();
});

describe("the portal's session tables", () => {
  test("name the browser and system in words, with the raw User-Agent on demand, the address and the last activity", async () => {
    const cookie = await signIn("alice");
    await fetch(`${app.url}/api/v1/auth/provider/local/token`, { method: "POST", headers: { "user-agent": "ecflow_client/5.19.0" }, body: new URLSearchParams({ username: "alice", password: "alice-pw" }) });
    const text = await page("sessions", cookie);
    expect(text).toContain(`<details class="user-agent"><summary>Firefox on Linux</summary><code>${FIREFOX}</code></details>`);
    expect(text).toContain("<summary>ecflow_client 5.19</summary><code>ecflow_client/5.19.0</code>");
    expect(text).toContain('<th scope="col">Address</th>');
    expect(text).toContain('<th scope="col">Last active</th>');
    expect(text).toMatch(/<td>127\.0\.0\.1<\/td>/);
  });
});

describe("the admin audit page", () => {
  test("each event a row of who, what, to whom, from where and when; the details as key/value pairs, never raw JSON", async () => {
    const root = await signIn("root");
    // An event with details: a token created with networks, then revoked.
    const created = await fetch(`${app.url}/api/v1/tokens`, {
      method: "POST",
      headers: { authorization: basic("alice", "alice-pw"), "content-type": "application/json" },
      body: JSON.stringify({ allowed_networks: ["192.0.2.0/24"] }),
    });
    expect(created.status).toBe(201);
    const text = await page("admin/audit?event=token", root);
    expect(text).toContain('<th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">To whom</th><th scope="col">From where</th><th scope="col">Details</th>');
    expect(text).toMatch(/<td>alice <span class="muted">\(local\)<\/span><\/td>\s*<td>created a token<br><code class="nowrap muted">token\.created<\/code><\/td>/);
    expect(text).toContain('<dl class="detail"><dt>allowed networks</dt><dd>192.0.2.0/24</dd></dl>');
    expect(text).not.toContain("{&quot;");
  });
});

describe("the admin list of users", () => {
  test("everyone, newest sign-in first, 50 a page; each a link to their tokens and sessions; sortable by name", async () => {
    // 57 people in the store: everyone signs in once, user07 and user03 last.
    for (let i = 54; i >= 0; i--) if (i !== 7 && i !== 3) await signIn(`user${String(i).padStart(2, "0")}`);
    await signIn("alice");
    const root = await signIn("root");
    // A few ms apart: sign-ins in the same millisecond are ordered by user id.
    for (const username of ["user07", "user03"]) {
      await Bun.sleep(5);
      await signIn(username);
    }
    const first = await page("admin/users", root);
    const names = (text: string) => [...text.matchAll(/<tr><td><a href="admin\/users\?user=([^&]+)&amp;realm=local">/g)].map((match) => match[1]);
    // The newest sign-ins first (user03, then user07, then root and alice); users never signed in after.
    expect(names(first).slice(0, 3)).toEqual(["user03", "user07", "root"]);
    expect(first).toContain('aria-sort="descending">Last sign-in</th>');
    expect(names(first)).toHaveLength(50);
    expect(first).toContain('<a href="admin/users?sort=name">User</a>');

    const byName = await page("admin/users?sort=name", root);
    expect(names(byName).slice(0, 3)).toEqual(["alice", "root", "user00"]);
    const next = byName.match(/href="(admin\/users\?sort=name&amp;page=2)">Next/)![1]!.replaceAll("&amp;", "&");
    const second = await page(next, root);
    expect(names(second)).toHaveLength(7);
    expect(names(second)).not.toContain("alice");
    expect(second).toContain(">Previous<");

    // A click away: the user's tokens and sessions.
    const alice = await page("admin/users?user=alice&realm=local", root);
    expect(alice).toContain("Tokens of alice");
    expect(alice).toContain("Live sessions of alice");
  });

  test("is for admins only", async () => {
    const cookie = await signIn("alice");
    expect((await fetch(`${app.url}/portal/admin/users`, { headers: { cookie } })).status).toBe(403);
  });
});
