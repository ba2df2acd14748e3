// The metrics port of a real Gatehouse process: auth-o-tron 0.4.0's families
// with their exact names, labels and buckets, every upstream label value
// produced by a real request, series that start at zero, the text format
// checked by promtool (or the parser when promtool is missing), /health and
// /ready beside them, and the legacy names.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnGatehouse, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { storeIsPostgres } from "./helpers/stored.ts";
import { startWhoAmI, type WhoAmI } from "./helpers/who-am-i.ts";
import { parsePrometheus, promtoolCheck, type Exposition } from "./helpers/prometheus.ts";
import { basic, json, logEvents } from "./helpers/app.ts";
import { IdentityPipeline } from "../src/identity/pipeline.ts";
import { httpRequestContext } from "../src/identity/request.ts";
import { silentLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics/recorder.ts";
import { createProviders } from "../src/providers/registry.ts";
import { VERSION } from "../src/version.ts";

if (!Bun.which("promtool")) console.warn("\n!!! metrics: promtool is not installed (test/setup.sh as root); the parser check runs alone !!!\n");

const config = (whoAmI: string) => `
version: "2.0.0"
logging: { level: info, format: json }
auth: { timeout_in_ms: 300 }
providers:
  - { type: plain, name: local-users, realm: local, users: [{ username: alice, password: alice-pw }, { username: bob, password: bob-pw }] }
  - { type: ecmwf-api, name: ecmwf-keys, realm: ecmwf, uri: "${whoAmI}" }
augmenters:
  - { type: plain, name: local-roles, realm: local, roles: { reader: [alice] } }
  - { type: plain_advanced, name: local-extra, realm: local, match: { role: [reader] }, augment: { roles: [extra] } }
jwt: { iss: metrics-test, secret: metrics-test-secret-0123456789abcdef }
store: { enabled: true, path: ./gatehouse.db }
regulation: { enabled: false }
`;

const AUTH_BUCKETS = ["0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];
const PROVIDER_BUCKETS = AUTH_BUCKETS.filter((le) => le !== "10");
const AUGMENTER_BUCKETS = PROVIDER_BUCKETS.filter((le) => le !== "5");

let whoAmI: WhoAmI;
let server: RunningGatehouse;
let metricsUrl: string;

const metricsUrlOf = (running: RunningGatehouse) => logEvents(running).find((entry) => entry.event === "server.started")!.metrics as string;

async function scrape(url = metricsUrl): Promise<{ text: string; exposition: Exposition; contentType: string | null }> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  return { text, exposition: parsePrometheus(text), contentType: response.headers.get("content-type") };
}

/** A request with a method fetch() will not send. */
async function rawMethod(url: string, method: string, path: string): Promise<number> {
  const { hostname, port } = new URL(url);
  const chunks: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open: (socket) => void socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
        data: (_socket, data) => void chunks.push(data),
        close: () => resolve(Number(Buffer.concat(chunks).toString("latin1").split(" ")[1])),
        error: (_socket, error) => reject(error),
      },
    }).catch(reject);
  });
}

beforeAll(async () => {
  whoAmI = startWhoAmI();
  whoAmI.users.set("good-key", { uid: "carol" });
  whoAmI.slow.set("slow-key", 2000);
  server = await spawnGatehouse({ config: config(whoAmI.url) });
  metricsUrl = metricsUrlOf(server);
});
afterAll(async () => {
  await server?.stop();
  whoAmI?.stop();
});

describe("the metrics port", () => {
  test("serves /metrics as Prometheus text 0.0.4 on its own port, with /health and /ready", async () => {
    expect(new URL(metricsUrl).port).not.toBe(new URL(server.url).port);
    const { text, contentType } = await scrape();
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    const promtool = promtoolCheck(text);
    if (promtool) expect(promtool.output).toBe("");
    if (promtool) expect(promtool.ok).toBe(true);
    expect(await (await fetch(`${metricsUrl}/health`)).text()).toBe("OK");
    const ready = await fetch(`${metricsUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(await json(ready)).toEqual({ status: "ready", checks: { store: "ok", keys: "ok" } });
    // The application port does not serve the metrics.
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
  });

  test("every series auth-o-tron starts at zero is there before any request, with its buckets", async () => {
    const { exposition: m } = await scrape();
    expect(m.types.get("authotron_auth_requests_total")).toBe("counter");
    expect(m.types.get("authotron_auth_duration_seconds")).toBe("histogram");
    expect(m.types.get("authotron_auth_provider_attempts_total")).toBe("counter");
    expect(m.types.get("authotron_auth_provider_duration_seconds")).toBe("histogram");
    expect(m.types.get("authotron_augmenter_attempts_total")).toBe("counter");
    expect(m.types.get("authotron_augmenter_duration_seconds")).toBe("histogram");
    expect(m.types.get("authotron_http_requests_total")).toBe("counter");
    expect(m.types.get("authotron_http_request_duration_seconds")).toBe("histogram");
    expect(m.types.get("authotron_http_requests_in_flight")).toBe("gauge");
    expect(m.types.get("authotron_build_info")).toBe("gauge");
    expect(m.value("authotron_build_info", { version: VERSION })).toBe(1);
    for (const result of ["no_auth_header", "invalid_header", "all_failed"]) {
      expect(m.value("authotron_auth_requests_total", { result, realm: "unknown" })).toBe(0);
    }
    for (const realm of ["local", "ecmwf", "unknown"]) expect(m.value("authotron_auth_requests_total", { result: "success", realm })).toBe(0);
    for (const [provider_name, provider_type, realm] of [
      ["local-users", "Basic", "local"],
      ["ecmwf-keys", "Bearer", "ecmwf"],
      ["api-tokens", "Bearer", "unknown"],
    ]) {
      for (const result of ["success", "error", "timeout"]) {
        expect(m.value("authotron_auth_provider_attempts_total", { provider_name, provider_type, realm, result })).toBe(0);
      }
      const buckets = m.all("authotron_auth_provider_duration_seconds_bucket", { provider_name, provider_type, realm });
      expect(buckets.map((bucket) => bucket.labels.le)).toEqual(PROVIDER_BUCKETS);
    }
    for (const [augmenter_name, augmenter_type] of [
      ["local-roles", "plain"],
      ["local-extra", "plain_advanced"],
    ]) {
      for (const result of ["success", "error"]) {
        expect(m.value("authotron_augmenter_attempts_total", { augmenter_name, augmenter_type, realm: "local", result })).toBe(0);
      }
      const buckets = m.all("authotron_augmenter_duration_seconds_bucket", { augmenter_type, realm: "local" });
      expect(buckets.map((bucket) => bucket.labels.le)).toEqual(AUGMENTER_BUCKETS);
    }
    expect(m.all("authotron_auth_duration_seconds_bucket", { result: "all_failed", realm: "unknown" }).map((b) => b.labels.le)).toEqual(
      AUTH_BUCKETS,
    );
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"]) {
      expect(m.value(name)).toBeGreaterThan(0);
    }
  });

  test("counters move with real requests, and every upstream label value is produced", async () => {
    const before = (await scrape()).exposition;
    const auth = (authorization?: string, init: RequestInit = {}) =>
      fetch(`${server.url}/authenticate`, { ...init, headers: authorization ? { authorization } : {} });
    expect((await auth(basic("alice", "alice-pw"))).status).toBe(200); // success, local; Basic success; augmenters succeed
    expect((await auth("Bearer good-key", { method: "POST" })).status).toBe(200); // success, ecmwf; Bearer success
    expect((await auth()).status).toBe(401); // no_auth_header
    expect((await auth("Basic %%%")).status).toBe(401); // invalid_header
    expect((await auth(basic("alice", "wrong"))).status).toBe(401); // all_failed; provider error (a refusal, as upstream)
    expect((await auth("Bearer slow-key")).status).toBe(401); // provider timeout (300 ms limit)
    expect((await fetch(`${server.url}/no/such/path`)).status).toBe(404); // route unmatched
    expect(await rawMethod(server.url, "PURGE", "/authenticate")).toBe(401); // method other
    expect((await fetch(`${server.url}/api/v1/tokens`)).status).toBe(401); // a refusal thrown by the caller plugin
    expect((await fetch(`${server.url}/api/v1/tokens?all=maybe`, { headers: { authorization: basic("alice", "alice-pw") } })).status).toBe(400); // a validation error
    const { exposition: m, text } = await scrape();
    const delta = (name: string, labels: Record<string, string>) => (m.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);

    expect(delta("authotron_auth_requests_total", { result: "success", realm: "local" })).toBe(1); // the 400 is refused before its caller is identified
    expect(delta("authotron_auth_requests_total", { result: "success", realm: "ecmwf" })).toBe(1);
    expect(delta("authotron_auth_requests_total", { result: "no_auth_header", realm: "unknown" })).toBe(3); // and the PURGE, and /api/v1/tokens
    expect(delta("authotron_auth_requests_total", { result: "invalid_header", realm: "unknown" })).toBe(1);
    expect(delta("authotron_auth_requests_total", { result: "all_failed", realm: "unknown" })).toBe(2);
    expect(delta("authotron_auth_duration_seconds_count", { result: "success", realm: "local" })).toBe(1);

    const provider = (name: string, type: string, realm: string, result: string) =>
      delta("authotron_auth_provider_attempts_total", { provider_name: name, provider_type: type, realm, result });
    expect(provider("local-users", "Basic", "local", "success")).toBe(1);
    expect(provider("local-users", "Basic", "local", "error")).toBe(1);
    expect(provider("ecmwf-keys", "Bearer", "ecmwf", "success")).toBe(1);
    expect(provider("ecmwf-keys", "Bearer", "ecmwf", "timeout")).toBe(1);
    // No duration for a timeout, as upstream: two answers from ecmwf-keys, one timed.
    const ecmwfTimed = { provider_name: "ecmwf-keys", provider_type: "Bearer", realm: "ecmwf" };
    expect(delta("authotron_auth_provider_duration_seconds_count", ecmwfTimed)).toBe(1);

    const augmenter = (name: string, type: string, result: string) =>
      delta("authotron_augmenter_attempts_total", { augmenter_name: name, augmenter_type: type, realm: "local", result });
    expect(augmenter("local-roles", "plain", "success")).toBe(1);
    expect(augmenter("local-extra", "plain_advanced", "success")).toBe(1);

    const http = (route: string, method: string, status_code: string) => delta("authotron_http_requests_total", { route, method, status_code });
    expect(http("/authenticate", "GET", "200")).toBe(1);
    expect(http("/authenticate", "POST", "200")).toBe(1);
    expect(http("/authenticate", "GET", "401")).toBe(4);
    expect(http("/authenticate", "other", "401")).toBe(1);
    expect(http("unmatched", "GET", "404")).toBe(1);
    expect(http("/api/v1/tokens", "GET", "401")).toBe(1);
    expect(http("/api/v1/tokens", "GET", "400")).toBe(1);
    expect(delta("authotron_http_request_duration_seconds_count", { route: "/authenticate", method: "GET" })).toBe(5);
    expect(m.value("authotron_http_requests_in_flight", { method: "GET" })).toBe(0);
    const promtool = promtoolCheck(text);
    if (promtool) expect(promtool.ok).toBe(true);
  });

  test("Gatehouse's own counters: remembered answers, tokens created and revoked (store-wide, from the audit log)", async () => {
    const before = (await scrape()).exposition;
    const created = await fetch(`${server.url}/api/v1/tokens`, { method: "POST", headers: { authorization: basic("bob", "bob-pw") } });
    expect(created.status).toBe(201);
    const { id } = await json(created);
    expect((await fetch(`${server.url}/api/v1/tokens/${id}`, { method: "DELETE", headers: { authorization: basic("bob", "bob-pw") } })).status).toBe(204);
    for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/authenticate`, { headers: { authorization: basic("bob", "bob-pw") } })).status).toBe(200);
    const login = await fetch(`${server.url}/api/v1/auth/provider/local-users/token`, { method: "POST", body: new URLSearchParams({ username: "bob", password: "bob-pw" }) });
    expect(login.status).toBe(200);
    const refreshed = await fetch(`${server.url}/api/v1/auth/session/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: (await json(login)).refresh_token }),
    });
    expect(refreshed.status).toBe(200);
    // Read from the audit log when scraped, on either store: the scrape waits for the read.
    const { exposition: m } = await scrape();
    const delta = (name: string) => (m.value(name) ?? 0) - (before.value(name) ?? 0);
    expect(delta("gatehouse_tokens_created_total")).toBe(1);
    expect(delta("gatehouse_tokens_revoked_total")).toBe(1);
    expect(delta("gatehouse_auth_remembered_answers_total")).toBeGreaterThanOrEqual(2);
    expect(delta("gatehouse_sessions_started_total")).toBe(1);
    expect(delta("gatehouse_sessions_refreshed_total")).toBe(1);
    expect(m.all("gatehouse_store_query_duration_seconds_count", { query: "ready" }).length).toBe(1);
  });
});

describe("an augmenter that fails", () => {
  test("is counted as error with its duration (augmenters run in the pipeline; none of the shipped types can fail)", async () => {
    const providers = createProviders([{ type: "plain", name: "p", realm: "r", users: [{ username: "u", password: "pw" }] }] as never, silentLogger);
    const failing = { name: "broken", type: "directory", realm: "r", phase: "parallel" as const, remote: false, augment: () => { throw new Error("down"); } };
    const metrics = new Metrics({ legacyNames: false, version: VERSION, providers: [], augmenters: [{ name: "broken", type: "directory", realm: "r" }] });
    const pipeline = new IdentityPipeline({ providers, augmenters: [failing as never], timeoutMs: 1000, logger: silentLogger, ownTokenPrefixes: [], observer: metrics.observer });
    const result = await pipeline.authenticate(httpRequestContext("api", new Request("http://gatehouse/", { headers: { authorization: basic("u", "pw") } }), null));
    expect(result.ok).toBe(true);
    const m = parsePrometheus(await metrics.render());
    expect(m.value("authotron_augmenter_attempts_total", { augmenter_name: "broken", augmenter_type: "directory", realm: "r", result: "error" })).toBe(1);
    expect(m.value("authotron_augmenter_duration_seconds_count", { augmenter_type: "directory", realm: "r" })).toBe(1);
  });
});

describe("answers given from memory", () => {
  test("are counted when read, in the auth and http families (a duration of 0) and as remembered, once each, whoever reads", async () => {
    const metrics = new Metrics({ legacyNames: false, version: VERSION, providers: [], augmenters: [] });
    const request = httpRequestContext("authenticate", new Request("http://gatehouse/authenticate"), null);
    const success = { ok: true, user: { realm: "r" } } as never;
    const refusal = { ok: false, reason: "all_failed" } as never;
    const answer = (result: never) => metrics.observer.authenticated!({ result, durationMs: 0, request, remembered: true });
    for (let i = 0; i < 3; i++) answer(success);
    answer(refusal);
    // A worker sends its registry's JSON to the supervisor, without render(): the answers are there too.
    const json = await metrics.registry.getMetricsAsJSON();
    const requests = json.find((metric) => metric.name === "authotron_auth_requests_total")!.values;
    expect(requests.find((value) => value.labels.result === "success" && value.labels.realm === "r")?.value).toBe(3);
    answer(success);
    const m = parsePrometheus(await metrics.render());
    expect(m.value("authotron_auth_requests_total", { result: "success", realm: "r" })).toBe(4);
    expect(m.value("authotron_auth_requests_total", { result: "all_failed", realm: "unknown" })).toBe(1);
    expect(m.value("authotron_auth_duration_seconds_bucket", { result: "success", realm: "r", le: "0.001" })).toBe(4);
    expect(m.value("authotron_auth_duration_seconds_count", { result: "success", realm: "r" })).toBe(4);
    expect(m.value("authotron_auth_duration_seconds_sum", { result: "success", realm: "r" })).toBe(0);
    expect(m.value("authotron_http_requests_total", { route: "/authenticate", method: "GET", status_code: "200" })).toBe(4);
    expect(m.value("authotron_http_requests_total", { route: "/authenticate", method: "GET", status_code: "401" })).toBe(1);
    expect(m.value("authotron_http_request_duration_seconds_count", { route: "/authenticate", method: "GET" })).toBe(5);
    expect(m.value("gatehouse_auth_remembered_answers_total")).toBe(5);
    expect(m.value("authotron_http_requests_in_flight", { method: "GET" }) ?? 0).toBe(0);
  });
});

describe("legacy names and the port check", () => {
  test("metrics.legacy_names: the six auth families without the authotron_ prefix, the others unchanged", async () => {
    const legacy = await spawnGatehouse({ config: config(whoAmI.url), env: { GATEHOUSE_METRICS__LEGACY_NAMES: "true" } });
    try {
      expect((await fetch(`${legacy.url}/authenticate`, { headers: { authorization: basic("alice", "alice-pw") } })).status).toBe(200);
      const { exposition: m } = await scrape(metricsUrlOf(legacy));
      expect(m.value("auth_requests_total", { result: "success", realm: "local" })).toBe(1);
      for (const name of ["auth_duration_seconds", "auth_provider_duration_seconds", "augmenter_duration_seconds"]) expect(m.types.get(name)).toBe("histogram");
      for (const name of ["auth_provider_attempts_total", "augmenter_attempts_total"]) expect(m.types.get(name)).toBe("counter");
      expect(m.types.has("authotron_auth_requests_total")).toBe(false);
      expect(m.types.get("authotron_http_requests_total")).toBe("counter");
      expect(m.types.get("authotron_build_info")).toBe("gauge");
    } finally {
      await legacy.stop();
    }
  });

  test("the metrics port cannot be the server's; metrics.enabled: false serves none", async () => {
    const clash = Bun.spawnSync([process.execPath, "run", join(import.meta.dir, "../src/main.ts"), "serve", "--config", join(server.dir, "config.yaml")], {
      cwd: server.dir,
      env: { ...process.env, GATEHOUSE_BIND_ADDRESS: "127.0.0.1:9555", GATEHOUSE_METRICS__PORT: "9555" },
    });
    expect(clash.exitCode).toBe(1);
    expect(clash.stderr.toString()).toContain("metrics.port: 9555 is also server.port");
    const off = await spawnGatehouse({ config: config(whoAmI.url), env: { GATEHOUSE_METRICS__ENABLED: "false" } });
    try {
      expect(logEvents(off).find((entry) => entry.event === "server.started")).not.toHaveProperty("metrics");
      expect((await fetch(`${off.url}/ready`)).status).toBe(200);
    } finally {
      await off.stop();
    }
  });
});

describe("readiness", () => {
  // SQLite only: it overwrites the database file (PostgreSQL going away is pg-backend's and pg-cluster's).
  test.skipIf(storeIsPostgres)("/ready fails on both ports when the store becomes unreadable; /health still answers", async () => {
    const running = await spawnGatehouse({ config: config(whoAmI.url) });
    try {
      const metricsPort = metricsUrlOf(running);
      expect((await fetch(`${running.url}/ready`)).status).toBe(200);
      const path = join(running.dir, "gatehouse.db");
      const original = readFileSync(path);
      writeFileSync(path, Buffer.concat([Buffer.from("this is not a database any more"), original.subarray(31)]));
      for (const url of [running.url, metricsPort]) {
        const ready = await fetch(`${url}/ready`);
        expect(ready.status).toBe(503);
        const body = await json(ready);
        expect(body.status).toBe("not ready");
        expect(body.checks.store).toContain("not a SQLite database");
        expect((await fetch(`${url}/health`)).status).toBe(200);
      }
    } finally {
      await running.stop();
    }
  });
});
