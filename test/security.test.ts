// The security review's findings (issue 9), each as the behaviour a user or
// an operator relies on, through HTTP against a server on loopback: what a
// credential may do on Gatehouse itself, what a browser on another site can
// make it do, how long what is made from a credential lives, and what is
// trusted from a proxy.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SignJWT, decodeJwt, decodeProtectedHeader } from "jose";
import { jwtHeader } from "../src/keys/issuer.ts";
import { basic, rawHttp, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { storedExec, storedRow, storedRows, storeIsPostgres } from "./helpers/stored.ts";

const SECRET = "security-test-secret-0123456789abcdef";
const ALICE = basic("alice", "alice-pw");
const ROOT = basic("root", "root-pw");

function config(dir: string, overrides: Record<string, unknown> = {}) {
  return {
    version: "2.0.0",
    logging: { level: "info", format: "json" },
    providers: [
      {
        type: "plain",
        name: "local",
        realm: "local",
        users: [
          { username: "alice", password: "alice-pw", roles: ["ops"] },
          { username: "bob", password: "bob-pw" },
          { username: "root", password: "root-pw", roles: ["admin"] },
        ],
      },
    ],
    jwt: { iss: "gatehouse-test", aud: "my-api", exp: 600, secret: SECRET },
    store: { enabled: true, path: join(dir, "gatehouse.db") },
    services: [{ name: "ecflow", scopes: ["read", "write"] }],
    // The failed logins here would otherwise ban the test's own address (regulation is tested on its own).
    regulation: { enabled: false },
    ...overrides,
  };
}

interface Call {
  authorization?: string;
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
}

async function call(app: TestApp, method: string, path: string, options: Call = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.authorization) headers.authorization = options.authorization;
  let body = options.body;
  if (options.json !== undefined) {
    headers["content-type"] ??= "application/json";
    body = JSON.stringify(options.json);
  }
  const response = await fetch(`${app.url}${path}`, { method, headers, body });
  const text = await response.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** A token of `authorization`'s user with these scopes; its secret. */
async function tokenWith(app: TestApp, authorization: string, scopes?: Record<string, string[]>): Promise<string> {
  const created = await call(app, "POST", "/api/v1/tokens", { authorization, json: scopes === undefined ? {} : { scopes } });
  expect(created.status).toBe(201);
  return created.json.token;
}

let dir: string;
let app: TestApp;
beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-security-");
  app = await startApp(config(dir));
});
afterAll(async () => {
  await app?.stop();
});

describe("finding 2: a token's scopes bound what it may do on Gatehouse itself", () => {
  test("gatehouse is a service of its own, listed among the valid ones", async () => {
    const refused = await call(app, "POST", "/api/v1/tokens", { authorization: ALICE, json: { scopes: { nope: ["x"] } } });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toContain("gatehouse: tokens, sessions, admin");
  });

  test("an admin's token scoped to ecflow:read, or to nothing, cannot list, revoke or create tokens, end sessions or rotate keys", async () => {
    const victim = await tokenWith(app, ALICE);
    const victimId = (await call(app, "GET", "/api/v1/tokens", { authorization: ALICE })).json.tokens.at(-1).id;
    for (const scopes of [{ ecflow: ["read"] }, {}] as Record<string, string[]>[]) {
      const bearer = `Bearer ${await tokenWith(app, ROOT, scopes)}`;
      const attempts: [string, string, Call?][] = [
        ["GET", "/api/v1/tokens?all=true"],
        ["GET", "/api/v1/tokens"],
        ["GET", "/tokens"],
        ["GET", "/token"],
        ["POST", "/api/v1/tokens", { json: {} }],
        ["DELETE", `/api/v1/tokens/${victimId}`],
        ["DELETE", `/token/${victim}`],
        ["GET", "/api/v1/auth/sessions?user=alice&realm=local"],
        ["POST", "/api/v1/auth/logout/all"],
        ["POST", "/api/v1/auth/apikey", { json: {} }],
        ["GET", "/api/v1/keys"],
        ["POST", "/api/v1/keys/rotate"],
      ];
      for (const [method, path, options] of attempts) {
        const answer = await call(app, method, path, { ...options, authorization: bearer });
        expect([method, path, answer.status]).toEqual([method, path, 403]);
        expect(answer.json.error ?? answer.json.detail).toContain("gatehouse:");
      }
      // Nor through the portal's pages, which take a Bearer credential too.
      const form = { body: "note=x&expires=7&scope=ecflow%3Aread", headers: { "content-type": "application/x-www-form-urlencoded" } };
      for (const [method, path, options] of [["GET", "/portal/tokens"], ["POST", "/portal/tokens/new", form], ["GET", "/portal/sessions"], ["GET", "/portal/admin/keys"]] as [string, string, Call?][]) {
        const answer = await call(app, method, path, { ...options, authorization: bearer });
        expect([method, path, answer.status]).toEqual([method, path, 403]);
      }
      // The victim's token still works: nothing above went through.
      expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${victim}` } })).status).toBe(200);
      // Describing itself needs no scope; Tiled's whoami then lists neither the owner's tokens nor their sessions.
      expect((await call(app, "GET", "/whoami", { authorization: bearer })).status).toBe(200);
      const tiled = await call(app, "GET", "/api/v1/auth/whoami", { authorization: bearer });
      expect(tiled.status).toBe(200);
      expect([tiled.json.api_keys, tiled.json.sessions]).toEqual([[], []]);
    }
  });

  test("gatehouse:tokens manages the owner's own tokens; the admin role counts only with gatehouse:admin", async () => {
    const bearer = `Bearer ${await tokenWith(app, ROOT, { gatehouse: ["tokens"] })}`;
    expect((await call(app, "GET", "/api/v1/tokens", { authorization: bearer })).status).toBe(200);
    expect((await call(app, "POST", "/api/v1/tokens", { authorization: bearer, json: {} })).status).toBe(201);
    const others = await call(app, "GET", "/api/v1/tokens?user=alice&realm=local", { authorization: bearer });
    expect(others.status).toBe(403);
    const admin = `Bearer ${await tokenWith(app, ROOT, { gatehouse: ["tokens", "admin"] })}`;
    expect((await call(app, "GET", "/api/v1/tokens?user=alice&realm=local", { authorization: admin })).status).toBe(200);
    expect((await call(app, "GET", "/api/v1/keys", { authorization: admin })).status).toBe(200);
  });

  test("a token created without scopes holds what its creator holds: everything, for a password", async () => {
    const bearer = `Bearer ${await tokenWith(app, ROOT)}`;
    expect((await call(app, "GET", "/api/v1/tokens?all=true", { authorization: bearer })).status).toBe(200);
    expect((await call(app, "GET", "/api/v1/keys", { authorization: bearer })).status).toBe(200);
  });

  test("a config may not redefine the gatehouse service", async () => {
    const { buildConfig } = await import("../src/config/load.ts");
    expect(() => buildConfig(config(dir, { services: [{ name: "gatehouse", scopes: ["everything"] }] }), "test", {})).toThrow(
      /services\[0\]: "gatehouse" is Gatehouse's own API/,
    );
  });
});

describe("finding 7: a browser on another site cannot make a signed-in user change anything", () => {
  const CROSS_SITE = { "sec-fetch-site": "cross-site" };

  test("GET /token (which creates a token) and every state-changing route refuse what the browser marks cross-site", async () => {
    const before = (await call(app, "GET", "/api/v1/tokens", { authorization: ALICE })).json.tokens.length;
    const attempts: [string, string, Record<string, string>, Call?][] = [
      ["GET", "/token", CROSS_SITE],
      ["POST", "/api/v1/tokens", CROSS_SITE, { json: {} }],
      ["POST", "/api/v1/tokens", { "sec-fetch-site": "same-site" }, { json: {} }],
      ["POST", "/api/v1/tokens", { origin: "https://evil.example" }, { json: {} }],
      ["POST", "/api/v1/tokens", { origin: "null" }, { json: {} }],
      ["POST", "/api/v1/auth/logout/all", CROSS_SITE],
      ["POST", "/api/v1/auth/apikey", { origin: "http://127.0.0.1.evil.example" }, { json: {} }],
    ];
    for (const [method, path, headers, options] of attempts) {
      const answer = await call(app, method, path, { ...options, authorization: ALICE, headers });
      expect([method, path, answer.status]).toEqual([method, path, 403]);
      expect(answer.json.error ?? answer.json.detail).toBe("Cross-site requests may not change anything here");
    }
    for (const [method, path] of [["POST", "/api/v1/keys/rotate"], ["DELETE", "/api/v1/tokens/tok_x"]]) {
      expect((await call(app, method, path, { authorization: ROOT, headers: CROSS_SITE })).status).toBe(403);
    }
    expect((await call(app, "GET", "/api/v1/tokens", { authorization: ALICE })).json.tokens.length).toBe(before);
  });

  test("same-origin requests, and clients that are not browsers, go through; reading is not concerned", async () => {
    expect((await call(app, "GET", "/token", { authorization: ALICE, headers: { "sec-fetch-site": "same-origin" } })).status).toBe(200);
    expect((await call(app, "GET", "/token", { authorization: ALICE, headers: { "sec-fetch-site": "none" } })).status).toBe(200);
    const host = new URL(app.url).host;
    const sameOrigin = await call(app, "POST", "/api/v1/tokens", { authorization: ALICE, json: {}, headers: { origin: `http://${host}` } });
    expect(sameOrigin.status).toBe(201);
    expect((await call(app, "GET", "/api/v1/tokens", { authorization: ALICE, headers: CROSS_SITE })).status).toBe(200);
  });

  test("the portal's cookie (SameSite=Lax, so sent on a cross-site link) cannot make GET /token create a token", async () => {
    const signIn = await fetch(`${app.url}/portal/sign-in`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: app.url },
      body: new URLSearchParams({ provider: "local", username: "alice", password: "alice-pw" }),
    });
    expect(signIn.status).toBe(303);
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0];
    expect((await call(app, "GET", "/token", { headers: { cookie, "sec-fetch-site": "cross-site" } })).status).toBe(403);
    expect((await call(app, "GET", "/token", { headers: { cookie, "sec-fetch-site": "same-origin" } })).status).toBe(200);
  });

  test("/authenticate is not concerned: nginx's subrequest carries the browser's own headers", async () => {
    const token = await tokenWith(app, ALICE);
    const answer = await fetch(`${app.url}/authenticate`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, ...CROSS_SITE, origin: "https://app.example" },
    });
    expect(answer.status).toBe(200);
  });

  test("JSON bodies only as application/json: a cross-site form or text/plain (no CORS preflight) is refused", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const answer = await call(app, "POST", "/api/v1/tokens", { authorization: ALICE, body: '{"note":"x"}', headers: { "content-type": type } });
      expect([type, answer.status]).toEqual([type, 415]);
    }
  });
});

describe("finding 15: bodies are bounded and must be JSON objects", () => {
  test("/api/v1/auth/apikey refuses null and [] bodies with 400", async () => {
    for (const body of ["null", "[]", "42", '"x"']) {
      const answer = await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, body, headers: { "content-type": "application/json" } });
      expect([body, answer.status, answer.json.detail]).toEqual([body, 400, "The request body must be a JSON object"]);
    }
  });

  test("an unauthenticated login with a body over 64 KiB is refused unread (413)", async () => {
    const body = `username=alice&password=${"x".repeat(70 * 1024)}`;
    const answer = await call(app, "POST", "/api/v1/auth/provider/local/token", {
      body,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(answer.status).toBe(413);
    const json = await call(app, "POST", "/api/v1/auth/session/refresh", { json: { refresh_token: "x".repeat(70 * 1024) } });
    expect(json.status).toBe(413);
  });
});

const authenticates = async (secret: string) =>
  (await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${secret}` } })).status === 200;

async function login(username = "alice"): Promise<{ access: string; refresh: string }> {
  const answer = await call(app, "POST", "/api/v1/auth/provider/local/token", {
    body: new URLSearchParams({ username, password: `${username}-pw` }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  expect(answer.status).toBe(200);
  return { access: answer.json.access_token, refresh: answer.json.refresh_token };
}

describe("finding 3: what is made from a credential does not outlive it", () => {
  test("revoking a token revokes the tokens made with it, and theirs", async () => {
    const parent = await tokenWith(app, ALICE, { ecflow: ["read"], gatehouse: ["tokens"] });
    const child = (await call(app, "POST", "/api/v1/tokens", { authorization: `Bearer ${parent}`, json: {} })).json;
    const grandchild = (await call(app, "POST", "/api/v1/tokens", { authorization: `Bearer ${child.token}`, json: {} })).json;
    const unrelated = await tokenWith(app, ALICE);
    expect(grandchild.parent_id).toBe(child.id);
    for (const secret of [parent, child.token, grandchild.token]) expect(await authenticates(secret)).toBe(true);
    const parentId = (await call(app, "GET", "/api/v1/tokens", { authorization: ALICE })).json.tokens.find((token: any) => token.id === child.parent_id).id;
    expect((await call(app, "DELETE", `/api/v1/tokens/${parentId}`, { authorization: ALICE })).status).toBe(204);
    for (const secret of [parent, child.token, grandchild.token]) expect(await authenticates(secret)).toBe(false);
    expect(await authenticates(unrelated)).toBe(true);
    const listed = (await call(app, "GET", "/api/v1/tokens?include_revoked=true", { authorization: ALICE })).json.tokens;
    expect(listed.find((token: any) => token.id === grandchild.id).status).toBe("revoked");
  });

  test("a token records its session; the owner's sign-out keeps it, a replayed refresh token ends it", async () => {
    const session = await login();
    const made = (await call(app, "POST", "/api/v1/tokens", { authorization: `Bearer ${session.access}`, json: {} })).json;
    expect(made.session_id).toMatch(/^ses_/);
    // Made from that token: the same session, recorded.
    const fromToken = (await call(app, "POST", "/api/v1/tokens", { authorization: `Bearer ${made.token}`, json: {} })).json;
    expect(fromToken.session_id).toBe(made.session_id);
    // "Sign out everywhere" ends the sessions, not the tokens the user made for their scripts.
    const kept = await login();
    const keptToken = (await call(app, "POST", "/api/v1/tokens", { authorization: `Bearer ${kept.access}`, json: {} })).json.token;
    expect((await call(app, "POST", "/api/v1/auth/logout/all", { authorization: `Bearer ${kept.access}` })).status).toBe(200);
    expect(await authenticates(keptToken)).toBe(true);
    expect(await authenticates(made.token)).toBe(true);

    // A refresh token presented twice: the session may be in a thief's hands, and so may what was made in it.
    const other = await login();
    const stolen = (await call(app, "POST", "/api/v1/tokens", { authorization: `Bearer ${other.access}`, json: {} })).json.token;
    expect((await call(app, "POST", "/api/v1/auth/session/refresh", { json: { refresh_token: other.refresh } })).status).toBe(200);
    expect((await call(app, "POST", "/api/v1/auth/session/refresh", { json: { refresh_token: other.refresh } })).status).toBe(401);
    expect(await authenticates(stolen)).toBe(false);
  });

  test("an admin revoking someone's session revokes the tokens made in it", async () => {
    const session = await login();
    const made = (await call(app, "POST", "/api/v1/tokens", { authorization: `Bearer ${session.access}`, json: {} })).json;
    expect((await call(app, "DELETE", `/api/v1/auth/session/revoke/${made.session_id}`, { authorization: ROOT })).status).toBe(204);
    expect(await authenticates(made.token)).toBe(false);
  });

  test("admins end a user's sessions and tokens in one action", async () => {
    const session = await login("bob");
    const tokens = [await tokenWith(app, basic("bob", "bob-pw")), await tokenWith(app, basic("bob", "bob-pw"))];
    const forbidden = await call(app, "POST", "/api/v1/auth/users/end", { authorization: ALICE, json: { username: "bob", realm: "local" } });
    expect(forbidden.status).toBe(403);
    const ended = await call(app, "POST", "/api/v1/auth/users/end", { authorization: ROOT, json: { username: "bob", realm: "local" } });
    expect(ended.status).toBe(200);
    expect(ended.json).toEqual({ sessions: 1, tokens: 2 });
    for (const secret of [...tokens, session.access]) expect(await authenticates(secret)).toBe(false);
    expect((await call(app, "POST", "/api/v1/auth/session/refresh", { json: { refresh_token: session.refresh } })).status).toBe(401);
    expect(await authenticates(await tokenWith(app, ALICE))).toBe(true);
  });
});

describe("findings 1 and 13: access tokens are Gatehouse's own, for Gatehouse alone", () => {
  test("with a shared HS256 secret, a backend holding it cannot mint an access token (bob's live sid, username root)", async () => {
    const bob = await login("bob");
    const claims = decodeJwt(bob.access);
    const forged = await new SignJWT({ ...claims, sub: "local-root", username: "root", roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256", typ: "at+jwt" })
      .sign(new TextEncoder().encode(SECRET));
    expect(await authenticates(forged)).toBe(false);
    expect((await call(app, "GET", "/api/v1/keys", { authorization: `Bearer ${forged}` })).status).toBe(401);
    // The real one is signed with a key of Gatehouse's (ES256, in the store), which the secret does not verify.
    expect(decodeProtectedHeader(bob.access)).toMatchObject({ alg: "ES256", typ: "at+jwt" });
    expect(await authenticates(bob.access)).toBe(true);
  });

  test("an access token must name the user its session belongs to, even signed with Gatehouse's own key", async () => {
    const bob = await login("bob");
    const claims = decodeJwt(bob.access);
    const signer = app.gatehouse.keys.sessionKeySet!.signer();
    const borrowed = await new SignJWT({ ...claims, sub: "local-root", username: "root", roles: ["admin"] })
      .setProtectedHeader(jwtHeader(signer, "at+jwt"))
      .sign(signer.key);
    expect(await authenticates(borrowed)).toBe(false);
    const genuine = await new SignJWT({ ...claims }).setProtectedHeader(jwtHeader(signer, "at+jwt")).sign(signer.key);
    expect(await authenticates(genuine)).toBe(true);
  });

  test("an access token's audience is Gatehouse itself, never the backends' jwt.aud", async () => {
    const { access } = await login();
    expect(decodeJwt(access).aud).toBe("urn:gatehouse:access-token");
    const backendJwt = (await fetch(`${app.url}/authenticate`, { headers: { authorization: ALICE } })).headers.get("authorization")!.slice(7);
    expect(decodeJwt(backendJwt).aud).toBe("my-api");
    const { buildConfig } = await import("../src/config/load.ts");
    expect(() => buildConfig(config(dir, { jwt: { iss: "x", aud: "urn:gatehouse:access-token", secret: SECRET } }), "test", {})).toThrow(
      /jwt.aud: "urn:gatehouse:access-token" is the audience of sessions' access tokens/,
    );
  });
});

describe("finding 5: links come from public_url, or from a trusted proxy's headers, never from anyone's", () => {
  const FORWARDED = { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https", "x-forwarded-prefix": "/keys" };

  async function discovery(target: TestApp) {
    const openid = await fetch(`${target.url}/.well-known/openid-configuration`, { headers: FORWARDED });
    const tiled = await fetch(`${target.url}/api/v1/`, { headers: FORWARDED });
    const document = (await openid.json()) as any;
    return { openid: { cache: openid.headers.get("cache-control"), ...document }, tiled: (await tiled.json()) as any };
  }

  test("without public_url or trusted proxies, a request's X-Forwarded-* headers are ignored and nobody else may be served the answer", async () => {
    const { openid, tiled } = await discovery(app);
    expect(openid.jwks_uri).toBe(`${app.url}/.well-known/jwks.json`);
    expect(openid.cache).toBe("no-store");
    expect(tiled.links.self).toBe(`${app.url}/api/v1/`);
  });

  test("a configured trusted proxy's headers are believed", async () => {
    const proxied = await startApp(config(temporaryDirectory("gatehouse-security-proxy-"), { trusted_proxies: ["127.0.0.0/8", "::1"] }));
    try {
      const { openid, tiled } = await discovery(proxied);
      expect(openid.jwks_uri).toBe("https://evil.example/keys/.well-known/jwks.json");
      expect(openid.cache).toBe("no-store");
      expect(tiled.authentication.links.whoami).toBe("https://evil.example/keys/api/v1/auth/whoami");
    } finally {
      await proxied.stop();
    }
  });

  test("public_url wins over every header, and only then may shared caches keep the document", async () => {
    const fixed = await startApp(config(temporaryDirectory("gatehouse-security-public-"), { public_url: "https://auth.example.org/gh/", trusted_proxies: ["127.0.0.1"] }));
    try {
      const { openid, tiled } = await discovery(fixed);
      expect(openid.jwks_uri).toBe("https://auth.example.org/gh/.well-known/jwks.json");
      expect(openid.cache).toMatch(/^public, max-age=\d+$/);
      expect(tiled.links.self).toBe("https://auth.example.org/gh/api/v1/");
      // An Origin naming public_url is Gatehouse's own (finding 7).
      const own = await call(fixed, "POST", "/api/v1/tokens", { authorization: ALICE, json: {}, headers: { origin: "https://auth.example.org" } });
      expect(own.status).toBe(201);
    } finally {
      await fixed.stop();
    }
  });

  test("config check refuses a public_url or a trusted proxy it cannot use", async () => {
    const { buildConfig } = await import("../src/config/load.ts");
    const problems = (() => {
      try {
        buildConfig(config(dir, { public_url: "auth.example.org", trusted_proxies: ["10.0.0.0/33", "nginx", "10.1.2.3"] }), "test", {});
        return "";
      } catch (error) {
        return String((error as Error).message);
      }
    })();
    expect(problems).toContain('public_url: "auth.example.org" is not an http(s) URL');
    expect(problems).toContain('trusted_proxies[0]: "10.0.0.0/33" has an invalid prefix length (0 to 32)');
    expect(problems).toContain("trusted_proxies[1]:");
    expect(problems).not.toContain("trusted_proxies[2]");
  });
});

describe("finding 8: scope names are names, never object properties", () => {
  test("Tiled's apikey route: __proto__:read, constructor:x and toString are unknown services (400), never a 500 or an empty scope", async () => {
    for (const scopes of [["__proto__:read"], ["constructor:x"], ["toString"], ["hasOwnProperty"], ["ecflow:read", "__proto__"]]) {
      const answer = await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json: { scopes } });
      expect([scopes, answer.status]).toEqual([scopes, 400]);
      expect(answer.json.detail).toStartWith("Unknown service");
    }
    for (const scopes of [["ecflow:"], [":read"], ["ecflow:read write"], ["a\nb"]]) {
      const answer = await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json: { scopes } });
      expect([scopes, answer.status]).toEqual([scopes, 400]);
    }
  });

  test("the REST route: a __proto__ or toString service is unknown (400)", async () => {
    for (const body of ['{"scopes": {"toString": []}}', '{"scopes": {"constructor": ["x"]}}']) {
      const answer = await call(app, "POST", "/api/v1/tokens", { authorization: ALICE, body, headers: { "content-type": "application/json" } });
      expect([body, answer.status]).toEqual([body, 400]);
      expect(answer.json.error).toStartWith("Unknown service");
    }
    // A "__proto__" key would become a prototype at the first copy: refused wherever it is.
    for (const body of ['{"scopes": {"__proto__": ["read"]}}', '{"__proto__": {"note": "x"}}']) {
      const answer = await call(app, "POST", "/api/v1/tokens", { authorization: ALICE, body, headers: { "content-type": "application/json" } });
      expect([body, answer.status, answer.json.error]).toEqual([body, 400, 'The request body may not use "__proto__" as a key']);
    }
  });

  test("config check refuses service and scope names that are not names", async () => {
    const { buildConfig } = await import("../src/config/load.ts");
    expect(() => buildConfig(config(dir, { services: [{ name: "eco flow", scopes: ["read"] }] }), "test", {})).toThrow(/services\[0\]\.name/);
    expect(() => buildConfig(config(dir, { services: [{ name: "ecflow", scopes: ["re ad"] }] }), "test", {})).toThrow(/services\[0\]\.scopes\[0\]/);
  });
});

describe("finding 11: a request is routed by its real path, whatever its Host", () => {
  test("with a one- or two-character Host, /ab/api/v1/keys does not reach /api/v1/keys", async () => {
    for (const host of ["ab", "a"]) {
      const answer = await rawHttp(app.url, `GET /${host}/api/v1/keys HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${ROOT}`);
      expect([host, answer.status]).toEqual([host, 400]);
      expect(answer.text).not.toContain('"mode"');
    }
    const health = await rawHttp(app.url, "GET /x/health HTTP/1.1\r\nHost: x");
    expect(health.status).toBe(400);
  });

  test("the same request with a real host name is routed as usual", async () => {
    const answer = await rawHttp(app.url, `GET /api/v1/keys HTTP/1.1\r\nHost: gatehouse.example\r\nAuthorization: ${ROOT}`);
    expect(answer.status).toBe(200);
    expect((await rawHttp(app.url, "GET /ab/api/v1/keys HTTP/1.1\r\nHost: gatehouse.example")).status).toBe(404);
  });
});

describe("finding 12: roles and attributes with control characters", () => {
  const withIdentity = (provider: object, augmenters: object[] = []) =>
    config(dir, {
      providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "alice", password: "alice-pw", ...provider }] }],
      augmenters,
    });

  async function problemsOf(raw: Record<string, unknown>): Promise<string> {
    const { buildConfig } = await import("../src/config/load.ts");
    try {
      buildConfig(raw, "test", {});
      return "";
    } catch (error) {
      return (error as Error).message;
    }
  }

  test("config check refuses them, in providers and augmenters, naming where (not the value)", async () => {
    expect(await problemsOf(withIdentity({ roles: ["ops\r\nX-Injected: 1"] }))).toContain("providers[0].users[0].roles[0]: contains a control character");
    expect(await problemsOf(withIdentity({ attributes: { team: "a\nb" } }))).toContain("providers[0].users[0].attributes.team: contains a control character");
    const augmenters = [
      { type: "plain", name: "roles", realm: "local", roles: { "bad\nrole": ["alice"] } },
      { type: "plain_advanced", name: "adv", realm: "local", match: { username: ["alice"] }, augment: { roles: ["x\u0007"], attributes: { k: "v\r" } } },
    ];
    const problems = await problemsOf(withIdentity({}, augmenters));
    expect(problems).toContain("augmenters[0].roles: the key");
    expect(problems).toContain("augmenters[1].augment.roles[0]: contains a control character");
    expect(problems).toContain("augmenters[1].augment.attributes.k: contains a control character");
    expect(problems).not.toContain("X-Injected");
    expect(await problemsOf(withIdentity({ roles: ["ops"], attributes: { team: "research" } }))).toBe("");
  });

  test("a role an augmenter adds with a line break makes the answer a 401, never a 500 or a split header", async () => {
    const { buildConfig } = await import("../src/config/load.ts");
    const { createGatehouse } = await import("../src/app.ts");
    const { createLogger } = await import("../src/log.ts");
    const raw = withIdentity({}, [{ type: "plain", name: "roles", realm: "local", roles: { staff: ["alice"] } }]);
    const { config: checked } = buildConfig({ ...raw, store: { enabled: false } }, "test", {});
    // What a directory could answer at run time, past the config check.
    (checked.augmenters[0] as any).roles = { "staff\r\nX-Injected: 1": ["alice"] };
    const logs: string[] = [];
    const gatehouse = await createGatehouse(checked, createLogger({ level: "info", format: "json", write: (line) => logs.push(line) }));
    gatehouse.app.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const answer = await fetch(`http://127.0.0.1:${gatehouse.app.server!.port}/authenticate`, { headers: { authorization: ALICE } });
      expect(answer.status).toBe(401);
      expect(answer.headers.get("x-injected")).toBeNull();
      expect(logs.some((line) => line.includes("auth.unsafe_identity"))).toBe(true);
    } finally {
      await gatehouse.app.stop(true);
      await gatehouse.close();
    }
  });
});

describe("finding 10: store failures", () => {
  // SQLite only: a read-only file (a PostgreSQL store that cannot be reached is pg-backend's and pg-config's).
  test.skipIf(storeIsPostgres)("a store that cannot be written stops start-up, saying why", async () => {
    const { spawnSync } = await import("node:child_process");
    const { chmodSync } = await import("node:fs");
    const roDir = temporaryDirectory("gatehouse-security-ro-");
    const path = join(roDir, "gatehouse.db");
    const first = await startApp(config(roDir, { store: { enabled: true, path } }));
    await first.stop();
    // Root writes through file modes: make the file and its folder immutable instead, where the file system allows it.
    const root = process.getuid?.() === 0;
    if (root) {
      const immutable = spawnSync("chattr", ["+i", path, roDir]);
      if (immutable.status !== 0) {
        console.warn(`SKIPPED: chattr cannot make ${roDir} immutable here (${immutable.stderr}); a read-only store cannot be simulated as root`);
        return;
      }
    } else {
      chmodSync(path, 0o444);
      chmodSync(roDir, 0o555);
    }
    try {
      await expect(startApp(config(roDir, { store: { enabled: true, path } }))).rejects.toThrow(
        `the store ${path} cannot be written (attempt to write a readonly database)`,
      );
    } finally {
      if (root) spawnSync("chattr", ["-i", path, roDir]);
      else chmodSync(roDir, 0o755);
    }
  });

  test("a failure to write an audit row never changes the answer", async () => {
    const failAudit = () =>
      storedExec(app, {
        sqlite: "CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END",
        postgres: `CREATE FUNCTION audit_fails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'database or disk is full'; END $$;
                   CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_fails();`,
      });
    const mendAudit = () =>
      storedExec(app, { sqlite: "DROP TRIGGER audit_fails", postgres: "DROP TRIGGER audit_fails ON audit_log; DROP FUNCTION audit_fails();" });
    await failAudit();
    const logsBefore = app.logs.length;
    try {
      const wrong = await call(app, "POST", "/api/v1/auth/provider/local/token", {
        body: "username=alice&password=wrong",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(wrong.status).toBe(401);
      expect(wrong.json.detail).toBe("Incorrect username or password");
      const beyond = await call(app, "POST", "/api/v1/tokens", {
        authorization: `Bearer ${await createWithoutAudit()}`,
        json: { scopes: { ecflow: ["write"] } },
      });
      expect(beyond.status).toBe(403);
      const foreign = await call(app, "DELETE", "/api/v1/tokens/tok_nonexistent", { authorization: ALICE });
      expect(foreign.status).toBe(404);
      expect(app.logs.slice(logsBefore).some((line) => line.includes("audit.write_failed"))).toBe(true);
    } finally {
      await mendAudit();
    }

    /** A token scoped to ecflow:read and gatehouse:tokens, made while the trigger is set aside for a moment. */
    async function createWithoutAudit(): Promise<string> {
      await mendAudit();
      try {
        return await tokenWith(app, ALICE, { ecflow: ["read"], gatehouse: ["tokens"] });
      } finally {
        await failAudit();
      }
    }
  });

  test("failed logins are one audit row per user and address per minute, with a count", async () => {
    const count = async () =>
      (await storedRow<{ rows: number }>(app, "SELECT count(*) AS rows FROM audit_log WHERE event = 'session.login_failed' AND actor_username = 'guessed'"))!.rows;
    const before = await count();
    for (let attempt = 0; attempt < 25; attempt++) {
      const answer = await call(app, "POST", "/api/v1/auth/provider/local/token", {
        body: `username=guessed&password=guess-${attempt}`,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(answer.status).toBe(401);
    }
    // One row, or two if a minute turned during the loop.
    const added = (await count()) - before;
    expect(added).toBeGreaterThanOrEqual(1);
    expect(added).toBeLessThanOrEqual(2);
    const rows = await storedRows<{ detail: string; address: string }>(
      app,
      "SELECT detail, address FROM audit_log WHERE event = 'session.login_failed' AND actor_username = 'guessed'",
    );
    expect(rows.reduce((total, row) => total + JSON.parse(row.detail).count, 0)).toBe(25);
    expect(JSON.parse(rows[0].detail).provider).toBe("local");
    expect(rows[0].address).toBe("127.0.0.1");
  });
});

describe("finding 9: a user removed from the config loses their sessions at start-up", () => {
  test("their access token stops at once, not when it expires; other users' sessions go on", async () => {
    const usersDir = temporaryDirectory("gatehouse-security-users-");
    const before = await startApp(config(usersDir));
    const login = (target: TestApp, username: string) =>
      call(target, "POST", "/api/v1/auth/provider/local/token", {
        body: new URLSearchParams({ username, password: `${username}-pw` }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    const alice = (await login(before, "alice")).json;
    const bob = (await login(before, "bob")).json;
    await before.stop();
    const withoutAlice = config(usersDir);
    (withoutAlice.providers[0] as any).users = (withoutAlice.providers[0] as any).users.filter((user: any) => user.username !== "alice");
    const after = await startApp(withoutAlice);
    try {
      const check = (token: string) => fetch(`${after.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });
      expect((await check(alice.access_token)).status).toBe(401);
      expect((await check(bob.access_token)).status).toBe(200);
      const ended = await call(after, "GET", "/api/v1/auth/sessions?user=alice&realm=local&include_inactive=true", { authorization: ROOT });
      expect(ended.json.sessions.map((session: any) => session.revoked_reason)).toEqual(["user no longer known"]);
      expect(after.logs.some((line) => line.includes("sessions.unknown_users_ended"))).toBe(true);
    } finally {
      await after.stop();
    }
  });
});

describe("finding 9: a provider that cannot be asked at start-up ends nobody's session", () => {
  test("the first failure stops the check for that provider: no session ends, no time-out per user", async () => {
    await login("alice");
    await login("bob");
    const { SessionService } = await import("../src/sessions/service.ts");
    const { createLogger } = await import("../src/log.ts");
    const sessions = app.gatehouse.sessions!;
    let asked = 0;
    const unreachable = new SessionService(
      sessions.store,
      sessions.policy,
      { keySet: app.gatehouse.keys.sessionKeySet!, iss: "gatehouse-test" },
      () => {
        asked++;
        throw new Error("LDAP bind: connection refused");
      },
      createLogger({ level: "error", format: "json", write: () => {} }),
    );
    expect(await unreachable.endSessionsOfUnknownUsers()).toBe(0);
    expect(asked).toBe(1);
  });
});

describe("finding 4: what a remote key service vouched for lives a bounded time", () => {
  test("tokens and sessions made from an ECMWF API key are capped (unverifiable_max_age), and the answers say so", async () => {
    const { startWhoAmI } = await import("./helpers/who-am-i.ts");
    const whoAmI = startWhoAmI();
    const KEY = "0123456789abcdef0123456789abcdef";
    whoAmI.users.set(KEY, { uid: "ecuser" });
    const remote = await startApp(
      config(temporaryDirectory("gatehouse-security-remote-"), {
        providers: [
          ...(config(dir).providers as object[]),
          { type: "ecmwf-api", name: "ecmwf", realm: "ecmwf", uri: whoAmI.url, cache_seconds: 0 },
        ],
        authentication: { unverifiable_max_age: 7200 },
      }),
    );
    try {
      const bearer = `Bearer ${KEY}`;
      const token = await call(remote, "POST", "/api/v1/tokens", { authorization: bearer, json: { expires_in: 30 * 86400 } });
      expect(token.status).toBe(201);
      expect(Date.parse(token.json.expires_at) - Date.parse(token.json.created_at)).toBe(7200 * 1000);
      expect(token.json.lifetime_note).toContain('the providers of realm "ecmwf" cannot tell later');
      const apikey = await call(remote, "POST", "/api/v1/auth/apikey", { authorization: bearer, json: {} });
      expect(apikey.status).toBe(200);
      expect(apikey.json.lifetime_note).toContain("authentication.unverifiable_max_age");
      const login = await call(remote, "POST", "/api/v1/auth/provider/ecmwf/token", {
        body: `password=${KEY}`,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(login.status).toBe(200);
      expect(login.json.session_expires_in).toBe(7200);
      expect(login.json.lifetime_note).toContain('realm "ecmwf"');
      // The portal says it where the token is shown.
      const FORM = { "content-type": "application/x-www-form-urlencoded", origin: remote.url };
      const portalSignIn = await fetch(`${remote.url}/portal/sign-in`, {
        method: "POST",
        redirect: "manual",
        headers: FORM,
        body: new URLSearchParams({ provider: "ecmwf", api_key: KEY }),
      });
      expect(portalSignIn.status).toBe(303);
      const cookie = portalSignIn.headers.get("set-cookie")!.split(";")[0];
      const form = await (await fetch(`${remote.url}/portal/tokens/new`, { headers: { cookie } })).text();
      const csrf = form.match(/name="csrf" value="([^"]+)"/)![1];
      const nonce = form.match(/name="nonce" value="([^"]+)"/)![1];
      const created = await fetch(`${remote.url}/portal/tokens/new`, {
        method: "POST",
        headers: { ...FORM, cookie },
        body: new URLSearchParams({ note: "from the portal", expires: "30", scope: "ecflow:read", csrf, nonce }),
      });
      expect(created.status).toBe(201);
      expect(await created.text()).toContain("cannot tell later whether the credential it was made from was revoked");
      // A realm whose users can be described again (config users) keeps the usual lifetimes, said without a note.
      const local = await call(remote, "POST", "/api/v1/tokens", { authorization: ALICE, json: { expires_in: 30 * 86400 } });
      expect(Date.parse(local.json.expires_at) - Date.parse(local.json.created_at)).toBe(30 * 86400 * 1000);
      expect(local.json.lifetime_note).toBeUndefined();
      const localLogin = await call(remote, "POST", "/api/v1/auth/provider/local/token", {
        body: "username=alice&password=alice-pw",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(localLogin.json.session_expires_in).toBe(31536000);
      expect(localLogin.json.lifetime_note).toBeUndefined();
    } finally {
      await remote.stop();
      whoAmI.stop();
    }
  });
});

describe("finding 15: a body sent in chunks, without a length, is refused as soon as it passes 64 KiB", () => {
  test("a login whose body never ends is answered 413 after a few chunks, not read to the end", async () => {
    let sent = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (sent >= 256 * 1024 * 1024) return controller.close();
        sent += 65536;
        controller.enqueue(new Uint8Array(65536).fill(97));
        await Bun.sleep(1);
      },
    });
    const answer = await fetch(`${app.url}/api/v1/auth/provider/local/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(answer.status).toBe(413);
    expect(sent).toBeLessThan(8 * 1024 * 1024);
  });
});

describe("finding 15: the store is private to Gatehouse's user", () => {
  // SQLite only: file modes (PostgreSQL's files are the server's).
  test.skipIf(storeIsPostgres)("a new database file is 0600 (its -wal too), and the folder made for it 0700", async () => {
    const { statSync } = await import("node:fs");
    const parent = temporaryDirectory("gatehouse-security-modes-");
    const folder = join(parent, "data");
    const path = join(folder, "gatehouse.db");
    const fresh = await startApp(config(parent, { store: { enabled: true, path } }));
    try {
      await tokenWith(fresh, ALICE);
      expect(statSync(folder).mode & 0o777).toBe(0o700);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    } finally {
      await fresh.stop();
    }
  });
});

describe("finding 14: an empty X-Auth-Realm is not an absent one", () => {
  test("a remembered answer for no realm is not given to an empty realm, which matches no provider", async () => {
    const head = (realm: string | null) =>
      `GET /authenticate HTTP/1.1\r\nHost: gatehouse.example\r\nAuthorization: ${ALICE}${realm === null ? "" : `\r\nX-Auth-Realm: ${realm}`}`;
    expect((await rawHttp(app.url, head(null))).status).toBe(200);
    expect((await rawHttp(app.url, head(""))).status).toBe(401);
    expect((await rawHttp(app.url, head(null))).status).toBe(200);
    expect((await rawHttp(app.url, head("local"))).status).toBe(200);
  });
});
