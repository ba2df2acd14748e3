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
//
// FLOOR_GUARDED=1 with it (ab.ts's `floor-guarded`): the least an answer from
// memory can do while keeping Gatehouse's guarantees, with the held
// Gatehouse's own parts: the credential kept out of memory (its keyed SHA-256
// is the key), a revocation seen at the next request (the store's change
// stamp, PRAGMA data_version at most once a millisecond), the token's last use
// recorded, one counter, and a young-generation collection every 2,000
// requests (FLOOR_COLLECT_EVERY), which the RSS bound needs in a process of this size
// (src/server.ts). Nothing else: no request context, access rules, observers,
// signing-key check or in-flight count. A bearer token never seen is verified
// once through the held TokenService; anything else is answered 401.
import { chmodSync } from "node:fs";
import { edenGC } from "bun:jsc";
import { createHeaderKeyHasher } from "../src/identity/secrets.ts";
import type { VerifiedToken } from "../src/tokens/service.ts";

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
const guarded = process.env.FLOOR_GUARDED === "1" ? guardedAnswer() : null;

function guardedAnswer() {
  const tokens = held?.tokens;
  if (!tokens) throw new Error("FLOOR_GUARDED needs FLOOR_GATEHOUSE_CONFIG with the store enabled");
  const keyOf = createHeaderKeyHasher();
  const remembered = new Map<string, { token: VerifiedToken; stamp: number; until: number }>();
  const client = { socket: "127.0.0.1", reported: null };
  const refused = new Headers({ "www-authenticate": "Bearer", "cache-control": "no-store" });
  let answered = 0;
  let sinceCollection = 0;
  // FLOOR_COLLECT_EVERY=0: no collection asked for (what the RSS bound costs, with ab.ts --env-b).
  const collectEvery = Number(process.env.FLOOR_COLLECT_EVERY ?? 2000);
  return (authorization: string | null, realm: string | null): Response => {
    if (++sinceCollection === collectEvery) {
      sinceCollection = 0;
      edenGC();
    }
    if (!authorization?.startsWith("Bearer ")) return new Response(null, { status: 401, headers: refused });
    const key = keyOf(authorization, realm);
    const now = Date.now();
    let kept = remembered.get(key);
    if (kept && (kept.until <= now || tokens.revocationStamp(now) !== kept.stamp)) kept = undefined;
    if (!kept) {
      const stamp = tokens.revocationStamp(now);
      const token = tokens.verify(authorization.slice(7)) as VerifiedToken | null;
      if (!token) return new Response(null, { status: 401, headers: refused });
      remembered.set(key, (kept = { token, stamp, until: now + 5000 }));
    }
    tokens.recordUse(kept.token, client, now);
    answered++;
    return new Response(null, { status: 200, headers: answer });
  };
}

const [hostname, port] = (process.env.GATEHOUSE_BIND_ADDRESS ?? "127.0.0.1:0").split(":");
const socket = process.env.BENCH_SOCKET;
Bun.serve({
  ...(socket ? { unix: socket } : { hostname, port: Number(port) }),
  routes: {
    "/authenticate": (request: Request) => {
      const authorization = request.headers.get("authorization");
      const realm = request.headers.get("x-auth-realm");
      if (guarded) return guarded(authorization, realm);
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
