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
  `-d${process.env.BENCH_DURATION ?? "10s"}`,
  "--latency",
];
const bun = process.execPath;
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
  headers?: Record<string, string>;
}

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

async function gatehouseConfig(): Promise<string> {
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
  enabled: false
services: []
jwt:
  exp: 3600
  iss: gatehouse-bench
  secret: gatehouse-bench-secret-key-0123456789
  aud: gatehouse-bench
include_legacy_headers: true
bind_address: 127.0.0.1:8080
`;
}

const targets: Target[] = [
  {
    name: "bare",
    start: () => startProcess([bun, "run", join(projectRoot, "bench/bare-server.ts")], (port) => ({ PORT: String(port) })),
  },
  {
    name: "gatehouse",
    async start() {
      const dir = temporaryDirectory("gatehouse-bench-");
      writeFileSync(join(dir, "config.yaml"), await gatehouseConfig());
      // BENCH_GATEHOUSE_COMMAND runs another build (e.g. "dist/gatehouse") instead of the sources.
      const command = process.env.BENCH_GATEHOUSE_COMMAND?.split(" ") ?? [bun, "run", join(projectRoot, "src/main.ts")];
      return startProcess(
        [...command, "serve", "--config", join(dir, "config.yaml")],
        (port) => ({ GATEHOUSE_BIND_ADDRESS: `127.0.0.1:${port}` }),
        dir,
      );
    },
  },
];

const scenarios: Scenario[] = [
  { name: "bare Bun.serve (baseline)", target: "bare", path: "/" },
  {
    name: "Basic, clear-text password",
    target: "gatehouse",
    path: "/authenticate",
    headers: { Authorization: basic(users.clear.username, users.clear.password) },
  },
  {
    name: "Basic, argon2id hash (verified once, then cached)",
    target: "gatehouse",
    path: "/authenticate",
    headers: { Authorization: basic(users.hashed.username, users.hashed.password) },
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
  const headerArgs = Object.entries(scenario.headers ?? {}).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const wrk = Bun.spawn(["wrk", ...wrkArgs, ...headerArgs, url + scenario.path], { stdout: "pipe", stderr: "pipe" });
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
        const warmUp = await fetch(running.url + scenario.path, { headers: scenario.headers });
        if (warmUp.status !== 200) {
          throw new Error(`${scenario.name}: warm-up answered ${warmUp.status}\n${running.output()}`);
        }
        console.error(`bench: wrk ${wrkArgs.join(" ")} — ${scenario.name}`);
        const result = await runWrk(scenario, running.url);
        results.push({ scenario, result });
        if (result.non2xx > 0 || result.socketErrors > 0) {
          console.error(`bench: WARNING ${scenario.name}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
        }
      }
    } finally {
      await running.stop();
    }
  }
  const report = [
    `## ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
    `Machine: ${machine()}. wrk ${wrkArgs.join(" ")}, loopback, wrk and the server share the cores.`,
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
