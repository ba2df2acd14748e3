// Sessions through HTTP, as a Tiled client drives them: discovery, login
// (password and upstream API key), access tokens on /authenticate, refresh
// with rotation and reuse detection, the sliding and absolute limits,
// revocation, whoami, Tiled's API-key routes, and what the database keeps.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { basic, startApp, type TestApp } from "./helpers/app.ts";
import { storedRow, storedRows, storedText } from "./helpers/stored.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { UNKNOWN_CLIENT } from "../src/identity/client.ts";
import { startWhoAmI, type WhoAmI } from "./helpers/who-am-i.ts";

const SECRET = "sessions-test-secret-0123456789abcdef";
const ALICE = basic("alice", "alice-pw");
const BOB = basic("bob", "bob-pw");
const ROOT = basic("root", "root-pw");
const ECMWF_KEY = "0123456789abcdef0123456789abcdef";
const EXPIRED_ACCESS = "Access token has expired. Refresh token.";
const SESSION_EXPIRED = "Session has expired. Please re-authenticate.";
const DAY = 86_400_000;

/** Every secret handed out here, for the scans of the logs and the database file. */
const secrets: string[] = [];
let whoAmI: WhoAmI;

function config(dir: string, overrides: { authentication?: object; aliceRoles?: string[]; withoutAlice?: boolean; store?: object } = {}) {
  const users: object[] = [
    { username: "bob", password: "bob-pw" },
    { username: "root", password: "root-pw", roles: ["admin"] },
  ];
  if (!overrides.withoutAlice) users.push({ username: "alice", password: "alice-pw", roles: overrides.aliceRoles ?? ["ops"] });
  return {
    version: "2.0.0",
    logging: { level: "info", format: "json" },
    providers: [
      { type: "plain", name: "local", realm: "local", users },
      { type: "ecmwf-api", name: "ecmwf", realm: "ecmwf", uri: whoAmI.url, cache_seconds: 0 },
    ],
    augmenters: [{ type: "plain", name: "staff", realm: "local", roles: { staff: ["alice", "bob"] } }],
    jwt: { iss: "gatehouse-test", exp: 600, secret: SECRET },
    include_legacy_headers: true,
    store: { enabled: true, path: join(dir, "gatehouse.db"), ...overrides.store },
    services: [
      { name: "ecflow", scopes: ["read", "write"] },
      { name: "tiled", scopes: ["read"] },
    ],
    authentication: overrides.authentication ?? {},
    // The tests stand in for the reverse proxy, on loopback.
    trusted_proxies: ["127.0.0.1", "::1"],
  };
}

interface Call {
  authorization?: string;
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
}

async function call(app: TestApp, method: string, path: string, options: Call = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.authorization) headers.authorization = options.authorization;
  let body: string | URLSearchParams | undefined;
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = new URLSearchParams(options.form);
  }
  const response = await fetch(`${app.url}${path}`, { method, headers, body });
  const text = await response.text();
  const json = text ? JSON.parse(text) : undefined;
  for (const key of ["access_token", "refresh_token", "secret"]) if (typeof json?.[key] === "string") secrets.push(json[key]);
  return { status: response.status, headers: response.headers, json, text };
}

const login = (app: TestApp, username = "alice", password = `${username}-pw`, headers: Record<string, string> = {}) =>
  call(app, "POST", "/api/v1/auth/provider/local/token", { form: { username, password }, headers });

async function loggedIn(app: TestApp, username = "alice") {
  const response = await login(app, username);
  expect(response.status).toBe(200);
  return response.json as { access_token: string; refresh_token: string; expires_in: number; refresh_token_expires_in: number };
}

const refresh = (app: TestApp, refreshToken: string) => call(app, "POST", "/api/v1/auth/session/refresh", { json: { refresh_token: refreshToken } });
const authenticate = (app: TestApp, authorization: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/authenticate`, { headers: { authorization, ...headers } });
const bearer = (token: string) => `Bearer ${token}`;

async function claimsOf(response: Response) {
  expect(response.status).toBe(200);
  const jwt = response.headers.get("authorization")!.slice("Bearer ".length);
  return (await jwtVerify(jwt, new TextEncoder().encode(SECRET), { issuer: "gatehouse-test" })).payload;
}

function auditEvents(app: TestApp, event: string): Promise<Record<string, any>[]> {
  return storedRows(app, "SELECT * FROM audit_log WHERE event = ? ORDER BY id", event);
}

/** A server of its own, for a test that needs other settings or a store to itself. */
async function withApp(name: string, overrides: Parameters<typeof config>[1], work: (own: TestApp) => Promise<void>) {
  const own = await startApp(config(temporaryDirectory(`gatehouse-sessions-${name}-`), overrides));
  try {
    await work(own);
  } finally {
    await own.stop();
  }
}

let dir: string;
let app: TestApp;

beforeAll(async () => {
  whoAmI = startWhoAmI();
  whoAmI.users.set(ECMWF_KEY, { uid: "ecuser", email: "ecuser@example.org" });
  dir = temporaryDirectory("gatehouse-sessions-");
  app = await startApp(config(dir));
});
afterAll(async () => {
  await app?.stop();
  whoAmI.stop();
});

describe("Tiled's scenario 1, end to end", () => {
  test("discovery, login, a request through /authenticate, expiry, refresh, the new token, logout", async () => {
    await withApp("seed", { authentication: { access_token_max_age: 2 } }, async (own) => {
      // The handshake says authentication is required and where to POST credentials.
      const discovery = await call(own, "GET", "/api/v1/");
      expect(discovery.status).toBe(200);
      const { authentication } = discovery.json;
      expect(authentication.required).toBe(true);
      const local = authentication.providers.find((provider: any) => provider.provider === "local");
      expect(local).toEqual({
        provider: "local",
        mode: "internal",
        links: { auth_endpoint: `${own.url}/api/v1/auth/provider/local/token` },
        confirmation_message: null,
    });

    // Exchange username/password for access and refresh tokens (an OAuth2 password form, as httpie --form sends it).
    const loginResponse = await fetch(local.links.auth_endpoint, {
      method: "POST",
      body: new URLSearchParams({ username: "alice", password: "alice-pw" }),
    });
    expect(loginResponse.status).toBe(200);
    const tokens = (await loginResponse.json()) as Record<string, any>;
    secrets.push(tokens.access_token, tokens.refresh_token);
    expect(tokens).toMatchObject({ expires_in: 2, refresh_token_expires_in: 604800, token_type: "bearer" });
    expect(tokens.identity).toEqual({ id: "alice", provider: "local" });
    expect(tokens.principal).toBe("local-alice");
    expect(tokens.refresh_token).toMatch(/^gtr_[0-9A-Za-z]{36}$/);

    // An authenticated request through nginx's auth_request: the backend's JWT names alice.
    const first = await authenticate(own, bearer(tokens.access_token));
    expect(first.status).toBe(200);
    expect(await first.text()).toBe("");
    expect(await claimsOf(first)).toMatchObject({ sub: "local-alice", username: "alice", realm: "local", roles: ["ops", "staff"], scopes: {} });
    expect(first.headers.get("x-auth-username")).toBe("alice");

    // When the access token expires, requests are refused, and the client is told to refresh.
    await Bun.sleep(2100);
    const expired = await authenticate(own, bearer(tokens.access_token));
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toBe(
      `Basic realm="local", Bearer realm="ecmwf", Bearer error="invalid_token", error_description="${EXPIRED_ACCESS}"`,
    );
    const tiledRoute = await call(own, "GET", "/api/v1/auth/whoami", { authorization: bearer(tokens.access_token) });
    expect(tiledRoute.status).toBe(401);
    expect(tiledRoute.json).toEqual({ detail: EXPIRED_ACCESS });

    // Exchange the refresh token for a fresh pair and resume.
    const refreshed = await refresh(own, tokens.refresh_token);
    expect(refreshed.status).toBe(200);
    expect(Object.keys(refreshed.json).sort()).toEqual(["access_token", "expires_in", "refresh_token", "refresh_token_expires_in", "token_type"]);
    expect(refreshed.json.refresh_token).not.toBe(tokens.refresh_token);
    expect((await authenticate(own, bearer(refreshed.json.access_token))).status).toBe(200);

    // Logout really ends the session: its access token stops at once, its refresh token too.
    const logout = await call(own, "POST", "/api/v1/auth/logout", { authorization: bearer(refreshed.json.access_token) });
    expect(logout.status).toBe(204);
    expect((await authenticate(own, bearer(refreshed.json.access_token))).status).toBe(401);
    expect((await refresh(own, refreshed.json.refresh_token)).json).toEqual({ detail: SESSION_EXPIRED });
    });
  });
});

describe("discovery", () => {
  test("one entry per provider that takes a login: plain is internal, ecmwf-api takes an API key (token)", async () => {
    const { json } = await call(app, "GET", "/api/v1/");
    expect(json.authentication.providers.map((provider: any) => [provider.provider, provider.mode])).toEqual([
      ["local", "internal"],
      ["ecmwf", "token"],
    ]);
    expect(json.library_version).toBeString();
  });

  test("python-tiled clients older than 0.1.0b17 are told `password`, as Tiled does", async () => {
    const modeFor = async (userAgent: string) =>
      (await call(app, "GET", "/api/v1/", { headers: { "user-agent": userAgent } })).json.authentication.providers.map((p: any) => p.mode);
    expect(await modeFor("python-tiled/0.1.0b16")).toEqual(["password", "token"]);
    expect(await modeFor("python-tiled/0.1.0a90")).toEqual(["password", "token"]);
    expect(await modeFor("python-tiled/0.0.9")).toEqual(["password", "token"]);
    expect(await modeFor("python-tiled/0.1.0b17")).toEqual(["internal", "token"]);
    expect(await modeFor("python-tiled/0.1.0")).toEqual(["internal", "token"]);
    expect(await modeFor("python-tiled/0.2.3 httpx")).toEqual(["internal", "token"]);
    expect(await modeFor("curl/8.0")).toEqual(["internal", "token"]);
  });

  test("absolute links from the proxy's forwarded host, proto and prefix, with the literal {session_id}", async () => {
    const { json } = await call(app, "GET", "/api/v1", {
      headers: { "x-forwarded-proto": "https", "x-forwarded-host": "data.example.org", "x-forwarded-prefix": "/gatehouse" },
    });
    const auth = "https://data.example.org/gatehouse/api/v1/auth";
    expect(json.authentication.links).toEqual({
      whoami: `${auth}/whoami`,
      apikey: `${auth}/apikey`,
      refresh_session: `${auth}/session/refresh`,
      revoke_session: `${auth}/session/revoke/{session_id}`,
      logout: `${auth}/logout`,
    });
    expect(json.authentication.providers[1].links.auth_endpoint).toBe(`${auth}/provider/ecmwf/token`);
  });
});

describe("login", () => {
  test("JSON is accepted as well as the form, and grant_type=password", async () => {
    const response = await call(app, "POST", "/api/v1/auth/provider/local/token", {
      json: { username: "bob", password: "bob-pw", grant_type: "password" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.json.identity).toEqual({ id: "bob", provider: "local" });
  });

  test("wrong credentials: 401 with Tiled's detail and WWW-Authenticate: Bearer; logged and audited without the password", async () => {
    const wrongPassword = "not-the-password-5f1c";
    for (const form of [
      { username: "alice", password: wrongPassword },
      { username: "nobody", password: wrongPassword },
    ]) {
      const refused = await call(app, "POST", "/api/v1/auth/provider/local/token", { form });
      expect(refused.status).toBe(401);
      expect(refused.json).toEqual({ detail: "Incorrect username or password" });
      expect(refused.headers.get("www-authenticate")).toBe("Bearer");
    }
    const logged = app.logs.filter((line) => line.includes('"sessions.login_failed"')).map((line) => JSON.parse(line));
    expect(logged.map((line) => line.attributes.username)).toEqual(expect.arrayContaining(["alice", "nobody"]));
    expect(logged[0]).toMatchObject({ severityText: "WARN", attributes: { provider: "local", realm: "local" } });
    expect(app.logs.join("\n")).not.toContain(wrongPassword);
    const audited = await auditEvents(app, "session.login_failed");
    expect(audited.map((row) => row.actor_username)).toEqual(expect.arrayContaining(["alice", "nobody"]));
    expect(JSON.parse(audited[0].detail)).toEqual({ provider: "local", count: 1 });
    expect(JSON.stringify(audited)).not.toContain(wrongPassword);
  });

  test("clear 4xx answers: unknown provider 404, a missing field 400, another grant type 400, a malformed body 400", async () => {
    const unknown = await call(app, "POST", "/api/v1/auth/provider/nope/token", { form: { username: "a", password: "b" } });
    expect(unknown.status).toBe(404);
    expect(unknown.json.detail).toContain('No provider "nope"');
    // Gatehouse's own token providers take no login.
    expect((await call(app, "POST", "/api/v1/auth/provider/api-tokens/token", { form: { username: "a", password: "b" } })).status).toBe(404);
    const missing = await call(app, "POST", "/api/v1/auth/provider/local/token", { form: { username: "alice" } });
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual({ detail: "username and password are required" });
    const grant = await call(app, "POST", "/api/v1/auth/provider/local/token", {
      form: { username: "alice", password: "alice-pw", grant_type: "client_credentials" },
    });
    expect(grant.status).toBe(400);
    expect(grant.json.detail).toContain("grant_type");
    const malformed = await fetch(`${app.url}/api/v1/auth/provider/local/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(malformed.status).toBe(400);
    expect(Object.keys((await malformed.json()) as object)).toEqual(["detail"]);
    const wrongType = await call(app, "POST", "/api/v1/auth/provider/local/token", { json: { username: 7, password: "x" } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.detail).toContain("username");
  });

  test("a session through an upstream API key (mode token): the key in `password`, `token` or `api_key`", async () => {
    for (const field of ["password", "token", "api_key"]) {
      const response = await call(app, "POST", "/api/v1/auth/provider/ecmwf/token", { form: { [field]: ECMWF_KEY } });
      expect(response.status).toBe(200);
      expect(response.json.identity).toEqual({ id: "ecuser", provider: "ecmwf" });
      expect(response.json.principal).toBe("ecmwf-ecuser");
      const claims = await claimsOf(await authenticate(app, bearer(response.json.access_token)));
      expect(claims).toMatchObject({ username: "ecuser", realm: "ecmwf", attributes: { "ecmwf-email": "ecuser@example.org" } });
    }
    // A refresh does not ask the key service again (it cannot describe a user): the user keeps their name and realm.
    const { refresh_token } = (await call(app, "POST", "/api/v1/auth/provider/ecmwf/token", { form: { password: ECMWF_KEY } })).json;
    const asked = whoAmI.seen.length;
    const refreshed = await refresh(app, refresh_token);
    expect(refreshed.status).toBe(200);
    expect(whoAmI.seen.length).toBe(asked);
    expect(await claimsOf(await authenticate(app, bearer(refreshed.json.access_token)))).toMatchObject({ username: "ecuser", realm: "ecmwf" });

    const refused = await call(app, "POST", "/api/v1/auth/provider/ecmwf/token", { form: { password: "not-a-valid-key" } });
    expect(refused.status).toBe(401);
    expect(refused.json).toEqual({ detail: "Incorrect username or password" });
    const missing = await call(app, "POST", "/api/v1/auth/provider/ecmwf/token", { form: { username: "x" } });
    expect(missing.status).toBe(400);
  });

  test("Gatehouse's own secrets are never sent to the remote key service, whatever the route", async () => {
    const { access_token, refresh_token } = await loggedIn(app);
    const apiKey = (await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json: {} })).json.secret;
    const before = whoAmI.seen.length;
    for (const value of [access_token, refresh_token, apiKey]) {
      await call(app, "POST", "/api/v1/auth/provider/ecmwf/token", { form: { password: value } });
      await authenticate(app, bearer(value), { "x-auth-realm": "ecmwf" });
    }
    await authenticate(app, `Apikey ${ECMWF_KEY}`);
    expect(whoAmI.seen.slice(before)).toEqual([]);
  });
});

describe("access tokens", () => {
  test("an RFC 9068 JWT (typ at+jwt) with the session id, the identity and the scopes; the backend's JWT is not one", async () => {
    const { access_token } = await loggedIn(app);
    // Signed by a key only Gatehouse holds, not the shared secret every backend has (issue 9, finding 1).
    expect(decodeProtectedHeader(access_token)).toMatchObject({ alg: "ES256", typ: "at+jwt" });
    const claims = decodeJwt(access_token);
    expect(claims).toMatchObject({ sub: "local-alice", iss: "gatehouse-test", username: "alice", realm: "local", roles: ["ops", "staff"], scopes: null });
    expect(claims.aud).toBe("urn:gatehouse:access-token");
    expect(claims.sid).toMatch(/^ses_[0-9A-Za-z]{20}$/);
    expect((claims.exp as number) - (claims.iat as number)).toBe(900);
    // What /authenticate hands to backends (typ JWT) is never accepted as an access token...
    const backendJwt = (await authenticate(app, ALICE)).headers.get("authorization")!.slice(7);
    expect(decodeProtectedHeader(backendJwt).typ).toBe("JWT");
    expect((await authenticate(app, bearer(backendJwt))).status).toBe(401);
    // ... nor a token of the right type signed with another key.
    const forged = await new SignJWT({ ...claims }).setProtectedHeader({ alg: "HS256", typ: "at+jwt" }).sign(new TextEncoder().encode("x".repeat(40)));
    expect((await authenticate(app, bearer(forged))).status).toBe(401);
    // X-Auth-Realm must be the user's.
    expect((await authenticate(app, bearer(access_token), { "x-auth-realm": "local" })).status).toBe(200);
    expect((await authenticate(app, bearer(access_token), { "x-auth-realm": "ecmwf" })).status).toBe(401);
  });

  test("a revoked session's access token stops at the very next request, though its signature is remembered", async () => {
    const { access_token } = await loggedIn(app);
    for (let i = 0; i < 3; i++) expect((await authenticate(app, bearer(access_token))).status).toBe(200);
    const sid = decodeJwt(access_token).sid as string;
    expect((await call(app, "DELETE", `/api/v1/auth/session/revoke/${sid}`, { authorization: bearer(access_token) })).status).toBe(204);
    const refused = await authenticate(app, bearer(access_token));
    expect(refused.status).toBe(401);
    // Not "expired": nothing to refresh.
    expect(refused.headers.get("www-authenticate")).toBe('Basic realm="local", Bearer realm="ecmwf"');
  });
});

describe("refresh", () => {
  test("rotation: each refresh token works once; the pair it gives works", async () => {
    const first = await loggedIn(app);
    const second = (await refresh(app, first.refresh_token)).json;
    const third = await refresh(app, second.refresh_token);
    expect(third.status).toBe(200);
    expect((await authenticate(app, bearer(third.json.access_token))).status).toBe(200);
    const sessions = (await call(app, "GET", "/api/v1/auth/sessions", { authorization: bearer(third.json.access_token) })).json.sessions;
    const current = sessions.find((session: any) => session.current);
    expect(current.refreshed_at).not.toBeNull();
    expect(current.status).toBe("active");
  });

  test("reuse detection: a refresh token presented twice revokes the whole session, the newest tokens included", async () => {
    const first = await loggedIn(app);
    const second = await refresh(app, first.refresh_token);
    expect(second.status).toBe(200);
    const replayed = await refresh(app, first.refresh_token);
    expect(replayed.status).toBe(401);
    expect(replayed.json).toEqual({ detail: SESSION_EXPIRED });
    // The legitimate holder's newest tokens are dead too.
    expect((await refresh(app, second.json.refresh_token)).json).toEqual({ detail: SESSION_EXPIRED });
    expect((await authenticate(app, bearer(second.json.access_token))).status).toBe(401);
    const sid = decodeJwt(first.access_token).sid;
    const revoked = (await auditEvents(app, "session.revoked")).map((row) => JSON.parse(row.detail)).filter((detail) => detail.session_id === sid);
    expect(revoked).toEqual([{ session_id: sid, reason: "refresh token reuse" }]);
    expect(app.logs.some((line) => line.includes('"sessions.refresh_token_reused"') && line.includes(sid as string))).toBe(true);
  });

  test("used refresh tokens are kept for refresh_token_max_age to detect their reuse, then forgotten", async () => {
    await withApp("forget", { authentication: { refresh_token_max_age: 86400 } }, async (own) => {
      const service = own.gatehouse.sessions!;
      const { access_token, refresh_token } = await loggedIn(own);
      const sid = decodeJwt(access_token).sid as string;
      const rows = async () => Number((await storedRow(own, "SELECT count(*) AS n FROM refresh_tokens WHERE session_id = ?", sid)).n);
      // Refreshed every 0.6 days (time travel through the service): the sliding limit of a day is never reached.
      const start = Date.now();
      const used = [refresh_token];
      for (let step = 1; step <= 3; step++) {
        used.push((await service.refresh(used.at(-1)!, UNKNOWN_CLIENT, start + step * 0.6 * DAY)).refresh_token);
      }
      // The token used at 0.6 days was forgotten at 1.8 days; the two used since, and the current one, are kept.
      expect(await rows()).toBe(3);
      // A forgotten one is refused, without ending the session...
      expect((await refresh(own, used[0])).json).toEqual({ detail: SESSION_EXPIRED });
      expect((await service.refresh(used[3], UNKNOWN_CLIENT, start + 1.9 * DAY)).refresh_token).toStartWith("gtr_");
      // ... a remembered one is reuse, and does.
      expect((await refresh(own, used[1])).status).toBe(401);
      expect(await storedRow(own, "SELECT revoked_reason FROM sessions WHERE id = ?", sid)).toEqual({
        revoked_reason: "refresh token reuse",
      });
    });
  });

  test("unknown, malformed and revoked refresh tokens all get the same answer", async () => {
    const { refresh_token, access_token } = await loggedIn(app);
    await call(app, "POST", "/api/v1/auth/logout", { authorization: bearer(access_token) });
    const flipped = refresh_token.slice(0, -1) + (refresh_token.endsWith("A") ? "B" : "A");
    for (const value of [refresh_token, flipped, "gtr_000000000000000000000000000000000000", "nonsense", access_token]) {
      const refused = await refresh(app, value);
      expect({ value, status: refused.status, json: refused.json }).toEqual({ value, status: 401, json: { detail: SESSION_EXPIRED } });
    }
  });

  test("a refresh re-reads roles: a role removed from the user applies at the next refresh; a user removed ends the session", async () => {
    const shared = temporaryDirectory("gatehouse-sessions-reread-");
    const before = await startApp(config(shared));
    const { refresh_token, access_token } = await loggedIn(before);
    expect((await claimsOf(await authenticate(before, bearer(access_token)))).roles).toEqual(["ops", "staff"]);
    await before.stop();
    // The same store, after a config change: alice no longer has "ops" (the augmenter still adds "staff").
    const changed = await startApp(config(shared, { aliceRoles: [] }));
    let next: string;
    try {
      const refreshed = await refresh(changed, refresh_token);
      expect(refreshed.status).toBe(200);
      expect((await claimsOf(await authenticate(changed, bearer(refreshed.json.access_token)))).roles).toEqual(["staff"]);
      next = refreshed.json.refresh_token;
    } finally {
      await changed.stop();
    }
    // And once alice is gone from the config, her session ends at its next refresh.
    const gone = await startApp(config(shared, { withoutAlice: true }));
    try {
      expect((await refresh(gone, next)).json).toEqual({ detail: SESSION_EXPIRED });
      const reason = await storedRow(gone, "SELECT revoked_reason FROM sessions");
      expect(reason.revoked_reason).toBe("user no longer known");
    } finally {
      await gone.stop();
    }
  });
});

describe("lifetimes", () => {
  test("sliding: a session not refreshed within refresh_token_max_age ends; each refresh extends it", async () => {
    await withApp("sliding", { authentication: { refresh_token_max_age: 2 } }, async (own) => {
      const kept = await loggedIn(own);
      const idle = await loggedIn(own);
      expect(kept.refresh_token_expires_in).toBe(2);
      await Bun.sleep(1200);
      const refreshed = await refresh(own, kept.refresh_token);
      expect(refreshed.status).toBe(200);
      expect(refreshed.json.refresh_token_expires_in).toBe(2);
      await Bun.sleep(1200);
      // 2.4 s after login: the idle session has ended, the refreshed one is alive.
      expect((await refresh(own, idle.refresh_token)).json).toEqual({ detail: SESSION_EXPIRED });
      expect((await authenticate(own, bearer(idle.access_token))).status).toBe(401);
      expect((await refresh(own, refreshed.json.refresh_token)).status).toBe(200);
    });
  });

  test("absolute: session_max_age ends even an active session; the sliding limit and tokens never pass it", async () => {
    await withApp("absolute", { authentication: { session_max_age: 3, refresh_token_max_age: 10 } }, async (own) => {
      const started = Date.now();
      let tokens = await loggedIn(own);
      expect(tokens.refresh_token_expires_in).toBeLessThanOrEqual(3);
      expect(tokens.expires_in).toBeLessThanOrEqual(3);
      const { exp } = decodeJwt(tokens.access_token);
      expect(exp! * 1000).toBeLessThanOrEqual(started + 3000);
      await Bun.sleep(1500);
      const refreshed = await refresh(own, tokens.refresh_token);
      expect(refreshed.status).toBe(200);
      expect(refreshed.json.refresh_token_expires_in).toBeLessThanOrEqual(2);
      tokens = refreshed.json;
      await Bun.sleep(Math.max(0, started + 3100 - Date.now()));
      expect((await refresh(own, tokens.refresh_token)).json).toEqual({ detail: SESSION_EXPIRED });
      expect((await authenticate(own, bearer(tokens.access_token))).status).toBe(401);
    });
  });

  test("the cap on live sessions per user: a login beyond it is refused (403) until one ends; expired ones do not count", async () => {
    await withApp("cap", { authentication: { max_sessions_per_user: 2, refresh_token_max_age: 2 } }, async (own) => {
      const first = await loggedIn(own);
      await loggedIn(own);
      const refused = await login(own);
      expect(refused.status).toBe(403);
      expect(refused.json.detail).toContain("alice already has 2 live sessions");
      expect(refused.json.detail).toContain("authentication.max_sessions_per_user");
      expect(await auditEvents(own, "session.create_denied")).toHaveLength(1);
      expect((await loggedIn(own, "bob")).access_token).toBeString(); // per user
      // Logging out of one frees a place.
      await call(own, "POST", "/api/v1/auth/logout", { authorization: bearer(first.access_token) });
      await loggedIn(own);
      expect((await login(own)).status).toBe(403);
      // Sessions that have expired (the sliding limit, 2 s) do not count.
      await Bun.sleep(2100);
      await loggedIn(own);
      await loggedIn(own);
    });
  });
});

describe("listing and revoking sessions", () => {
  test("GET /api/v1/auth/sessions: own sessions with created, last refreshed, address and user agent; admins may ask for anyone's", async () => {
    await withApp("list", {}, async (own) => {
      const { access_token } = (await login(own, "alice", "alice-pw", { "user-agent": "python-tiled/0.1.0", "x-real-ip": "192.0.2.7" })).json;
      await loggedIn(own, "bob");
      const listed = await call(own, "GET", "/api/v1/auth/sessions", { authorization: bearer(access_token) });
      expect(listed.status).toBe(200);
      expect(listed.json.sessions).toHaveLength(1);
      expect(listed.json.sessions[0]).toMatchObject({
        username: "alice",
        realm: "local",
        provider: "local",
        status: "active",
        refreshed_at: null,
        address: "127.0.0.1",
        reported_address: "192.0.2.7",
        user_agent: "python-tiled/0.1.0",
        current: true,
    });
    expect(Date.parse(listed.json.sessions[0].created_at)).toBeGreaterThan(Date.now() - 10_000);
    expect((await call(own, "GET", "/api/v1/auth/sessions", { authorization: ALICE })).json.sessions[0].current).toBe(false);
    const forbidden = await call(own, "GET", "/api/v1/auth/sessions?user=bob", { authorization: ALICE });
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.detail).toBe("Only administrators may list other users' sessions");
    const asAdmin = await call(own, "GET", "/api/v1/auth/sessions?user=bob&realm=local", { authorization: ROOT });
    expect(asAdmin.json.sessions.map((session: any) => session.username)).toEqual(["bob"]);
    expect((await call(own, "GET", "/api/v1/auth/sessions")).status).toBe(401);
    });
  });

  test("DELETE …/session/revoke/{id}: own → 204; someone else's → 404 (audited); an admin's → 204", async () => {
    const alice = await loggedIn(app);
    const bob = await loggedIn(app, "bob");
    const aliceSession = decodeJwt(alice.access_token).sid as string;
    const byBob = await call(app, "DELETE", `/api/v1/auth/session/revoke/${aliceSession}`, { authorization: bearer(bob.access_token) });
    expect(byBob.status).toBe(404);
    expect(byBob.json).toEqual({ detail: `No session ${aliceSession}` });
    expect((await auditEvents(app, "session.revoke_denied")).at(-1)).toMatchObject({ actor_username: "bob", target_username: "alice" });
    expect((await authenticate(app, bearer(alice.access_token))).status).toBe(200);
    const byRoot = await call(app, "DELETE", `/api/v1/auth/session/revoke/${aliceSession}`, { authorization: ROOT });
    expect(byRoot.status).toBe(204);
    expect((await authenticate(app, bearer(alice.access_token))).status).toBe(401);
    expect((await call(app, "DELETE", `/api/v1/auth/session/revoke/${aliceSession}`, { authorization: ROOT })).status).toBe(404);
    const bobSession = decodeJwt(bob.access_token).sid as string;
    expect((await call(app, "DELETE", `/api/v1/auth/session/revoke/${bobSession}`, { authorization: BOB })).status).toBe(204);
    expect((await refresh(app, bob.refresh_token)).status).toBe(401);
  });

  test("POST …/session/revoke {refresh_token}: 204, and the session is over; an unknown token is 204 too (RFC 7009)", async () => {
    const { access_token, refresh_token } = await loggedIn(app);
    const revoked = await call(app, "POST", "/api/v1/auth/session/revoke", { json: { refresh_token } });
    expect(revoked.status).toBe(204);
    expect((await authenticate(app, bearer(access_token))).status).toBe(401);
    expect((await refresh(app, refresh_token)).status).toBe(401);
    expect((await call(app, "POST", "/api/v1/auth/session/revoke", { json: { refresh_token: "gtr_unknown" } })).status).toBe(204);
    expect((await call(app, "POST", "/api/v1/auth/session/revoke", { json: {} })).status).toBe(400);
  });

  test("logout needs a session's access token; logout/all signs the user out everywhere and nobody else", async () => {
    const sessions = [await loggedIn(app), await loggedIn(app)];
    const bob = await loggedIn(app, "bob");
    const basicLogout = await call(app, "POST", "/api/v1/auth/logout", { authorization: ALICE });
    expect(basicLogout.status).toBe(400);
    expect(basicLogout.json.detail).toContain("access token");
    const all = await call(app, "POST", "/api/v1/auth/logout/all", { authorization: ALICE });
    expect(all.status).toBe(200);
    expect(all.json.revoked).toBeGreaterThanOrEqual(2);
    for (const session of sessions) expect((await authenticate(app, bearer(session.access_token))).status).toBe(401);
    expect((await authenticate(app, bearer(bob.access_token))).status).toBe(200);
    expect((await call(app, "GET", "/api/v1/auth/sessions", { authorization: ALICE })).json.sessions).toEqual([]);
    expect((await call(app, "POST", "/api/v1/auth/logout/all", { authorization: ALICE })).json).toEqual({ revoked: 0 });
  });
});

describe("whoami", () => {
  test("null with 200 without a credential; 401 with Tiled's detail for a bad one", async () => {
    const anonymous = await call(app, "GET", "/api/v1/auth/whoami");
    expect(anonymous.status).toBe(200);
    expect(anonymous.text).toBe("null");
    const bad = await call(app, "GET", "/api/v1/auth/whoami", { authorization: basic("alice", "wrong") });
    expect(bad.status).toBe(401);
    expect(bad.json).toEqual({ detail: "Unauthorized access" });
  });

  test("the identity, its sessions and its API keys, never a secret", async () => {
    await withApp("whoami", {}, async (own) => {
      const { access_token, refresh_token } = await loggedIn(own);
      const created = (await call(own, "POST", "/api/v1/auth/apikey", { authorization: bearer(access_token), json: { note: "laptop" } })).json;
      // A token created through Gatehouse's own route has a first_eight too.
      const rest = await call(own, "POST", "/api/v1/tokens", { authorization: ALICE, json: { note: "ci" } });
      secrets.push(rest.json.token);
      const who = await call(own, "GET", "/api/v1/auth/whoami", { authorization: bearer(access_token) });
      expect(who.status).toBe(200);
      expect(who.json).toMatchObject({
        type: "user",
        principal: "local-alice",
        username: "alice",
        realm: "local",
        roles: ["ops", "staff"],
        scopes: null,
        identities: [{ id: "alice", provider: "local" }],
    });
    expect(who.json.sessions).toHaveLength(1);
    expect(who.json.sessions[0].current).toBe(true);
    expect(who.json.api_keys.map((key: any) => [key.note, key.first_eight])).toEqual([
      ["laptop", created.secret.slice(4, 12)],
      ["ci", rest.json.token.slice(4, 12)],
    ]);
    for (const secret of [access_token, refresh_token, created.secret, rest.json.token, "alice-pw"]) expect(who.text).not.toContain(secret);
    });
  });
});

describe("Tiled's API keys, on Gatehouse's API tokens", () => {
  test("create with scopes written service:scope; the secret works as Apikey and as Bearer; GET describes the key used", async () => {
    const { access_token } = await loggedIn(app);
    const created = await call(app, "POST", "/api/v1/auth/apikey", {
      authorization: bearer(access_token),
      json: { expires_in: 3600, scopes: ["ecflow:read", "tiled:read"], note: "notebook" },
    });
    expect(created.status).toBe(200);
    const key = created.json;
    expect(key.secret).toMatch(/^gth_[0-9A-Za-z]{36}$/);
    expect(key).toMatchObject({ first_eight: key.secret.slice(4, 12), note: "notebook", scopes: ["ecflow:read", "tiled:read"], latest_activity: null });
    expect(Date.parse(key.expiration_time) - Date.now()).toBeGreaterThan(3590_000);
    for (const authorization of [`Apikey ${key.secret}`, `apikey ${key.secret}`, bearer(key.secret)]) {
      const claims = await claimsOf(await authenticate(app, authorization));
      expect(claims).toMatchObject({ username: "alice", scopes: { ecflow: ["read"], tiled: ["read"] } });
    }
    const described = await call(app, "GET", "/api/v1/auth/apikey", { authorization: `Apikey ${key.secret}` });
    expect(described.status).toBe(200);
    expect(described.json).toMatchObject({ first_eight: key.first_eight, note: "notebook", scopes: ["ecflow:read", "tiled:read"] });
    expect(described.json.secret).toBeUndefined();
    const notAKey = await call(app, "GET", "/api/v1/auth/apikey", { authorization: bearer(access_token) });
    expect(notAKey.status).toBe(401);
    expect(notAKey.json).toEqual({ detail: "No API key was provided with this request." });
    // Without scopes, a key inherits its creator's.
    expect((await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json: { scopes: null } })).json.scopes).toEqual(["inherit"]);
  });

  test("the token rules apply: expires_in positive and within the maximum, known services, a key never grants more than its creator", async () => {
    const refusals: [object, string][] = [
      [{ expires_in: 0 }, "expires_in: must be a whole number of seconds, at least 1"],
      [{ expires_in: -5 }, "expires_in: must be a whole number of seconds, at least 1"],
      [{ expires_in: 31536001 }, "The longest lifetime of a token is 31536000 seconds (365 days)"],
      [{ expires_in: null }, "Tokens that never expire are not allowed here"],
      [{ scopes: ["nope:read"] }, 'Unknown service "nope"'],
      [{ scopes: ["inherit", "ecflow:read"] }, 'scopes: "inherit" cannot be combined'],
    ];
    for (const [json, message] of refusals) {
      const refused = await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json });
      expect(refused.status).toBe(400);
      expect(refused.json.detail).toContain(message);
    }
    const narrow = (await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json: { scopes: ["tiled:read", "gatehouse:tokens"] } })).json.secret;
    const wider = await call(app, "POST", "/api/v1/auth/apikey", { authorization: `Apikey ${narrow}`, json: { scopes: ["ecflow:write"] } });
    expect(wider.status).toBe(403);
    expect(wider.json.detail).toContain("cannot grant more");
  });

  test("DELETE ?first_eight=: own keys only (another user's answers 404, and is audited)", async () => {
    const key = (await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json: { note: "to revoke" } })).json;
    const byBob = await call(app, "DELETE", `/api/v1/auth/apikey?first_eight=${key.first_eight}`, { authorization: BOB });
    expect(byBob.status).toBe(404);
    expect(byBob.json).toEqual({ detail: "The currently-authenticated user has no such API key." });
    expect((await auditEvents(app, "token.delete_denied")).at(-1)).toMatchObject({ actor_username: "bob", target_username: "alice" });
    // Even an admin revokes only their own keys here (as Tiled's route).
    expect((await call(app, "DELETE", `/api/v1/auth/apikey?first_eight=${key.first_eight}`, { authorization: ROOT })).status).toBe(404);
    expect((await authenticate(app, `Apikey ${key.secret}`)).status).toBe(200);
    const { access_token } = await loggedIn(app);
    expect((await call(app, "DELETE", `/api/v1/auth/apikey?first_eight=${key.first_eight}`, { authorization: bearer(access_token) })).status).toBe(204);
    expect((await authenticate(app, `Apikey ${key.secret}`)).status).toBe(401);
    expect((await call(app, "DELETE", `/api/v1/auth/apikey?first_eight=${key.first_eight}`, { authorization: ALICE })).status).toBe(404);
    expect((await call(app, "DELETE", "/api/v1/auth/apikey", { authorization: ALICE })).status).toBe(400);
  });

  test("the Apikey scheme is offered to Gatehouse's API tokens only: not to session tokens, never to a remote provider", async () => {
    const { access_token } = await loggedIn(app);
    expect((await authenticate(app, `Apikey ${access_token}`)).status).toBe(401);
    const before = whoAmI.seen.length;
    expect((await authenticate(app, `Apikey ${ECMWF_KEY}`)).status).toBe(401);
    expect(whoAmI.seen.length).toBe(before);
    expect((await authenticate(app, bearer(ECMWF_KEY))).status).toBe(200);
  });
});

describe("store.enabled: false", () => {
  test("every session route answers 503 with a detail; /authenticate still works; no database is created", async () => {
    const off = temporaryDirectory("gatehouse-sessions-off-");
    const disabled = await startApp(config(off, { store: { enabled: false } }));
    try {
      const routes: [string, string][] = [
        ["GET", "/api/v1/"],
        ["POST", "/api/v1/auth/provider/local/token"],
        ["POST", "/api/v1/auth/session/refresh"],
        ["POST", "/api/v1/auth/session/revoke"],
        ["DELETE", "/api/v1/auth/session/revoke/ses_x"],
        ["GET", "/api/v1/auth/sessions"],
        ["GET", "/api/v1/auth/whoami"],
        ["POST", "/api/v1/auth/logout"],
        ["POST", "/api/v1/auth/logout/all"],
        ["POST", "/api/v1/auth/apikey"],
        ["GET", "/api/v1/auth/apikey"],
        ["DELETE", "/api/v1/auth/apikey?first_eight=abcdefgh"],
      ];
      for (const [method, path] of routes) {
        const body = method === "POST" ? { username: "alice", password: "alice-pw", refresh_token: "gtr_x" } : undefined;
        const response = await call(disabled, method, path, { authorization: ALICE, json: body });
        expect({ method, path, status: response.status, json: response.json }).toEqual({
          method,
          path,
          status: 503,
          json: { detail: "Sessions need the store, which is disabled (store.enabled: false)" },
        });
      }
      expect((await authenticate(disabled, ALICE)).status).toBe(200);
      expect(existsSync(join(off, "gatehouse.db"))).toBe(false);
    } finally {
      await disabled.stop();
    }
  });
});

describe("secrets at rest and in the logs", () => {
  // The store: SQLite's .db and -wal files; PostgreSQL's every row of every table as text.
  test("no access token, refresh token or key secret in the logs, nor (for refresh tokens and keys) in the store", async () => {
    const refreshTokens = secrets.filter((secret) => secret.startsWith("gtr_"));
    expect(refreshTokens.length).toBeGreaterThan(10);
    const logs = app.logs.join("\n");
    for (const secret of secrets) expect(logs.includes(secret)).toBe(false);
    await app.gatehouse.tokens!.flushUses();
    const bytes = await storedText(app);
    expect(bytes.length).toBeGreaterThan(0);
    for (const secret of secrets.filter((value) => !value.startsWith("eyJ"))) {
      expect(bytes.includes(secret)).toBe(false);
      expect(bytes.includes(secret.slice(4, 34))).toBe(false);
    }
    // Only hashes: one row per refresh token handed out by this server, none readable.
    const hashes = await storedRows<{ hash: string }>(app, "SELECT hash FROM refresh_tokens");
    expect(hashes.length).toBeGreaterThan(0);
    for (const { hash } of hashes) expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });
});
