// Crash safety: a server killed with SIGKILL while 32 clients create tokens
// loses none it had answered for, and leaves a sound database.
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { spawnGatehouse, temporaryDirectory } from "./helpers/gatehouse.ts";

const CONFIG = `
version: "2.0.0"
logging: { level: info, format: json }
providers:
  - { type: plain, name: local, realm: local, users: [{ username: alice, password: alice-pw }] }
jwt: { iss: crash-test, secret: crash-test-secret-0123456789abcdef }
store: { enabled: true, type: sqlite, path: ./data/gatehouse.db }
services: [{ name: ecflow, scopes: [read, write] }]
`;
const ALICE = `Basic ${btoa("alice:alice-pw")}`;

test("tokens answered 2xx before a SIGKILL all authenticate after a restart; integrity_check is ok", async () => {
  const dir = temporaryDirectory("gatehouse-crash-");
  const first = await spawnGatehouse({ config: CONFIG, cwd: dir });
  const answered: string[] = [];
  let failures = 0;
  let killed = false;

  async function client(index: number) {
    while (!killed) {
      try {
        const response = await fetch(`${first.url}/api/v1/tokens`, {
          method: "POST",
          headers: { authorization: ALICE, "content-type": "application/json" },
          body: JSON.stringify({ note: `client ${index}`, scopes: { ecflow: ["read"] } }),
        });
        if (response.status === 201) answered.push(((await response.json()) as { token: string }).token);
        else failures++;
      } catch {
        failures++; // the connection died with the server
      }
    }
  }
  const clients = Array.from({ length: 32 }, (_, index) => client(index));
  // Kill in the middle of the stream of writes, once a good number have been answered.
  while (answered.length < 300) await Bun.sleep(5);
  expect(failures).toBe(0); // 32 concurrent writers, not one refused (no SQLITE_BUSY)
  first.process.kill("SIGKILL");
  await first.process.exited;
  killed = true;
  await Promise.all(clients);
  expect(answered.length).toBeGreaterThanOrEqual(300);

  const second = await spawnGatehouse({ config: CONFIG, cwd: dir });
  try {
    const refused: string[] = [];
    for (const token of answered) {
      const response = await fetch(`${second.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });
      if (response.status !== 200) refused.push(token.slice(0, 8));
    }
    expect(refused).toEqual([]);
    const listed = await fetch(`${second.url}/api/v1/tokens`, { headers: { authorization: ALICE } });
    expect(((await listed.json()) as { tokens: unknown[] }).tokens.length).toBeGreaterThanOrEqual(answered.length);
  } finally {
    await second.stop();
  }
  const database = new Database(join(dir, "data/gatehouse.db"));
  try {
    expect(database.query("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
    expect(database.query("PRAGMA foreign_key_check").all()).toEqual([]);
    // Each creation wrote its token and its audit event in one transaction: never one without the other.
    const counts = database.query("SELECT (SELECT count(*) FROM tokens) AS tokens, (SELECT count(*) FROM audit_log WHERE event = 'token.created') AS created").get();
    expect((counts as { tokens: number }).tokens).toBe((counts as { created: number }).created);
  } finally {
    database.close();
  }
}, 60_000);
