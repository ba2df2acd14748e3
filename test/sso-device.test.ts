// Command-line sign-in through an identity provider (issue 21): `gatehouse
// login --provider example-sso` runs as a process while Chromium opens the
// link it prints, signs in at panva's oidc-provider (its own login page),
// comes back to the device page and approves; login ends with a scoped,
// expiring token in a temporary .ecflowapirc, carrying the roles the
// provider's groups gave.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { startApp, type TestApp } from "./helpers/app.ts";
import { chromiumAvailable, launchChromium } from "./helpers/browser.ts";
import { machine, prompt, run } from "./helpers/device.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { portalConfig } from "./helpers/portal.ts";
import { CLIENT_SECRET, exampleSsoProvider, startSsoIdp, type SsoIdp } from "./helpers/sso-idp.ts";

setDefaultTimeout(120_000);
const enabled = chromiumAvailable("sso-device (gatehouse login through an identity provider)");

describe.skipIf(!enabled)("gatehouse login through an identity provider, approved in Chromium", () => {
  let dir: string;
  let app: TestApp;
  let idp: SsoIdp;
  let browser: Browser;

  beforeAll(async () => {
    idp = await startSsoIdp();
    idp.accounts.set("u-1001", { sub: "u-1001", preferred_username: "ada", email: "ada@example.org", email_verified: true, groups: ["/research/staff"] });
    dir = temporaryDirectory("gatehouse-sso-device-");
    const base = portalConfig(dir);
    app = await startApp({
      ...base,
      providers: [
        ...base.providers,
        exampleSsoProvider(idp),
      ],
    });
    app.gatehouse.devices!.policy.intervalSeconds = 1;
    idp.configure([{ client_id: "gatehouse", client_secret: CLIENT_SECRET, redirect_uris: [`${app.url}/api/v1/auth/provider/example-sso/code`] }]);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("login prints a link; the person signs in at the provider, approves, and the command line gets a token of ada's", async () => {
    const where = machine();
    const login = run(where, "login", "--server", app.url, "--provider", "example-sso", "--scopes", "ecflow:read", "--expires-in", "30d", "--note", "sso laptop");
    const { link, code } = await prompt(login);
    expect(link).toBe(`${app.url}/portal/device?code=${code}&provider=example-sso`);

    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      // Signed out, for a request of an identity provider: straight to the provider, then back to this request.
      await page.goto(link);
      await page.waitForURL((url) => url.href.startsWith(idp.origin));
      await page.getByLabel("Username").fill("ada");
      await Promise.all([page.waitForURL(/\/portal\/device\?code=/), page.getByRole("button", { name: "Sign in" }).click()]);
      await page.getByRole("button", { name: "Approve" }).click();
      await page.getByRole("status").waitFor();
      expect(await page.getByRole("status").textContent()).toContain("signed in as ada");
    } finally {
      await context.close();
    }

    const result = await login.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("Signed in as ada (provider example-sso)");
    const rcPath = join(where.home, ".ecflowapirc");
    expect(statSync(rcPath).mode & 0o777).toBe(0o600);
    const [entry] = JSON.parse(readFileSync(rcPath, "utf8")).tokens;
    const token = entry.api.key;
    expect(token).toMatch(/^gth_/);
    const me = (await (await fetch(`${app.url}/whoami`, { headers: { authorization: `Bearer ${token}` } })).json()) as any;
    expect(me).toMatchObject({ username: "ada", realm: "sso", roles: expect.arrayContaining(["/research/staff"]) });
    expect(me.scopes).toEqual({ ecflow: ["read"] });
  });
});
