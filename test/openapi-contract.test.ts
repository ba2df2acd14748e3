// The contract test of GET /openapi.json (issue 27 § 3): for every operation
// the document describes, real requests to a Gatehouse on an ephemeral port
// (every feature on; on SQLite, and on PostgreSQL with GATEHOUSE_TEST_STORE=
// postgres) answer with a status the operation lists, a media type it lists
// for that status, and a body its schema allows. Each step also says which
// status it expects, so that a step testing a success does test one.
// An operation no step covers (a route added later) is still called once,
// as an administrator with placeholder parameters, and its answer checked.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { basic, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { ADMIN, ALICE, answerChecker, fullConfig } from "./helpers/openapi.ts";
import { ANY_METHODS } from "../src/modules/openapi/document.ts";

type Json = Record<string, any>;

let app: TestApp;
let document: Json;
let check: ReturnType<typeof answerChecker>;
const covered = new Set<string>();
const problems: string[] = [];

beforeAll(async () => {
  app = await startApp(fullConfig(temporaryDirectory()));
  document = (await (await fetch(`${app.url}/openapi.json`)).json()) as Json;
  check = answerChecker(document);
});
afterAll(() => app?.stop());

const alice = { authorization: basic(ALICE.username, ALICE.password) };
const admin = { authorization: basic(ADMIN.username, ADMIN.password) };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
/** A JSON body, with these headers. */
const json = (body: unknown, headers: Record<string, string> = {}) => ({ headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) });

interface Step {
  /** "POST /api/v1/tokens/{id}/rotate": the operation, as the document names it. */
  operation: string;
  /** The request's path, when the operation's has parameters. */
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  expect: number;
}

/** Sends one step, checks its answer against the document and the status it expects; answers the body as JSON (or null). */
async function step({ operation, path, headers = {}, body, expect: expected }: Step): Promise<any> {
  const [method, template] = operation.split(" ");
  const response = await fetch(`${app.url}${path ?? template}`, { method, redirect: "manual", headers, body });
  const copy = response.clone();
  covered.add(`${method.toLowerCase()} ${template}`);
  problems.push(...(await check(method, template, response)));
  expect({ operation, status: response.status }).toEqual({ operation, status: expected });
  const text = await copy.text();
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const send = (operation: string, expectStatus: number, init: Omit<Step, "operation" | "expect"> = {}) => step({ operation, expect: expectStatus, ...init });

test("the general routes", async () => {
  await send("GET /health", 200);
  await send("GET /ready", 200);
  await send("GET /", 200);
  await send("GET /providers", 200);
  await send("GET /augmenters", 200);
  await send("GET /openapi.json", 200);
  await send("GET /whoami", 401);
  await send("GET /whoami", 401, { headers: { authorization: basic(ALICE.username, "wrong") } });
  await send("GET /whoami", 200, { headers: alice });
});

test("/authenticate, with every method", async () => {
  for (const method of ANY_METHODS) {
    await send(`${method.toUpperCase()} /authenticate`, 200, { headers: alice });
    await send(`${method.toUpperCase()} /authenticate`, 401);
  }
});

test("API tokens: auth-o-tron's routes and the REST API", async () => {
  const { token } = await send("GET /token", 200, { headers: alice });
  await send("GET /token", 401);
  await send("GET /tokens", 200, { headers: alice });
  await send("DELETE /token/{token}", 204, { path: `/token/${token}`, headers: alice });
  await send("DELETE /token/{token}", 404, { path: `/token/${token}`, headers: alice });

  const created = await send("POST /api/v1/tokens", 201, json({ note: "contract", expires_in: 3600 }, alice));
  await send("POST /api/v1/tokens", 400, json({ expire_in: 3600 }, alice));
  await send("POST /api/v1/tokens", 415, { headers: { ...alice, "content-type": "text/plain" }, body: "note" });
  await send("POST /api/v1/tokens", 413, json({ note: "x".repeat(70 * 1024) }, alice));
  await send("GET /api/v1/tokens", 200, { headers: alice });
  await send("GET /api/v1/tokens", 403, { path: "/api/v1/tokens?all=true", headers: bearer(created.token) }); // a token of alice's, not admin
  await send("GET /api/v1/tokens/{id}", 200, { path: `/api/v1/tokens/${created.id}`, headers: alice });
  await send("GET /api/v1/tokens/{id}", 404, { path: "/api/v1/tokens/unknown", headers: alice });
  const rotated = await send("POST /api/v1/tokens/{id}/rotate", 201, { path: `/api/v1/tokens/${created.id}/rotate`, headers: alice });
  await send("POST /api/v1/tokens/{id}/rotate", 409, { path: `/api/v1/tokens/${created.id}/rotate`, headers: alice });
  await send("DELETE /api/v1/tokens/{id}", 204, { path: `/api/v1/tokens/${rotated.id}`, headers: alice });
  await send("DELETE /api/v1/tokens/{id}", 404, { path: "/api/v1/tokens/unknown", headers: alice });

  await send("POST /api/v1/tokens/report-leak", 200, json([{ token: "not-a-gatehouse-token" }], admin));
  await send("POST /api/v1/tokens/report-leak", 400, json({ token: "x" }, admin));
  await send("POST /api/v1/tokens/report-leak", 401, json([{ token: "x" }]));
  await send("POST /api/v1/tokens/report-leak", 403, json([{ token: "x" }], alice));
});

test("Tiled's sessions, API keys and device sign-in", async () => {
  await send("GET /api/v1/", 200);
  const form = (fields: Record<string, string>) => ({ headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
  const login = (fields: Record<string, string>, status: number, provider = "local") =>
    send("POST /api/v1/auth/provider/{name}/token", status, { path: `/api/v1/auth/provider/${provider}/token`, ...form(fields) });
  const first = await login({ username: ALICE.username, password: ALICE.password }, 200);
  const second = await login({ username: ALICE.username, password: ALICE.password }, 200);
  await login({ username: ALICE.username, password: "wrong" }, 401);
  await login({ username: ALICE.username, password: ALICE.password }, 404, "nobody");
  await login({ grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: "unknown" }, 400);
  await send("POST /api/v1/auth/provider/{name}/token", 415, { path: "/api/v1/auth/provider/local/token", headers: { "content-type": "text/plain" }, body: "x" });

  const refreshed = await send("POST /api/v1/auth/session/refresh", 200, json({ refresh_token: first.refresh_token }));
  await send("POST /api/v1/auth/session/refresh", 401, json({ refresh_token: "gh_r_unknown" }));
  await send("POST /api/v1/auth/session/refresh", 400, json({}));
  const sessions = await send("GET /api/v1/auth/sessions", 200, { headers: bearer(refreshed.access_token) });
  await send("GET /api/v1/auth/sessions", 401);
  await send("GET /api/v1/auth/whoami", 200);
  await send("GET /api/v1/auth/whoami", 200, { headers: bearer(refreshed.access_token) });

  const key = await send("POST /api/v1/auth/apikey", 200, json({ note: "contract", expires_in: 600 }, bearer(refreshed.access_token)));
  await send("POST /api/v1/auth/apikey", 400, json({ scopes: ["not a scope"] }, bearer(refreshed.access_token)));
  await send("GET /api/v1/auth/apikey", 200, { headers: bearer(key.secret) });
  await send("GET /api/v1/auth/apikey", 401, { headers: bearer(refreshed.access_token) });
  await send("DELETE /api/v1/auth/apikey", 204, { path: `/api/v1/auth/apikey?first_eight=${key.first_eight}`, headers: bearer(refreshed.access_token) });
  await send("DELETE /api/v1/auth/apikey", 404, { path: "/api/v1/auth/apikey?first_eight=unknown0", headers: bearer(refreshed.access_token) });
  await send("DELETE /api/v1/auth/apikey", 400, { path: "/api/v1/auth/apikey", headers: bearer(refreshed.access_token) });

  const other = sessions.sessions.find((session: Json) => !session.current);
  await send("DELETE /api/v1/auth/session/revoke/{session_id}", 204, { path: `/api/v1/auth/session/revoke/${other.id}`, headers: bearer(refreshed.access_token) });
  await send("DELETE /api/v1/auth/session/revoke/{session_id}", 404, { path: `/api/v1/auth/session/revoke/${other.id}`, headers: bearer(refreshed.access_token) });
  await send("POST /api/v1/auth/logout", 204, { headers: bearer(refreshed.access_token) });
  await send("POST /api/v1/auth/logout", 400, { headers: alice });
  await send("POST /api/v1/auth/session/revoke", 204, json({ refresh_token: second.refresh_token }));
  await send("POST /api/v1/auth/session/revoke", 400, json({ refresh_token: 42 }));
  await send("POST /api/v1/auth/logout/all", 200, { headers: alice });
  await send("POST /api/v1/auth/users/end", 200, json({ username: ALICE.username, realm: "local" }, admin));
  await send("POST /api/v1/auth/users/end", 403, json({ username: ALICE.username, realm: "local" }, alice));
  await send("POST /api/v1/auth/users/end", 400, json({ username: ALICE.username }, admin));

  await send("POST /api/v1/auth/provider/{name}/authorize", 200, { path: "/api/v1/auth/provider/local/authorize" });
  await send("POST /api/v1/auth/provider/{name}/authorize", 404, { path: "/api/v1/auth/provider/nobody/authorize" });
  await send("GET /api/v1/auth/provider/{name}/token", 303, { path: "/api/v1/auth/provider/local/token" });
  await send("GET /api/v1/auth/provider/{name}/token", 404, { path: "/api/v1/auth/provider/nobody/token" });
});

test("signing in with an identity provider, in the browser", async () => {
  await send("GET /api/v1/auth/provider/{name}/authorize", 302, { path: "/api/v1/auth/provider/idp/authorize" });
  await send("GET /api/v1/auth/provider/{name}/authorize", 404, { path: "/api/v1/auth/provider/nobody/authorize" });
  await send("GET /api/v1/auth/provider/{name}/code", 400, { path: "/api/v1/auth/provider/idp/code?code=x" });
  await send("GET /api/v1/auth/provider/{name}/code", 404, { path: "/api/v1/auth/provider/nobody/code" });
});

test("signing keys and the audit log", async () => {
  await send("GET /.well-known/jwks.json", 200);
  await send("GET /.well-known/openid-configuration", 200);
  await send("GET /api/v1/keys", 200, { headers: admin });
  await send("GET /api/v1/keys", 403, { headers: alice });
  await send("GET /api/v1/keys", 401);
  await send("POST /api/v1/keys/rotate", 202, { headers: admin });
  await send("POST /api/v1/keys/rotate", 403, { headers: alice });
  await send("GET /api/v1/audit", 200, { headers: admin });
  await send("GET /api/v1/audit", 200, { path: "/api/v1/audit?event=token.*&limit=5", headers: admin });
  await send("GET /api/v1/audit", 400, { path: "/api/v1/audit?limit=0", headers: admin });
  await send("GET /api/v1/audit", 403, { headers: alice });
});

test("an operation no step covers is still called once, and its answer allowed", async () => {
  for (const [path, operations] of Object.entries<Json>(document.paths)) {
    for (const method of Object.keys(operations)) {
      if (covered.has(`${method} ${path}`)) continue;
      const response = await fetch(`${app.url}${path.replace(/\{[^}]+\}/g, "x")}`, { method: method.toUpperCase(), redirect: "manual", headers: admin });
      covered.add(`${method} ${path}`);
      problems.push(...(await check(method, path, response)));
    }
  }
});

test("every operation was called, and every answer is one the document allows", () => {
  const operations = Object.entries<Json>(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`));
  expect(operations.filter((operation) => !covered.has(operation))).toEqual([]);
  expect(problems).toEqual([]);
});
