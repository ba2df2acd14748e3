// Signing in with an identity provider in a real browser (issue 21): Chromium
// clicks the portal's "Sign in with Example SSO", types a username on the
// provider's own login page (panva's oidc-provider), and lands back in the
// portal signed in, with the roles of its groups; a Tiled client's flow ends
// on the page showing the refresh token; signing out with `end_session` goes
// through the provider's logout. The sign-in page with its choice is saved
// for the README.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { startApp, type TestApp } from "./helpers/app.ts";
import { chromiumAvailable, launchChromium, seriousViolations } from "./helpers/browser.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { portalConfig } from "./helpers/portal.ts";
import { CLIENT_SECRET, exampleSsoProvider, startSsoIdp, type SsoIdp } from "./helpers/sso-idp.ts";

setDefaultTimeout(60_000);
const enabled = chromiumAvailable("sso-browser (signing in with an identity provider)");

describe.skipIf(!enabled)("signing in with an identity provider, in Chromium", () => {
  let dir: string;
  let app: TestApp;
  let idp: SsoIdp;
  let browser: Browser;

  beforeAll(async () => {
    idp = await startSsoIdp();
    idp.accounts.set("u-1001", { sub: "u-1001", preferred_username: "ada", email: "ada@example.org", email_verified: true, groups: ["/research/admins", "/research/staff"] });
    dir = temporaryDirectory("gatehouse-sso-browser-");
    const base = portalConfig(dir);
    app = await startApp({
      ...base,
      providers: [
        ...base.providers,
        exampleSsoProvider(idp, { role_mapping: { "/research/admins": "admin" }, end_session: true }),
      ],
    });
    idp.configure([
      {
        client_id: "gatehouse",
        client_secret: CLIENT_SECRET,
        redirect_uris: [`${app.url}/api/v1/auth/provider/example-sso/code`],
        // @ts-expect-error oidc-provider's client metadata: where its logout may send the browser back to
        post_logout_redirect_uris: [`${app.url}/portal/sign-in?done=signed-out`],
      },
    ]);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the portal's button, the provider's login page, and back in the portal with the groups' roles", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    try {
      const page = await context.newPage();
      await page.goto(`${app.url}/portal/tokens`);
      expect(page.url()).toBe(`${app.url}/portal/sign-in?rd=tokens`);
      expect(await seriousViolations(page)).toEqual([]);
      await page.screenshot({ path: join(projectRoot, "docs/screenshots/sign-in-sso.png"), fullPage: true });
      await page.getByRole("link", { name: "Sign in with Example SSO" }).click();
      await page.waitForURL((url) => url.href.startsWith(idp.origin));
      expect(await page.textContent("h1")).toBe("Research SSO: sign in");
      await page.getByLabel("Username").fill("ada");
      await Promise.all([page.waitForURL(`${app.url}/portal/tokens`), page.getByRole("button", { name: "Sign in" }).click()]);
      await page.getByRole("link", { name: "You", exact: true }).click();
      const identity = await page.textContent("dl.identity");
      expect(identity).toContain("ada");
      expect(identity).toContain("example-sso");
      expect(identity).toContain("admin, /research/staff");

      // Signing out ends the Gatehouse session, then the provider's (end_session), and comes back to the sign-in page.
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL((url) => url.href.startsWith(idp.origin));
      // oidc-provider asks to confirm its logout.
      await page.getByRole("button", { name: /yes/i }).click();
      await page.waitForURL(`${app.url}/portal/sign-in?done=signed-out`);
      expect(await page.textContent("main")).toContain("You are signed out.");
    } finally {
      await context.close();
    }
  });

  test("a Tiled client's external sign-in ends on the page that shows the refresh token once", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${app.url}/api/v1/auth/provider/example-sso/authorize`);
      await page.getByLabel("Username").fill("ada");
      await Promise.all([page.waitForURL((url) => url.pathname === "/api/v1/auth/provider/example-sso/code"), page.getByRole("button", { name: "Sign in" }).click()]);
      const refreshToken = await page.inputValue("#secret");
      expect(refreshToken).toMatch(/^gtr_/);
      expect(await seriousViolations(page)).toEqual([]);
      const refreshed = await fetch(`${app.url}/api/v1/auth/session/refresh`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
      });
      expect(refreshed.status).toBe(200);
      // The page cannot be shown again: a reload finds the sign-in used.
      const reload = await page.reload();
      expect(reload?.status()).toBe(400);
    } finally {
      await context.close();
    }
  });
});
