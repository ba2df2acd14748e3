// Single sign-on for web applications end to end (issue 22, §§ 1-2): real
// nginx, then real Caddy (forward_auth), in front of a small web application
// served on two host names over HTTPS (a private CA made here with openssl),
// and real Chromium resolving app1.example.test, app2.example.test and
// auth.example.test to 127.0.0.1. Opening app1 sends the browser to sign in,
// then back to the exact page asked for, which shows the X-Auth-Username it
// received; app2 then asks for nothing; signing out sends both back to sign
// in at their next request; curl with no credential gets 401, never a
// redirect. The Gatehouse config and the Caddyfile are those of
// docs/web-applications.md ("Protecting a web application"), the nginx site is
// examples/nginx/web-app-sso.conf, read from them here so that they cannot drift apart.
//
// Host names: the issue's app1.test, app2.test and auth.test would need a
// cookie for the whole top-level domain `test`, which browsers refuse (and
// config check too); one level down, example.test, is the real shape.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { Browser, BrowserContext } from "playwright-core";
import { parse } from "yaml";
import { startApp, type TestApp } from "./helpers/app.ts";
import { fillNginxSite } from "./helpers/examples.ts";
import { chromiumAvailable, launchChromium } from "./helpers/browser.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, waitForPort, type RunningNginx } from "./helpers/nginx.ts";
import { portalConfig } from "./helpers/portal.ts";

setDefaultTimeout(60_000);

const SUITE = "browser-sso-e2e (single sign-on through nginx and Caddy, in Chromium)";
const browserReady = chromiumAvailable(SUITE);
const nginxReady = nginxAvailable(SUITE);
const CADDY = Bun.which("caddy") ?? (existsSync("/usr/bin/caddy") ? "/usr/bin/caddy" : null);
if (!CADDY) {
  console.warn(`\n!!! SKIPPING the Caddy half of ${SUITE}: caddy is not installed (run test/setup.sh as root, or apt-get install caddy) !!!\n`);
}
const CURL = Bun.which("curl");

/** The section "Protecting a web application" of docs/web-applications.md, and its first code block of a language. */
const readme = readFileSync(join(projectRoot, "docs/web-applications.md"), "utf8");
const section = readme.slice(readme.indexOf("## Protecting a web application"), readme.indexOf("\n## ", readme.indexOf("## Protecting a web application") + 3));
function readmeBlock(language: string): string {
  const found = section.match(new RegExp("```" + language + "\\n([\\s\\S]*?)```"));
  if (!found) throw new Error(`docs/web-applications.md: no ${language} block under "Protecting a web application"`);
  return found[1];
}

/** A private CA and a certificate it signed for the three host names. */
function makeCertificates(dir: string): { cert: string; key: string } {
  const run = (args: string[]) => {
    const done = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    if (done.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${done.stderr.toString()}`);
  };
  run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=Gatehouse test CA", "-keyout", "ca.key", "-out", "ca.pem"]);
  run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=example.test", "-keyout", "site.key", "-out", "site.csr"]);
  writeFileSync(join(dir, "san.ext"), "subjectAltName = DNS:app1.example.test, DNS:app2.example.test, DNS:auth.example.test\n");
  run(["x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "site.crt"]);
  // nginx's workers and Caddy read them: not secret here.
  for (const file of ["site.crt", "site.key", "ca.pem"]) chmodSync(join(dir, file), 0o644);
  return { cert: join(dir, "site.crt"), key: join(dir, "site.key") };
}

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The web application: a page saying which host, path and X-Auth-Username it received. */
function startWebApplication() {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const url = new URL(request.url);
      const user = request.headers.get("x-auth-username") ?? "(nobody)";
      const host = request.headers.get("host") ?? "";
      const body = `<!doctype html><html lang="en"><head><title>${escape(host)}</title></head><body>
<h1 id="host">${escape(host)}</h1><p>Signed in as <span id="user">${escape(user)}</span></p><p id="path">${escape(url.pathname + url.search)}</p>
</body></html>`;
      return new Response(body, { headers: { "content-type": "text/html; charset=utf-8" } });
    },
  });
}

/** The Gatehouse config of docs/web-applications.md for https://auth.example.test:PORT, with the portal suites' users and store. */
function gatehouseConfig(dir: string, port: number) {
  const fromReadme = parse(readmeBlock("yaml").replaceAll("example.org", "example.test").replaceAll("https://auth.example.test/", `https://auth.example.test:${port}/`));
  return { ...portalConfig(dir), ...fromReadme };
}

/** examples/nginx/web-app-sso.conf on 127.0.0.1:PORT, with this test's certificate, Gatehouse and application. */
function nginxBlocks(port: number, gatehouse: number, application: number, tls: { cert: string; key: string }): string {
  const site = readFileSync(join(projectRoot, "examples/nginx/web-app-sso.conf"), "utf8");
  return fillNginxSite(site, { https: port, http: freePort(), gatehouse, backend: application, certificate: tls.cert, key: tls.key }).replaceAll("example.org", "example.test");
}

/** The Caddyfile of docs/web-applications.md on PORT (its global options keep Caddy to itself: no admin endpoint, no certificates of its own). */
function caddyfile(dir: string, port: number, gatehouse: number, application: number, tls: { cert: string; key: string }): string {
  const sites = readmeBlock("caddy")
    .replaceAll("example.org", "example.test")
    .replace(/^app1\.example\.test, app2\.example\.test \{/m, `https://app1.example.test:${port}, https://app2.example.test:${port} {`)
    .replace(/^auth\.example\.test \{/m, `https://auth.example.test:${port} {`)
    .replaceAll("127.0.0.1:8080", `127.0.0.1:${gatehouse}`)
    .replaceAll("127.0.0.1:3000", `127.0.0.1:${application}`)
    .replaceAll("/etc/ssl/example.test.crt", tls.cert)
    .replaceAll("/etc/ssl/example.test.key", tls.key);
  return `{\n\tadmin off\n\tauto_https off\n\tstorage file_system ${dir}/caddy-data\n}\n${sites}`;
}

async function startCaddy(dir: string, config: string, port: number): Promise<{ stop(): Promise<void>; output(): string }> {
  const path = join(dir, "Caddyfile");
  writeFileSync(path, config);
  const output: string[] = [];
  const child: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn([CADDY!, "run", "--config", path, "--adapter", "caddyfile"], {
    cwd: dir,
    env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data") },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  void (async () => {
    for await (const chunk of child.stderr) output.push(new TextDecoder().decode(chunk));
  })();
  try {
    await waitForPort(port, 15_000, () => child.exitCode === null);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`caddy did not start: ${(error as Error).message}\n${output.join("")}`);
  }
  return {
    output: () => output.join(""),
    async stop() {
      child.kill("SIGTERM");
      await child.exited;
    },
  };
}

/** Runs curl (never synchronously: Gatehouse answers the proxy from this very process). */
async function runCurl(url: string, port: number, args: string[]): Promise<string> {
  const child = Bun.spawn([CURL!, "-sk", "--max-time", "10", "--resolve", `${new URL(url).hostname}:${port}:127.0.0.1`, ...args, url], { stdout: "pipe", stderr: "pipe" });
  const text = await new Response(child.stdout).text();
  await child.exited;
  return text;
}

/** curl as a script would use it: no credential, its own Accept unless given; status, Location and WWW-Authenticate. */
async function curl(url: string, port: number, headers: string[] = []): Promise<{ status: number; location: string; challenge: string | null }> {
  const written = await runCurl(url, port, ["-o", "/dev/null", "-D", "-", "-w", "\n%{http_code} %{redirect_url}", ...headers.flatMap((header) => ["-H", header])]);
  const lines = written.trim().split(/\r?\n/);
  const [status, location = ""] = lines[lines.length - 1].split(" ");
  const challenge = lines.find((line) => /^www-authenticate:/i.test(line))?.replace(/^[^:]+:\s*/, "") ?? null;
  return { status: Number(status), location, challenge };
}

/** The scenario, the same behind each proxy. */
function singleSignOn(proxy: string, start: () => Promise<{ port: number; stop(): Promise<void>; log(): string }>) {
  describe(`single sign-on behind ${proxy}, in Chromium`, () => {
    let dir: string;
    let app: TestApp;
    let web: ReturnType<typeof startWebApplication>;
    let front: { port: number; stop(): Promise<void>; log(): string };
    let browser: Browser;
    let context: BrowserContext;
    let base: { app1: string; app2: string; auth: string };

    beforeAll(async () => {
      front = await start();
      const { port } = front;
      base = { app1: `https://app1.example.test:${port}`, app2: `https://app2.example.test:${port}`, auth: `https://auth.example.test:${port}` };
      browser = await launchChromium([`--host-resolver-rules=MAP *.example.test 127.0.0.1`]);
      context = await browser.newContext({ ignoreHTTPSErrors: true });
    });
    afterAll(async () => {
      await browser?.close();
      await front?.stop();
    });

    const page = () => context.pages()[0] ?? context.newPage();

    test("app1 sends the browser to sign in, then back to the exact page asked for, which shows who signed in", async () => {
      const tab = await page();
      const asked = `${base.app1}/reports/2024?page=2&sort=name`;
      await tab.goto(asked);
      const signInPage = new URL(tab.url());
      expect(`${signInPage.origin}${signInPage.pathname}`).toBe(`${base.auth}/portal/sign-in`);
      expect(signInPage.searchParams.get("rd")).toBe(asked);
      await tab.getByLabel("Username").fill("alice");
      await tab.getByLabel("Password").fill("alice-pw");
      await Promise.all([tab.waitForURL(asked), tab.getByRole("button", { name: "Sign in" }).click()]);
      expect(await tab.locator("#user").textContent()).toBe("alice");
      expect(await tab.locator("#path").textContent()).toBe("/reports/2024?page=2&sort=name");
      expect(await tab.locator("#host").textContent()).toStartWith("app1.example.test");
      const sso = (await context.cookies()).find((cookie) => cookie.name === "__Secure-gatehouse_sso");
      expect(sso).toMatchObject({ domain: ".example.test", path: "/", secure: true, httpOnly: true, sameSite: "Lax" });
      expect(sso!.value).toMatch(/^gbs_[0-9A-Za-z]{36}$/);
    });

    test("app2 asks for nothing", async () => {
      const tab = await page();
      await tab.goto(`${base.app2}/index.html`);
      expect(tab.url()).toBe(`${base.app2}/index.html`);
      expect(await tab.locator("#user").textContent()).toBe("alice");
      expect(await tab.locator("#host").textContent()).toStartWith("app2.example.test");
    });

    test.skipIf(!CURL)("curl: no credential gets 401, never a redirect; a forged X-Auth-Username never reaches the application", async () => {
      const { port } = front;
      const refused = { status: 401, location: "", challenge: 'Basic realm="local"' };
      expect(await curl(`${base.app1}/reports`, port)).toEqual(refused);
      expect(await curl(`${base.app2}/`, port, ["Accept: application/json"])).toEqual(refused);
      expect(await curl(`${base.app2}/`, port, ["Authorization: Bearer gth_not-a-token", "Accept: text/html"])).toEqual(refused);
      const sso = (await context.cookies()).find((cookie) => cookie.name === "__Secure-gatehouse_sso")!;
      const page = await runCurl(`${base.app1}/`, port, ["-H", `Cookie: __Secure-gatehouse_sso=${sso.value}`, "-H", "X-Auth-Username: root"]);
      expect(page).toContain('<span id="user">alice</span>');
    });

    test("signing out (an application's Sign out link) sends both applications back to sign in at their next request", async () => {
      const tab = await page();
      await tab.goto(`${base.auth}/portal/sign-out?rd=${encodeURIComponent(`${base.app1}/`)}`);
      // Signed in: the portal asks to confirm (a POST with the CSRF token), then goes back to app1, which wants a sign-in again.
      await Promise.all([tab.waitForURL((url) => url.href.startsWith(`${base.auth}/portal/sign-in?rd=`)), tab.locator("#main").getByRole("button", { name: "Sign out" }).click()]);
      expect(new URL(tab.url()).searchParams.get("rd")).toBe(`${base.app1}/`);
      expect((await context.cookies()).map((cookie) => cookie.name)).not.toContain("__Secure-gatehouse_sso");
      await tab.goto(`${base.app2}/later`);
      expect(new URL(tab.url()).searchParams.get("rd")).toBe(`${base.app2}/later`);
      expect(tab.url()).toStartWith(`${base.auth}/portal/sign-in?rd=`);
    });

    test("signed out at the portal, a copy of the cookie (another browser's) opens nothing at its next request", async () => {
      const tab = await page();
      await tab.getByLabel("Username").fill("alice");
      await tab.getByLabel("Password").fill("alice-pw");
      await Promise.all([tab.waitForURL(`${base.app2}/later`), tab.getByRole("button", { name: "Sign in" }).click()]);
      expect(await tab.locator("#user").textContent()).toBe("alice");
      // A copy of the cookie (another browser, a stolen one) keeps nothing once the portal's Sign out ends the session.
      const copy = (await context.cookies()).find((cookie) => cookie.name === "__Secure-gatehouse_sso")!;
      await tab.goto(`${base.auth}/portal/`);
      await Promise.all([tab.waitForURL(`${base.auth}/portal/sign-in?done=signed-out`), tab.getByRole("button", { name: "Sign out" }).click()]);
      const other = await browser.newContext({ ignoreHTTPSErrors: true });
      try {
        await other.addCookies([{ name: copy.name, value: copy.value, domain: ".example.test", path: "/", secure: true, httpOnly: true, sameSite: "Lax" }]);
        const otherTab = await other.newPage();
        await otherTab.goto(`${base.app1}/`);
        expect(otherTab.url()).toStartWith(`${base.auth}/portal/sign-in?rd=`);
      } finally {
        await other.close();
      }
    });
  });
}

if (browserReady && nginxReady) {
  singleSignOn("nginx (auth_request)", async () => {
    const dir = temporaryDirectory("gatehouse-sso-e2e-nginx-");
    const port = freePort();
    const app = await startApp(gatehouseConfig(dir, port));
    const web = startWebApplication();
    const nginxDir = temporaryDirectory("gatehouse-sso-e2e-nginx-conf-");
    const tls = makeCertificates(nginxDir);
    const nginx: RunningNginx = await startNginx({ dir: nginxDir, http: nginxBlocks(port, Number(new URL(app.url).port), web.port!, tls) });
    return {
      port,
      log: () => nginx.errorLog(),
      async stop() {
        await nginx.stop();
        web.stop(true);
        await app.stop();
        rmSync(dir, { recursive: true, force: true });
        rmSync(nginxDir, { recursive: true, force: true });
      },
    };
  });
}

if (browserReady && CADDY) {
  singleSignOn("Caddy (forward_auth)", async () => {
    const dir = temporaryDirectory("gatehouse-sso-e2e-caddy-");
    const port = freePort();
    const app = await startApp(gatehouseConfig(dir, port));
    const web = startWebApplication();
    mkdirSync(join(dir, "caddy"));
    const tls = makeCertificates(join(dir, "caddy"));
    const caddy = await startCaddy(join(dir, "caddy"), caddyfile(join(dir, "caddy"), port, Number(new URL(app.url).port), web.port!, tls), port);
    return {
      port,
      log: () => caddy.output(),
      async stop() {
        await caddy.stop();
        web.stop(true);
        await app.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
