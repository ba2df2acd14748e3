// Signing in with an identity provider (issue 21, §§ 1-3, 6): an `oidc`
// provider against panva's oidc-provider on loopback. The portal's button,
// Tiled's external mode (the refresh token page, and a refresh that works),
// the handshake, accounts keyed by (provider, issuer, sub), and every refusal
// the flow must make: state, browser binding, code replay, nonce, issuer,
// audience, algorithms, the provider's own refusal, the provider down.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { generateKeyPair } from "jose";
import { logEvents, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { portalConfig } from "./helpers/portal.ts";
import { storedExec, storedRows } from "./helpers/stored.ts";
import { CLIENT_SECRET, HttpBrowser as Browser, exampleSsoProvider, startSsoIdp, type SsoIdp } from "./helpers/sso-idp.ts";
import { buildConfig } from "../src/config/load.ts";

setDefaultTimeout(30_000);

const ADA = { sub: "u-1001", preferred_username: "ada", email: "ada@example.org", email_verified: true, name: "Ada L", groups: ["/research/admins", "/research/staff"] };
const BEA = { sub: "u-1002", preferred_username: "bea", email: "bea@example.org", email_verified: false, groups: [] };
const CAT = { sub: "u-1003", preferred_username: "cat", email: "cat@example.org", email_verified: true, groups: ["/research/staff"] };
const IMPOSTOR = { sub: "u-9999", preferred_username: "cat", email: "other@example.org", email_verified: true };

const ssoProvider = (idp: SsoIdp, extra: Record<string, unknown> = {}) =>
  exampleSsoProvider(idp, { role_mapping: { "/research/admins": "admin" }, required_claims: { email_verified: true }, ...extra });

describe("signing in with an identity provider", () => {
  let dir: string;
  let app: TestApp;
  let idp: SsoIdp;

  beforeAll(async () => {
    idp = await startSsoIdp();
    for (const account of [ADA, BEA, CAT, IMPOSTOR]) idp.accounts.set(account.sub, account);
    dir = temporaryDirectory("gatehouse-sso-");
    const base = portalConfig(dir);
    app = await startApp({ ...base, providers: [...base.providers, ssoProvider(idp)] });
    idp.configure([{ client_id: "gatehouse", client_secret: CLIENT_SECRET, redirect_uris: [`${app.url}/api/v1/auth/provider/example-sso/code`] }]);
  });
  afterAll(async () => {
    await app?.stop();
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function signInToPortal(account: string, rd?: string) {
    const browser = new Browser();
    idp.nextLogin = account;
    const start = `${app.url}/portal/sign-in/example-sso${rd ? `?rd=${encodeURIComponent(rd)}` : ""}`;
    const { response, url } = await browser.follow(start, (next) => next.startsWith(`${app.url}/portal/`) && !next.includes("/sign-in/"));
    return { browser, response, url };
  }

  test("the portal's button: to the provider and back, signed in, with roles from the groups claim", async () => {
    const signInPage = await (await fetch(`${app.url}/portal/sign-in`)).text();
    expect(signInPage).toContain('<a class="button" href="sign-in/example-sso">Sign in with Example SSO</a>');
    const { browser, url } = await signInToPortal(ADA.sub, "tokens");
    expect(url).toBe(`${app.url}/portal/tokens`);
    const home = await browser.get(`${app.url}/portal/`);
    expect(home.status).toBe(200);
    const text = await home.text();
    expect(text).toContain("<dt>Username</dt><dd>ada</dd>");
    expect(text).toContain("<dt>Realm</dt><dd>sso</dd>");
    expect(text).toContain("<dt>Signed in with</dt><dd>example-sso</dd>");
    expect(text).toContain("admin, /research/staff");
    // The flow's cookie is gone, and the store keeps only hashes of the flow.
    expect(browser.cookie(app.url, "gatehouse_flow")).toBeUndefined();
    expect(await storedRows(app, "SELECT * FROM sign_in_flows")).toEqual([]);
    const [account] = await storedRows<{ subject: string; issuer: string; provider: string }>(app, "SELECT provider, issuer, subject FROM external_accounts WHERE subject = 'u-1001'");
    expect(account).toEqual({ provider: "example-sso", issuer: idp.issuer, subject: "u-1001" });
  });

  test("the request sent to the provider: PKCE S256, state, nonce, the redirect URI; the code exchanged once", async () => {
    const response = await fetch(`${app.url}/api/v1/auth/provider/example-sso/authorize`, { redirect: "manual" });
    expect(response.status).toBe(302);
    const url = new URL(response.headers.get("location")!);
    expect(url.origin + url.pathname).toBe(`${idp.origin}/realms/research/protocol/openid-connect/auth`);
    const params = Object.fromEntries(url.searchParams);
    expect(params).toMatchObject({
      client_id: "gatehouse",
      response_type: "code",
      redirect_uri: `${app.url}/api/v1/auth/provider/example-sso/code`,
      scope: "openid profile email groups",
      code_challenge_method: "S256",
    });
    expect(params.state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const flowCookie = response.headers.get("set-cookie")!;
    expect(flowCookie).toMatch(/^gatehouse_flow=[A-Za-z0-9_-]{43}; Path=\/api\/v1\/auth\/provider\/example-sso\/; HttpOnly; SameSite=Lax; Max-Age=600$/);
    // Nothing in the store could finish it: hashes only, and neither the state nor the cookie's secret.
    const rows = await storedRows<Record<string, unknown>>(app, "SELECT * FROM sign_in_flows");
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(params.state);
    expect(stored).not.toContain(flowCookie.split(";")[0].split("=")[1]);
  });

  test("Tiled's external mode: the handshake, the refresh token page, and a refresh that keeps the provider's roles", async () => {
    const about = (await (await fetch(`${app.url}/api/v1/`)).json()) as any;
    const listed = about.authentication.providers.find((provider: { provider: string }) => provider.provider === "example-sso");
    expect(listed).toEqual({
      provider: "example-sso",
      mode: "external",
      links: { auth_endpoint: `${app.url}/api/v1/auth/provider/example-sso/authorize` },
      confirmation_message: null,
    });
    const browser = new Browser();
    idp.nextLogin = ADA.sub;
    const { response } = await browser.follow(`${app.url}/api/v1/auth/provider/example-sso/authorize`);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const page = await response.text();
    const refreshToken = page.match(/id="secret" class="secret" value="(gtr_[^"]+)"/)![1];
    const refreshed = await fetch(`${app.url}/api/v1/auth/session/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    expect(refreshed.status).toBe(200);
    const tokens = (await refreshed.json()) as any;
    const me = (await (await fetch(`${app.url}/whoami`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json()) as any;
    expect(me.username).toBe("ada");
    expect(me.realm).toBe("sso");
    expect(me.roles).toEqual(expect.arrayContaining(["admin", "/research/staff"]));
  });

  test("an API token made in such a session carries the roles the provider gave, and lives at most a day", async () => {
    const browser = new Browser();
    idp.nextLogin = ADA.sub;
    const page = await (await browser.follow(`${app.url}/api/v1/auth/provider/example-sso/authorize`)).response.text();
    const refreshToken = page.match(/value="(gtr_[^"]+)"/)![1];
    const session = (await (
      await fetch(`${app.url}/api/v1/auth/session/refresh`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: refreshToken }) })
    ).json()) as any;
    const created = await fetch(`${app.url}/api/v1/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${session.access_token}`, "content-type": "application/json" },
      body: JSON.stringify({ note: "from sso", expires_in: 30 * 86400 }),
    });
    expect(created.status).toBe(201);
    const token = (await created.json()) as any;
    expect(Date.parse(token.expires_at) - Date.parse(token.created_at)).toBe(86_400_000);
    const me = (await (await fetch(`${app.url}/whoami`, { headers: { authorization: `Bearer ${token.token}` } })).json()) as any;
    expect(me).toMatchObject({ username: "ada", realm: "sso" });
    expect(me.roles).toEqual(expect.arrayContaining(["admin", "/research/staff"]));
  });

  test("a session made this way lives at most unverifiable_max_age: Gatehouse cannot ask the provider later", async () => {
    const browser = new Browser();
    idp.nextLogin = CAT.sub;
    const { response } = await browser.follow(`${app.url}/api/v1/auth/provider/example-sso/authorize`);
    expect(response.status).toBe(200);
    const [session] = await storedRows<{ created_at: number; expires_at: number }>(
      app,
      "SELECT s.created_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'cat' AND u.realm = 'sso'",
    );
    expect(Number(session.expires_at) - Number(session.created_at)).toBe(86_400_000);
  });

  test("the password form does not take an identity provider's name", async () => {
    const answer = await fetch(`${app.url}/api/v1/auth/provider/example-sso/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "username=ada&password=x",
    });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as any).detail).toContain("/authorize");
  });

  describe("refusals, each a page in words, never a 500", () => {
    /** Starts a flow in `browser` and stops at the provider's redirect back: the callback URL, not yet called. */
    async function callbackUrl(browser: Browser, account: string | "deny", start = `${app.url}/api/v1/auth/provider/example-sso/authorize`) {
      idp.nextLogin = account;
      const { url } = await browser.follow(start, (next) => next.startsWith(`${app.url}/api/v1/auth/provider/`) && next.includes("/code"));
      return url;
    }

    test("a replayed state (the same answer twice) is refused the second time", async () => {
      const browser = new Browser();
      const url = await callbackUrl(browser, ADA.sub);
      const flowSecret = browser.cookie(app.url, "gatehouse_flow")!;
      expect((await browser.get(url)).status).toBe(200);
      const again = await fetch(url, { headers: { cookie: `gatehouse_flow=${flowSecret}` } });
      expect(again.status).toBe(400);
      expect(await again.text()).toContain("unknown or was already used");
    });

    test("a wrong or missing state is refused", async () => {
      const browser = new Browser();
      const url = new URL(await callbackUrl(browser, ADA.sub));
      url.searchParams.set("state", "x".repeat(43));
      expect((await browser.get(url.href)).status).toBe(400);
      url.searchParams.delete("state");
      const missing = await browser.get(url.href);
      expect(missing.status).toBe(400);
      expect(await missing.text()).toContain("no state");
    });

    test("an answer brought by another browser (no flow cookie, or another one) is refused: nobody finishes someone else's sign-in", async () => {
      const victim = new Browser();
      const url = await callbackUrl(victim, ADA.sub);
      const stranger = await fetch(url);
      expect(stranger.status).toBe(400);
      expect(await stranger.text()).toContain("another browser");
      const other = new Browser();
      await callbackUrl(other, CAT.sub);
      const mixed = await fetch(url, { headers: { cookie: `gatehouse_flow=${other.cookie(app.url, "gatehouse_flow")}` } });
      expect(mixed.status).toBe(400);
    });

    test("a code replayed into a new flow is refused by the provider (PKCE and single use)", async () => {
      const browser = new Browser();
      const first = new URL(await callbackUrl(browser, ADA.sub));
      expect((await browser.get(first.href)).status).toBe(200);
      const second = new URL(await callbackUrl(browser, ADA.sub));
      second.searchParams.set("code", first.searchParams.get("code")!);
      const replayed = await browser.get(second.href);
      expect(replayed.status).toBe(400);
      expect(await replayed.text()).toContain("invalid_grant");
    });

    test("an expired flow is refused", async () => {
      const browser = new Browser();
      const url = await callbackUrl(browser, ADA.sub);
      await storedExec(app, "UPDATE sign_in_flows SET expires_at = 0");
      const late = await browser.get(url);
      expect(late.status).toBe(400);
      expect(await late.text()).toContain("took too long");
    });

    test("the provider's refusal (access_denied) is a page saying so", async () => {
      const browser = new Browser();
      const url = await callbackUrl(browser, "deny");
      expect(new URL(url).searchParams.get("error")).toBe("access_denied");
      const answer = await browser.get(url);
      expect(answer.status).toBe(403);
      expect(await answer.text()).toContain("You did not allow the sign-in");
    });

    test("a person who does not carry a required claim (email_verified) is refused, with no account made", async () => {
      const browser = new Browser();
      const answer = await browser.get(await callbackUrl(browser, BEA.sub));
      expect(answer.status).toBe(403);
      expect(await answer.text()).toContain("does not meet this server&#39;s requirements (email_verified)");
      expect(await storedRows(app, "SELECT * FROM users WHERE username = 'bea'")).toEqual([]);
    });

    test("a subject whose username another account already has: refused, never merged", async () => {
      const owner = new Browser();
      expect((await owner.get(await callbackUrl(owner, CAT.sub))).status).toBe(200);
      const impostor = new Browser();
      const answer = await impostor.get(await callbackUrl(impostor, IMPOSTOR.sub));
      expect(answer.status).toBe(409);
      expect(await answer.text()).toContain("already used by another account");
      const links = await storedRows<{ subject: string }>(app, "SELECT e.subject FROM external_accounts e JOIN users u ON u.id = e.user_id WHERE u.username = 'cat'");
      expect(links).toEqual([{ subject: "u-1003" }]);
    });

    const tampered: [string, Parameters<typeof Object.assign>[1]][] = [
      ["an ID token from another issuer", { claims: { iss: "https://evil.example/realms/research" } }],
      ["an ID token for another client", { claims: { aud: "someone-else", azp: "someone-else" } }],
      ["an ID token with another nonce", { claims: { nonce: "not-the-flows-nonce" } }],
      ["an expired ID token", { claims: { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 } }],
      ["an ID token with alg none", { header: { alg: "none" } }],
      ["an HS256 ID token keyed with the client secret", { header: { alg: "HS256" }, key: new TextEncoder().encode(CLIENT_SECRET) }],
    ];
    for (const [what, change] of tampered) {
      test(`${what} is refused`, async () => {
        const browser = new Browser();
        const url = await callbackUrl(browser, ADA.sub);
        idp.tamper = change as SsoIdp["tamper"];
        try {
          const answer = await browser.get(url);
          expect([what, answer.status]).toEqual([what, 502]);
          expect(await answer.text()).toContain("did not pass this server");
          // oauth4webapi's check (claims, timestamps, algorithm) said no, not something else on the way.
          const refusals = logEvents(app).filter((line) => line.event === "sign_in.refused");
          expect(refusals.at(-1)?.reason).toStartWith("id_token:");
        } finally {
          idp.tamper = null;
        }
      });
    }

    test("an ID token signed by a key the provider does not publish is refused", async () => {
      const { privateKey } = await generateKeyPair("RS256");
      const browser = new Browser();
      const url = await callbackUrl(browser, ADA.sub);
      idp.tamper = { key: privateKey };
      try {
        const answer = await browser.get(url);
        expect(answer.status).toBe(502);
        expect(await answer.text()).toContain("signature is not valid");
      } finally {
        idp.tamper = null;
      }
    });

    test("the provider down: a page that says so, within auth.timeout_in_ms", async () => {
      const browser = new Browser();
      const url = await callbackUrl(browser, ADA.sub);
      await idp.down();
      try {
        const started = Date.now();
        const answer = await browser.get(url);
        expect(answer.status).toBe(502);
        expect(await answer.text()).toContain("could not be reached");
        expect(Date.now() - started).toBeLessThan(5000);
      } finally {
        await idp.up();
      }
    });

    test("an unknown provider name", async () => {
      for (const path of ["/portal/sign-in/nobody", "/api/v1/auth/provider/nobody/authorize", "/api/v1/auth/provider/nobody/code?code=x&state=y"]) {
        const answer = await fetch(`${app.url}${path}`, { redirect: "manual" });
        expect([path, answer.status]).toEqual([path, 404]);
      }
    });
  });
});

describe("two identity providers at once, one without discovery", () => {
  let dir: string;
  let app: TestApp;
  let research: SsoIdp;
  let orcid: SsoIdp;

  beforeAll(async () => {
    research = await startSsoIdp();
    orcid = await startSsoIdp({ realm: "orcid" });
    research.accounts.set(ADA.sub, ADA);
    orcid.accounts.set("0000-0002-1825-0097", { sub: "0000-0002-1825-0097", name: "Josiah Carberry" });
    dir = temporaryDirectory("gatehouse-sso-two-");
    const base = portalConfig(dir);
    const endpoints = (path: string) => `${orcid.origin}/realms/orcid/protocol/openid-connect${path}`;
    app = await startApp({
      ...base,
      providers: [
        ...base.providers,
        ssoProvider(research),
        {
          // ORCID-shaped: OAuth 2 with OpenID scopes, endpoints named, the ORCID iD as the username.
          type: "oidc",
          name: "orcid",
          realm: "orcid",
          display_name: "ORCID",
          issuer: orcid.issuer,
          client_id: "APP-GATEHOUSE",
          client_secret: "orcid-secret-0123456789abcdef",
          client_authentication: "client_secret_post",
          scopes: ["openid"],
          username_claim: "sub",
          authorization_endpoint: endpoints("/auth"),
          token_endpoint: endpoints("/token"),
          jwks_uri: endpoints("/certs"),
        },
      ],
    });
    research.configure([{ client_id: "gatehouse", client_secret: CLIENT_SECRET, redirect_uris: [`${app.url}/api/v1/auth/provider/example-sso/code`] }]);
    orcid.configure([{ client_id: "APP-GATEHOUSE", client_secret: "orcid-secret-0123456789abcdef", redirect_uris: [`${app.url}/api/v1/auth/provider/orcid/code`] }]);
  });
  afterAll(async () => {
    await app?.stop();
    await research?.stop();
    await orcid?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the provider without discovery signs in through its named endpoints, and is never asked for discovery", async () => {
    const browser = new Browser();
    orcid.nextLogin = "0000-0002-1825-0097";
    const { url } = await browser.follow(`${app.url}/portal/sign-in/orcid`, (next) => next === `${app.url}/portal/`);
    expect(url).toBe(`${app.url}/portal/`);
    const page = await (await browser.get(`${app.url}/portal/`)).text();
    expect(page).toContain("<dt>Username</dt><dd>0000-0002-1825-0097</dd>");
    expect(page).toContain("<dt>Realm</dt><dd>orcid</dd>");
    expect(orcid.requests.some((path) => path.includes(".well-known"))).toBe(false);
    const signIn = await (await fetch(`${app.url}/portal/sign-in`)).text();
    expect(signIn).toContain("Sign in with Example SSO");
    expect(signIn).toContain("Sign in with ORCID");
  });

  test("mix-up: one provider's answer delivered to the other's redirect URI is refused", async () => {
    const browser = new Browser();
    research.nextLogin = ADA.sub;
    const { url } = await browser.follow(`${app.url}/api/v1/auth/provider/example-sso/authorize`, (next) => next.includes("/code?"));
    const secret = browser.cookie(app.url, "gatehouse_flow")!;
    const elsewhere = url.replace("/provider/example-sso/code", "/provider/orcid/code");
    const answer = await fetch(elsewhere, { headers: { cookie: `gatehouse_flow=${secret}` } });
    expect(answer.status).toBe(400);
    expect(await answer.text()).toContain("unknown or was already used");
  });

  test("mix-up (RFC 9207): an answer whose iss names another provider is refused", async () => {
    const browser = new Browser();
    research.nextLogin = ADA.sub;
    const { url } = await browser.follow(`${app.url}/api/v1/auth/provider/example-sso/authorize`, (next) => next.includes("/code?"));
    const callback = new URL(url);
    expect(callback.searchParams.get("iss")).toBe(research.issuer);
    callback.searchParams.set("iss", orcid.issuer);
    const answer = await browser.get(callback.href);
    expect(answer.status).toBe(400);
    expect(await answer.text()).toContain("does not belong to this sign-in");
  });
});

describe("config check of oidc providers", () => {
  const base = (provider: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    version: "2.0.0",
    providers: [{ type: "oidc", name: "sso", realm: "sso", issuer: "https://sso.example.org/realms/research", client_id: "gatehouse", ...provider }],
    jwt: { iss: "test", secret: "0123456789abcdef0123456789abcdef" },
    store: { enabled: true, path: ":memory:" },
    ...extra,
  });

  test("a valid block passes, with a warning when public_url is not set", () => {
    const loaded = buildConfig(base({}), "test", {});
    expect(loaded.warnings.some((warning) => warning.startsWith("public_url: not set, so the redirect URI of sso"))).toBe(true);
    expect(buildConfig(base({}, { public_url: "https://auth.example.org" }), "test", {}).warnings.filter((warning) => warning.startsWith("public_url"))).toEqual([]);
  });

  test("refused: no openid scope, some explicit endpoints without the others, a plain-http issuer off loopback, a symmetric algorithm, no store", () => {
    const refusals: [Record<string, unknown>, RegExp, Record<string, unknown>?][] = [
      [{ scopes: ["profile"] }, /scopes: must include "openid"/],
      [{ authorization_endpoint: "https://orcid.org/oauth/authorize" }, /token_endpoint, jwks_uri: required with authorization_endpoint/],
      [{ issuer: "http://sso.example.org" }, /issuer/],
      [{ id_token_algorithms: ["RS256", "HS256"] }, /id_token_algorithms: HS256 not accepted/],
      [{}, /make sessions, which need the store/, { store: { enabled: false } }],
    ];
    for (const [provider, message, extra] of refusals) {
      expect(() => buildConfig(base(provider, extra), "test", {})).toThrow(message);
    }
  });
});

describe("recheck_on_refresh: the identity provider is asked again at each session refresh", () => {
  let dir: string;
  let app: TestApp;
  let idp: SsoIdp;
  const DEE = { sub: "u-2001", preferred_username: "dee", email: "dee@example.org", email_verified: true, groups: ["/research/staff"] };

  beforeAll(async () => {
    idp = await startSsoIdp();
    idp.accounts.set(DEE.sub, { ...DEE });
    dir = temporaryDirectory("gatehouse-sso-recheck-");
    const base = portalConfig(dir);
    app = await startApp({ ...base, providers: [...base.providers, ssoProvider(idp, { recheck_on_refresh: true })] });
    idp.configure([{ client_id: "gatehouse", client_secret: CLIENT_SECRET, redirect_uris: [`${app.url}/api/v1/auth/provider/example-sso/code`] }]);
  });
  afterAll(async () => {
    await app?.stop();
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const refresh = async (refreshToken: string) =>
    fetch(`${app.url}/api/v1/auth/session/refresh`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: refreshToken }) });
  const whoami = async (token: string) => (await (await fetch(`${app.url}/whoami`, { headers: { authorization: `Bearer ${token}` } })).json()) as any;

  test("roles follow the provider at each refresh; a person disabled there loses the session and the tokens made in it", async () => {
    const browser = new Browser();
    idp.nextLogin = DEE.sub;
    const page = await (await browser.follow(`${app.url}/api/v1/auth/provider/example-sso/authorize`)).response.text();
    let refreshToken = page.match(/value="(gtr_[^"]+)"/)![1];
    // Kept sealed with the master key, never as the provider gave it.
    const [account] = await storedRows<{ refresh_token_sealed: string }>(app, "SELECT refresh_token_sealed FROM external_accounts WHERE subject = 'u-2001'");
    expect(account.refresh_token_sealed).toMatch(/^v1\./);
    // Asked again, so not capped at unverifiable_max_age.
    const [session] = await storedRows<{ created_at: number; expires_at: number }>(app, "SELECT s.created_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'dee'");
    expect(Number(session.expires_at) - Number(session.created_at)).toBeGreaterThan(86_400_000);

    idp.accounts.set(DEE.sub, { ...DEE, groups: ["/research/admins"] });
    let answer = await refresh(refreshToken);
    expect(answer.status).toBe(200);
    let tokens = (await answer.json()) as any;
    refreshToken = tokens.refresh_token;
    const roles = (await whoami(tokens.access_token)).roles;
    expect(roles).toContain("admin");
    expect(roles).not.toContain("/research/staff");
    const made = (await (
      await fetch(`${app.url}/api/v1/tokens`, { method: "POST", headers: { authorization: `Bearer ${tokens.access_token}`, "content-type": "application/json" }, body: "{}" })
    ).json()) as any;
    expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${made.token}` } })).status).toBe(200);

    idp.accounts.delete(DEE.sub); // disabled at the provider
    answer = await refresh(refreshToken);
    expect(answer.status).toBe(401);
    const [ended] = await storedRows<{ revoked_reason: string }>(app, "SELECT s.revoked_reason FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'dee'");
    expect(ended.revoked_reason).toBe("user no longer known");
    expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${made.token}` } })).status).toBe(401);
  });

  test("the provider down at a refresh: 503, and the session stays for the next try", async () => {
    idp.accounts.set(DEE.sub, { ...DEE });
    const browser = new Browser();
    idp.nextLogin = DEE.sub;
    const page = await (await browser.follow(`${app.url}/api/v1/auth/provider/example-sso/authorize`)).response.text();
    const refreshToken = page.match(/value="(gtr_[^"]+)"/)![1];
    await idp.down();
    try {
      expect((await refresh(refreshToken)).status).toBe(503);
    } finally {
      await idp.up();
    }
    expect((await refresh(refreshToken)).status).toBe(200);
  });
});
