// Benchmark driver (see bench/README.md): starts each target in its own process,
// warms it up with one request, runs wrk against every scenario of that target,
// stops it, then prints a markdown table relative to the bare Bun.serve.
//
// To add a scenario (API token, ES256 keys, …): add a Target if it needs another
// config or set-up step, and a Scenario naming that target.
import argon2 from "argon2";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { projectRoot, temporaryDirectory } from "../test/helpers/gatehouse.ts";
import { freePort, waitForPort } from "../test/helpers/nginx.ts";

const wrkArgs = [
  `-t${process.env.BENCH_THREADS ?? 2}`,
  `-c${process.env.BENCH_CONNECTIONS ?? 32}`,
  `-d${process.env.BENCH_DURATION ?? "5s"}`,
  "--latency",
];
const bun = process.execPath;
/** Each scenario runs this many times; the run with the median requests/s is reported (the machine is noisy). */
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const resultsDir = join(projectRoot, "bench/results");
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, "Z").replace(":", "");

interface RunningTarget {
  url: string;
  stop(): Promise<void>;
  /** Recent output of the process, for error messages. */
  output(): string;
}

interface Target {
  name: string;
  start(): Promise<RunningTarget>;
}

interface Scenario {
  name: string;
  target: string;
  path: string;
  /** Headers, or a function giving them once the target has started (e.g. a seeded token). */
  headers?: Record<string, string> | (() => Record<string, string>);
  method?: "GET" | "POST";
  body?: string;
}

const headersOf = (scenario: Scenario) => (typeof scenario.headers === "function" ? scenario.headers() : (scenario.headers ?? {}));

interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: number;
}

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
const users = {
  clear: { username: "bench-clear", password: "clear-text-password" },
  hashed: { username: "bench-argon2", password: "argon2id-password" },
};

/** Starts a command on a free port (given through `env(port)`) and waits until it listens. */
async function startProcess(command: string[], env: (port: number) => Record<string, string>, cwd?: string) {
  const port = freePort();
  const child = Bun.spawn(command, {
    cwd: cwd ?? projectRoot,
    env: { ...process.env, ...env(port) },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let tail = "";
  // Drain both pipes (a full pipe would block the server) and keep the end.
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) tail = (tail + new TextDecoder().decode(chunk)).slice(-4000);
  };
  void drain(child.stdout);
  void drain(child.stderr);
  try {
    await waitForPort(port, 20_000, () => child.exitCode === null);
  } catch (error) {
    child.kill("SIGKILL");
    await Bun.sleep(50);
    throw new Error(`${command.join(" ")}: ${(error as Error).message}\n${tail}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => tail,
    async stop() {
      child.kill("SIGTERM");
      await child.exited;
    },
  } satisfies RunningTarget;
}

/** The bench config: one plain provider, and the signing and store settings of the target. */
async function gatehouseConfig(options: { dir: string; jwt: string; store: boolean }): Promise<string> {
  // OWASP's argon2id parameters, as recommended for stored passwords.
  const hash = await argon2.hash(users.hashed.password, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
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
        password: "${hash}"
        roles: [reader]
store:
  enabled: ${options.store}
  path: ${join(options.dir, "gatehouse.db")}
services:
  - name: ecflow
    scopes: [read, write]
jwt:
  exp: 3600
  iss: gatehouse-bench
  aud: gatehouse-bench
${options.jwt}
include_legacy_headers: true
bind_address: 127.0.0.1:8080
`;
}

const hs256 = "  secret: gatehouse-bench-secret-key-0123456789";
/** The secret of a token seeded into each token target's store, by target name. */
const seededTokens = new Map<string, string>();

/** A Gatehouse target: its own temporary folder, config, and optional set-up (e.g. seeding tokens). */
function gatehouseTarget(name: string, options: { jwt?: string; store?: boolean; seedTokens?: number }): Target {
  return {
    name,
    async start() {
      const dir = temporaryDirectory("gatehouse-bench-");
      const configPath = join(dir, "config.yaml");
      writeFileSync(configPath, await gatehouseConfig({ dir, jwt: options.jwt ?? hs256, store: options.store ?? false }));
      if (options.seedTokens) {
        console.error(`bench: seeding ${options.seedTokens.toLocaleString("en")} tokens`);
        const seed = Bun.spawnSync([bun, "run", join(projectRoot, "bench/seed-tokens.ts"), configPath, String(options.seedTokens)]);
        if (seed.exitCode !== 0) throw new Error(`seeding failed: ${seed.stderr}`);
        seededTokens.set(name, seed.stdout.toString().trim());
      }
      // BENCH_GATEHOUSE_COMMAND runs another build (e.g. "dist/gatehouse") instead of the sources.
      const command = process.env.BENCH_GATEHOUSE_COMMAND?.split(" ") ?? [bun, "run", join(projectRoot, "src/main.ts")];
      return startProcess(
        [...command, "serve", "--config", configPath],
        (port) => ({ GATEHOUSE_BIND_ADDRESS: `127.0.0.1:${port}` }),
        dir,
      );
    },
  };
}

const targets: Target[] = [
  {
    name: "bare",
    start: () => startProcess([bun, "run", join(projectRoot, "bench/bare-server.ts")], (port) => ({ PORT: String(port) })),
  },
  gatehouseTarget("gatehouse", {}),
  gatehouseTarget("gatehouse-no-reuse", { jwt: `${hs256}\n  reuse_seconds: 0` }),
  gatehouseTarget("gatehouse-es256", { jwt: "  alg: ES256", store: true }),
  gatehouseTarget("gatehouse-es256-no-reuse", { jwt: "  alg: ES256\n  reuse_seconds: 0", store: true }),
  gatehouseTarget("gatehouse-eddsa", { jwt: "  alg: EdDSA", store: true }),
  gatehouseTarget("gatehouse-tokens-1k", { store: true, seedTokens: 1_000 }),
  gatehouseTarget("gatehouse-tokens-100k", { store: true, seedTokens: 100_000 }),
];

const clearBasic = { Authorization: basic(users.clear.username, users.clear.password) };
const bearerOf = (target: string) => () => ({ Authorization: `Bearer ${seededTokens.get(target)}` });

const scenarios: Scenario[] = [
  { name: "bare Bun.serve (baseline)", target: "bare", path: "/" },
  { name: "Basic, clear-text password", target: "gatehouse", path: "/authenticate", headers: clearBasic },
  {
    name: "Basic, argon2id hash (verified once, then cached)",
    target: "gatehouse",
    path: "/authenticate",
    headers: { Authorization: basic(users.hashed.username, users.hashed.password) },
  },
  { name: "Basic, HS256, a JWT signed for every answer", target: "gatehouse-no-reuse", path: "/authenticate", headers: clearBasic },
  { name: "Basic, ES256 managed key", target: "gatehouse-es256", path: "/authenticate", headers: clearBasic },
  { name: "Basic, ES256, a JWT signed for every answer", target: "gatehouse-es256-no-reuse", path: "/authenticate", headers: clearBasic },
  { name: "Basic, EdDSA managed key", target: "gatehouse-eddsa", path: "/authenticate", headers: clearBasic },
  { name: "API token, 1,000 tokens in the store", target: "gatehouse-tokens-1k", path: "/authenticate", headers: bearerOf("gatehouse-tokens-1k") },
  { name: "API token, 100,000 tokens in the store", target: "gatehouse-tokens-100k", path: "/authenticate", headers: bearerOf("gatehouse-tokens-100k") },
  {
    name: "token creation, POST /api/v1/tokens",
    target: "gatehouse-tokens-1k",
    path: "/api/v1/tokens",
    method: "POST",
    body: JSON.stringify({ note: "bench", expires_in: 3600 }),
    headers: { ...clearBasic, "Content-Type": "application/json" },
  },
];

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
    requestsPerSecond: Number(rps[1]),
    p50Ms: toMs(p50[1]),
    p99Ms: toMs(p99[1]),
    non2xx: Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

async function runWrk(scenario: Scenario, url: string): Promise<WrkResult> {
  const headerArgs = Object.entries(headersOf(scenario)).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const scriptArgs: string[] = [];
  if (scenario.method === "POST") {
    // wrk sends a POST with a body through a Lua script.
    const script = join(temporaryDirectory("gatehouse-bench-"), "post.lua");
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(scenario.body ?? "")}\n`);
    scriptArgs.push("-s", script);
  }
  const wrk = Bun.spawn(["wrk", ...wrkArgs, ...scriptArgs, ...headerArgs, url + scenario.path], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(wrk.stdout).text(), new Response(wrk.stderr).text()]);
  if ((await wrk.exited) !== 0) throw new Error(`wrk failed: ${err}${out}`);
  mkdirSync(join(resultsDir, "raw"), { recursive: true });
  const slug = scenario.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  writeFileSync(join(resultsDir, "raw", `${stamp}-${slug}.txt`), out);
  return parseWrk(out);
}

function machine(): string {
  const osRelease = readFileSync("/etc/os-release", "utf8").match(/^PRETTY_NAME="?([^"\n]+)/m)?.[1] ?? "linux";
  const cpu = cpus();
  return `${cpu.length} cores (${cpu[0]?.model.trim()}), ${osRelease}, kernel ${release()}, Bun ${Bun.version}`;
}

function table(results: Array<{ scenario: Scenario; result: WrkResult }>): string {
  const base = results.find((r) => r.scenario.target === "bare")?.result;
  const ratio = (value: number, baseValue: number | undefined) => (baseValue ? `${(value / baseValue).toFixed(2)}×` : "–");
  const lines = [
    "| scenario | req/s | vs bare | p50 ms | vs bare | p99 ms | vs bare | non-2xx / errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { scenario, result: r } of results) {
    lines.push(
      `| ${scenario.name} | ${Math.round(r.requestsPerSecond).toLocaleString("en")} | ${ratio(r.requestsPerSecond, base?.requestsPerSecond)} ` +
        `| ${r.p50Ms.toFixed(2)} | ${ratio(r.p50Ms, base?.p50Ms)} | ${r.p99Ms.toFixed(2)} | ${ratio(r.p99Ms, base?.p99Ms)} ` +
        `| ${r.non2xx} / ${r.socketErrors} |`,
    );
  }
  return lines.join("\n");
}

async function main() {
  // Optional filter on scenario names; the baseline always runs (ratios need it).
  const filter = process.argv[2]?.toLowerCase();
  const selected = scenarios.filter((s) => s.target === "bare" || !filter || s.name.toLowerCase().includes(filter));
  const results: Array<{ scenario: Scenario; result: WrkResult }> = [];
  // One target at a time, so that nothing else competes for the 2 cores.
  for (const target of targets) {
    const mine = selected.filter((s) => s.target === target.name);
    if (mine.length === 0) continue;
    console.error(`bench: starting ${target.name}`);
    const running = await target.start();
    try {
      for (const scenario of mine) {
        const warmUp = await fetch(running.url + scenario.path, {
          method: scenario.method ?? "GET",
          headers: headersOf(scenario),
          body: scenario.body,
        });
        if (warmUp.status !== 200 && warmUp.status !== 201) {
          throw new Error(`${scenario.name}: warm-up answered ${warmUp.status}\n${running.output()}`);
        }
        console.error(`bench: wrk ${wrkArgs.join(" ")} — ${scenario.name}`);
        const runs: WrkResult[] = [];
        for (let run = 0; run < repeat; run++) runs.push(await runWrk(scenario, running.url));
        runs.sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
        const result = runs[Math.floor(runs.length / 2)];
        results.push({ scenario, result });
        if (result.non2xx > 0 || result.socketErrors > 0) {
          console.error(`bench: WARNING ${scenario.name}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
        }
        const busy = running.output().match(/SQLITE_BUSY/g)?.length ?? 0;
        if (busy > 0) console.error(`bench: WARNING ${scenario.name}: ${busy} SQLITE_BUSY errors in the server's log`);
      }
    } finally {
      await running.stop();
    }
  }
  const report = [
    `## ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
    `Machine: ${machine()}. wrk ${wrkArgs.join(" ")}, loopback, wrk and the server share the cores; each row is the median of ${repeat} runs.`,
    "",
    table(results),
    "",
  ].join("\n");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${stamp}.md`), report);
  console.log(report);
  console.error(`bench: written to bench/results/${stamp}.md (raw wrk output in bench/results/raw/)`);
}

if (import.meta.main) await main();
