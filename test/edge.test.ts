// The HTTP edge: one caller plugin for every route but /authenticate, one
// refusal shape per module, JSON bodies that must be objects, answers that
// follow a key rotation at once, and the observer hooks of the pipeline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { decodeProtectedHeader } from "jose";
import { basic, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { startWhoAmI, type WhoAmI } from "./helpers/who-am-i.ts";
import type { AugmenterRun, AuthObserver, AuthOutcome, ProviderAttempt } from "../src/identity/observer.ts";

const ADMIN = basic("admin", "admin-password");
const READER = basic("reader", "reader-password");

function config(dir: string, overrides: Record<string, unknown> = {}) {
  return {
    version: "2.0.0",
    logging: { level: "debug", format: "json" },
    providers: [
      {
        type: "plain",
        name: "local",
        realm: "local",
        users: [
          { username: "admin", password: "admin-password", roles: ["admin"] },
          { username: "reader", password: "reader-password" },
        ],
      },
    ],
    augmenters: [{ type: "plain", name: "readers", realm: "local", roles: { reader: ["reader"] } }],
    jwt: { iss: "https://gatehouse.test", exp: 600, alg: "ES256", reuse_seconds: 5 },
    keys: { publish_ahead: 0, poll_interval: 1, retire_margin: 1 },
    store: { enabled: true, path: join(dir, "gatehouse.db") },
    services: [{ name: "ecflow", scopes: ["read", "write"] }],
    ...overrides,
  };
}

const send = async (app: TestApp, method: string, path: string, init: { authorization?: string; body?: string; type?: string } = {}) => {
  const headers: Record<string, string> = {};
  if (init.authorization) headers.authorization = init.authorization;
  if (init.type) headers["content-type"] = init.type;
  const response = await fetch(`${app.url}${path}`, { method, headers, body: init.body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined };
};

let app: TestApp;
beforeAll(async () => {
  app = await startApp(config(temporaryDirectory("gatehouse-edge-")));
});
afterAll(() => app.stop());

describe("JSON bodies", () => {
  test.each([
    ["an array", "[]"],
    ["null", "null"],
    ["a number", "42"],
    ["a string", '"x"'],
  ])("%s is refused with 400 on every JSON route, in each route's own shape", async (_name, body) => {
    const tokens = await send(app, "POST", "/api/v1/tokens", { authorization: READER, body, type: "application/json" });
    expect(tokens.status).toBe(400);
    expect(tokens.json).toEqual({ error: "The request body must be a JSON object" });
    const apikey = await send(app, "POST", "/api/v1/auth/apikey", { authorization: READER, body, type: "application/json" });
    expect(apikey.status).toBe(400);
    expect(apikey.json).toEqual({ detail: "The request body must be a JSON object" });
    const refresh = await send(app, "POST", "/api/v1/auth/session/refresh", { body, type: "application/json" });
    expect(refresh.status).toBe(400);
  });

  test("only application/json: a form or text/plain, which a page of another site can send, is refused with 415", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const refused = await send(app, "POST", "/api/v1/tokens", { authorization: READER, body: '{"note":"x"}', type });
      expect(refused.status).toBe(415);
      expect(refused.json.error).toContain("application/json");
    }
  });

  test("an empty body means every default", async () => {
    const created = await send(app, "POST", "/api/v1/tokens", { authorization: READER });
    expect(created.status).toBe(201);
    expect(created.json.token).toStartWith("gth_");
  });

  test("a body over 64 KiB is refused unread, with 413", async () => {
    const refused = await send(app, "POST", "/api/v1/auth/provider/local/token", {
      body: `username=reader&password=${"x".repeat(70_000)}`,
      type: "application/x-www-form-urlencoded",
    });
    expect(refused.status).toBe(413);
    expect(refused.json.detail).toContain("larger than");
  });
});

describe("one caller plugin, one refusal shape per module", () => {
  test("no credential: 401 with the challenge, as {error} on Gatehouse's routes and {detail} on Tiled's", async () => {
    for (const [path, shape] of [
      ["/tokens", "error"],
      ["/api/v1/tokens", "error"],
      ["/api/v1/keys", "error"],
      ["/whoami", "error"],
      ["/api/v1/auth/sessions", "detail"],
    ] as const) {
      const refused = await send(app, "GET", path);
      expect({ path, status: refused.status, body: refused.json }).toEqual({ path, status: 401, body: { [shape]: "Unauthorized access" } });
      expect(refused.headers.get("www-authenticate")).toBe('Basic realm="local"');
      expect(refused.headers.get("cache-control")).toBe("no-store");
    }
  });

  test("a wrong credential gets the same answer as none: the caller learns nothing about which", async () => {
    const none = await send(app, "GET", "/api/v1/tokens");
    const wrong = await send(app, "GET", "/api/v1/tokens", { authorization: basic("reader", "wrong") });
    expect(wrong.status).toBe(none.status);
    expect(wrong.json).toEqual(none.json);
  });

  test("an admin route refuses a user without the admin role with 403, and serves an admin", async () => {
    const refused = await send(app, "GET", "/api/v1/keys", { authorization: READER });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({ error: "This needs the admin role" });
    expect((await send(app, "GET", "/api/v1/keys", { authorization: ADMIN })).status).toBe(200);
  });

  test("an unknown route is a JSON 404", async () => {
    const missing = await send(app, "GET", "/api/v1/nothing-here");
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: "Not found" });
  });
});

describe("key changes", () => {
  test("after a rotation, the very next /authenticate answer is signed with the new key, even within jwt.reuse_seconds", async () => {
    const kidOf = async () => {
      const response = await fetch(`${app.url}/authenticate`, { headers: { authorization: READER } });
      expect(response.status).toBe(200);
      return decodeProtectedHeader(response.headers.get("authorization")!.slice("Bearer ".length)).kid;
    };
    const before = await kidOf();
    expect(await kidOf()).toBe(before); // remembered within the window
    const rotated = await send(app, "POST", "/api/v1/keys/rotate", { authorization: ADMIN });
    expect(rotated.status).toBe(202);
    // publish_ahead 0: the new key signs at the next transition, made by the poll (every second).
    const deadline = Date.now() + 5000;
    let current = rotated.json.keys.find((key: { state: string }) => key.state === "current")?.kid;
    while (current === before && Date.now() < deadline) {
      await Bun.sleep(100);
      current = (await send(app, "GET", "/api/v1/keys", { authorization: ADMIN })).json.keys.find((key: { state: string }) => key.state === "current").kid;
    }
    expect(current).toBe(rotated.json.rotating_to);
    expect(await kidOf()).toBe(current);
  });
});

describe("logs", () => {
  test("auth.refused lines carry the original method and path, as auth.succeeded lines do, never the query string", async () => {
    const headers = { authorization: basic("reader", "wrong"), "x-original-method": "DELETE", "x-original-uri": "/v1/ecflow/suite?key=secret" };
    expect((await fetch(`${app.url}/authenticate`, { headers })).status).toBe(401);
    const line = app.logs.map((entry) => JSON.parse(entry)).findLast((entry) => entry.attributes["event.name"] === "auth.refused");
    expect(line.attributes).toMatchObject({ method: "DELETE", path: "/v1/ecflow/suite" });
    expect(JSON.stringify(line)).not.toContain("secret");
  });
});

describe("observers", () => {
  let observed: TestApp;
  let whoAmI: WhoAmI;
  const attempts: ProviderAttempt[] = [];
  const runs: AugmenterRun[] = [];
  const outcomes: AuthOutcome[] = [];
  const recorder: AuthObserver = {
    providerAttempt: (attempt) => attempts.push(attempt),
    augmenterRun: (run) => runs.push(run),
    authenticated: (outcome) => outcomes.push(outcome),
  };
  const failing: AuthObserver = {
    authenticated: () => {
      throw new Error("an observer's own failure");
    },
  };

  beforeAll(async () => {
    whoAmI = startWhoAmI();
    whoAmI.users.set("good-key", { uid: "remote-user", email: "remote@example.int" });
    whoAmI.slow.set("slow-key", 3000);
    const raw = config(temporaryDirectory("gatehouse-observed-"), {
      auth: { timeout_in_ms: 300 },
      jwt: { iss: "https://gatehouse.test", exp: 600, secret: "an-observed-secret-of-at-least-32-bytes", reuse_seconds: 5 },
    });
    raw.providers.push({ type: "ecmwf-api", name: "remote", realm: "ecmwf", uri: whoAmI.url } as never);
    observed = await startApp(raw, {}, { observers: [recorder, failing] });
  });
  afterAll(async () => {
    await observed.stop();
    whoAmI.stop();
  });

  const authenticate = (authorization: string) => fetch(`${observed.url}/authenticate`, { headers: { authorization } });

  test("each provider attempt with its outcome and duration, each augmenter run, each result; a failing observer changes no answer", async () => {
    expect((await authenticate(READER)).status).toBe(200);
    expect(attempts.at(-1)).toMatchObject({ provider: { name: "local" }, outcome: "success" });
    expect(attempts.at(-1)!.durationMs).toBeGreaterThanOrEqual(0);
    expect(attempts.at(-1)!.request.entry).toBe("authenticate");
    expect(runs.at(-1)).toMatchObject({ augmenter: { name: "readers" }, outcome: "success", user: { username: "reader" } });
    expect(outcomes.at(-1)).toMatchObject({ remembered: false, result: { ok: true, user: { username: "reader", realm: "local" } } });

    expect((await authenticate(basic("reader", "wrong"))).status).toBe(401);
    expect(attempts.at(-1)).toMatchObject({ provider: { name: "local" }, outcome: "refused" });
    expect(outcomes.at(-1)).toMatchObject({ remembered: false, result: { ok: false, reason: "all_failed" } });

    expect((await authenticate("Bearer good-key")).status).toBe(200);
    expect(attempts.at(-1)).toMatchObject({ provider: { name: "remote" }, outcome: "success" });
  });

  test("a remembered answer is reported as such; malformed and missing headers are results too", async () => {
    expect((await authenticate(READER)).status).toBe(200);
    expect(outcomes.at(-1)).toMatchObject({ remembered: true, durationMs: 0, result: { ok: true } });
    expect((await authenticate("Basic ???")).status).toBe(401);
    expect(outcomes.at(-1)).toMatchObject({ remembered: false, result: { ok: false, reason: "invalid_header" } });
    // Malformed for its text alone: the same header again is refused from memory, as fast as a success.
    const again = await authenticate("Basic ???");
    expect(again.status).toBe(401);
    expect(again.headers.get("www-authenticate")).toContain("Basic");
    expect(outcomes.at(-1)).toMatchObject({ remembered: true, result: { ok: false, reason: "invalid_header" } });
    expect((await fetch(`${observed.url}/authenticate`)).status).toBe(401);
    expect(outcomes.at(-1)).toMatchObject({ result: { ok: false, reason: "no_auth_header" } });
  });

  test("a provider cut off by the time limit is reported as a timeout", async () => {
    expect((await authenticate("Bearer slow-key")).status).toBe(401);
    expect(attempts.at(-1)).toMatchObject({ provider: { name: "remote" }, outcome: "timeout" });
    expect(attempts.at(-1)!.durationMs).toBeGreaterThanOrEqual(250);
  });

  test("a definite refusal is remembered like a success: the same wrong credential again costs no provider call", async () => {
    const wrong = basic("reader", "another-wrong-password");
    expect((await authenticate(wrong)).status).toBe(401);
    expect(outcomes.at(-1)).toMatchObject({ remembered: false, result: { ok: false, definite: true } });
    const attemptsBefore = attempts.length;
    const again = await authenticate(wrong);
    expect(again.status).toBe(401);
    expect(again.headers.get("www-authenticate")).toContain('Basic realm="local"');
    expect(outcomes.at(-1)).toMatchObject({ remembered: true, result: { ok: false, reason: "all_failed" } });
    expect(attempts.length).toBe(attemptsBefore); // no provider was asked
  });

  test("a refusal in which a provider failed or ran out of time is never remembered", async () => {
    expect((await authenticate("Bearer slow-key")).status).toBe(401);
    expect(outcomes.at(-1)!.result).not.toHaveProperty("definite");
    const started = performance.now();
    expect((await authenticate("Bearer slow-key")).status).toBe(401);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250); // asked again, cut off again
    expect(outcomes.at(-1)).toMatchObject({ remembered: false });
  });

  test("routes of the API run the same pipeline, and say so", async () => {
    expect((await send(observed, "GET", "/api/v1/tokens", { authorization: READER })).status).toBe(200);
    expect(outcomes.at(-1)).toMatchObject({ request: { entry: "api" }, result: { ok: true } });
  });
});
