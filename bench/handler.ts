// The JavaScript cost of one /authenticate, without the network: builds a
// Gatehouse from a config (as `serve` would) and calls its handler in a loop.
//
//   bun bench/handler.ts CONFIG "AUTHORIZATION" [rounds]
//
// The requests are built in JavaScript, so the cost Bun adds to a request read
// from a socket (parsing, the Headers object made on first read, writing the
// answer) is not in it: compare two builds with it, and the server's CPU time
// per request under wrk (bench/ab.ts) for the whole. Prints (to stderr: stdout
// is the server log, to discard at debug level) ns per call, the
// median of the rounds and their spread.
import { loadConfigFile } from "../src/config/load.ts";
import { createGatehouse } from "../src/app.ts";
import { createLogger } from "../src/log.ts";

const [configPath, authorization, roundsText] = process.argv.slice(2);
if (!configPath || !authorization) throw new Error('usage: bun bench/handler.ts CONFIG "AUTHORIZATION" [rounds]');
const { config } = loadConfigFile(configPath);
const logger = createLogger({
  level: config.logging.level,
  format: config.logging.format,
  serviceName: config.logging.service_name,
  serviceVersion: config.logging.service_version,
});
const gatehouse = await createGatehouse(config, logger);
const peer = { requestIP: () => ({ address: "127.0.0.1" }) };
const url = "http://127.0.0.1/authenticate";
const init = { headers: { host: "127.0.0.1", authorization, "x-original-uri": "/protected", "x-original-method": "GET", "x-real-ip": "127.0.0.1" } };
// Requests are made beforehand: building one is not the handler's cost.
const requests = Array.from({ length: 1000 }, () => new Request(url, init));

const first = await gatehouse.authenticate(requests[0]!, peer);
console.error(`answer: ${first.status}`);
const perRound = 200_000;
const results: number[] = [];
for (let round = 0; round < Number(roundsText ?? 7); round++) {
  const started = performance.now();
  for (let i = 0; i < perRound; i++) {
    const answer = gatehouse.authenticate(requests[i % 1000]!, peer);
    if (answer instanceof Promise) await answer;
  }
  results.push(((performance.now() - started) * 1e6) / perRound);
}
results.sort((a, b) => a - b);
console.error(`${Math.round(results[results.length >> 1]!)} ns per call (${Math.round(results[0]!)}–${Math.round(results.at(-1)!)}), ${results.length} rounds of ${perRound}`);
await gatehouse.close();
