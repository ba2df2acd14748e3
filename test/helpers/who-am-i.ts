// A loopback server playing ECMWF's who-am-i service, for the ecmwf-api provider.
import type { Server } from "bun";

export interface WhoAmI {
  url: string;
  /** Every key it was asked about, in order. */
  seen: string[];
  /** Keys it answers for: key → {uid, email}. */
  users: Map<string, { uid: string; email?: string }>;
  /** Keys that make it wait this many ms before answering. */
  slow: Map<string, number>;
  /** Keys that make it answer 500. */
  broken: Set<string>;
  stop(): void;
}

export function startWhoAmI(): WhoAmI {
  const seen: string[] = [];
  const users = new Map<string, { uid: string; email?: string }>();
  const slow = new Map<string, number>();
  const broken = new Set<string>();
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname !== "/v1/who-am-i") return new Response("not found", { status: 404 });
      const key = url.searchParams.get("token") ?? "";
      seen.push(key);
      const delay = slow.get(key);
      if (delay) await Bun.sleep(delay);
      if (broken.has(key)) return new Response("oops", { status: 500 });
      const user = users.get(key);
      if (!user) return Response.json({ error: "Invalid API key" }, { status: 403 });
      return Response.json({ uid: user.uid, email: user.email, full_name: "Test User" });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/v1`, seen, users, slow, broken, stop: () => server.stop(true) };
}
