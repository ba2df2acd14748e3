// Single sign-on for web applications (issue 22, §§ 1-2), over HTTP against
// a Gatehouse on an ephemeral port: the domain's cookie every portal sign-in
// sets (password and API-key forms, a trusted proxy's automatic sign-in, an
// identity provider), /authenticate accepting it against the store at every
// request (sign-out, revocation, `gatehouse users end`, expiry), a browser's
// navigation sent to sign in and an API client never, and where the portal
// may send a browser back to (rd), with every open-redirect form refused.
// The same scenario with real nginx, Caddy and Chromium is
// browser-sso-e2e.test.ts.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { basic, startApp, type TestApp } from "./helpers/app.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { portalConfig } from "./helpers/portal.ts";
import { storedRows } from "./helpers/stored.ts";
import { startSsoIdp, type SsoIdp } from "./helpers/sso-idp.ts";
import { startWhoAmI, type WhoAmI } from "./helpers/who-am-i.ts";
import { buildConfig, ConfigError } from "../src/config/load.ts";
import { allowedReturnUrl, parseHostPattern, type HostPattern } from "../src/sso/return-url.ts";

setDefaultTimeout(30_000);

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const PORTAL = "https://auth.example.test/portal/";
const SIGN_IN = `${PORTAL}sign-in`;
/** What Chromium sends when a person opens a page. */
const NAVIGATION = {
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
  "sec-fetch-site": "none",
  "sec-fetch-mode": "navigate",
  "sec-fetch-dest": "document",
};
/** How nginx's auth_request asks about https://app1.example.test/reports/2024?page=2 (README's block). */
const NGINX_ASKS = { "x-original-url": "https://app1.example.test/reports/2024?page=2", "x-original-method": "GET" };
/** How Caddy's forward_auth asks about the same page. */
const CADDY_ASKS = { "x-forwarded-proto": "https", "x-forwarded-host": "app1.example.test", "x-forwarded-uri": "/reports/2024?page=2", "x-forwarded-method": "GET" };
const COOKIE_FLAGS = /^__Secure-gatehouse_sso=gbs_[0-9A-Za-z]{36}; Domain=example\.test; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=\d+$/;

function ssoAppConfig(dir: string, extra: Record<string, unknown> = {}) {
  return {
    ...portalConfig(dir),
    include_legacy_headers: true,
    portal: { public_url: PORTAL },
    sso: { cookie_domain: "example.test", allowed_redirect_hosts: ["example.test", "*.example.test", "localhost"] },
    ...extra,
  };
}

/** A sign-in answer's cookies, by name (value, and the whole Set-Cookie line). */
function cookiesOf(response: Response): Map<string, { value: string; line: string }> {
  const found = new Map<string, { value: string; line: string }>();
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(";")[0];
    const eq = pair.indexOf("=");
    found.set(pair.slice(0, eq), { value: pair.slice(eq + 1), line });
  }
  return found;
}

function post(app: TestApp, path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${app.url}${path}`, { method: "POST", redirect: "manual", headers: { ...FORM, ...headers }, body: new URLSearchParams(form) });
}

interface SignedIn {
  response: Response;
  /** `__Secure-gatehouse_sso=…`, as a Cookie header. */
  sso: string;
  /** `__Secure-gatehouse_session=…`, as a Cookie header. */
  portal: string;
}

async function signIn(app: TestApp, username: string, password: string, rd?: string): Promise<SignedIn> {
  const response = await post(app, "/portal/sign-in", { provider: "local", username, password, ...(rd === undefined ? {} : { rd }) });
  expect(response.status).toBe(303);
  const cookies = cookiesOf(response);
  return { response, sso: `__Secure-gatehouse_sso=${cookies.get("__Secure-gatehouse_sso")!.value}`, portal: `__Secure-gatehouse_session=${cookies.get("__Secure-gatehouse_session")!.value}` };
}

const authenticate = (app: TestApp, headers: Record<string, string>) => fetch(`${app.url}/authenticate`, { headers, redirect: "manual" });

/** The portal's CSRF token for a signed-in browser (from its home page). */
async function csrfOf(app: TestApp, portalCookie: string): Promise<string> {
  const page = await fetch(`${app.url}/portal/`, { headers: { cookie: portalCookie } });
  expect(page.status).toBe(200);
  return (await page.text()).match(/name="csrf" value="([^"]+)"/)![1];
}

/** A Gatehouse with single sign-on for the describe block it is called in (started before its tests, stopped after). */
function ssoApp(name: string, extra: Record<string, unknown> = {}): () => TestApp {
  let dir: string;
  let app: TestApp;
  beforeAll(async () => {
    dir = temporaryDirectory(`gatehouse-browser-sso-${name}-`);
    app = await startApp(ssoAppConfig(dir, extra));
  });
  afterAll(async () => {
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return () => app;
}

describe("config: sso", () => {
  const base = (sso: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    ({ ...portalConfig("/tmp/unused"), portal: { public_url: PORTAL }, sso, ...extra }) as Record<string, unknown>;
  const problems = (raw: Record<string, unknown>): string[] => {
    try {
      buildConfig(raw, "test", {});
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  };

  test("without sso nothing is added, and the sign-in URL defaults to the portal's", () => {
    expect(buildConfig({ ...portalConfig("/tmp/unused") }, "test", {}).config.sso).toBeUndefined();
    const { config, warnings } = buildConfig(base({ cookie_domain: "example.test" }), "test", {});
    expect(config.sso).toEqual({ cookie_domain: "example.test" });
    expect(warnings.filter((warning) => warning.startsWith("sso"))).toEqual([]);
    // From public_url when the portal has no address of its own.
    const fromPublicUrl = buildConfig({ ...portalConfig("/tmp/unused"), public_url: "https://auth.example.test/gate", sso: { cookie_domain: "example.test" } }, "test", {});
    expect(fromPublicUrl.config.sso).toBeDefined();
  });

  test("config check refuses what cannot work, each with its path", () => {
    expect(problems({ ...portalConfig("/tmp/unused"), sso: { cookie_domain: "example.test" } })).toEqual([
      "sso.sign_in_url: cannot be worked out: set it, or portal.public_url (or public_url), the address people reach the portal at",
    ]);
    expect(problems(base({ cookie_domain: "example.org" }))).toEqual([
      "sso.cookie_domain: the portal's host auth.example.test is not example.org or below it, so browsers would refuse the cookie the portal sets; use a domain of the portal's host",
    ]);
    expect(problems(base({ cookie_domain: "test" }))[0]).toStartWith('sso.cookie_domain: "test" must be a lower-case domain name with at least two labels');
    expect(problems(base({ cookie_domain: ".example.test" }))[0]).toStartWith('sso.cookie_domain: ".example.test" must be');
    expect(problems(base({ cookie_domain: "example.test" }, { portal: { public_url: "http://auth.example.test/portal/" } }))).toEqual([
      "sso: the portal is reached over http (http://auth.example.test/portal/); the single sign-on cookie is __Secure-, which browsers accept only over https",
    ]);
    expect(problems(base({ cookie_domain: "example.test" }, { portal: { enabled: false, public_url: PORTAL } }))).toEqual([
      "sso: people sign in at the portal, which is off (portal.enabled: false)",
    ]);
    expect(problems(base({ cookie_domain: "example.test" }, { store: { enabled: false }, jwt: { iss: "x", secret: "0123456789abcdef0123456789abcdef" } }))).toContain(
      "sso: the single sign-on cookie names a session, kept in the store, which is disabled (store.enabled: false)",
    );
    expect(problems(base({ cookie_domain: "example.test", sign_in_url: "javascript:alert(1)" }))).toEqual([
      'sso.sign_in_url: "javascript:alert(1)" must be an https URL (http only on a loopback host), without a fragment or user name',
    ]);
    expect(problems(base({ cookie_domain: "example.test", allowed_redirect_hosts: ["https://app.example.test", "app.example.test:8443", "*.example.test"] }))).toEqual([
      'sso.allowed_redirect_hosts[0]: "https://app.example.test" is not a host name or *.host name (no scheme, port or path)',
      'sso.allowed_redirect_hosts[1]: "app.example.test:8443" is not a host name or *.host name (no scheme, port or path)',
    ]);
    expect(problems(base({ cookie_domain: "example.test", cookie_path: "/" }))[0]).toStartWith("sso");
  });

  test("an allowed host outside the cookie's domain is fine, with a warning", () => {
    const { warnings } = buildConfig(base({ cookie_domain: "example.test", allowed_redirect_hosts: ["*.example.test", "docs.example.org"] }), "test", {});
    expect(warnings).toContain(
      "sso.allowed_redirect_hosts[1]: docs.example.org is outside sso.cookie_domain (example.test): the single sign-on cookie is not sent there, so a person sent back there is not signed in by it",
    );
  });
});

describe("every portal sign-in sets the single sign-on cookie, which /authenticate accepts", () => {
  let dir: string;
  let app: TestApp;
  let whoAmI: WhoAmI;
  let idp: SsoIdp;
  const CLIENT_SECRET = "gatehouse-client-secret-0123456789";

  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-browser-sso-");
    whoAmI = startWhoAmI();
    whoAmI.users.set("good-key-0123456789", { uid: "emma" });
    idp = await startSsoIdp();
    idp.accounts.set("u-1001", { sub: "u-1001", preferred_username: "ada", email: "ada@example.org", email_verified: true, groups: ["/research/staff"] });
    const base = ssoAppConfig(dir);
    app = await startApp({
      ...base,
      providers: [
        ...base.providers,
        { type: "ecmwf-api", name: "ecmwf", realm: "ecmwf", uri: whoAmI.url },
        { type: "trusted-header", name: "front", realm: "georchestra", trusted_proxies: ["127.0.0.1/32", "::1"], create_accounts: true },
        { type: "oidc", name: "example-sso", realm: "sso", display_name: "Example SSO", issuer: idp.issuer, client_id: "gatehouse", client_secret: CLIENT_SECRET },
      ],
    });
    idp.configure([{ client_id: "gatehouse", client_secret: CLIENT_SECRET, redirect_uris: [`${app.url}/api/v1/auth/provider/example-sso/code`] }]);
  });
  afterAll(async () => {
    await app?.stop();
    whoAmI?.stop();
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const handles = (sessionOf: string) =>
    storedRows<{ kind: string }>(app, "SELECT h.kind FROM session_handles h WHERE h.session_id = ? ORDER BY h.kind", sessionOf);
  const sessionOfSso = async (sso: string) => {
    const rows = await storedRows<{ session_id: string }>(app, "SELECT session_id FROM session_handles WHERE kind = 'sso' AND hash = ?", new Bun.CryptoHasher("sha256").update(sso.split("=")[1]).digest("hex"));
    return rows[0]?.session_id;
  };

  test("the password form: a second opaque handle of the same session, for the whole domain, with every flag", async () => {
    const { response, sso, portal } = await signIn(app, "alice", "alice-pw");
    const cookies = cookiesOf(response);
    expect(cookies.get("__Secure-gatehouse_sso")!.line).toMatch(COOKIE_FLAGS);
    expect(cookies.get("__Secure-gatehouse_session")!.line).toMatch(/; Path=\/portal\/; Secure; HttpOnly; SameSite=Lax;/);
    // Never the portal's handle, never a JWT: an opaque value whose hash names the session, as the portal's.
    expect(sso.split("=")[1]).not.toBe(portal.split("=")[1]);
    expect(sso.split("=")[1]).not.toContain(".");
    const session = await sessionOfSso(sso);
    expect(session).toMatch(/^ses_/);
    expect(await handles(session!)).toEqual([{ kind: "portal" }, { kind: "sso" }]);
    const answer = await authenticate(app, { cookie: sso });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-auth-username")).toBe("alice");
    expect(answer.headers.get("x-auth-realm")).toBe("local");
    expect(answer.headers.get("authorization")).toStartWith("Bearer ");
    expect(await answer.text()).toBe("");
  });

  test("the API-key form sets it too", async () => {
    const response = await post(app, "/portal/sign-in", { provider: "ecmwf", api_key: "good-key-0123456789" });
    expect(response.status).toBe(303);
    const line = cookiesOf(response).get("__Secure-gatehouse_sso")!.line;
    expect(line).toMatch(COOKIE_FLAGS);
    const answer = await authenticate(app, { cookie: line.split(";")[0] });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-auth-username")).toBe("emma");
    expect(answer.headers.get("x-auth-realm")).toBe("ecmwf");
  });

  test("a trusted proxy's automatic sign-in sets it too", async () => {
    const response = await fetch(`${app.url}/portal/sign-in`, {
      redirect: "manual",
      headers: { ...NAVIGATION, "sec-georchestra-preauthenticated": "true", "preauth-username": "gabriel" },
    });
    expect(response.status).toBe(303);
    const line = cookiesOf(response).get("__Secure-gatehouse_sso")!.line;
    expect(line).toMatch(COOKIE_FLAGS);
    const answer = await authenticate(app, { cookie: line.split(";")[0] });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-auth-username")).toBe("gabriel");
  });

  test("an identity provider's sign-in sets it too, and comes back to the application's page asked for", async () => {
    idp.nextLogin = "u-1001";
    const rd = "https://app1.example.test:8443/dashboards/7?tab=latest";
    const jar = new Map<string, string>();
    let url = `${app.url}/portal/sign-in/example-sso?rd=${encodeURIComponent(rd)}`;
    let response: Response | null = null;
    for (let hops = 0; hops < 12 && !url.startsWith("https://app1."); hops++) {
      const origin = new URL(url).host;
      const cookie = [...jar].filter(([key]) => key.startsWith(`${origin} `)).map(([key, value]) => `${key.split(" ")[1]}=${value}`).join("; ");
      response = await fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
      for (const [name, { value }] of cookiesOf(response)) jar.set(`${origin} ${name}`, value);
      url = new URL(response.headers.get("location")!, url).href;
    }
    expect(url).toBe(rd);
    const line = cookiesOf(response!).get("__Secure-gatehouse_sso")!.line;
    expect(line).toMatch(COOKIE_FLAGS);
    const answer = await authenticate(app, { cookie: line.split(";")[0] });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-auth-username")).toBe("ada");
    expect(answer.headers.get("x-auth-realm")).toBe("sso");
  });

  test("an explicit Authorization header wins over the cookie, a wrong one included", async () => {
    const { sso } = await signIn(app, "alice", "alice-pw");
    const asRoot = await authenticate(app, { cookie: sso, authorization: basic("root", "root-pw") });
    expect(asRoot.status).toBe(200);
    expect(asRoot.headers.get("x-auth-username")).toBe("root");
    const wrong = await authenticate(app, { cookie: sso, authorization: basic("root", "nope") });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toBe('Basic realm="local", Bearer realm="ecmwf"');
  });

  test("X-Auth-Realm: the session's realm, or nothing", async () => {
    const { sso } = await signIn(app, "alice", "alice-pw");
    expect((await authenticate(app, { cookie: sso, "x-auth-realm": "local" })).status).toBe(200);
    expect((await authenticate(app, { cookie: sso, "x-auth-realm": "ecmwf" })).status).toBe(401);
  });

  test("unknown, forged, malformed, or the portal's own handle: refused like no credential, never a 500", async () => {
    const { portal } = await signIn(app, "alice", "alice-pw");
    const portalHandle = portal.split("=")[1];
    const values = [
      portalHandle, // the portal's handle is not a single sign-on handle (kinds apart)
      "gbs_000000000000000000000000000000000000", // right shape, wrong checksum
      `gbs_${"A".repeat(30)}ZZZZZZ`,
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln", // a JWT is no handle
      "",
      "%00%0d%0a",
      "x".repeat(5000),
    ];
    for (const value of values) {
      const answer = await authenticate(app, { cookie: `__Secure-gatehouse_sso=${value}` });
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).toBe('Basic realm="local", Bearer realm="ecmwf"');
      expect(answer.headers.get("location")).toBeNull();
      expect(await answer.text()).toBe("");
    }
    // A handle made up with a valid checksum is looked up, found nowhere, and refused.
    const { generateOpaqueToken, BROWSER_HANDLE_PREFIX } = await import("../src/tokens/format.ts");
    expect((await authenticate(app, { cookie: `__Secure-gatehouse_sso=${generateOpaqueToken(BROWSER_HANDLE_PREFIX)}` })).status).toBe(401);
  });

  test("sent over plain HTTP (the proxy says so): ignored, a browser never sends a Secure cookie there", async () => {
    const { sso } = await signIn(app, "alice", "alice-pw");
    expect((await authenticate(app, { cookie: sso, "x-forwarded-proto": "http" })).status).toBe(401);
    expect((await authenticate(app, { cookie: sso, "x-original-url": "http://app1.example.test/" })).status).toBe(401);
    expect((await authenticate(app, { cookie: sso, "x-original-url": "https://app1.example.test/" })).status).toBe(200);
  });

  test("Gatehouse's own routes do not take it: only /authenticate does (the portal has its own cookie and CSRF check)", async () => {
    const { sso, portal } = await signIn(app, "alice", "alice-pw");
    expect((await fetch(`${app.url}/whoami`, { headers: { cookie: sso } })).status).toBe(401);
    expect((await fetch(`${app.url}/api/v1/tokens`, { headers: { cookie: sso } })).status).toBe(401);
    const portalPage = await fetch(`${app.url}/portal/tokens`, { headers: { cookie: sso }, redirect: "manual" });
    expect(portalPage.status).toBe(303);
    expect(portalPage.headers.get("location")).toBe("/portal/sign-in?rd=tokens");
    // The portal's cookie, in turn, is no credential of /authenticate.
    expect((await authenticate(app, { cookie: portal })).status).toBe(401);
  });

  test("signing out clears the cookie with its Domain, and ends the session at the very next request, remembered answers included", async () => {
    const { sso, portal } = await signIn(app, "alice", "alice-pw");
    for (let i = 0; i < 3; i++) expect((await authenticate(app, { cookie: sso })).status).toBe(200);
    const csrf = await csrfOf(app, portal);
    const out = await post(app, "/portal/sign-out", { csrf }, { cookie: `${portal}; ${sso}` });
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/portal/sign-in?done=signed-out");
    expect(cookiesOf(out).get("__Secure-gatehouse_sso")!.line).toBe("__Secure-gatehouse_sso=; Domain=example.test; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    expect(cookiesOf(out).get("__Secure-gatehouse_session")!.line).toContain("Max-Age=0");
    expect((await authenticate(app, { cookie: sso })).status).toBe(401);
  });

  test("an admin revoking the session: the next request is refused", async () => {
    const { sso } = await signIn(app, "alice", "alice-pw");
    expect((await authenticate(app, { cookie: sso })).status).toBe(200);
    const session = await sessionOfSso(sso);
    const revoked = await fetch(`${app.url}/api/v1/auth/session/revoke/${session}`, { method: "DELETE", headers: { authorization: basic("root", "root-pw") } });
    expect(revoked.status).toBe(204);
    expect((await authenticate(app, { cookie: sso })).status).toBe(401);
  });

  test("gatehouse users end (another process): the next request is refused", async () => {
    const { sso } = await signIn(app, "alice", "alice-pw");
    for (let i = 0; i < 3; i++) expect((await authenticate(app, { cookie: sso })).status).toBe(200);
    const configPath = join(dir, "cli.yaml");
    writeFileSync(configPath, stringify(app.raw));
    // Not spawnSync: this process serves Gatehouse, which must hear of the change (PostgreSQL: its notification) meanwhile.
    const ended = Bun.spawn([process.execPath, "run", join(projectRoot, "src/main.ts"), "users", "end", "--user", "alice", "--realm", "local", "--config", configPath], {
      cwd: dir,
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await ended.exited).toBe(0);
    expect(await new Response(ended.stdout).text()).toMatch(/^alice@local: \d+ session\(s\) ended/);
    expect((await authenticate(app, { cookie: sso })).status).toBe(401);
  });
});

describe("the session's absolute limit", () => {
  const theApp = ssoApp("absolute", { authentication: { session_max_age: 2 } });

  test("however busy, the session ends at session_max_age: the request after it is refused", async () => {
    const app = theApp();
    const { response, sso } = await signIn(app, "alice", "alice-pw");
    expect(cookiesOf(response).get("__Secure-gatehouse_sso")!.line).toEndWith("; Max-Age=2");
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      expect((await authenticate(app, { cookie: sso })).status).toBe(200);
      await Bun.sleep(50);
    }
    await Bun.sleep(700);
    expect((await authenticate(app, { cookie: sso })).status).toBe(401);
  });
});

describe("the session's sliding lifetime", () => {
  // The user is re-read (and the inactivity limit slides) once the identity is older than 1 s; idle 3 s, the session ends.
  const theApp = ssoApp("sliding", { authentication: { access_token_max_age: 1, refresh_token_max_age: 3 } });

  test("using the cookie keeps the session alive; left idle past refresh_token_max_age, it ends", async () => {
    const app = theApp();
    const { sso } = await signIn(app, "alice", "alice-pw");
    for (let i = 0; i < 3; i++) {
      await Bun.sleep(1500);
      expect((await authenticate(app, { cookie: sso })).status).toBe(200); // 4.5 s after sign-in: slid
    }
    await Bun.sleep(3200);
    expect((await authenticate(app, { cookie: sso })).status).toBe(401);
  });
});

describe("a browser that is not signed in is sent to sign in; an API client never", () => {
  let dir: string;
  let app: TestApp;
  let plain: TestApp;
  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-browser-sso-nav-");
    app = await startApp(ssoAppConfig(dir));
    plain = await startApp({ ...portalConfig(join(dir, "plain")), include_legacy_headers: true, store: { enabled: true, path: join(dir, "plain.db") } });
  });
  afterAll(async () => {
    await app?.stop();
    await plain?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const expectedLocation = `${SIGN_IN}?rd=${encodeURIComponent("https://app1.example.test/reports/2024?page=2")}`;

  test("behind nginx (X-Original-URL): 401 with Location to the sign-in page and rd, body empty", async () => {
    const answer = await authenticate(app, { ...NAVIGATION, ...NGINX_ASKS });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("location")).toBe(expectedLocation);
    expect(answer.headers.get("www-authenticate")).toBe('Basic realm="local"');
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.headers.get("content-length")).toBe("0");
    expect(await answer.text()).toBe("");
  });

  test("behind nginx with the seed's block (Host and X-Original-URI): the same", async () => {
    const answer = await authenticate(app, { ...NAVIGATION, host: "app1.example.test", "x-original-uri": "/reports/2024?page=2" });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("location")).toBe(expectedLocation);
  });

  test("behind Caddy's forward_auth or Traefik's forwardAuth (X-Forwarded-*): a 302 straight to the sign-in page; 303 for a POST", async () => {
    const answer = await authenticate(app, { ...NAVIGATION, ...CADDY_ASKS });
    expect(answer.status).toBe(302);
    expect(answer.headers.get("location")).toBe(expectedLocation);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(await answer.text()).toBe("");
    const posted = await authenticate(app, { ...NAVIGATION, ...CADDY_ASKS, "x-forwarded-method": "POST" });
    expect(posted.status).toBe(303);
  });

  test("a navigation with an unknown or ended session's cookie is sent to sign in too", async () => {
    const answer = await authenticate(app, { ...NAVIGATION, ...NGINX_ASKS, cookie: "__Secure-gatehouse_sso=gbs_000000000000000000000000000000000000" });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("location")).toBe(expectedLocation);
  });

  test("API clients keep today's 401 and WWW-Authenticate, never a Location", async () => {
    const { "sec-fetch-site": _site, "sec-fetch-mode": _mode, "sec-fetch-dest": _dest, ...oldBrowser } = NAVIGATION;
    const clients: Record<string, string>[] = [
      { ...CADDY_ASKS }, // no Accept at all
      { ...CADDY_ASKS, accept: "*/*" }, // curl
      { ...CADDY_ASKS, accept: "application/json" },
      { ...NGINX_ASKS, accept: "application/json, text/plain, */*" }, // axios
      { ...NAVIGATION, ...CADDY_ASKS, authorization: "Bearer not-a-token" },
      { ...NAVIGATION, ...NGINX_ASKS, authorization: basic("alice", "wrong") },
      { ...NAVIGATION, ...NGINX_ASKS, "x-requested-with": "XMLHttpRequest" },
      { ...NAVIGATION, ...CADDY_ASKS, "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" }, // a page's fetch()
      { ...NAVIGATION, ...CADDY_ASKS, "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" },
      { ...NAVIGATION, ...CADDY_ASKS, "sec-fetch-dest": "iframe" },
      { ...CADDY_ASKS, accept: "text/html;q=0, application/json" },
    ];
    for (const headers of clients) {
      const answer = await authenticate(app, headers);
      expect({ headers, status: answer.status, location: answer.headers.get("location") }).toEqual({ headers, status: 401, location: null });
      expect(answer.headers.get("www-authenticate")).toBe('Basic realm="local"');
    }
    // A browser without Fetch Metadata (older, or a proxy that strips it), asking for a page: sent to sign in.
    expect((await authenticate(app, { ...oldBrowser, ...NGINX_ASKS })).headers.get("location")).toBe(expectedLocation);
  });

  test("without sso, a browser's navigation gets exactly today's answer", async () => {
    for (const asks of [NGINX_ASKS, CADDY_ASKS]) {
      const answer = await authenticate(plain, { ...NAVIGATION, ...asks });
      expect(answer.status).toBe(401);
      expect([...answer.headers.keys()].sort()).toEqual(["cache-control", "content-length", "date", "www-authenticate"]);
      expect(answer.headers.get("www-authenticate")).toBe('Basic realm="local"');
    }
  });
});

describe("after sign-in (and sign-out), back to rd only when it is an allowed https URL", () => {
  const theApp = ssoApp("rd");

  const signInWith = (rd: string) => post(theApp(), "/portal/sign-in", { provider: "local", username: "alice", password: "alice-pw", rd });

  test.each([
    ["https://app1.example.test/reports/2024?page=2", "https://app1.example.test/reports/2024?page=2"],
    ["https://APP2.Example.TEST:8443/x?y=1#top", "https://app2.example.test:8443/x?y=1#top"],
    ["https://example.test/", "https://example.test/"],
    ["https://app1.example.test/a/./b/../c", "https://app1.example.test/a/c"],
    ["http://localhost:3000/", "http://localhost:3000/"],
    ["tokens", "/portal/tokens"],
    ["sessions?done=revoked", "/portal/sessions?done=revoked"],
  ])("%p is followed, as %p", async (rd, location) => {
    const answer = await signInWith(rd);
    expect(answer.status).toBe(303);
    expect(answer.headers.get("location")).toBe(location);
  });

  // Each an open redirect of the advisories and oauth2-proxy's list (research/browser-sso.md §§ 1, 6).
  test.each([
    ["scheme-relative", "//evil.example/"],
    ["a look-alike host", "https://example.test.evil.example/"],
    ["no dot boundary", "https://badexample.test/"],
    ["a backslash before @ (userinfo to a URL parser, a path to others)", "https://evil.example\\@app1.example.test/"],
    ["javascript:", "javascript:alert(document.cookie)"],
    ["data:", "data:text/html,<script>alert(1)</script>"],
    ["a backslash", "https://app1.example.test\\.evil.example/"],
    ["a relative backslash path", "/\\evil.example"],
    ["a tab in the path", "https://app1.example.test/\t/evil.example"],
    ["CR LF", "https://app1.example.test/\r\nSet-Cookie: a=b"],
    ["a space", "https://app1.example.test/a b"],
    ["userinfo", "https://alice@app1.example.test/"],
    ["userinfo with the allowed host first", "https://app1.example.test:443@evil.example/"],
    ["an encoded slash in the host", "https://app1.example.test%2f@evil.example/"],
    ["an encoded @ in the host", "https://evil.example%40app1.example.test/"],
    ["encoded slashes in the path", "https://app1.example.test/%2f%2fevil.example"],
    ["an encoded backslash in the path", "https://app1.example.test/%5cevil.example"],
    ["an encoded tab in the path", "https://app1.example.test/%09/evil.example"],
    ["an encoded scheme", "https%3a%2f%2fevil.example"],
    ["one slash", "https:/app1.example.test/"],
    ["no slash", "https:app1.example.test"],
    ["three slashes", "https:///app1.example.test/"],
    ["plain http to a host that is not loopback", "http://app1.example.test/"],
    ["another scheme", "ftp://app1.example.test/"],
    ["a host not allowed", "https://evil.example/?rd=app1.example.test"],
    ["a fragment hiding the host", "https://evil.example#@app1.example.test"],
    ["a hexadecimal IPv4 address", "http://0x7f000001/"],
    ["an IPv6 literal", "https://[::1]/"],
    ["a trailing dot", "https://app1.example.test./"],
    ["a character outside ASCII", "https://app1.example.test\u3031evil.example/"],
    ["an empty host", "https:///"],
  ])("%s (%p): the portal's home, with a message", async (_why, rd) => {
    const answer = await signInWith(rd);
    expect(answer.status).toBe(303);
    expect(answer.headers.get("location")).toBe("/portal/?done=not-returned");
  });

  test("the home page says why it is there; the sign-in page keeps an allowed rd in its forms", async () => {
    const answer = await signInWith("https://evil.example/");
    const portal = `__Secure-gatehouse_session=${cookiesOf(answer).get("__Secure-gatehouse_session")!.value}`;
    const home = await fetch(`${theApp().url}/portal/?done=not-returned`, { headers: { cookie: portal } });
    expect(await home.text()).toContain("The page you came from is not one this portal may send you back to");
    const page = await (await fetch(`${theApp().url}/portal/sign-in?rd=${encodeURIComponent("https://app1.example.test/a?b=1&c=2")}`)).text();
    expect(page).toContain('<input type="hidden" name="rd" value="https://app1.example.test/a?b=1&amp;c=2">');
    const refused = await (await fetch(`${theApp().url}/portal/sign-in?rd=${encodeURIComponent("https://evil.example/")}`)).text();
    expect(refused).not.toContain('name="rd"');
  });

  test("the forms may end on an allowed host: CSP form-action names them (a browser applies it to a form's redirect)", async () => {
    const csp = (await fetch(`${theApp().url}/portal/sign-in`)).headers.get("content-security-policy")!;
    expect(csp).toContain("form-action 'self' https://example.test:* https://*.example.test:* https://localhost:* http://localhost:*;");
  });

  test("sign-out?rd= follows the same rule: an allowed page, else the sign-in page", async () => {
    for (const [rd, location] of [
      ["https://app2.example.test/bye", "https://app2.example.test/bye"],
      ["https://evil.example/", "/portal/sign-in?done=signed-out"],
      ["//evil.example", "/portal/sign-in?done=signed-out"],
    ]) {
      const signedIn = await signIn(theApp(), "alice", "alice-pw");
      const csrf = await csrfOf(theApp(), signedIn.portal);
      const out = await post(theApp(), "/portal/sign-out", { csrf, rd }, { cookie: `${signedIn.portal}; ${signedIn.sso}` });
      expect(out.status).toBe(303);
      expect(out.headers.get("location")).toBe(location);
      expect(cookiesOf(out).get("__Secure-gatehouse_sso")!.line).toContain("Domain=example.test; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
      expect((await authenticate(theApp(), { cookie: signedIn.sso })).status).toBe(401);
    }
  });

  test("an application's Sign out link (GET): signed in, a page whose button signs out (CSRF); signed out, straight back", async () => {
    const signedIn = await signIn(theApp(), "alice", "alice-pw");
    const rd = encodeURIComponent("https://app1.example.test/");
    const page = await fetch(`${theApp().url}/portal/sign-out?rd=${rd}`, { headers: { cookie: `${signedIn.portal}; ${signedIn.sso}` } });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain('<form method="post" action="sign-out" class="stack"><input type="hidden" name="csrf" value="');
    expect(text).toContain('<input type="hidden" name="rd" value="https://app1.example.test/">');
    // The GET itself ended nothing.
    expect((await authenticate(theApp(), { cookie: signedIn.sso })).status).toBe(200);
    const notSignedIn = await fetch(`${theApp().url}/portal/sign-out?rd=${rd}`, { redirect: "manual" });
    expect(notSignedIn.status).toBe(303);
    expect(notSignedIn.headers.get("location")).toBe("https://app1.example.test/");
    const elsewhere = await fetch(`${theApp().url}/portal/sign-out?rd=${encodeURIComponent("https://evil.example/")}`, { redirect: "manual" });
    expect(elsewhere.headers.get("location")).toBe("/portal/sign-in?done=signed-out");
  });
});

describe("allowedReturnUrl, the rule itself", () => {
  const allowed = ["example.org", "*.example.org"].map(parseHostPattern) as HostPattern[];
  test("hosts by name, case-insensitively, whatever the port; * only below", () => {
    expect(allowedReturnUrl("https://EXAMPLE.org:444/", allowed)).toBe("https://example.org:444/");
    expect(allowedReturnUrl("https://a.b.example.org/", allowed)).toBe("https://a.b.example.org/");
    expect(allowedReturnUrl("https://xexample.org/", allowed)).toBeNull();
    expect(allowedReturnUrl("https://example.org.evil.example/", allowed)).toBeNull();
    expect(allowedReturnUrl("https://example.com/", allowed)).toBeNull();
    expect(allowedReturnUrl("https://org/", allowed)).toBeNull();
    expect(allowedReturnUrl("https://example.org/", [parseHostPattern("*.example.org") as HostPattern])).toBeNull();
  });
  test("whitespace anywhere, the ends included (the portal's forms trim theirs first)", () => {
    for (const rd of [" https://example.org/", "https://example.org/ ", "\thttps://example.org/", "https://example.org/\n"]) expect(allowedReturnUrl(rd, allowed)).toBeNull();
  });
});
