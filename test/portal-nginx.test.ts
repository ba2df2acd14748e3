// The portal through a real nginx under a sub-path, as the README's location
// blocks expose it: https://host/auth/portal/ next to the seed's internal
// `location = /auth` (auth_request) and its protected /v1/ecflow. A browser
// signs in there, follows the links, creates a token, and the token opens
// /v1/ecflow through auth_request.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { startApp, type TestApp } from "./helpers/app.ts";
import { chromiumAvailable, launchChromium, seriousViolations } from "./helpers/browser.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, type RunningNginx } from "./helpers/nginx.ts";
import { portalConfig } from "./helpers/portal.ts";

setDefaultTimeout(60_000);
const enabled = nginxAvailable("portal-nginx (the portal under a sub-path of nginx)") && chromiumAvailable("portal-nginx (the portal under a sub-path of nginx)");

/** The blocks of docs/portal.md, on a loopback port, with a file standing in for ecFlow. */
function httpBlock(dir: string, port: number, gatehouse: number) {
  return `
  upstream gatehouse_upstream {
    server 127.0.0.1:${gatehouse};
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};

    # The seed's auth_request endpoint: exact match, internal.
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

    # Gatehouse itself under /auth/: the portal (/auth/portal/) and the token and session API.
    location /auth/ {
      proxy_pass http://gatehouse_upstream/;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Prefix /auth;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }

    location /v1/ecflow {
      auth_request /auth;
      alias ${dir}/ecflow;
    }
  }
`;
}

describe.skipIf(!enabled)("the portal through nginx under /auth/", () => {
  let dir: string;
  let app: TestApp;
  let nginx: RunningNginx;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-portal-nginx-");
    app = await startApp(portalConfig(dir));
    const port = freePort();
    // nginx's own folder (readable by its workers, which run as nobody under root) holds the stand-in for ecFlow.
    nginx = await startNginx({ http: (nginxDir) => httpBlock(nginxDir, port, Number(new URL(app.url).port)) });
    mkdirSync(join(nginx.dir, "ecflow"), { mode: 0o755 });
    writeFileSync(join(nginx.dir, "ecflow", "index.html"), "ecflow says hello\n", { mode: 0o644 });
    base = `http://127.0.0.1:${port}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await nginx?.stop();
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (nginx) rmSync(nginx.dir, { recursive: true, force: true });
  });

  test("sign in, follow the links, create a token, and open /v1/ecflow with it", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on("dialog", (dialog) => dialog.accept());
    const outside: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(`${base}/auth/`)) outside.push(request.url());
    });

    await page.goto(`${base}/auth/portal/`);
    expect(page.url()).toBe(`${base}/auth/portal/sign-in`);
    await page.getByLabel("Username").fill("alice");
    await page.getByLabel("Password").fill("alice-pw");
    await Promise.all([page.waitForURL(`${base}/auth/portal/`), page.getByRole("button", { name: "Sign in" }).click()]);
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: "gatehouse_session", path: "/auth/portal/", httpOnly: true, sameSite: "Lax" });

    // The stylesheet came through the prefix too.
    expect(await page.evaluate("getComputedStyle(document.querySelector('header')).display")).toBe("flex");
    await Promise.all([page.waitForURL(`${base}/auth/portal/tokens/new`), page.getByRole("link", { name: "New token" }).click()]);
    await page.getByLabel("Note").fill("through nginx");
    await page.locator('input[value="ecflow:read"]').check();
    // Listing tokens through the API below needs Gatehouse's own scope (issue 9, finding 2).
    await page.locator('input[value="gatehouse:tokens"]').check();
    await page.getByRole("button", { name: "Create token" }).click();
    await page.waitForSelector("#secret");
    const secret = await page.locator("#secret").inputValue();
    expect(await seriousViolations(page)).toEqual([]);

    expect((await fetch(`${base}/v1/ecflow/`)).status).toBe(401);
    const opened = await fetch(`${base}/v1/ecflow/`, { headers: { authorization: `Bearer ${secret}` } });
    expect(opened.status).toBe(200);
    expect(await opened.text()).toBe("ecflow says hello\n");
    // The API behind the same prefix answers the token too.
    const listed = await fetch(`${base}/auth/api/v1/tokens`, { headers: { authorization: `Bearer ${secret}` } });
    expect(listed.status).toBe(200);

    await Promise.all([page.waitForURL(`${base}/auth/portal/tokens`), page.getByRole("link", { name: "Tokens", exact: true }).click()]);
    await Promise.all([page.waitForURL(/\/auth\/portal\/tokens\?done=revoked$/), page.getByRole("button", { name: /^Revoke token/ }).click()]);
    expect((await fetch(`${base}/v1/ecflow/`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(401);

    await Promise.all([page.waitForURL(`${base}/auth/portal/sign-in?done=signed-out`), page.getByRole("button", { name: "Sign out" }).click()]);
    expect(outside).toEqual([]);
    await context.close();
  });
});
