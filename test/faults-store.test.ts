// Store faults an operator meets: the disk full, and the database locked by
// another process for longer than the busy timeout. Writes answer a clear
// 503 (never a 500, never a hang) with a log line; /authenticate for existing
// credentials keeps working; everything recovers, nothing acknowledged lost.
import { afterEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";

const ALICE = `Basic ${btoa("alice:alice-pw")}`;
const config = (storePath: string) => `
version: "2.0.0"
logging: { level: info, format: json }
providers:
  - { type: plain, name: local, realm: local, users: [{ username: alice, password: alice-pw }] }
jwt: { iss: faults, secret: faults-secret-0123456789abcdef0123456 }
store: { enabled: true, type: sqlite, path: "${storePath}" }
services: [{ name: ecflow, scopes: [read] }]
`;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function createToken(server: RunningGatehouse): Promise<Response> {
  return fetch(`${server.url}/api/v1/tokens`, {
    method: "POST",
    headers: { authorization: ALICE, "content-type": "application/json" },
    body: JSON.stringify({ note: "fault", scopes: { ecflow: ["read"] } }),
  });
}

async function login(server: RunningGatehouse) {
  return fetch(`${server.url}/api/v1/auth/provider/local/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "username=alice&password=alice-pw",
  });
}

const authenticate = async (server: RunningGatehouse, authorization: string) =>
  (await fetch(`${server.url}/authenticate`, { headers: { authorization } })).status;

/** Whether the server logs the event (with `text` in its line) within 3 s: lines are written after the answer. */
async function logged(server: RunningGatehouse, event: string, text: string): Promise<boolean> {
  const deadline = Date.now() + 3000;
  const found = () => server.logs.some((line) => line.includes(`"event.name":"${event}"`) && line.includes(text));
  while (!found() && Date.now() < deadline) await Bun.sleep(20);
  return found();
}

/** Mounts a small tmpfs, or says why it cannot (then the test skips loudly). */
function mountSmallDisk(dir: string): string | null {
  if (process.getuid?.() !== 0) return "not root: cannot mount a tmpfs";
  const mountPoint = join(dir, "disk");
  mkdirSync(mountPoint);
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint]);
  if (mounted.exitCode !== 0) return `mount failed: ${mounted.stderr.toString().trim()}`;
  cleanups.push(() => Bun.spawnSync(["umount", "-l", mountPoint]));
  return null;
}

test("disk full: writes answer 503 with a log line, /authenticate keeps working, all recovers with nothing lost", async () => {
  const dir = temporaryDirectory("gatehouse-diskfull-");
  const cannot = mountSmallDisk(dir);
  if (cannot) {
    console.warn(`SKIPPED disk-full fault test: ${cannot}`);
    return;
  }
  const storePath = join(dir, "disk/gatehouse.db");
  let server = await spawnGatehouse({ config: config(storePath), cwd: dir });
  cleanups.push(() => server.stop());
  const acknowledged: string[] = [];
  const first = await createToken(server);
  expect(first.status).toBe(201);
  acknowledged.push(((await first.json()) as { token: string }).token);
  const session = (await (await login(server)).json()) as { access_token: string };

  // Fill the disk: dd stops at ENOSPC.
  Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(dir, "disk/filler")}`, "bs=16k"]);

  // A write may still fit in pages the WAL already holds; within a few, they fail, and keep failing.
  const statuses: number[] = [];
  for (let attempt = 0; attempt < 40 && !statuses.includes(503); attempt++) {
    const response = await createToken(server);
    statuses.push(response.status);
    if (response.status === 201) acknowledged.push(((await response.json()) as { token: string }).token);
    else {
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: string }).error).toBe("The store is unavailable: the disk is full; try again later");
    }
  }
  expect(statuses).toContain(503);
  expect(statuses.filter((status) => status !== 201 && status !== 503)).toEqual([]);
  const loginWhileFull = await login(server);
  expect(loginWhileFull.status).toBe(503); // a login writes its session
  expect(((await loginWhileFull.json()) as { detail: string }).detail).toContain("disk is full");
  expect(await logged(server, "store.unavailable", "disk is full")).toBe(true);

  // Existing credentials keep working: an API token, a password, a session's access token.
  for (const token of acknowledged) expect(await authenticate(server, `Bearer ${token}`)).toBe(200);
  expect(await authenticate(server, ALICE)).toBe(200);
  expect(await authenticate(server, `Bearer ${session.access_token}`)).toBe(200);

  // Space returns: writes work at once, and everything acknowledged is there, across a restart too.
  Bun.spawnSync(["rm", join(dir, "disk/filler")]);
  const after = await createToken(server);
  expect(after.status).toBe(201);
  acknowledged.push(((await after.json()) as { token: string }).token);
  expect((await login(server)).status).toBe(200);
  await server.stop();
  server = await spawnGatehouse({ config: config(storePath), cwd: dir });
  for (const token of acknowledged) expect(await authenticate(server, `Bearer ${token}`)).toBe(200);
  await server.stop();
  const database = new Database(storePath, { readonly: true });
  expect(database.query("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
  database.close();
}, 60_000);

test("database locked by another process past the busy timeout: a 503 within the timeout, never a hang; then recovery", async () => {
  const dir = temporaryDirectory("gatehouse-locked-");
  const storePath = join(dir, "data/gatehouse.db");
  const server = await spawnGatehouse({ config: config(storePath), cwd: dir });
  cleanups.push(() => server.stop());
  const before = await createToken(server);
  expect(before.status).toBe(201);
  const token = ((await before.json()) as { token: string }).token;

  // Another process takes the write lock and holds it for 7 s (the busy timeout is 5 s).
  const locker = Bun.spawn(
    [
      process.execPath,
      "-e",
      `const { Database } = require("bun:sqlite");
       const db = new Database(${JSON.stringify(storePath)});
       db.exec("PRAGMA busy_timeout = 5000");
       db.exec("BEGIN IMMEDIATE");
       console.log("locked");
       setTimeout(() => { db.exec("ROLLBACK"); db.close(); }, 7000);`,
    ],
    { stdout: "pipe", stderr: "inherit" },
  );
  cleanups.push(() => locker.kill());
  const reader = locker.stdout.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("locked");

  const started = performance.now();
  const refused = await createToken(server);
  const elapsed = performance.now() - started;
  expect(refused.status).toBe(503);
  expect(((await refused.json()) as { error: string }).error).toBe(
    "The store is unavailable: the database is locked by another process; try again later",
  );
  expect(elapsed).toBeLessThan(5000 + 1500);
  console.log(`locked store: 503 after ${Math.round(elapsed)} ms (busy timeout 5000 ms)`);
  expect(await logged(server, "store.unavailable", "locked")).toBe(true);
  // Reads do not need the write lock: existing credentials still authenticate.
  expect(await authenticate(server, `Bearer ${token}`)).toBe(200);

  await locker.exited;
  const after = await createToken(server);
  expect(after.status).toBe(201);
  expect(await authenticate(server, `Bearer ${((await after.json()) as { token: string }).token}`)).toBe(200);
}, 60_000);
