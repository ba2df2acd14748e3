// `npm run soak [-- --minutes N] [-- --clients C] [-- --interval S]`: mixed
// load against a real Gatehouse process for N minutes (default 10), sampling
// its memory, open files, database and WAL sizes and latency every few
// seconds, then reporting their growth.
//
// The load: sign-ins (form logins), refreshes, logouts; API token creation,
// use and revocation; /authenticate with every kind of credential (a clear
// password, an argon2id one, an API token as Bearer and as Apikey, a
// session's access token, an ecmwf-api key checked against a stub on
// loopback, and wrong ones). Sessions and tokens are short-lived and the
// purge runs every 30 s, so that what ends is also deleted during the run.
// Exit code 1 on any 5xx or failed request, or RSS growth above 10 % after
// warm-up (the median of the last tenth of the samples against the second tenth).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { hashPassword } from "../src/identity/passwords.ts";
import { spawnGatehouse, temporaryDirectory } from "../test/helpers/gatehouse.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    clients: { type: "string", default: "8" },
    interval: { type: "string", default: "5" },
  },
});
const durationMs = Number(values.minutes) * 60_000;
const intervalMs = Number(values.interval) * 1000;
const clients = Number(values.clients);

const ECMWF_KEY = "soak-ecmwf-key-0123456789";
const stub = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (request) =>
    new URL(request.url).searchParams.get("token") === ECMWF_KEY ? Response.json({ uid: "remote" }) : new Response("no", { status: 403 }),
});

const dir = temporaryDirectory("gatehouse-soak-");
const config = `
version: "2.0.0"
logging: { level: info, format: json }
auth: { timeout_in_ms: 2000 }
providers:
  - type: plain
    name: local
    realm: local
    users:
      - { username: alice, password: alice-pw }
      - { username: bob, password: "${await hashPassword("bob-pw")}" }
  - { type: ecmwf-api, name: ecmwf, realm: ecmwf, uri: "http://127.0.0.1:${stub.port}", cache_seconds: 30 }
augmenters:
  - { type: plain, name: roles, realm: local, roles: { ops: [alice, bob] } }
jwt: { iss: soak, secret: soak-secret-0123456789abcdef0123456789 }
store: { enabled: true, type: sqlite, path: ./data/gatehouse.db }
services: [{ name: ecflow, scopes: [read, write] }]
authentication: { access_token_max_age: 60, refresh_token_max_age: 120, max_sessions_per_user: 100000 }
purge: { interval: 30, sessions_after: 60, tokens_after: 60 }
audit: { retention: 300, purge_interval: 30 }
`;
const server = await spawnGatehouse({ config, cwd: dir });
const pid = server.process.pid;
const url = server.url;
const database = join(dir, "data/gatehouse.db");

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
const ALICE = basic("alice", "alice-pw");
const BOB = basic("bob", "bob-pw");

// What happened in the current sampling interval.
let latencies: number[] = [];
let requests = 0;
const failures: string[] = [];
const statuses: Record<string, number> = {};

async function call(path: string, init: RequestInit = {}, expected: number[] = [200]): Promise<Response | null> {
  const started = performance.now();
  try {
    const response = await fetch(url + path, init);
    const body = await response.arrayBuffer();
    latencies.push(performance.now() - started);
    requests++;
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    if (response.status >= 500 || !expected.includes(response.status)) {
      failures.push(`${init.method ?? "GET"} ${path}: ${response.status} ${new TextDecoder().decode(body).slice(0, 200)}`);
      return null;
    }
    return new Response(body, { status: response.status, headers: response.headers });
  } catch (error) {
    failures.push(`${init.method ?? "GET"} ${path}: ${(error as Error).message}`);
    return null;
  }
}

const json = (body: unknown) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const authenticate = (authorization: string, expected = [200]) => call("/authenticate", { headers: { authorization } }, expected);

/** A person: signs in, uses the access token, refreshes, and logs out (or leaves the session to expire). */
async function signInFlow(): Promise<void> {
  const login = await call("/api/v1/auth/provider/local/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `username=alice&password=alice-pw`,
  });
  if (!login) return;
  let tokens = (await login.json()) as { access_token: string; refresh_token: string };
  for (let round = 0; round < 3; round++) {
    await authenticate(`Bearer ${tokens.access_token}`);
    const refreshed = await call("/api/v1/auth/session/refresh", json({ refresh_token: tokens.refresh_token }));
    if (!refreshed) return;
    tokens = (await refreshed.json()) as typeof tokens;
  }
  if (Math.random() < 0.7) await call("/api/v1/auth/logout", { method: "POST", headers: { authorization: `Bearer ${tokens.access_token}` } }, [204]);
}

/** A machine: creates a short-lived token, uses it both ways, revokes it half of the time. */
async function tokenFlow(): Promise<void> {
  const created = await call("/api/v1/tokens", { ...json({ note: "soak", expires_in: 60, scopes: { ecflow: ["read"] } }), headers: { "content-type": "application/json", authorization: ALICE } }, [201]);
  if (!created) return;
  const { token, id } = (await created.json()) as { token: string; id: string };
  for (let use = 0; use < 5; use++) await authenticate(use % 2 ? `Apikey ${token}` : `Bearer ${token}`);
  if (Math.random() < 0.5) {
    await call(`/api/v1/tokens/${id}`, { method: "DELETE", headers: { authorization: ALICE } }, [204]);
    await authenticate(`Bearer ${token}`, [401]);
  }
}

/** Every other kind of credential, good and bad. */
async function credentialsFlow(): Promise<void> {
  await authenticate(ALICE);
  await authenticate(BOB);
  await authenticate(`Bearer ${ECMWF_KEY}`);
  await authenticate(basic("alice", "wrong"), [401]);
  await authenticate(`Bearer gth_${"x".repeat(36)}`, [401]);
  await authenticate(`Bearer unknown-${Math.random().toString(36).slice(2)}`, [401]);
  await call("/whoami", { headers: { authorization: ALICE } });
  await call("/api/v1/tokens", { headers: { authorization: ALICE } });
}

const flows = [signInFlow, tokenFlow, credentialsFlow, credentialsFlow];
let running = true;
async function client(index: number): Promise<void> {
  let turn = index;
  while (running) await flows[turn++ % flows.length]();
}

// Sampling
interface Sample {
  seconds: number;
  rssMiB: number;
  fds: number;
  dbKiB: number;
  walKiB: number;
  requests: number;
  p50: number;
  p99: number;
  max: number;
}
const samples: Sample[] = [];
const started = performance.now();
const sizeKiB = (path: string) => {
  try {
    return Math.round(statSync(path).size / 1024);
  } catch {
    return 0;
  }
};
function sample(): void {
  const sorted = latencies.sort((a, b) => a - b);
  const at = (fraction: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0) * 10) / 10;
  const entry: Sample = {
    seconds: Math.round((performance.now() - started) / 1000),
    rssMiB: Math.round(Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)![1]) / 102.4) / 10,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    dbKiB: sizeKiB(database),
    walKiB: sizeKiB(`${database}-wal`),
    requests,
    p50: at(0.5),
    p99: at(0.99),
    max: at(1),
  };
  latencies = [];
  requests = 0;
  samples.push(entry);
  console.error(
    `${String(entry.seconds).padStart(5)} s  RSS ${entry.rssMiB.toFixed(1).padStart(6)} MiB  fds ${String(entry.fds).padStart(4)}  db ${String(entry.dbKiB).padStart(6)} KiB  WAL ${String(entry.walKiB).padStart(6)} KiB  ${String(Math.round(entry.requests / (intervalMs / 1000))).padStart(5)} req/s  p50 ${entry.p50} ms  p99 ${entry.p99} ms  max ${entry.max} ms  failures ${failures.length}`,
  );
}

console.error(`soak: ${values.minutes} min, ${clients} clients, a sample every ${values.interval} s (server pid ${pid}, ${dir})`);
const workers = Array.from({ length: clients }, (_, index) => client(index));
const sampler = setInterval(sample, intervalMs);
await Bun.sleep(durationMs);
running = false;
await Promise.all(workers);
clearInterval(sampler);
sample();
const purges = server.logs.filter((line) => line.includes('"event.name":"store.purged"')).length;
await server.stop();
stub.stop(true);

// Growth compares the second tenth of the run (after warm-up) with the last tenth, by their medians:
// RSS follows the garbage collector's saw-tooth, and one sample against another measures the tooth.
const tenth = Math.max(1, Math.floor(samples.length / 10));
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const windowOf = (from: number, to: number) => samples.slice(from, Math.max(from + 1, to));
const warmWindow = windowOf(tenth, 2 * tenth);
const lastWindow = windowOf(samples.length - tenth, samples.length);
const warm = { rssMiB: median(warmWindow.map((s) => s.rssMiB)), fds: median(warmWindow.map((s) => s.fds)), dbKiB: median(warmWindow.map((s) => s.dbKiB)) };
const last = { rssMiB: median(lastWindow.map((s) => s.rssMiB)), fds: median(lastWindow.map((s) => s.fds)), dbKiB: median(lastWindow.map((s) => s.dbKiB)) };
const growth = (from: number, to: number) => Math.round(((to - from) / Math.max(from, 1)) * 1000) / 10;
const report = {
  minutes: Number(values.minutes),
  clients,
  requests: Object.values(statuses).reduce((sum, count) => sum + count, 0),
  statuses,
  failures: failures.length,
  firstFailures: failures.slice(0, 5),
  purges,
  // Medians of the second and the last tenth of the samples.
  rss: { warmMiB: warm.rssMiB, finalMiB: last.rssMiB, maxMiB: Math.max(...samples.map((s) => s.rssMiB)), growthPercent: growth(warm.rssMiB, last.rssMiB) },
  fds: { warm: warm.fds, final: last.fds, max: Math.max(...samples.map((s) => s.fds)) },
  database: { warmKiB: warm.dbKiB, finalKiB: last.dbKiB, maxKiB: Math.max(...samples.map((s) => s.dbKiB)) },
  wal: { maxKiB: Math.max(...samples.map((s) => s.walKiB)), finalKiB: samples[samples.length - 1].walKiB },
  latencyMs: { p50: Math.max(...samples.map((s) => s.p50)), p99: Math.max(...samples.map((s) => s.p99)), max: Math.max(...samples.map((s) => s.max)) },
};
console.log(JSON.stringify(report, null, 2));
process.exit(report.failures === 0 && report.rss.growthPercent < 10 ? 0 : 1);
