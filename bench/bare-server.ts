// The baseline: the cheapest possible Bun.serve answer (200, empty body).
// Run as its own process, like Gatehouse, so both get the same treatment.
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  fetch: () => new Response(null, { status: 200 }),
});
console.log(`listening on http://${server.hostname}:${server.port}`);
