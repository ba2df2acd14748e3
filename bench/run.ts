// Benchmark driver (see bench/README.md). Every case is measured against its own
// ceiling in the same run: direct cases against a bare Bun.serve, cases through
// nginx `auth_request` against the same nginx asking a bare Bun.serve.
//
// It starts each target (a process, or nginx in front of one) in turn, warms each
// case up with one request whose status must be the expected one, runs wrk, reads
// the target's peak RSS, stops it; then measures start-up to the first /health,
// and prints one markdown report.
//
//   bash bench/run.sh [--quick] [filter]
//
// To add a case: add a Target if it needs another config or set-up step, and a
// Case naming that target (mark it `quick` if the smoke run should include it).
import argon2 from "argon2";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { projectRoot, temporaryDirectory } from "../test/helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, waitForPort } from "../test/helpers/nginx.ts";
import { generateOpaqueToken } from "../src/tokens/format.ts";
import { postgresAvailable, startPostgres, type Postgres } from "../test/helpers/postgres.ts";
import { ACCESS_REQUEST, accessRules } from "./access-rules.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
/** Optional filter on case names; ceilings always run (ratios need them). */
const filter = args.find((arg) => !arg.startsWith("--"))?.toLowerCase();

const duration = process.env.BENCH_DURATION ?? (quick ? "2s" : "5s");
const wrkArgs = [`-t${process.env.BENCH_THREADS ?? 2}`, `-c${process.env.BENCH_CONNECTIONS ?? 32}`, `-d${duration}`, "--latency"];
/** Each case runs this many times; the run with the median requests/s is reported (the machine is noisy). */
const repeat = Number(process.env.BENCH_REPEAT ?? (quick ? 1 : 3));
/** Starts measured per build for the start-up figure (median reported). */
const startupRuns = quick ? 3 : 7;
const bun = process.execPath;
const binaryPath = join(projectRoot, "dist/gatehouse");
const sourceCommand = [bun, "run", join(projectRoot, "src/main.ts")];
const binaryCommand = [binaryPath];
const resultsDir = join(projectRoot, "bench/results");
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, "Z").replace(":", "");

// ---------------------------------------------------------------- processes

export interface RunningTarget {
  /** Where wrk sends requests (Gatehouse or the bare server, or nginx in front of either). */
  url: string;
  /** Processes whose memory is reported: Gatehouse (its workers included), never nginx or wrk. */
  pids(): number[];
  /** The end of the measured process's output, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface StartedProcess extends RunningTarget {
  port: number;
  /** The Unix socket it listens on instead of `port`, when started with one. */
  socket?: string;
  pid: number;
}

/**
 * Starts a command on a free port (given through `env(port)`) and waits until it
 * listens. Its output goes to a file, as a service manager would write it: a
 * pipe drained by this process would compete with the server for the cores.
 */
export async function startProcess(command: string[], env: (port: number) => Record<string, string>, cwd: string, socket?: string): Promise<StartedProcess> {
  const port = freePort();
  const logPath = join(cwd, `output-${port}.log`);
  const logFd = openSync(logPath, "w");
  const child = Bun.spawn(command, {
    cwd,
    env: { ...process.env, ...env(port) },
    stdin: "ignore",
    stdout: logFd,
    stderr: logFd,
  });
  closeSync(logFd);
  const output = () => (existsSync(logPath) ? readFileSync(logPath, "utf8").slice(-4000) : "");
  try {
    if (socket) await waitForSocket(socket, 20_000, () => child.exitCode === null);
    else await waitForPort(port, 20_000, () => child.exitCode === null);
  } catch (error) {
    child.kill("SIGKILL");
    await child.exited;
    throw new Error(`${command.join(" ")}: ${(error as Error).message}\n${output()}`);
  }
  return {
    url: socket ? `unix:${socket}` : `http://127.0.0.1:${port}`,
    port,
    socket,
    pid: child.pid,
    pids: () => [child.pid, ...descendantsOf(child.pid)],
    output,
    async stop() {
      child.kill("SIGTERM");
      const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
      if (!exited) child.kill("SIGKILL");
      await child.exited;
    },
  };
}

/** Waits until a server answers HTTP on the Unix socket `path`. */
async function waitForSocket(path: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`process exited before ${path} accepted connections`);
    try {
      await fetch("http://localhost/", { unix: path } as RequestInit);
      return;
    } catch {
      await Bun.sleep(50);
    }
  }
  throw new Error(`${path} accepted no connection within ${timeoutMs} ms`);
}

/** Every process below `pid` (workers), from /proc. */
function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // the process ended meanwhile
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Peak resident memory (VmHWM) of each process, in MB. */
function peakRssMb(pids: number[]): number[] {
  return pids.flatMap((pid) => {
    try {
      const kb = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmHWM:\s+(\d+) kB/m)?.[1];
      return kb ? [Number(kb) / 1024] : [];
    } catch {
      return [];
    }
  });
}

// ---------------------------------------------------------------- configs

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
const users = {
  clear: { username: "bench-clear", password: "clear-text-password" },
  hashed: { username: "bench-argon2", password: "argon2id-password" },
};
let argon2Hash: string | undefined;

export interface GatehouseOptions {
  jwt?: string;
  store?: boolean;
  seedTokens?: number;
  /** `server.workers`; targets with more than one are skipped by a build without the setting. */
  workers?: number;
  /** Build: the sources through `bun run`, or the compiled binary. */
  build?: "sources" | "binary";
  /** Extra environment (e.g. GATEHOUSE_METRICS__ENABLED=false). */
  env?: Record<string, string>;
  /** A config of its own instead of the bench config (the seed's). */
  config?: () => string;
  /** The store on a private PostgreSQL (a database of the target's own) instead of a SQLite file. */
  postgres?: boolean;
  /** Listen on this Unix socket (server.socket, mode 0666 for nginx's workers) instead of a TCP port. */
  socket?: string;
}

/** One private PostgreSQL for the bench's PostgreSQL targets, started at the first (test/helpers/postgres.ts). */
let postgres: Promise<Postgres> | undefined;
let postgresDatabases = 0;
const BENCH_MASTER_KEY = "gatehouse-bench-master-key-0123456789abcdef";

async function postgresStore(): Promise<string> {
  postgres ??= startPostgres("bench");
  const server = await postgres;
  const url = server.createDatabase(`bench_${++postgresDatabases}`);
  return `  type: postgres\n  url: "${url}"`;
}

const hs256 = "  secret: gatehouse-bench-secret-key-0123456789";

/** The bench config: one plain provider, and the signing, store and worker settings of the target. */
export async function benchConfig(dir: string, options: GatehouseOptions): Promise<string> {
  // OWASP's argon2id parameters, as recommended for stored passwords.
  argon2Hash ??= await argon2.hash(users.hashed.password, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
  return `version: 1.0.0
logging:
  level: warn
  format: json
providers:
  - name: bench-plain
    type: plain
    realm: bench
    users:
      - username: ${users.clear.username}
        password: ${users.clear.password}
        roles: [reader]
      - username: ${users.hashed.username}
        password: "${argon2Hash}"
        roles: [reader]
store:
  enabled: ${options.store ?? false}
${options.postgres ? await postgresStore() : `  path: ${join(dir, "gatehouse.db")}`}
services:
  - name: ecflow
    scopes: [read, write]
jwt:
  exp: 3600
  iss: gatehouse-bench
  aud: gatehouse-bench
${options.jwt ?? hs256}
include_legacy_headers: true
${options.socket ? `server:\n  socket: ${options.socket}\n  socket_mode: "0666"\n` : "bind_address: 127.0.0.1:8080\n"}${options.workers ? `server:\n  workers: ${options.workers}\n` : ""}`;
}

/** The seed's auth-o-tron config (test/fixtures/seed-config.yaml) at another logging level. */
const seedConfig = (level: "debug" | "info") => () =>
  readFileSync(join(projectRoot, "test/fixtures/seed-config.yaml"), "utf8").replace(/^(\s*level:\s*)"?debug"?/m, `$1"${level}"`);

/** The secrets seeded into each token target's store, by target name. */
const seeded = new Map<string, { valid: string; revoked: string }>();

async function startGatehouse(name: string, options: GatehouseOptions): Promise<StartedProcess> {
  const dir = temporaryDirectory("gatehouse-bench-");
  // nginx's workers (nobody, when the master runs as root) reach the socket through this folder.
  if (options.socket === "") options = { ...options, socket: join(dir, "auth.sock") };
  if (options.socket) chmodSync(dir, 0o755);
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, options.config ? options.config() : await benchConfig(dir, options));
  if (options.seedTokens) {
    console.error(`bench: seeding ${options.seedTokens.toLocaleString("en")} tokens`);
    const seed = Bun.spawnSync([bun, "run", join(projectRoot, "bench/seed-tokens.ts"), configPath, String(options.seedTokens)], {
      env: { ...process.env, GATEHOUSE_MASTER_KEY: BENCH_MASTER_KEY },
    });
    if (seed.exitCode !== 0) throw new Error(`seeding failed: ${seed.stderr}`);
    seeded.set(name, JSON.parse(seed.stdout.toString()));
  }
  const command = gatehouseCommand(options.build);
  return startProcess(
    [...command, "serve", "--config", configPath],
    (port) => ({
      ...(options.socket ? {} : { GATEHOUSE_BIND_ADDRESS: `127.0.0.1:${port}` }),
      // Never the default 9090: other benches or tests may hold it.
      GATEHOUSE_METRICS__PORT: String(freePort()),
      // Instances on one PostgreSQL share their signing keys, sealed with one master key.
      ...(options.postgres ? { GATEHOUSE_MASTER_KEY: BENCH_MASTER_KEY } : {}),
      ...options.env,
    }),
    dir,
    options.socket,
  );
}

/** BENCH_GATEHOUSE_COMMAND runs yet another build (e.g. an installed one) in place of the sources. */
function gatehouseCommand(build: GatehouseOptions["build"] = "sources"): string[] {
  if (build === "binary") return binaryCommand;
  return process.env.BENCH_GATEHOUSE_COMMAND?.split(" ") ?? sourceCommand;
}

// ---------------------------------------------------------------- targets

/** How wrk reaches the server: directly, or through nginx over loopback TCP or over a Unix socket. */
type Via = "direct" | "nginx" | "nginx-unix";

interface Target {
  name: string;
  via: Via;
  /** The ceiling every case of the same `via` is compared with. */
  ceiling?: boolean;
  workers?: number;
  start(): Promise<RunningTarget>;
}

/**
 * A server of bench/ (bare-server.ts, the ceiling, or floor-server.ts), on a
 * TCP port, or with `socket` on a Unix socket in a folder nginx's workers reach.
 */
function benchServer(file: "bare-server.ts" | "floor-server.ts", socket = false): Promise<StartedProcess> {
  const dir = temporaryDirectory("gatehouse-bench-");
  const path = socket ? join(dir, "server.sock") : undefined;
  if (path) chmodSync(dir, 0o755);
  return startProcess(
    [bun, "run", join(projectRoot, "bench", file)],
    (port) => ({ PORT: String(port), GATEHOUSE_BIND_ADDRESS: `127.0.0.1:${port}`, ...(path ? { BENCH_SOCKET: path } : {}) }),
    dir,
    path,
  );
}
const bareServer = () => benchServer("bare-server.ts");

function gatehouseTarget(name: string, options: GatehouseOptions): Target {
  return { name, via: "direct", workers: options.workers, start: () => startGatehouse(name, options) };
}

/**
 * nginx in front of an auth server, with README's upstream keep-alive block:
 * `/protected` is checked by `auth_request` and then serves a small file (a
 * `return` would run before the access phase and skip the check).
 */
export async function behindNginx(upstream: StartedProcess): Promise<RunningTarget> {
  const port = freePort();
  let nginx;
  try {
    nginx = await startNginx({
      workerProcesses: (process.env.BENCH_NGINX_WORKERS as "auto" | undefined) ?? "auto",
      main: "worker_rlimit_nofile 8192;",
      http: (dir) => {
        mkdirSync(join(dir, "html"), { recursive: true });
        writeFileSync(join(dir, "html/protected"), "ok\n");
        // The site is bench/nginx-site.conf (bench/ab.ts uses it too), with its placeholders filled in.
        return readFileSync(join(import.meta.dir, "nginx-site.conf"), "utf8")
          .replaceAll("$UPSTREAM", upstream.socket ? `unix:${upstream.socket}` : `127.0.0.1:${upstream.port}`)
          .replaceAll("$PORT", String(port))
          .replaceAll("$HTML", join(dir, "html"));
      },
    });
  } catch (error) {
    await upstream.stop();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pids: upstream.pids,
    output: () => `${upstream.output()}\n--- nginx error log ---\n${nginx.errorLog().slice(-2000)}`,
    async stop() {
      await nginx.stop();
      await upstream.stop();
    },
  };
}

function nginxTarget(name: string, options: GatehouseOptions): Target {
  return {
    name,
    via: options.socket === undefined ? "nginx" : "nginx-unix",
    workers: options.workers,
    start: async () => behindNginx(await startGatehouse(name, options)),
  };
}

const tokenStore = { store: true, seedTokens: 1_000 } satisfies GatehouseOptions;

/** In running order: one at a time, so that nothing else competes for the cores. */
const targets: Target[] = [
  { name: "bare", via: "direct", ceiling: true, start: bareServer },
  // The floor of any /authenticate answer in Bun (bench/floor-server.ts): the targets are set against it.
  { name: "floor", via: "direct", start: () => benchServer("floor-server.ts") },
  gatehouseTarget("gatehouse", {}),
  gatehouseTarget("gatehouse-no-reuse", { jwt: `${hs256}\n  reuse_seconds: 0` }),
  gatehouseTarget("gatehouse-es256", { jwt: "  alg: ES256", store: true }),
  gatehouseTarget("gatehouse-es256-no-reuse", { jwt: "  alg: ES256\n  reuse_seconds: 0", store: true }),
  gatehouseTarget("gatehouse-eddsa", { jwt: "  alg: EdDSA", store: true }),
  gatehouseTarget("gatehouse-tokens-1k", tokenStore),
  gatehouseTarget("gatehouse-tokens-1k-no-metrics", { ...tokenStore, env: { GATEHOUSE_METRICS__ENABLED: "false" } }),
  // 50 access rules (bench/access-rules.ts): the request is compared with every one.
  gatehouseTarget("gatehouse-tokens-1k-access-50", { ...tokenStore, env: { GATEHOUSE_ACCESS: JSON.stringify(accessRules(50)) } }),
  gatehouseTarget("gatehouse-no-regulation", { env: { GATEHOUSE_REGULATION__ENABLED: "false" } }),
  gatehouseTarget("seed-debug", { config: seedConfig("debug") }),
  gatehouseTarget("seed-info", { config: seedConfig("info") }),
  gatehouseTarget("binary-tokens-1k", { ...tokenStore, build: "binary" }),
  gatehouseTarget("tokens-1k-2-workers", { ...tokenStore, workers: 2 }),
  // PostgreSQL: one instance, and two (two workers: two processes, each with its own pool, listener and cache).
  gatehouseTarget("pg-tokens-1k", { ...tokenStore, postgres: true }),
  gatehouseTarget("pg-tokens-1k-2-instances", { ...tokenStore, postgres: true, workers: 2 }),
  { name: "nginx-bare", via: "nginx", ceiling: true, start: async () => behindNginx(await bareServer()) },
  nginxTarget("nginx-tokens-1k", tokenStore),
  nginxTarget("nginx-binary-tokens-1k", { ...tokenStore, build: "binary" }),
  nginxTarget("nginx-tokens-1k-2-workers", { ...tokenStore, workers: 2 }),
  { name: "nginx-floor", via: "nginx", start: async () => behindNginx(await benchServer("floor-server.ts")) },
  // nginx to its upstream over a Unix socket (server.socket; an empty path: one in the target's folder).
  { name: "nginx-unix-bare", via: "nginx-unix", ceiling: true, start: async () => behindNginx(await benchServer("bare-server.ts", true)) },
  { name: "nginx-unix-floor", via: "nginx-unix", start: async () => behindNginx(await benchServer("floor-server.ts", true)) },
  nginxTarget("nginx-unix-tokens-1k", { ...tokenStore, socket: "" }),
  // Last: seeding 100,000 tokens takes about 30 s and the machine is slower for a while after.
  gatehouseTarget("gatehouse-tokens-100k", { store: true, seedTokens: 100_000 }),
];

// ---------------------------------------------------------------- cases

interface Case {
  name: string;
  target: string;
  /** Included in `--quick`. */
  quick?: boolean;
  /** Defaults to /authenticate directly, /protected through nginx. */
  path?: string;
  /** Headers, or a function giving them once the target has started (e.g. a seeded token). */
  headers?: Record<string, string> | (() => Record<string, string>);
  method?: "GET" | "POST";
  body?: string;
  /** Status the warm-up request must get (200 unless said). */
  expect?: number[];
}

const clearBasic = { Authorization: basic(users.clear.username, users.clear.password) };
const tokenOf = (target: string, which: "valid" | "revoked") => () => ({ Authorization: `Bearer ${seeded.get(target)?.[which]}` });
// A well-formed token (prefix, length, checksum) that is in no store: it costs a database read.
const unknownToken = { Authorization: `Bearer ${generateOpaqueToken("gth_")}` };
const wrongPassword = { Authorization: basic(users.clear.username, "not-the-password") };
const malformed = { Authorization: "Basic %%%not-base64%%%" };
// A refused password may be answered 429 once regulation bans the address or the user.
const refused = [401, 429];

/**
 * The cases of one token target: success and the four refusals. The wrong
 * password comes last (after `before`): regulation bans the user after a few
 * failures (answered 401 on /authenticate without checking the password,
 * Retry-After), and the user's Basic cases would be refused after it.
 */
function tokenCases(target: string, label: string, quickOnes: string[], before: Case[] = []): Case[] {
  const cases: Case[] = [
    { name: `${label}: API token`, target, headers: tokenOf(target, "valid") },
    { name: `${label}: Basic, clear-text password`, target, headers: clearBasic },
    { name: `${label}: refused, unknown token`, target, headers: unknownToken, expect: [401] },
    { name: `${label}: refused, revoked token`, target, headers: tokenOf(target, "revoked"), expect: [401] },
    { name: `${label}: refused, malformed header`, target, headers: malformed, expect: [401] },
    ...before,
    { name: `${label}: refused, wrong password (regulated after 5)`, target, headers: wrongPassword, expect: refused },
  ];
  return cases.map((c) => ({ ...c, quick: c.quick || quickOnes.some((q) => c.name.includes(q)) }));
}

const cases: Case[] = [
  { name: "bare Bun.serve (ceiling)", target: "bare", path: "/" },
  { name: "Basic, clear-text password", target: "gatehouse", headers: clearBasic, quick: true },
  { name: "Basic, argon2id hash (verified once, then cached)", target: "gatehouse", headers: { Authorization: basic(users.hashed.username, users.hashed.password) } },
  { name: "Basic, HS256, a JWT signed for every answer", target: "gatehouse-no-reuse", headers: clearBasic },
  { name: "Basic, ES256 managed key", target: "gatehouse-es256", headers: clearBasic },
  { name: "Basic, ES256, a JWT signed for every answer", target: "gatehouse-es256-no-reuse", headers: clearBasic },
  { name: "Basic, EdDSA managed key", target: "gatehouse-eddsa", headers: clearBasic },
  ...tokenCases("gatehouse-tokens-1k", "1k tokens", ["API token", "unknown token", "revoked token", "wrong password", "malformed header"], [
    {
      name: "1k tokens: token creation, POST /api/v1/tokens",
      target: "gatehouse-tokens-1k",
      path: "/api/v1/tokens",
      method: "POST",
      body: JSON.stringify({ note: "bench", expires_in: 3600 }),
      headers: { ...clearBasic, "Content-Type": "application/json" },
      expect: [201],
    },
  ]),
  { name: "regulation off: refused, wrong password (checked every time)", target: "gatehouse-no-regulation", headers: wrongPassword, expect: [401], quick: true },
  { name: "1k tokens, metrics off: API token", target: "gatehouse-tokens-1k-no-metrics", headers: tokenOf("gatehouse-tokens-1k-no-metrics", "valid"), quick: true },
  // The cost of access rules: the same request (as nginx describes it) without rules, and with 50.
  { name: "1k tokens: API token, asked about a URL, no access rules", target: "gatehouse-tokens-1k", headers: () => ({ ...tokenOf("gatehouse-tokens-1k", "valid")(), ...ACCESS_REQUEST }) },
  { name: "1k tokens, 50 access rules: API token, asked about a URL", target: "gatehouse-tokens-1k-access-50", headers: () => ({ ...tokenOf("gatehouse-tokens-1k-access-50", "valid")(), ...ACCESS_REQUEST }), quick: true },
  { name: "seed config, logging debug: Basic", target: "seed-debug", headers: { Authorization: basic("someuser", "somesecret") }, quick: true },
  { name: "seed config, logging info: Basic", target: "seed-info", headers: { Authorization: basic("someuser", "somesecret") }, quick: true },
  ...tokenCases("binary-tokens-1k", "binary", ["API token", "wrong password"]).filter((c) => !c.name.includes("revoked")),
  ...tokenCases("tokens-1k-2-workers", "2 workers", ["API token"]).slice(0, 3),
  ...tokenCases("pg-tokens-1k", "PostgreSQL", ["API token", "revoked token"]),
  ...tokenCases("pg-tokens-1k-2-instances", "PostgreSQL, 2 instances", ["API token"]).slice(0, 4),
  { name: "floor (bench/floor-server.ts): any answer's least", target: "floor", headers: clearBasic, quick: true },
  { name: "nginx → bare Bun.serve (ceiling)", target: "nginx-bare", headers: clearBasic },
  { name: "nginx → floor", target: "nginx-floor", headers: clearBasic, quick: true },
  ...tokenCases("nginx-tokens-1k", "nginx", ["API token", "wrong password"]),
  ...tokenCases("nginx-binary-tokens-1k", "nginx, binary", ["API token"]).slice(0, 2),
  ...tokenCases("nginx-tokens-1k-2-workers", "nginx, 2 workers", ["API token"]).slice(0, 2),
  { name: "nginx over a Unix socket → bare Bun.serve (ceiling)", target: "nginx-unix-bare", headers: clearBasic },
  { name: "nginx over a Unix socket → floor", target: "nginx-unix-floor", headers: clearBasic, quick: true },
  ...tokenCases("nginx-unix-tokens-1k", "nginx over a Unix socket", ["API token", "unknown token"]),
  { name: "100k tokens: API token", target: "gatehouse-tokens-100k", headers: tokenOf("gatehouse-tokens-100k", "valid") },
];

const headersOf = (c: Case) => (typeof c.headers === "function" ? c.headers() : (c.headers ?? {}));
const pathOf = (c: Case, target: Target) => c.path ?? (target.via === "direct" ? "/authenticate" : "/protected");

// ---------------------------------------------------------------- wrk

interface WrkResult {
  requests: number;
  /** CPU time of the measured processes (Gatehouse and its workers, or the bare server), µs per request. */
  cpuMicrosPerRequest?: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: number;
}

/** Converts wrk's "1.23ms" / "456.00us" / "1.02s" to milliseconds. */
function toMs(value: string): number {
  const match = value.match(/^([\d.]+)(us|ms|s|m)$/);
  if (!match) throw new Error(`cannot parse wrk duration ${value}`);
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2] as "us" | "ms" | "s" | "m"];
  return Number(match[1]) * factor;
}

export function parseWrk(text: string): WrkResult {
  const rps = text.match(/Requests\/sec:\s+([\d.]+)/);
  const p50 = text.match(/^\s+50%\s+(\S+)/m);
  const p99 = text.match(/^\s+99%\s+(\S+)/m);
  if (!rps || !p50 || !p99) throw new Error(`cannot parse wrk output:\n${text}`);
  const socket = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    requests: Number(text.match(/(\d+) requests in/)?.[1] ?? 0),
    requestsPerSecond: Number(rps[1]),
    p50Ms: toMs(p50[1]),
    p99Ms: toMs(p99[1]),
    non2xx: Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

/** Clock ticks per second of /proc/PID/stat's CPU times (USER_HZ). */
const clockTicks = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/**
 * CPU seconds (user + system) the processes have used. On a machine shared
 * with other work, requests/s moves with the neighbours' load; the server's
 * CPU time per request much less, which is what makes a 5 % cost measurable.
 */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // gone meanwhile
    }
  }
  return ticks / clockTicks;
}

async function runWrk(c: Case, url: string, pids: () => number[]): Promise<WrkResult> {
  const measured = pids();
  const cpuBefore = cpuSeconds(measured);
  const result = await runWrkOnly(c, url);
  const cpu = cpuSeconds(measured) - cpuBefore;
  return { ...result, cpuMicrosPerRequest: result.requests > 0 ? (cpu * 1e6) / result.requests : undefined };
}

async function runWrkOnly(c: Case, url: string): Promise<WrkResult> {
  const headerArgs = Object.entries(headersOf(c)).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const scriptArgs: string[] = [];
  if (c.method === "POST") {
    // wrk sends a POST with a body through a Lua script.
    const script = join(temporaryDirectory("gatehouse-bench-"), "post.lua");
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(c.body ?? "")}\n`);
    scriptArgs.push("-s", script);
  }
  const wrk = Bun.spawn(["wrk", ...wrkArgs, ...scriptArgs, ...headerArgs, url], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(wrk.stdout).text(), new Response(wrk.stderr).text()]);
  if ((await wrk.exited) !== 0) throw new Error(`wrk failed: ${err}${out}`);
  mkdirSync(join(resultsDir, "raw"), { recursive: true });
  const slug = c.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  writeFileSync(join(resultsDir, "raw", `${stamp}-${slug}.txt`), out);
  return parseWrk(out);
}

async function request(c: Case, url: string): Promise<number> {
  const response = await fetch(url, { method: c.method ?? "GET", headers: headersOf(c), body: c.body });
  await response.arrayBuffer();
  return response.status;
}

// ---------------------------------------------------------------- start-up

/** Milliseconds from spawning `serve` to the first 200 from /health, median of `startupRuns` starts. */
async function startupMs(build: "sources" | "binary"): Promise<{ median: number; min: number }> {
  const dir = temporaryDirectory("gatehouse-bench-");
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, await benchConfig(dir, { store: true }));
  const timings: number[] = [];
  // The first start creates the store; the ones measured are restarts, the usual case.
  for (let run = 0; run <= startupRuns; run++) {
    const port = freePort();
    const started = performance.now();
    const child = Bun.spawn([...gatehouseCommand(build), "serve", "--config", configPath], {
      cwd: dir,
      env: { ...process.env, GATEHOUSE_BIND_ADDRESS: `127.0.0.1:${port}`, GATEHOUSE_METRICS__PORT: String(freePort()) },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
    });
    let elapsed: number | undefined;
    while (elapsed === undefined && performance.now() - started < 20_000 && child.exitCode === null) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/health`);
        if (response.status === 200) elapsed = performance.now() - started;
      } catch {
        await Bun.sleep(1);
      }
    }
    child.kill("SIGTERM");
    await child.exited;
    if (elapsed === undefined) throw new Error(`${build}: no answer from /health within 20 s`);
    if (run > 0) timings.push(elapsed);
  }
  timings.sort((a, b) => a - b);
  return { median: timings[Math.floor(timings.length / 2)]!, min: timings[0]! };
}

// ---------------------------------------------------------------- report

interface Measured {
  c: Case;
  target: Target;
  result: WrkResult;
  /** Status of one request made right after the load (e.g. 429 once regulation bans). */
  after: number;
}

function machine(): string {
  const osRelease = readFileSync("/etc/os-release", "utf8").match(/^PRETTY_NAME="?([^"\n]+)/m)?.[1] ?? "linux";
  const cpu = cpus();
  return `${cpu.length} cores (${cpu[0]?.model.trim()}), ${osRelease}, kernel ${release()}, Bun ${Bun.version}`;
}

function casesTable(results: Measured[]): string {
  const ceilingOf = (via: Via) => results.find((r) => r.target.ceiling && r.target.via === via)?.result;
  // The floor of the same transport (bench/floor-server.ts): what no implementation on Bun can beat.
  const floorOf = (via: Via) => results.find((r) => r.target.name.endsWith("floor") && r.target.via === via)?.result;
  const lines = [
    "| case | via | req/s | ÷ ceiling | ÷ floor | p50 ms | p99 ms | server CPU µs/req | answers | non-2xx / errors |",
    "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
  ];
  const divided = (r: WrkResult, by: WrkResult | undefined, c: Case) => (by && c.method !== "POST" ? `${(r.requestsPerSecond / by.requestsPerSecond).toFixed(2)}×` : "–");
  for (const { c, target, result: r, after } of results) {
    const ratio = divided(r, ceilingOf(target.via), c);
    const floor = target.ceiling || target.name.endsWith("floor") ? "–" : divided(r, floorOf(target.via), c);
    const first = c.expect?.[0] ?? 200;
    const answers = after === first ? String(first) : `${first}, then ${after}`;
    lines.push(
      `| ${c.name} | ${target.via} | ${Math.round(r.requestsPerSecond).toLocaleString("en")} | ${ratio} | ${floor} ` +
        `| ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.cpuMicrosPerRequest?.toFixed(1) ?? "–"} | ${answers} | ${r.non2xx.toLocaleString("en")} / ${r.socketErrors} |`,
    );
  }
  return lines.join("\n");
}

async function main() {
  // `npm run build` every time (about a second): a stale binary would measure old code.
  console.error("bench: npm run build");
  const build = Bun.spawnSync([bun, "run", join(projectRoot, "scripts/build.ts")], { stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`build failed:\n${build.stderr}`);
  const schema = Bun.spawnSync([...sourceCommand, "config", "schema"]).stdout.toString();
  const hasWorkers = /"workers"/.test(schema);
  const hasNginx = nginxAvailable("the nginx cases of the bench");
  const skipped: string[] = [];
  const selected = cases.filter((c) => {
    const target = targets.find((t) => t.name === c.target)!;
    if (target.ceiling) return true;
    if (quick && !c.quick) return false;
    if (filter && !c.name.toLowerCase().includes(filter)) return false;
    if ((target.workers ?? 1) > 1 && !hasWorkers) return skipped.push(`${c.name} (this build has no server.workers)`), false;
    if (target.name.startsWith("pg-") && !postgresAvailable) return skipped.push(`${c.name} (PostgreSQL is not installed)`), false;
    return true;
  });
  const needed = (via: Via) => selected.some((c) => !targets.find((t) => t.name === c.target)!.ceiling && targets.find((t) => t.name === c.target)!.via === via);

  const results: Measured[] = [];
  const memory: Array<{ target: Target; processes: number; peakMb: number[] }> = [];
  for (const target of targets) {
    const mine = selected.filter((c) => c.target === target.name);
    if (mine.length === 0 || (target.ceiling && !needed(target.via))) continue;
    if (target.via !== "direct" && !hasNginx) {
      skipped.push(...mine.map((c) => `${c.name} (nginx with auth_request is not installed)`));
      continue;
    }
    console.error(`bench: starting ${target.name}`);
    const running = await target.start();
    try {
      for (const c of mine) {
        const url = running.url + pathOf(c, target);
        const status = await request(c, url);
        if (!(c.expect ?? [200]).includes(status)) throw new Error(`${c.name}: warm-up answered ${status}\n${running.output()}`);
        console.error(`bench: wrk ${wrkArgs.join(" ")} — ${c.name}`);
        const runs: WrkResult[] = [];
        for (let run = 0; run < repeat; run++) runs.push(await runWrk(c, url, running.pids));
        runs.sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
        const result = runs[Math.floor(runs.length / 2)]!;
        const after = await request(c, url);
        results.push({ c, target, result, after });
        const expectsSuccess = (c.expect ?? [200]).every((s) => s < 300);
        if ((expectsSuccess && result.non2xx > 0) || result.socketErrors > 0) {
          console.error(`bench: WARNING ${c.name}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
        }
        const busy = running.output().match(/SQLITE_BUSY/g)?.length ?? 0;
        if (busy > 0) console.error(`bench: WARNING ${c.name}: ${busy} SQLITE_BUSY errors in the server's log`);
      }
      const pids = running.pids();
      if (!target.ceiling || target.via === "direct") memory.push({ target, processes: pids.length, peakMb: peakRssMb(pids) });
    } finally {
      await running.stop();
    }
  }

  if (postgres) await (await postgres).destroy();

  console.error("bench: start-up to the first /health");
  const startup = { sources: await startupMs("sources"), binary: await startupMs("binary") };

  // What recording metrics costs on /authenticate: the same case with metrics on and off.
  const withMetrics = results.find((r) => r.c.name === "1k tokens: API token")?.result;
  const withoutMetrics = results.find((r) => r.c.name === "1k tokens, metrics off: API token")?.result;
  const metricsCost =
    withMetrics?.cpuMicrosPerRequest && withoutMetrics?.cpuMicrosPerRequest
      ? `Cost of recording metrics (API token, 1k tokens, on against off): server CPU ${withMetrics.cpuMicrosPerRequest.toFixed(1)} against ` +
        `${withoutMetrics.cpuMicrosPerRequest.toFixed(1)} µs/request (${((withMetrics.cpuMicrosPerRequest / withoutMetrics.cpuMicrosPerRequest - 1) * 100).toFixed(1)} %), ` +
        `requests/s ${((withMetrics.requestsPerSecond / withoutMetrics.requestsPerSecond - 1) * 100).toFixed(1)} %.`
      : null;
  const memoryLines = [
    "| target | processes | peak RSS MB (VmHWM, each) |",
    "|---|---:|---|",
    ...memory.map(({ target, processes, peakMb }) => `| ${target.name} | ${processes} | ${peakMb.map((mb) => mb.toFixed(0)).join(" + ")} |`),
  ];
  const report = [
    `## ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC${quick ? " (--quick: smoke figures, not results)" : ""}`,
    "",
    `Machine: ${machine()}. wrk ${wrkArgs.join(" ")}, loopback, wrk, nginx and the server share the cores; ` +
      `each row is the median of ${repeat} run${repeat === 1 ? "" : "s"}. "÷ ceiling": requests/s divided by the ceiling of the same ` +
      `path in this run (bare Bun.serve directly, or nginx → bare Bun.serve).`,
    "",
    casesTable(results),
    "",
    ...(metricsCost ? [metricsCost, ""] : []),
    "Peak memory under load (after every case of the target):",
    "",
    memoryLines.join("\n"),
    "",
    `Start-up to the first 200 from /health (restart on an existing store, median of ${startupRuns}, min in brackets): ` +
      `sources ${startup.sources.median.toFixed(0)} ms (${startup.sources.min.toFixed(0)}), ` +
      `compiled binary ${startup.binary.median.toFixed(0)} ms (${startup.binary.min.toFixed(0)}).`,
    ...(skipped.length ? ["", `Skipped: ${skipped.join("; ")}.`] : []),
    "",
  ].join("\n");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${stamp}${quick ? "-quick" : ""}.md`), report);
  console.log(report);
  console.error(`bench: written to bench/results/${stamp}${quick ? "-quick" : ""}.md (raw wrk output in bench/results/raw/)`);
}

if (import.meta.main) await main();
