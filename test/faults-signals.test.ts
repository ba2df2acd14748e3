// Signals under load. SIGTERM: requests in flight are answered, the last
// uses of tokens are written, the process exits 0 within a few seconds.
// SIGHUP: the config (users, providers, augmenters) is reloaded without
// dropping a request; a broken one is refused, its problems logged, the old
// one kept.
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";

const basic = (username: string, password: string) => `Basic ${btoa(`${username}:${password}`)}`;
const ALICE = basic("alice", "alice-pw");

// A who-am-i service that takes 800 ms to vouch for a key: requests in flight at a SIGTERM.
const slowUpstream = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: async () => (await Bun.sleep(800), Response.json({ uid: "remote-user" })),
});
afterAll(() => slowUpstream.stop(true));

function config(extra: { users?: string; roles?: string; providers?: string } = {}): string {
  return `
version: "2.0.0"
logging: { level: info, format: json }
auth: { timeout_in_ms: 3000 }
include_legacy_headers: true
providers:
  - type: plain
    name: local
    realm: local
    users: [{ username: alice, password: alice-pw }${extra.users ?? ""}]
  - { type: ecmwf-api, name: slow, realm: remote, uri: "http://127.0.0.1:${slowUpstream.port}", cache_seconds: 0 }
${extra.providers ?? ""}
augmenters:
  - { type: plain, name: roles, realm: local, roles: { ops: [alice]${extra.roles ?? ""} } }
jwt: { iss: signals, secret: signals-secret-0123456789abcdef01234 }
store: { enabled: true, type: sqlite, path: ./data/gatehouse.db }
services: [{ name: ecflow, scopes: [read] }]
`;
}

/** Clients that keep authenticating and creating tokens until stopped; every answer is recorded. */
function load(server: RunningGatehouse, token: string, clients = 8) {
  const outcomes = { ok: 0, failed: [] as string[], lastTokenUseSentAt: 0 };
  let running = true;
  const loop = async (index: number) => {
    while (running) {
      const kind = index % 3;
      const sentAt = Date.now();
      try {
        const response =
          kind === 2
            ? await fetch(`${server.url}/api/v1/tokens`, {
                method: "POST",
                headers: { authorization: ALICE, "content-type": "application/json" },
                body: JSON.stringify({ note: "load", scopes: { ecflow: ["read"] } }),
              })
            : await fetch(`${server.url}/authenticate`, { headers: { authorization: kind === 0 ? `Bearer ${token}` : ALICE } });
        await response.arrayBuffer();
        if (response.status === 200 || response.status === 201) {
          outcomes.ok++;
          if (kind === 0) outcomes.lastTokenUseSentAt = Math.max(outcomes.lastTokenUseSentAt, sentAt);
        } else outcomes.failed.push(`${response.status}`);
      } catch (error) {
        if (running) outcomes.failed.push((error as Error).message);
      }
    }
  };
  const all = Array.from({ length: clients }, (_, index) => loop(index));
  return {
    outcomes,
    /** Stops the clients; their last requests are awaited. */
    async stop() {
      running = false;
      await Promise.all(all);
    },
  };
}

async function createToken(server: RunningGatehouse): Promise<string> {
  const response = await fetch(`${server.url}/api/v1/tokens`, {
    method: "POST",
    headers: { authorization: ALICE, "content-type": "application/json" },
    body: JSON.stringify({ note: "signals", scopes: { ecflow: ["read"] } }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { token: string }).token;
}

test("SIGTERM under load: requests in flight complete, last uses are written, exit 0 within a few seconds", async () => {
  const dir = temporaryDirectory("gatehouse-sigterm-");
  const server = await spawnGatehouse({ config: config(), cwd: dir });
  const token = await createToken(server);
  const traffic = load(server, token);
  await Bun.sleep(500);
  // Ten requests that take 800 ms upstream, in flight when the signal comes.
  const slow = Array.from({ length: 10 }, () =>
    fetch(`${server.url}/authenticate`, { headers: { authorization: "Bearer remote-key-0123456789" } }).then(
      (response) => response.status,
      (error: Error) => error.message,
    ),
  );
  await Bun.sleep(200);
  const signalledAt = performance.now();
  server.process.kill("SIGTERM");
  const exitCode = await server.process.exited;
  const exitMs = performance.now() - signalledAt;
  const lastUseSentAt = traffic.outcomes.lastTokenUseSentAt;
  await traffic.stop();
  console.log(`SIGTERM under load: exit ${exitCode} after ${Math.round(exitMs)} ms; ${traffic.outcomes.ok} answers before it`);

  expect(await Promise.all(slow)).toEqual(Array(10).fill(200));
  expect(exitCode).toBe(0);
  expect(exitMs).toBeLessThan(5000);
  // Refused connections after the listener closed are expected; an error status never is.
  expect(traffic.outcomes.failed.filter((failure) => /^\d+$/.test(failure))).toEqual([]);
  expect(traffic.outcomes.ok).toBeGreaterThan(50);
  expect(server.logs.some((line) => line.includes('"event.name":"server.stopped"'))).toBe(true);

  // The token's last use, buffered in memory, was written on the way out.
  const database = new Database(join(dir, "data/gatehouse.db"), { readonly: true });
  const row = database.query<{ last_used_at: number | null }, []>("SELECT last_used_at FROM tokens ORDER BY created_at LIMIT 1").get();
  database.close();
  expect(row?.last_used_at ?? 0).toBeGreaterThanOrEqual(lastUseSentAt);
}, 30_000);

test("SIGHUP reloads users, providers and augmenters without dropping a request; a broken config is refused and the old one kept", async () => {
  const dir = temporaryDirectory("gatehouse-sighup-");
  const server = await spawnGatehouse({ config: config(), cwd: dir });
  try {
    const token = await createToken(server);
    const traffic = load(server, token);
    await Bun.sleep(300);
    expect(await statusOf(server, basic("bob", "bob-pw"))).toBe(401);

    writeFileSync(
      server.configPath,
      config({
        users: ", { username: bob, password: bob-pw }",
        roles: ", admins: [bob]",
        providers: "  - { type: plain, name: extra, realm: extra, users: [{ username: carol, password: carol-pw }] }",
      }),
    );
    server.process.kill("SIGHUP");
    await waitFor(async () => (await statusOf(server, basic("bob", "bob-pw"))) === 200);
    const bob = await fetch(`${server.url}/authenticate`, { headers: { authorization: basic("bob", "bob-pw") } });
    expect(bob.headers.get("x-auth-roles")).toBe("admins"); // the new augmenter rule
    expect(await statusOf(server, basic("carol", "carol-pw"))).toBe(200); // the new provider
    const providers = (await (await fetch(`${server.url}/providers`)).json()) as { providers: { name: string }[] };
    expect(providers.providers.map((provider) => provider.name)).toContain("extra");
    expect(server.logs.some((line) => line.includes('"event.name":"config.reloaded"'))).toBe(true);

    // A broken config: refused, its problem logged, the running one kept.
    writeFileSync(server.configPath, config().replace("type: plain, name: roles", "type: nonsense, name: roles").replace("timeout_in_ms: 3000", "timeout_in_ms: -5"));
    server.process.kill("SIGHUP");
    await waitFor(async () => server.logs.some((line) => line.includes('"event.name":"config.reload_refused"')));
    const refusal = server.logs.find((line) => line.includes('"event.name":"config.reload_refused"'))!;
    expect(refusal).toContain("nonsense");
    expect(refusal).toContain("timeout_in_ms");
    expect(await statusOf(server, basic("bob", "bob-pw"))).toBe(200);
    expect(await statusOf(server, `Bearer ${token}`)).toBe(200);

    await Bun.sleep(300);
    await traffic.stop();
    console.log(`SIGHUP under load: ${traffic.outcomes.ok} answers, ${traffic.outcomes.failed.length} failures`);
    expect(traffic.outcomes.failed).toEqual([]);
    expect(traffic.outcomes.ok).toBeGreaterThan(50);
  } finally {
    await server.stop();
  }
  expect(server.process.exitCode).toBe(0);
}, 30_000);

async function statusOf(server: RunningGatehouse, authorization: string): Promise<number> {
  const response = await fetch(`${server.url}/authenticate`, { headers: { authorization } });
  return response.status;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(50);
  }
}
