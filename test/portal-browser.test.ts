// The portal in a real browser (Debian's chromium through playwright-core):
// a person signs in, creates a token with two scopes, copies its secret from
// the page, uses it, sees its last use, revokes it, ends another session and
// signs out; an admin rotates the signing key and reads the audit log. axe-core
// checks every page; the main pages are saved to docs/screenshots/ for the README.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { decodeJwt } from "jose";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startApp, type TestApp } from "./helpers/app.ts";
import { chromiumAvailable, launchChromium, seriousViolations } from "./helpers/browser.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { portalConfig } from "./helpers/portal.ts";

// A browser on a busy 2-core machine: generous limits.
setDefaultTimeout(60_000);
const enabled = chromiumAvailable("portal-browser (the portal in chromium)");
const SCREENSHOTS = join(projectRoot, "docs/screenshots");

describe.skipIf(!enabled)("the portal in a browser", () => {
  let dir: string;
  let app: TestApp;
  let browser: Browser;
  let alice: BrowserContext;
  let page: Page;
  const cspErrors: string[] = [];

  /** Opens a portal page and checks it with axe-core: no serious or critical violation. */
  async function visit(target: Page, path: string) {
    const response = await target.goto(`${app.url}/portal/${path}`);
    expect(response?.status()).toBe(200);
    await expectAccessible(target);
    return response!;
  }

  async function expectAccessible(target: Page) {
    const violations = await seriousViolations(target);
    expect(violations.map((violation) => `${violation.id}: ${violation.help} (${JSON.stringify(violation.nodes.map((node) => node.target))})`)).toEqual([]);
  }

  const screenshot = (target: Page, name: string) => target.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

  async function newContext() {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    context.on("page", (opened) => watch(opened));
    return context;
  }

  function watch(target: Page) {
    target.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) cspErrors.push(message.text());
    });
    // Every page asks only Gatehouse: no font, script or image from another host.
    target.on("request", (request) => {
      if (!request.url().startsWith(app.url)) cspErrors.push(`request to another host: ${request.url()}`);
    });
    target.on("dialog", (dialog) => dialog.accept());
  }

  async function signIn(target: Page, username: string, password: string) {
    await visit(target, "sign-in");
    await target.getByLabel("Username").fill(username);
    await target.getByLabel("Password").fill(password);
    await Promise.all([target.waitForURL(`${app.url}/portal/`), target.getByRole("button", { name: "Sign in" }).click()]);
  }

  const authenticate = (secret: string) => fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${secret}` } });

  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-portal-browser-");
    mkdirSync(SCREENSHOTS, { recursive: true });
    app = await startApp(portalConfig(dir));
    browser = await launchChromium();
    alice = await newContext();
    await alice.grantPermissions(["clipboard-read", "clipboard-write"], { origin: app.url });
    page = await alice.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the home page links to the portal; signing in opens a session of the store", async () => {
    await page.goto(`${app.url}/`);
    await Promise.all([page.waitForURL(/\/portal\/sign-in$/), page.getByRole("link", { name: "Portal" }).click()]);
    await expectAccessible(page);
    await screenshot(page, "sign-in");

    await page.getByLabel("Username").fill("alice");
    await page.getByLabel("Password").fill("wrong");
    // The form's answer itself, so that a failure says whether the browser posted and what came back.
    const [answer] = await Promise.all([
      page.waitForResponse((response) => response.url().endsWith("/portal/sign-in") && response.request().method() === "POST"),
      page.getByRole("button", { name: "Sign in" }).click(),
    ]);
    expect({ status: answer.status(), body: answer.status() === 401 ? "" : (await answer.text()).slice(0, 500) }).toEqual({ status: 401, body: "" });
    await expect(page.getByRole("alert").textContent()).resolves.toContain("Incorrect username or password");
    await expectAccessible(page);

    await page.getByLabel("Password").fill("alice-pw");
    await Promise.all([page.waitForURL(`${app.url}/portal/`), page.getByRole("button", { name: "Sign in" }).click()]);
    await expectAccessible(page);
    const identity = await page.locator("dl.identity").textContent();
    expect(identity).toContain("alice");
    expect(identity).toContain("local");

    const live = await app.gatehouse.sessions!.list({ user: { username: "alice", realm: "local" }, admin: false, client: { socket: null, reported: null } });
    expect(live).toHaveLength(1);
    expect(live[0].provider).toBe("local");
  });

  test("a token with two scopes: its secret shown once works on /authenticate with exactly those scopes; last use shown; revoked, refused", async () => {
    await visit(page, "tokens/new");
    await page.getByLabel("Note").fill("nightly job <script>alert(1)</script>");
    await page.locator('input[value="ecflow:read"]').check();
    await page.locator('input[value="tiled:read"]').check();
    const [created] = await Promise.all([
      page.waitForResponse((response) => response.request().method() === "POST"),
      page.getByRole("button", { name: "Create token" }).click(),
    ]);
    expect(created.status()).toBe(201);
    // Answered on the POST itself: no redirect to a URL that could show the secret again, and never cached.
    expect(created.headers()["cache-control"]).toBe("no-store");
    expect(created.headers()["location"]).toBeUndefined();
    await page.waitForLoadState();
    await expectAccessible(page);
    const secret = await page.locator("#secret").inputValue();
    expect(secret).toMatch(/^gth_[A-Za-z0-9]+$/);
    expect(page.url()).not.toContain(secret);
    await page.getByRole("button", { name: "Copy to clipboard" }).click();
    await page.waitForFunction("document.getElementById('secret-status').textContent !== ''");
    expect(await page.locator("#secret-status").textContent()).toBe("Copied.");
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(secret);
    await screenshot(page, "new-token-secret");

    // The note is shown as text, never run as markup.
    await visit(page, "tokens");
    const noteCell = page.locator("tbody tr").first().locator("td").first();
    expect(await noteCell.textContent()).toBe("nightly job <script>alert(1)</script>");
    expect(await page.locator("td script").count()).toBe(0);
    const lastUsedBefore = await page.locator("tbody tr").first().locator("td").nth(5).textContent();
    expect(lastUsedBefore).toContain("never");

    const answer = await authenticate(secret);
    expect(answer.status).toBe(200);
    const claims = decodeJwt(answer.headers.get("authorization")!.replace(/^Bearer /, ""));
    expect(claims.username).toBe("alice");
    expect(claims.scopes).toEqual({ ecflow: ["read"], tiled: ["read"] });

    await app.gatehouse.tokens!.flushUses(); // uses are written every few seconds; do not wait for it
    await visit(page, "tokens");
    const lastUsedAfter = await page.locator("tbody tr").first().locator("td").nth(5).textContent();
    expect(lastUsedAfter).toContain("UTC");
    expect(lastUsedAfter).toContain("127.0.0.1");
    await screenshot(page, "tokens");

    await Promise.all([page.waitForURL(/done=revoked/), page.getByRole("button", { name: /^Revoke token/ }).click()]);
    await expectAccessible(page);
    expect(await page.getByRole("status").textContent()).toContain("revoked");
    expect(await page.locator("tbody tr").first().locator("td.status-revoked").textContent()).toBe("revoked");
    expect((await authenticate(secret)).status).toBe(401);
  });

  test("sessions: the current one marked; ending another session refuses its access token", async () => {
    const login = await fetch(`${app.url}/api/v1/auth/provider/local/token`, {
      method: "POST",
      headers: { "user-agent": "batch-laptop/1.0" },
      body: new URLSearchParams({ username: "alice", password: "alice-pw" }),
    });
    const other = (await login.json()) as { access_token: string };
    expect((await authenticate(other.access_token)).status).toBe(200);

    await visit(page, "sessions");
    expect(await page.locator("tbody tr").count()).toBe(2);
    expect(await page.locator("tbody tr", { hasText: "This session" }).count()).toBe(1);
    // The browser and system in words (issue 26 § 4); the User-Agent as sent, on demand.
    expect(await page.locator("tbody tr", { hasText: "This session" }).locator("summary").textContent()).toBe("Chrome on Linux");
    const otherRow = page.locator("tbody tr", { hasText: "batch-laptop 1.0" });
    expect(await otherRow.locator("details code").isVisible()).toBe(false);
    await otherRow.locator("summary").click();
    expect(await otherRow.locator("details code").textContent()).toBe("batch-laptop/1.0");
    expect(await otherRow.locator("details code").isVisible()).toBe(true);
    await screenshot(page, "sessions");

    await Promise.all([page.waitForURL(/done=revoked/), otherRow.getByRole("button", { name: /^End session/ }).click()]);
    await expectAccessible(page);
    expect(await page.locator("tbody tr").count()).toBe(1);
    expect((await authenticate(other.access_token)).status).toBe(401);
  });

  test("an admin finds a user's tokens, rotates the signing key and reads the audit log", async () => {
    const admin = await newContext();
    const adminPage = await admin.newPage();
    await signIn(adminPage, "root", "root-pw");

    // Everyone, newest sign-in first; a user's tokens and sessions a click away (issue 26 § 4).
    await visit(adminPage, "admin/users");
    expect(await adminPage.locator("tbody tr td:first-child a").allTextContents()).toEqual(["root", "alice"]);
    await Promise.all([adminPage.waitForURL(/user=alice&realm=local/), adminPage.getByRole("link", { name: "alice" }).click()]);
    await expectAccessible(adminPage);
    expect(await adminPage.getByRole("heading", { name: "Live sessions of alice" }).count()).toBe(1);

    await visit(adminPage, "admin/users");
    await adminPage.getByLabel("Username").fill("alice");
    await Promise.all([adminPage.waitForURL(/user=alice/), adminPage.getByRole("button", { name: "Find" }).click()]);
    await expectAccessible(adminPage);
    expect(await adminPage.locator("table").first().textContent()).toContain("nightly job");

    await visit(adminPage, "admin/keys");
    expect(await adminPage.locator("td.state-current").count()).toBe(1);
    expect(await adminPage.locator("td.state-next").count()).toBe(0);
    await adminPage.getByLabel(/Yes, start a rotation/).check();
    await Promise.all([adminPage.waitForURL(/done=rotated/), adminPage.getByRole("button", { name: "Rotate signing key" }).click()]);
    await expectAccessible(adminPage);
    expect(await adminPage.getByRole("status").textContent()).toContain("Rotation started");
    // publish_ahead (an hour by default): the new key is published as `next` before it signs.
    expect(await adminPage.locator("td.state-next").count()).toBe(1);
    expect(await adminPage.locator("td.state-current").count()).toBe(1);
    await screenshot(adminPage, "keys");

    await visit(adminPage, "admin/audit");
    await screenshot(adminPage, "audit");
    await visit(adminPage, "admin/audit?event=token");
    const events = await adminPage.locator("tbody td code").allTextContents();
    expect(events).toContain("token.created");
    expect(events).toContain("token.revoked");
    expect(events.filter((text) => text.startsWith("session."))).toEqual([]);
    await adminPage.getByLabel("Who (username)").fill("root");
    await adminPage.getByLabel("Event", { exact: true }).fill("");
    await Promise.all([adminPage.waitForURL(/actor=root/), adminPage.getByRole("button", { name: "Filter" }).click()]);
    await expectAccessible(adminPage);
    const rootEvents = await adminPage.locator("tbody tr td:nth-child(3) code").allTextContents();
    expect(rootEvents).toEqual(["key.published", "session.created"]);
    await admin.close();
  });

  test("a person cannot open the admin pages", async () => {
    const response = await page.goto(`${app.url}/portal/admin/keys`);
    expect(response?.status()).toBe(403);
    await expectAccessible(page);
  });

  test("readable on a phone", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, storageState: await alice.storageState() });
    const phonePage = await phone.newPage();
    watch(phonePage);
    await visit(phonePage, "tokens");
    expect(phonePage.url()).toBe(`${app.url}/portal/tokens`); // signed in, not sent to the sign-in page
    // Nothing wider than the screen but the tables, which scroll inside their own box.
    const overflow = await phonePage.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(phonePage, "tokens-phone");
    await phone.close();
  });

  test("signing out ends the session in the store: the old cookie no longer works", async () => {
    const [cookie] = (await alice.cookies()).filter((candidate) => candidate.name === "gatehouse_session");
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe("Lax");
    await visit(page, "");
    await Promise.all([page.waitForURL(/sign-in\?done=signed-out$/), page.getByRole("button", { name: "Sign out" }).click()]);
    expect(await page.getByRole("status").textContent()).toContain("signed out");
    expect((await alice.cookies()).filter((candidate) => candidate.name === "gatehouse_session")).toEqual([]);

    const old = `gatehouse_session=${cookie.value}`;
    const portalPage = await fetch(`${app.url}/portal/tokens`, { headers: { cookie: old }, redirect: "manual" });
    expect(portalPage.status).toBe(303);
    expect(portalPage.headers.get("location")).toBe("/portal/sign-in?rd=tokens");
    expect((await fetch(`${app.url}/api/v1/tokens`, { headers: { cookie: old } })).status).toBe(401);
    expect(await app.gatehouse.sessions!.list({ user: { username: "alice", realm: "local" }, admin: false, client: { socket: null, reported: null } })).toEqual([]);
  });

  test("no page broke its Content-Security-Policy or asked another host", () => {
    expect(cspErrors).toEqual([]);
  });
});
