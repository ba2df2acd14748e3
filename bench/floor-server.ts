// The floor of an /authenticate answer in Bun (see bench/README.md): what any
// implementation must do, and nothing else. It reads the two request headers
// Gatehouse reads (Authorization, X-Auth-Realm) and answers 200 with the five
// headers of a Gatehouse success (a JWT of the bench's size, Cache-Control and
// the legacy headers), from one Headers object made at start. `bun bench/ab.ts
// floor DIR` compares a Gatehouse with it; it listens on GATEHOUSE_BIND_ADDRESS, or on
// the Unix socket BENCH_SOCKET (mode 0666, for nginx's workers).
//
// FLOOR_GATEHOUSE_CONFIG (ab.ts's `floor-loaded`): the same answer from a
// process that has also started a whole Gatehouse on that config (its
// modules, heap, caches and timers) without routing a request to it: what
// the size of the process costs each answer, apart from the work of the check.
import { chmodSync } from "node:fs";

const loadedConfig = process.env.FLOOR_GATEHOUSE_CONFIG;
const held = loadedConfig ? await loadGatehouse(loadedConfig) : null;
async function loadGatehouse(path: string) {
  const { loadConfigFile } = await import("../src/config/load.ts");
  const { createGatehouse } = await import("../src/app.ts");
  const { createLogger } = await import("../src/log.ts");
  const { config } = loadConfigFile(path);
  return createGatehouse(config, createLogger({ level: config.logging.level, format: config.logging.format }));
}

const answer = new Headers({
  authorization: `Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${"x".repeat(384)}.${"s".repeat(43)}`,
  "cache-control": "no-store",
  "x-auth-username": "bench-clear",
  "x-auth-realm": "bench",
  "x-auth-roles": "reader",
});
const [hostname, port] = (process.env.GATEHOUSE_BIND_ADDRESS ?? "127.0.0.1:0").split(":");
const socket = process.env.BENCH_SOCKET;
Bun.serve({
  ...(socket ? { unix: socket } : { hostname, port: Number(port) }),
  routes: {
    "/authenticate": (request: Request) => {
      request.headers.get("authorization");
      request.headers.get("x-auth-realm");
      return new Response(null, { status: 200, headers: answer });
    },
  },
  fetch: () => new Response(null, { status: 404 }),
});
if (socket) chmodSync(socket, 0o666);
process.on("SIGTERM", async () => {
  await held?.close();
  process.exit(0);
});
