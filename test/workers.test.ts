// server.workers: two processes serve one port and share the store. A
// revocation made through one is honoured by both; the metrics port sums
// every worker; SIGHUP and SIGTERM reach every worker; a worker that dies is
// replaced while the other keeps serving.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnGatehouse, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
import { basic, json, logEvents } from "./helpers/app.ts";

const CONFIG = `
version: "2.0.0"
logging: { level: info, format: json }
server: { workers: 2 }
providers:
  - { type: plain, name: local, realm: local, users: [{ username: alice, password: alice-pw }] }
jwt: { iss: workers-test, secret: workers-test-secret-0123456789abcdef }
store: { enabled: true, path: ./gatehouse.db }
`;

let server: RunningGatehouse;
let metricsUrl: string;

const eventsNamed = (event: string) => logEvents(server).filter((entry) => entry.event === event);
const workerPids = () => eventsNamed("server.worker_started").map((entry) => entry.pid as number);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** A request on a new connection each time, so that the kernel spreads them over the workers. */
const authenticate = (authorization: string) => fetch(`${server.url}/authenticate`, { headers: { authorization, connection: "close" } });
const successes = async () => {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  return parsePrometheus(text).value("authotron_auth_requests_total", { result: "success", realm: "local" })!;
};

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${server.logs.slice(-20).join("\n")}`);
    await Bun.sleep(50);
  }
}

beforeAll(async () => {
  server = await spawnGatehouse({ config: CONFIG, timeoutMs: 30_000 });
  metricsUrl = eventsNamed("server.started")[0].metrics;
});
afterAll(async () => {
  await server?.stop();
});

describe("two workers", () => {
  test("are two processes under the supervisor, serving one port", () => {
    const pids = workerPids();
    expect(pids).toHaveLength(2);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(server.process.pid);
    expect(eventsNamed("server.started")[0]).toMatchObject({ workers: 2 });
    for (const entry of eventsNamed("server.worker_started")) expect(entry.url).toBe(server.url);
  });

  test("a token revoked through one worker is refused by both, and the metrics port counts every worker", async () => {
    const before = await successes();
    const created = await fetch(`${server.url}/api/v1/tokens`, { method: "POST", headers: { authorization: basic("alice", "alice-pw"), connection: "close" } });
    expect(created.status).toBe(201);
    const { token, id } = await json(created);
    for (let i = 0; i < 30; i++) expect((await authenticate(`Bearer ${token}`)).status).toBe(200);
    // 1 for the creation's caller, 30 answers: summed over both workers.
    expect((await successes()) - before).toBe(31);
    const revoked = await fetch(`${server.url}/api/v1/tokens/${id}`, { method: "DELETE", headers: { authorization: basic("alice", "alice-pw"), connection: "close" } });
    expect(revoked.status).toBe(204);
    // The other worker sees the commit within a millisecond (SQLite data_version); allow a little more on a busy machine.
    await Bun.sleep(50);
    const statuses = await Promise.all(Array.from({ length: 40 }, () => authenticate(`Bearer ${token}`).then((response) => response.status)));
    expect(statuses.every((status) => status === 401)).toBe(true);
  });

  test("SIGHUP reaches every worker, which keeps running", async () => {
    const pids = workerPids();
    server.process.kill("SIGHUP");
    await waitFor("every worker to log SIGHUP", () => pids.every((pid) => eventsNamed("server.sighup").some((entry) => entry.pid === pid)));
    expect(eventsNamed("workers.signal")).toHaveLength(1);
    expect(pids.every(alive)).toBe(true);
    expect((await authenticate(basic("alice", "alice-pw"))).status).toBe(200);
  });

  test("a worker that dies is replaced; the other serves meanwhile", async () => {
    const [first] = workerPids();
    process.kill(first!, "SIGKILL");
    // (Connections the killed worker had accepted are lost with it: wait until it is gone.)
    await waitFor("the supervisor to notice", () => eventsNamed("workers.exited").length === 1);
    for (let i = 0; i < 10; i++) expect((await authenticate(basic("alice", "alice-pw"))).status).toBe(200);
    await waitFor("the replacement", () => workerPids().length === 3);
    const number = eventsNamed("server.worker_started").find((entry) => entry.pid === first)!.worker;
    expect(eventsNamed("workers.exited")[0]).toMatchObject({ worker: number, pid: first, restarting: true });
    expect(eventsNamed("server.worker_started").at(-1)).toMatchObject({ worker: number });
    expect((await fetch(`${metricsUrl}/ready`)).status).toBe(200);
  });

  test("SIGTERM stops the supervisor and every worker", async () => {
    const pids = workerPids().filter(alive);
    expect(pids).toHaveLength(2);
    server.process.kill("SIGTERM");
    expect(await server.process.exited).toBe(0);
    await waitFor("the workers to exit", () => pids.every((pid) => !alive(pid)));
  });
});
