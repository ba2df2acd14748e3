// ecmwf-token-generator and efas-api, each against a small loopback server
// speaking exactly their endpoints; the token generator's access tokens are
// signed with the keys of a real OpenID provider (oidc-provider) whose JWKS
// Gatehouse fetches.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { SignJWT, generateKeyPair } from "jose";
import { startApp, type TestApp } from "./helpers/app.ts";
import { REALM, startIdp, type TestIdp } from "./helpers/oidc.ts";

const CLIENT_ID = "gatehouse-client";
const CLIENT_SECRET = "generator-client-secret";

let idp: TestIdp;
let generator: Server<undefined>;
let efas: Server<undefined>;
let app: TestApp;
const calls: { path: string; body: Record<string, unknown> | null; query: string | null }[] = [];
/** Offline tokens the generator knows → the account they belong to. */
const offlineTokens = new Map<string, string>();
/** Tokens whose exchange gives an access token signed by a key nobody publishes. */
const foreignKeyTokens = new Set<string>();
let unpublishedKey: CryptoKey;
const efasUsers = new Map<string, { username: string; roles?: string[]; email?: string }>();

beforeAll(async () => {
  idp = await startIdp();
  idp.accounts.set("user-1", { username: "jdoe", roles: ["forecaster"] });
  unpublishedKey = (await generateKeyPair("RS256")).privateKey;
  generator = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      const body = request.method === "POST" ? ((await request.json()) as Record<string, unknown>) : null;
      calls.push({ path, body, query: null });
      if (request.method !== "POST" || request.headers.get("content-type") !== "application/json") return new Response("no", { status: 400 });
      if (path === "/token-generator/validate-token") {
        const active = body?.client_id === CLIENT_ID && offlineTokens.has(String(body?.token));
        return Response.json({ active });
      }
      if (path === "/token-generator/admin/refresh-access-token") {
        if (body?.client_id !== CLIENT_ID || body?.client_secret !== CLIENT_SECRET) return Response.json({ error: "unauthorized" }, { status: 401 });
        const account = offlineTokens.get(String(body?.refresh_token));
        if (!account) return Response.json({ error: "invalid_grant" }, { status: 400 });
        const claims = idp.accessClaims(account);
        const access_token = foreignKeyTokens.has(String(body?.refresh_token))
          ? await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "unpublished" }).sign(unpublishedKey)
          : await idp.sign(claims);
        return Response.json({ access_token, expires_in: 300 });
      }
      return new Response("not found", { status: 404 });
    },
  });
  efas = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const url = new URL(request.url);
      const token = url.searchParams.get("token") ?? "";
      calls.push({ path: url.pathname, body: null, query: token });
      if (token === "broken") return new Response("oops", { status: 500 });
      const user = efasUsers.get(token);
      if (!user) return new Response("Invalid access token", { status: 403 });
      return Response.json({ user_id: 1, first_name: "Test", partner_abbr: "ECMWF", ...user });
    },
  });
  app = await startApp({
    version: "2.0.0",
    auth: { timeout_in_ms: 2000 },
    providers: [
      {
        type: "ecmwf-token-generator",
        name: "token-generator",
        realm: REALM,
        cert_uri: idp.certUri,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        token_generator_url: `http://127.0.0.1:${generator.port}/token-generator`,
      },
      { type: "efas-api", name: "efas", realm: "efas", uri: `http://127.0.0.1:${efas.port}/api/user-details` },
    ],
    jwt: { iss: "gatehouse-test", exp: 3600, secret: "a-test-secret-that-is-long-enough", reuse_seconds: 0 },
    include_legacy_headers: true,
    store: { enabled: false },
  });
});
afterAll(async () => {
  await app.stop();
  generator.stop(true);
  efas.stop(true);
  await idp.stop();
});

const bearer = (token: string, realm?: string) =>
  fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${token}`, ...(realm ? { "x-auth-realm": realm } : {}) } });
const callsTo = (suffix: string) => calls.filter((call) => call.path.endsWith(suffix));

describe("ecmwf-token-generator provider", () => {
  test("validate-token, then refresh-access-token, then the access token against the JWKS", async () => {
    offlineTokens.set("offline-aaa", "user-1");
    const response = await bearer("offline-aaa", REALM);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-auth-username")).toBe("jdoe");
    expect(response.headers.get("x-auth-roles")).toBe("forecaster");
    expect(callsTo("/validate-token").at(-1)!.body).toEqual({ token: "offline-aaa", client_id: CLIENT_ID });
    expect(callsTo("/admin/refresh-access-token").at(-1)!.body).toEqual({
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      refresh_token: "offline-aaa",
    });
  });

  test("successes are remembered: the generator is asked once", async () => {
    const before = calls.length;
    for (let i = 0; i < 3; i++) expect((await bearer("offline-aaa", REALM)).status).toBe(200);
    expect(calls.length).toBe(before);
  });

  test("an inactive token is refused each time and never remembered", async () => {
    const before = callsTo("/validate-token").length;
    expect((await bearer("unknown-token", REALM)).status).toBe(401);
    expect((await bearer("unknown-token", REALM)).status).toBe(401);
    expect(callsTo("/validate-token").length).toBe(before + 2);
    offlineTokens.set("unknown-token", "user-1"); // valid now: the next request succeeds
    expect((await bearer("unknown-token", REALM)).status).toBe(200);
  });

  test("an access token signed by a key the JWKS lacks is refused, with a warning", async () => {
    offlineTokens.set("offline-foreign", "user-1");
    foreignKeyTokens.add("offline-foreign");
    expect((await bearer("offline-foreign", REALM)).status).toBe(401);
    expect(app.logs.some((line) => line.includes("providers.ecmwf_token_generator.access_token_refused") && line.includes("unknown key"))).toBe(true);
  });
});

describe("efas-api provider", () => {
  test("a valid token: username, roles and the email attribute from the EFAS answer", async () => {
    efasUsers.set("efas-token-1", { username: "efasuser", roles: ["viewer", "editor"], email: "efas@example.int" });
    const response = await bearer("efas-token-1", "efas");
    expect(response.status).toBe(200);
    expect(response.headers.get("x-auth-username")).toBe("efasuser");
    expect(response.headers.get("x-auth-roles")).toBe("viewer,editor");
    expect(callsTo("/api/user-details").at(-1)!.query).toBe("efas-token-1");
  });

  test("answers are cached for successes only; 403 refuses; 500 is an error logged without the token or URL", async () => {
    const before = callsTo("/api/user-details").length;
    expect((await bearer("efas-token-1", "efas")).status).toBe(200);
    expect(callsTo("/api/user-details").length).toBe(before);
    expect((await bearer("efas-wrong", "efas")).status).toBe(401);
    expect((await bearer("efas-wrong", "efas")).status).toBe(401);
    expect(callsTo("/api/user-details").length).toBe(before + 2);
    expect((await bearer("broken", "efas")).status).toBe(401);
    expect(app.logs.some((line) => line.includes("auth.provider.error") && line.includes("EFAS user-details: HTTP 500"))).toBe(true);
  });

  test("no token, secret or token-carrying URL in any log line", () => {
    const logs = app.logs.join("\n");
    expect(logs).toContain("auth.provider");
    for (const secret of ["offline-aaa", "unknown-token", "efas-token-1", "efas-wrong", CLIENT_SECRET, "token="]) expect(logs).not.toContain(secret);
  });
});
