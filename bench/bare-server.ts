// The baseline: the cheapest possible Bun.serve answer (200, empty body).
// Run as its own process, like Gatehouse, so both get the same treatment.
import { chmodSync } from "node:fs";

// BENCH_SOCKET: a Unix socket instead of PORT (nginx's workers must be able to write to it).
const socket = process.env.BENCH_SOCKET;
const fetch = () => new Response(null, { status: 200 });
const server = socket ? Bun.serve({ unix: socket, fetch }) : Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT ?? 0), fetch });
if (socket) chmodSync(socket, 0o666);
console.log(socket ? `listening on unix:${socket}` : `listening on http://${server.hostname}:${server.port}`);
