// Two Gatehouse instances on one PostgreSQL database, behind a real nginx
// with both in its upstream (issue 16): a token made through one works
// through the other; revoked through one, it is refused by the other within
// a second (the figure is printed); a key rotated on one is used by the other;
// a refresh token presented to both at once has one winner and the replay
// ends the session on both; the database restarted under them; one instance
// killed during concurrent token creations.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeProtectedHeader } from "jose";
import { spawnGatehouse, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, type RunningNginx } from "./helpers/nginx.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";
import { basic } from "./helpers/app.ts";

const enabled = postgresAvailable && nginxAvailable("pg-cluster (two instances on PostgreSQL behind nginx)");

const ADMIN = basic("admin", "admin-pw");
const ALICE = basic("alice", "alice-pw");
// Both instances must open the signing keys the other sealed.
const MASTER_KEY = "pg-cluster-test-master-key-0123456789abcdef";

const config = (url: string) => `
version: "2.0.0"
logging: { level: info, format: json }
providers:
  - type: plain
    name: local
    realm: local
    users:
      - { username: admin, password: admin-pw, roles: [admin] }
      - { username: alice, password: alice-pw }
jwt: { iss: "https://gatehouse.test", aud: backend, exp: 60, alg: ES256, reuse_seconds: 5 }
keys: { publish_ahead: 1, poll_interval: 1, retire_margin: 1 }
authentication: { access_token_max_age: 60 }
store: { type: postgres, url: "${url}" }
trusted_proxies: ["127.0.0.1", "::1"]
`;

let pg: Postgres;
let a: RunningGatehouse;
let b: RunningGatehouse;
let nginx: RunningNginx;
let nginxUrl: string;

const start = (url: string) => spawnGatehouse({ config: config(url), env: { GATEHOUSE_MASTER_KEY: MASTER_KEY }, timeoutMs: 30_000 });
const authenticate = (server: { url: string }, authorization: string) =>
  fetch(`${server.url}/authenticate`, { headers: { authorization } }).then((response) => response.status);

async function createToken(server: RunningGatehouse, authorization = ALICE): Promise<{ token: string; id: string }> {
  const response = await fetch(`${server.url}/api/v1/tokens`, { method: "POST", headers: { authorization } });
  expect(response.status).toBe(201);
  return (await response.json()) as { token: string; id: string };
}

/** Polls until `check` holds; answers the milliseconds it took. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await Bun.sleep(2);
  }
}

beforeAll(async () => {
  if (!enabled) return;
  pg = await startPostgres("cluster");
  // Started one after the other and together: the migrations run once (advisory lock) either way.
  [a, b] = await Promise.all([start(pg.url), start(pg.url)]);
  const port = freePort();
  const upstream = (server: RunningGatehouse) => new URL(server.url).host;
  nginx = await startNginx({
    http: `
  upstream gatehouse { server ${upstream(a)}; server ${upstream(b)}; keepalive 8; }
  server {
    listen 127.0.0.1:${port};
    location = /auth {
      internal;
      proxy_pass http://gatehouse/authenticate;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location /protected { auth_request /auth; return 200 "ok"; }
    location / { proxy_pass http://gatehouse; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`,
  });
  nginxUrl = `http://127.0.0.1:${port}`;
}, 90_000);

afterAll(async () => {
  await nginx?.stop();
  await Promise.all([a?.stop(), b?.stop()]);
  await pg?.destroy();
});

describe.skipIf(!enabled)("two instances on one PostgreSQL", () => {
  test("a token created through one works through the other, and through nginx on both", async () => {
    const { token } = await createToken(a);
    expect(await authenticate(b, `Bearer ${token}`)).toBe(200);
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${nginxUrl}/protected`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status)),
    );
    expect(statuses.every((status) => status === 200)).toBe(true);
  });

  test("revoked through one, refused by the other within a second (while it remembered a success)", async () => {
    const latencies: number[] = [];
    for (let round = 0; round < 10; round++) {
      const { token, id } = await createToken(a);
      // B answers once: it now remembers the success for reuse_seconds.
      expect(await authenticate(b, `Bearer ${token}`)).toBe(200);
      const revoked = await fetch(`${a.url}/api/v1/tokens/${id}`, { method: "DELETE", headers: { authorization: ALICE } });
      expect(revoked.status).toBe(204);
      latencies.push(await within(1000, "B refuses the revoked token", async () => (await authenticate(b, `Bearer ${token}`)) === 401));
    }
    latencies.sort((x, y) => x - y);
    console.log(`revocation seen by the other instance: median ${latencies[5]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms (10 rounds)`);
  });

  test("a key rotated on one is published and used by the other", async () => {
    const kidOf = async (server: RunningGatehouse) => {
      const response = await fetch(`${server.url}/authenticate`, { headers: { authorization: ADMIN } });
      return decodeProtectedHeader(response.headers.get("authorization")!.slice("Bearer ".length)).kid;
    };
    const before = await kidOf(b);
    const rotation = await fetch(`${a.url}/api/v1/keys/rotate`, { method: "POST", headers: { authorization: ADMIN } });
    expect(rotation.status).toBe(202);
    const { rotating_to: next } = (await rotation.json()) as { rotating_to: string };
    expect(next).not.toBe(before);
    await within(1000, "B publishes the new key", async () => {
      const { keys } = (await (await fetch(`${b.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
      return keys.some((key) => key.kid === next);
    });
    // publish_ahead (1 s) and one poll (1 s), with a margin for a busy machine.
    await within(5000, "B signs with the new key", async () => (await kidOf(b)) === next);
    // Whichever instance made the transition, the other loads it when told (keys.changed), within milliseconds.
    await within(1000, "A signs with the new key", async () => (await kidOf(a)) === next);
  });

  test("a refresh token presented to both at once has one winner, and the replay ends the session on both", async () => {
    const login = await fetch(`${a.url}/api/v1/auth/provider/local/token`, {
      method: "POST",
      body: new URLSearchParams({ username: "alice", password: "alice-pw" }),
    });
    expect(login.status).toBe(200);
    const { refresh_token } = (await login.json()) as { refresh_token: string };
    const refresh = (server: RunningGatehouse) =>
      fetch(`${server.url}/api/v1/auth/session/refresh`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token }),
      });
    const answers = await Promise.all([refresh(a), refresh(b)]);
    const statuses = answers.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 401]);
    const winner = (await answers.find((response) => response.status === 200)!.json()) as { access_token: string; refresh_token: string };
    // The loser presented a token already exchanged: reuse, so the session is over everywhere.
    for (const server of [a, b]) {
      await within(1000, "the new access token is refused", async () => (await authenticate(server, `Bearer ${winner.access_token}`)) === 401);
      expect((await refresh(server)).status).toBe(401);
    }
  });

  test("a SIGKILL of one instance during 32 concurrent creations loses no acknowledged token", async () => {
    const victim = await start(pg.url);
    // Killed once 8 of the 32 are answered: the rest are in flight, some committed and never answered.
    let answered = 0;
    let eightAnswered: () => void;
    const eight = new Promise<void>((resolve) => (eightAnswered = resolve));
    const attempts = Array.from({ length: 32 }, () =>
      fetch(`${victim.url}/api/v1/tokens`, { method: "POST", headers: { authorization: ALICE } })
        .then(async (response) => (response.status === 201 ? ((await response.json()) as { token: string }).token : null))
        .catch(() => null)
        .finally(() => ++answered === 8 && eightAnswered()),
    );
    await eight;
    victim.process.kill("SIGKILL");
    const acknowledged = (await Promise.all(attempts)).filter((token): token is string => token !== null);
    expect(acknowledged.length).toBeGreaterThan(0);
    console.log(`SIGKILL during 32 creations: ${acknowledged.length} acknowledged, every one works through the other instance`);
    for (const token of acknowledged) expect(await authenticate(b, `Bearer ${token}`)).toBe(200);
  });

  test("an instance without the master key refuses to start, saying why (it could not open the keys the others sealed)", async () => {
    const refused = spawnGatehouse({ config: config(pg.url), env: { GATEHOUSE_MASTER_KEY: "" }, timeoutMs: 30_000 });
    await expect(refused).rejects.toThrow("needs the same master key on every instance");
  });

  test("the database restarted under both: /ready fails and recovers, and revocations made after reach both", async () => {
    const { token, id } = await createToken(a);
    expect(await authenticate(b, `Bearer ${token}`)).toBe(200);
    await pg.stop();
    for (const server of [a, b]) {
      await within(5000, "/ready fails", async () => (await fetch(`${server.url}/ready`)).status === 503);
      // Configured users do not need the store; API tokens cannot be checked: refused, never a 500.
      expect(await authenticate(server, ALICE)).toBe(200);
      expect(await authenticate(server, `Bearer ${token}`)).toBe(401);
      expect((await fetch(`${server.url}/api/v1/tokens`, { method: "POST", headers: { authorization: ALICE } })).status).toBe(503);
    }
    await pg.start();
    for (const server of [a, b]) await within(15_000, "/ready recovers", async () => (await fetch(`${server.url}/ready`)).status === 200);
    // The refusal during the outage was not remembered: the token works again.
    expect(await authenticate(b, `Bearer ${token}`)).toBe(200);
    expect((await fetch(`${a.url}/api/v1/tokens/${id}`, { method: "DELETE", headers: { authorization: ALICE } })).status).toBe(204);
    await within(1000, "B refuses the token revoked after the restart", async () => (await authenticate(b, `Bearer ${token}`)) === 401);
  }, 60_000);
});
