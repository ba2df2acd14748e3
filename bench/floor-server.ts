// The floor of an /authenticate answer in Bun (see bench/README.md): what any
// implementation must do, and nothing else. It reads the two request headers
// Gatehouse reads (Authorization, X-Auth-Realm) and answers 200 with the five
// headers of a Gatehouse success (a JWT of the bench's size, Cache-Control and
// the legacy headers), from one Headers object made at start. `bun bench/ab.ts
// floor DIR` compares a Gatehouse with it; it listens on GATEHOUSE_BIND_ADDRESS, or on
// the Unix socket BENCH_SOCKET (mode 0666, for nginx's workers).
import { chmodSync } from "node:fs";

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
