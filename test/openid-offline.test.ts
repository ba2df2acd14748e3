// The openid-offline provider against a real OpenID provider (oidc-provider)
// on loopback: introspection, the refresh-token grant, the access token's
// validation against the JWKS.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startApp, type TestApp } from "./helpers/app.ts";
import { PRIVATE_CLIENT, PRIVATE_SECRET, PUBLIC_CLIENT, REALM, startIdp, type TestIdp } from "./helpers/oidc.ts";

let idp: TestIdp;
let app: TestApp;
let downApp: TestApp;

const config = (idp: { origin: string; certUri: string }, extra: Record<string, unknown> = {}) => ({
  version: "2.0.0",
  auth: { timeout_in_ms: 2000 },
  providers: [
    {
      type: "openid-offline",
      name: "desp",
      realm: REALM, // auth-o-tron uses the realm as the identity provider's realm too
      cert_uri: idp.certUri,
      public_client_id: PUBLIC_CLIENT,
      private_client_id: PRIVATE_CLIENT,
      private_client_secret: PRIVATE_SECRET,
      iam_url: idp.origin,
      ...extra,
    },
  ],
  jwt: { iss: "gatehouse-test", exp: 3600, secret: "a-test-secret-that-is-long-enough", reuse_seconds: 0 },
  include_legacy_headers: true,
  store: { enabled: false },
});

const bearer = (target: TestApp, token: string) => fetch(`${target.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });
const count = (suffix: string) => idp.requests.filter((path) => path.endsWith(suffix)).length;

beforeAll(async () => {
  idp = await startIdp();
  idp.accounts.set("user-1", { username: "jdoe", roles: ["reader"] });
  app = await startApp(config(idp));
  const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const origin = `http://127.0.0.1:${closed.port}`;
  closed.stop(true);
  downApp = await startApp(config({ origin, certUri: `${origin}/realms/${REALM}/protocol/openid-connect/certs` }));
});
afterAll(async () => {
  await app.stop();
  await downApp.stop();
  await idp.stop();
});

describe("openid-offline provider", () => {
  test("an offline token: introspected, exchanged, its access token validated; the user is the access token's", async () => {
    const offline = await idp.offlineToken("user-1");
    const response = await bearer(app, offline);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-auth-username")).toBe("jdoe");
    expect(response.headers.get("x-auth-realm")).toBe(REALM);
    expect(response.headers.get("x-auth-roles")).toBe("reader");
    expect(count("/token/introspect")).toBe(1);
    expect(count("/token")).toBe(1);
  });

  test("introspection is remembered, the exchange briefly: a second request within 10 s asks neither", async () => {
    const offline = await idp.offlineToken("user-1");
    const [introspections, exchanges] = [count("/token/introspect"), count("/token")];
    expect((await bearer(app, offline)).status).toBe(200);
    expect((await bearer(app, offline)).status).toBe(200);
    expect(count("/token/introspect")).toBe(introspections + 1);
    expect(count("/token")).toBe(exchanges + 1);
  });

  test("a refresh token without offline_access is refused, as is an unknown token; refusals are not remembered", async () => {
    const online = await idp.offlineToken("user-1", "openid");
    expect((await bearer(app, online)).status).toBe(401);
    const introspections = count("/token/introspect");
    expect((await bearer(app, "not-a-token-the-provider-knows")).status).toBe(401);
    expect((await bearer(app, "not-a-token-the-provider-knows")).status).toBe(401);
    expect(count("/token/introspect")).toBe(introspections + 2);
  });

  test("a wrong client secret is an upstream error, logged without the secret or the token", async () => {
    const wrong = await startApp(config(idp, { private_client_secret: "not-the-secret" }));
    try {
      const offline = await idp.offlineToken("user-1");
      expect((await bearer(wrong, offline)).status).toBe(401);
      const logs = wrong.logs.join("\n");
      expect(logs).toContain("auth.provider.error");
      expect(logs).toContain("introspection: HTTP 401");
      expect(logs).not.toContain("not-the-secret");
      expect(logs).not.toContain(offline);
    } finally {
      await wrong.stop();
    }
  });

  test("the identity provider down: 401 at once, one log line saying the connection was refused", async () => {
    const started = performance.now();
    expect((await bearer(downApp, "some-offline-token")).status).toBe(401);
    expect(performance.now() - started).toBeLessThan(1500);
    const errors = downApp.logs.filter((line) => line.includes("auth.provider.error"));
    expect(errors.length).toBe(1);
    expect(errors[0]).toContain("introspection: connection refused");
    expect(errors[0]).not.toContain("some-offline-token");
  });

  test("http:// towards another host is refused by config check", async () => {
    await expect(startApp(config({ origin: "http://keycloak.example.com", certUri: "https://keycloak.example.com/certs" }))).rejects.toThrow(
      /iam_url/,
    );
  });

  test("no offline token or secret in any log line", () => {
    const logs = app.logs.join("\n");
    expect(logs).not.toContain(PRIVATE_SECRET);
    expect(logs).not.toMatch(/refresh_token=|token=/);
  });
});
