// A/B of two Gatehouse source trees on one case, interleaved (see bench/README.md):
//
//   bun bench/ab.ts A_DIR B_DIR [--nginx [--unix]] [--rounds N] [--duration 3s]
//                   [--case api|api-ip|limited|basic|unknown|revoked|malformed|wrong|anonymous|browser|sso] [--sso]
//                   [--env-b NAME=VALUE] [--case-b CASE] [--access N [--new-urls]]
//
// --env-b sets a variable for B only: the same tree twice with, say,
// GATEHOUSE_METRICS__ENABLED=false gives the cost of a setting. --case-b
// presents B another case's credential: `ab.ts . . --case api-ip --case-b
// limited` is the cost of a network-limited token against an unlimited one
// (both with X-Real-IP: 192.0.2.7, which loopback, a trusted proxy, names).
//
// --sso adds single sign-on to the config (`sso`, with portal.public_url; a
// tree without it ignores the section), and a browser session with its
// single sign-on handle to the store. The cases `anonymous` (no credential,
// curl's Accept), `browser` (no credential, a browser's page navigation
// through nginx: the sign-in redirect) and `sso` (the single sign-on cookie)
// imply it.
//
// --access N: every request describes the request it asks about as nginx
// does (X-Original-URL, X-Original-Method), and B has N access rules
// (bench/access-rules.ts), A none: the cost of the rules. The same URL every
// time, or with --new-urls a URL never asked before on every request (wrk's
// Lua script): the rule found for a URL is remembered, so these are the two
// ends.
//
// A_DIR or B_DIR may be `floor`: bench/floor-server.ts, what any /authenticate
// answer costs in Bun (two headers read, Gatehouse's five headers answered);
// or `floor-loaded`: the same answer from a process holding a whole Gatehouse
// started on the bench config, which nothing is asked of (the cost of its size);
// or `floor-guarded`: floor-loaded that also keeps Gatehouse's guarantees on an
// API token (keyed hash, revocation stamp, last use, a counter, the collections
// the RSS bound needs), with nothing else: the least any implementation of them does.
//
// --unix (with --nginx): nginx reaches every server over a Unix socket (the
// ceiling and the floor on BENCH_SOCKET, a Gatehouse on `server.socket`)
// instead of loopback TCP.
//
// Both servers and the ceiling (a bare Bun.serve, or nginx in front of one with
// --nginx) run at once, with the bench config and a copy of one store of 1,000
// tokens; each round runs wrk against the three in an order that rotates, so
// that the machine's drift falls on all alike. Reported per side: the median
// over the rounds of requests/s, of the ratio to the ceiling in the same round,
// and of the server's CPU time per request (user + system from /proc, the
// figure a shared machine disturbs least), with the spread (min–max).
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { temporaryDirectory } from "../test/helpers/gatehouse.ts";
import { freePort } from "../test/helpers/nginx.ts";
import { generateOpaqueToken } from "../src/tokens/format.ts";
import { behindNginx, benchConfig, cpuSeconds, parseWrk, startProcess, type RunningTarget } from "./run.ts";
import { ACCESS_REQUEST, accessRules } from "./access-rules.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const index = args.indexOf(name);
  return index >= 0 ? args.splice(index, 2)[1]! : fallback;
};
const viaNginx = args.includes("--nginx");
const viaSocket = args.includes("--unix");
// wrk speaks TCP only: a socket is measured behind nginx.
if (viaSocket && !viaNginx) throw new Error("--unix is measured through nginx: add --nginx");
const rounds = Number(option("--rounds", "5"));
const duration = option("--duration", "3s");
const which = option("--case", "api");
const envB = option("--env-b", "");
const whichB = option("--case-b", which);
const sso = args.includes("--sso") || [which, whichB].some((name) => ["anonymous", "browser", "sso"].includes(name));
const accessCount = Number(option("--access", "-1"));
const newUrls = args.includes("--new-urls");
// Through nginx the site's /auth sets X-Original-URI: a client's X-Original-URL beside it would be refused.
if (accessCount >= 0 && viaNginx) throw new Error("--access is measured directly, not with --nginx");
/** Headers every request carries besides the case's. */
const extraHeaders: Record<string, string> = accessCount >= 0 ? ACCESS_REQUEST : {};
const [dirA, dirB] = args.filter((arg) => !arg.startsWith("--")).map((dir) => (["floor", "floor-loaded", "floor-guarded"].includes(dir) ? dir : resolve(dir)));
if (!dirA || !dirB) throw new Error("usage: bun bench/ab.ts A_DIR B_DIR [--nginx] [--rounds N] [--duration 3s] [--case api]");
const bun = process.execPath;

const dir = temporaryDirectory("gatehouse-ab-");
/** wrk's Lua: a URL of its own for every request of every thread. */
const newUrlsScript = join(dir, "new-urls.lua");
writeFileSync(
  newUrlsScript,
  `local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
local counter = 0
function request()
  counter = counter + 1
  wrk.headers["X-Original-URL"] = "https://app.example.org/v1/suites/t" .. id .. "-" .. counter .. "/family/task?x=1"
  return wrk.format(nil)
end
`,
);
const configPath = join(dir, "config.yaml");
const ssoSection = "portal:\n  public_url: https://auth.bench.test/portal/\nsso:\n  cookie_domain: bench.test\n";
writeFileSync(configPath, (await benchConfig(dir, { store: true })) + (sso ? ssoSection : ""));
const seed = Bun.spawnSync([bun, "run", join(import.meta.dir, "seed-tokens.ts"), configPath, "1000"]);
if (seed.exitCode !== 0) throw new Error(`seeding failed: ${seed.stderr}`);
const secrets = JSON.parse(seed.stdout.toString()) as { valid: string; revoked: string; limited: string };
const ssoHandle = sso ? Bun.spawnSync([bun, "run", join(import.meta.dir, "seed-sso-session.ts"), configPath]).stdout.toString().trim() : "";
/** What a browser sends when a person opens a page (the sign-in redirect's case). */
const NAVIGATION = ["Accept: text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document", "X-Original-URL: https://app.bench.test/page"];
/** Each case's request headers (wrk's -H). */
const cases: Record<string, string[]> = {
  api: [`Authorization: Bearer ${secrets.valid}`],
  "api-ip": [`Authorization: Bearer ${secrets.valid}`, "X-Real-IP: 192.0.2.7"],
  limited: [`Authorization: Bearer ${secrets.limited}`, "X-Real-IP: 192.0.2.7"],
  revoked: [`Authorization: Bearer ${secrets.revoked}`],
  unknown: [`Authorization: Bearer ${generateOpaqueToken("gth_")}`],
  basic: [`Authorization: Basic ${btoa("bench-clear:clear-text-password")}`],
  malformed: ["Authorization: Basic %%%not-base64%%%"],
  // Refused, then (after 5) banned by regulation: a wrong password's steady state is the ban's answer.
  wrong: [`Authorization: Basic ${btoa("bench-clear:not-the-password")}`],
  anonymous: ["Accept: */*"],
  browser: NAVIGATION,
  sso: [...NAVIGATION, `Cookie: __Secure-gatehouse_sso=${ssoHandle}`],
};
const headersOf = (name: string) => {
  const headers = cases[name];
  if (!headers) throw new Error(`unknown case ${name}`);
  return headers;
};
headersOf(which);
headersOf(whichB);

interface Side {
  name: string;
  target: RunningTarget;
  url: string;
  /** wrk's -H headers. */
  headers: string[];
}

/** A Gatehouse from the sources in `source`, on its own copy of the store. */
async function gatehouse(name: string, source: string, env: Record<string, string> = {}): Promise<Side> {
  const own = join(dir, name);
  mkdirSync(own, { mode: 0o755 }); // nginx's workers reach a socket in it
  copyFileSync(join(dir, "gatehouse.db"), join(own, "gatehouse.db"));
  const socket = viaSocket ? join(own, "server.sock") : undefined;
  let config = readFileSync(configPath, "utf8").replace(join(dir, "gatehouse.db"), join(own, "gatehouse.db"));
  if (socket) config = config.replace(/^bind_address: .*$/m, `server:\n  socket: ${socket}\n  socket_mode: "0666"`);
  writeFileSync(join(own, "config.yaml"), config);
  const floor = source === "floor" || source === "floor-loaded" || source === "floor-guarded";
  const command = floor ? [join(import.meta.dir, "floor-server.ts")] : [join(source, "src/main.ts"), "serve", "--config", join(own, "config.yaml")];
  if (source === "floor-loaded" || source === "floor-guarded") env = { ...env, FLOOR_GATEHOUSE_CONFIG: join(own, "config.yaml") };
  if (source === "floor-guarded") env = { ...env, FLOOR_GUARDED: "1" };
  const started = await startProcess(
    [bun, "run", ...command],
    (port) => ({
      ...(socket ? { BENCH_SOCKET: socket } : { GATEHOUSE_BIND_ADDRESS: `127.0.0.1:${port}` }),
      GATEHOUSE_METRICS__PORT: String(freePort()),
      ...env,
    }),
    own,
    socket,
  );
  const target = viaNginx ? await behindNginx(started) : started;
  return { name, target, url: target.url + (viaNginx ? "/protected" : "/authenticate"), headers: headersOf(name === "B" ? whichB : which) };
}

const bareSocket = viaSocket ? join(dir, "bare.sock") : undefined;
if (bareSocket) chmodSync(dir, 0o755);
const bare = await startProcess([bun, "run", join(import.meta.dir, "bare-server.ts")], (port) => ({ PORT: String(port), ...(bareSocket ? { BENCH_SOCKET: bareSocket } : {}) }), dir, bareSocket);
const ceiling = viaNginx ? await behindNginx(bare) : bare;
const sides: Side[] = [{ name: "ceiling", target: ceiling, url: ceiling.url + (viaNginx ? "/protected" : "/"), headers: headersOf(which) }, await gatehouse("A", dirA), await gatehouse("B", dirB, {
    ...(envB ? Object.fromEntries([envB.split(/=(.*)/s).slice(0, 2) as [string, string]]) : {}),
    ...(accessCount >= 0 ? { GATEHOUSE_ACCESS: JSON.stringify(accessRules(accessCount)) } : {}),
  })];
const asObject = (headers: string[]) => Object.fromEntries(headers.map((header) => header.split(/: (.*)/s).slice(0, 2) as [string, string]));
for (const side of sides.slice(1)) console.error(`${side.name}: warm-up answered ${(await fetch(side.url, { headers: { ...asObject(side.headers), ...extraHeaders }, redirect: "manual" })).status}`);

type Sample = { rps: number; cpuUs: number; ratio: number };
const samples = new Map<string, Sample[]>(sides.map((side) => [side.name, []]));
/** The machine's CPU time so far, in ticks: all of it, and what the hypervisor took for others (steal). */
const machineTicks = () => {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: fields.reduce((sum, value) => sum + value, 0), steal: fields[7]! };
};
const ticksBefore = machineTicks();
for (let round = 0; round < rounds; round++) {
  const rps: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  for (let i = 0; i < sides.length; i++) {
    const side = sides[(i + round) % sides.length]!;
    const pids = side.target.pids();
    const before = cpuSeconds(pids);
    const extra = Object.entries(extraHeaders)
      .filter(([name]) => !(newUrls && name === "X-Original-URL"))
      .flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
    if (newUrls) extra.push("-s", newUrlsScript);
    const wrk = Bun.spawnSync(["wrk", "-t2", "-c32", `-d${duration}`, "--latency", ...side.headers.flatMap((header) => ["-H", header]), ...extra, side.url]);
    const result = parseWrk(wrk.stdout.toString());
    cpu[side.name] = ((cpuSeconds(pids) - before) * 1e6) / result.requests;
    rps[side.name] = result.requestsPerSecond;
  }
  for (const side of sides) samples.get(side.name)!.push({ rps: rps[side.name]!, cpuUs: cpu[side.name]!, ratio: rps[side.name]! / rps.ceiling! });
  console.error(`round ${round + 1}: ` + sides.map((side) => `${side.name} ${Math.round(rps[side.name]!)} req/s ${cpu[side.name]!.toFixed(1)} µs`).join(", "));
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const spread = (values: number[], digits: number) => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
console.log(`case ${which}${whichB !== which ? ` (B: ${whichB})` : ""}${sso ? " (sso configured)" : ""}${viaNginx ? ` through nginx${viaSocket ? " over a Unix socket" : ""}` : ""}, ${rounds} rounds of wrk -t2 -c32 -d${duration}; A = ${dirA}, B = ${dirB}${envB ? ` with ${envB}` : ""}${accessCount >= 0 ? ` with ${accessCount} access rules, ${newUrls ? "a new URL every request" : "the same URL"}` : ""}`);
console.log("| side | req/s | ÷ ceiling | server CPU µs/req | peak RSS MB |");
console.log("|---|---:|---:|---:|---:|");
for (const side of sides) {
  const s = samples.get(side.name)!;
  const peak = side.target.pids().map((pid) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmHWM:\s+(\d+) kB/m)?.[1] ?? 0) / 1024);
  console.log(
    `| ${side.name} | ${Math.round(median(s.map((x) => x.rps)))} | ${spread(s.map((x) => x.ratio), 2)} | ${spread(s.map((x) => x.cpuUs), 1)} | ${peak.map((mb) => mb.toFixed(0)).join(" + ")} |`,
  );
}
// Paired by round, the machine's drift falls on both sides alike: the figure to compare two sides with.
const paired = samples.get("B")!.map((b, round) => b.cpuUs / samples.get("A")![round]!.cpuUs);
console.log(`B ÷ A server CPU per request, paired by round: ${spread(paired, 3)}`);
// Issue 24's measure: B's requests/s against A's (the floor) in the same round.
const pairedRate = samples.get("B")!.map((b, round) => b.rps / samples.get("A")![round]!.rps);
console.log(`B ÷ A requests/s, paired by round: ${spread(pairedRate, 3)}`);
// A virtual machine's neighbours: the share of the CPU time the hypervisor gave them during the rounds widens every spread.
const ticksAfter = machineTicks();
console.log(`steal (/proc/stat) during the rounds: ${((100 * (ticksAfter.steal - ticksBefore.steal)) / (ticksAfter.total - ticksBefore.total)).toFixed(1)} % of the machine's CPU time`);
for (const side of sides) await side.target.stop();
