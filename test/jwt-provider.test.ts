// The jwt provider against a real OpenID provider (oidc-provider) on loopback.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT, decodeJwt } from "jose";
import { startApp, type TestApp } from "./helpers/app.ts";
import { PUBLIC_CLIENT, REALM, startIdp, type TestIdp } from "./helpers/oidc.ts";

let idp: TestIdp;
let app: TestApp;
let strictApp: TestApp;

const jwtConfig = (idp: TestIdp, extra: Record<string, unknown> = {}) => ({
  version: "2.0.0",
  auth: { timeout_in_ms: 2000 },
  providers: [
    { type: "jwt", name: "keycloak", realm: "idp", cert_uri: idp.certUri, iam_realm: REALM, jwks_cache_seconds: 2, jwks_refetch_seconds: 1, ...extra },
  ],
  // No reuse of answers: each request here must reach the provider.
  jwt: { iss: "gatehouse-test", exp: 3600, secret: "a-test-secret-that-is-long-enough", reuse_seconds: 0 },
  include_legacy_headers: true,
  store: { enabled: false },
});

const bearer = (target: TestApp, token: string) => fetch(`${target.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });

/** An access token issued by the provider itself: an offline token exchanged with the refresh-token grant. */
async function issuedAccessToken(accountId: string): Promise<string> {
  const offline = await idp.offlineToken(accountId);
  const response = await fetch(`${idp.issuer}/protocol/openid-connect/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", client_id: PUBLIC_CLIENT, refresh_token: offline }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

beforeAll(async () => {
  idp = await startIdp();
  idp.accounts.set("user-1", { username: "jdoe", roles: ["reader", "writer"], clientRoles: { ecflow: ["operator"] } });
  idp.accounts.set("user-2", { username: "asmith", roles: [] });
  app = await startApp(jwtConfig(idp));
  strictApp = await startApp(jwtConfig(idp, { audience: "another-api", issuer: idp.issuer }));
});
afterAll(async () => {
  await app.stop();
  await strictApp.stop();
  await idp.stop();
});

describe("jwt provider", () => {
  test("an access token the provider issued: preferred_username, roles from realm_access and resource_access, claims as attributes", async () => {
    const token = await issuedAccessToken("user-1");
    const response = await bearer(app, token);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-auth-username")).toBe("jdoe");
    expect(response.headers.get("x-auth-realm")).toBe("idp");
    expect(response.headers.get("x-auth-roles")!.split(",").sort()).toEqual(["operator", "reader", "writer"]);
    const claims = decodeJwt(response.headers.get("authorization")!.slice(7));
    const original = decodeJwt(token);
    expect((claims.attributes as Record<string, string>).iss).toBe(idp.issuer);
    expect((claims.attributes as Record<string, string>).scope).toBe("openid offline_access");
    // The identity provider's expiry caps the JWT Gatehouse issues (auth-o-tron's exp attribute).
    expect(claims.exp).toBeLessThanOrEqual(original.exp!);
  });

  test("without preferred_username the username is sub", async () => {
    const claims = { ...idp.accessClaims("user-2"), preferred_username: undefined };
    const response = await bearer(app, await idp.sign(claims));
    expect(response.status).toBe(200);
    expect(response.headers.get("x-auth-username")).toBe("user-2");
  });

  test("an expired token is refused; one expired within the leeway is accepted", async () => {
    const claims = idp.accessClaims("user-1");
    const now = Math.floor(Date.now() / 1000);
    expect((await bearer(app, await idp.sign({ ...claims, exp: now - 120 }))).status).toBe(401);
    expect((await bearer(app, await idp.sign({ ...claims, exp: now - 5 }))).status).toBe(200);
    expect((await bearer(app, await idp.sign({ ...claims, exp: undefined }))).status).toBe(401); // exp is required
  });

  test("a wrong issuer is refused (another Keycloak realm); a configured issuer and audience are enforced", async () => {
    const claims = idp.accessClaims("user-1");
    expect((await bearer(app, await idp.sign({ ...claims, iss: `${idp.origin}/realms/other` }))).status).toBe(401);
    const good = await idp.sign(claims);
    expect((await bearer(app, good)).status).toBe(200);
    expect((await bearer(strictApp, good)).status).toBe(401); // aud is urn:gatehouse:api, not another-api
    expect((await bearer(strictApp, await idp.sign({ ...claims, aud: "another-api" }))).status).toBe(200);
    expect((await bearer(strictApp, await idp.sign({ ...claims, aud: "another-api", iss: `${idp.issuer}/x` }))).status).toBe(401);
  });

  test("the algorithm is pinned by the key: HS256 and none are refused even with a known kid", async () => {
    const claims = idp.accessClaims("user-1");
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: idp.kid }).sign(new TextEncoder().encode("x".repeat(32)));
    expect((await bearer(app, hs)).status).toBe(401);
    const none = `${Buffer.from(JSON.stringify({ alg: "none", kid: idp.kid })).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;
    expect((await bearer(app, none)).status).toBe(401);
    // A valid signature with the payload changed afterwards.
    const [head, , signature] = (await idp.sign(claims)).split(".");
    const forged = `${head}.${Buffer.from(JSON.stringify({ ...claims, realm_access: { roles: ["admin"] } })).toString("base64url")}.${signature}`;
    expect((await bearer(app, forged)).status).toBe(401);
  });

  test("a burst of junk tokens with unknown kids causes at most one JWKS fetch", async () => {
    await Bun.sleep(1100); // past the refetch interval, so the burst may cause one
    const before = idp.jwksFetches;
    const claims = idp.accessClaims("user-1");
    const junk = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: `junk-${index}` }).sign(crypto.getRandomValues(new Uint8Array(32))).catch(() =>
          // RS256 needs an RSA key: a made-up header and signature do as well.
          `${Buffer.from(JSON.stringify({ alg: "RS256", kid: `junk-${index}` })).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.c2ln`,
        ),
      ),
    );
    const statuses = await Promise.all(junk.map((token) => bearer(app, token).then((response) => response.status)));
    expect(statuses.every((status) => status === 401)).toBe(true);
    expect(idp.jwksFetches - before).toBeLessThanOrEqual(1);
    // A second burst right away causes none.
    const again = await Promise.all(junk.map((token) => bearer(app, token).then((response) => response.status)));
    expect(again.every((status) => status === 401)).toBe(true);
    expect(idp.jwksFetches - before).toBeLessThanOrEqual(1);
  });

  test("key rotation at the provider: tokens of the new key are accepted once it is published, those of the retired key refused", async () => {
    const old = await idp.sign(idp.accessClaims("user-1"));
    expect((await bearer(app, old)).status).toBe(200);
    await idp.rotate();
    await Bun.sleep(1100); // the refetch interval since the last fetch
    const fresh = await issuedAccessToken("user-1");
    expect(decodeJwt(fresh).iss).toBe(idp.issuer);
    expect((await bearer(app, fresh)).status).toBe(200); // an unknown kid made the JWKS be fetched again
    expect((await bearer(app, await idp.sign(idp.accessClaims("user-1")))).status).toBe(200);
    expect((await bearer(app, old)).status).toBe(401); // its key is no longer published
  });

  test("the provider down: tokens whose key is cached still pass, even past the cache time", async () => {
    const token = await idp.sign(idp.accessClaims("user-1"));
    expect((await bearer(app, token)).status).toBe(200);
    await idp.down();
    try {
      await Bun.sleep(2200); // past jwks_cache_seconds: the next request tries to refetch and fails
      expect((await bearer(app, token)).status).toBe(200);
      expect(app.logs.some((line) => line.includes("providers.jwks.stale") && line.includes("connection refused"))).toBe(true);
      // An unknown kid while the provider is down: refused, no 5xx.
      const unknown = `${Buffer.from(JSON.stringify({ alg: "RS256", kid: "nope" })).toString("base64url")}.e30.c2ln`;
      expect((await bearer(app, unknown)).status).toBe(401);
    } finally {
      await idp.up();
    }
  });

  test("tokens never appear in the logs", () => {
    const logs = app.logs.join("\n");
    expect(logs).toContain("providers.jw");
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
  });
});

describe("which Bearer values reach remote providers", () => {
  test("Gatehouse's own JWT is not offered to the jwt provider", async () => {
    const token = await idp.sign(idp.accessClaims("user-1"));
    const ours = (await bearer(app, token)).headers.get("authorization")!.slice(7);
    expect(decodeJwt(ours).iss).toBe("gatehouse-test");
    const before = app.logs.length;
    expect((await bearer(app, ours)).status).toBe(401);
    expect(app.logs.slice(before).some((line) => line.includes("providers.jwt.refused"))).toBe(false);
  });
});
