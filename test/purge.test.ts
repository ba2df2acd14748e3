// The scheduled purge (src/store/purge.ts): ended sessions and ended tokens
// go once their retention has passed, live ones stay, the audit log stays,
// and the WAL is emptied (SQLite).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { basic, json, logEvents, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { storedRow, storeIsPostgres } from "./helpers/stored.ts";

let app: TestApp;
let path: string;
const ALICE = basic("alice", "alice-pw");

beforeAll(async () => {
  path = `${temporaryDirectory("gatehouse-purge-")}/gatehouse.db`;
  app = await startApp({
    version: "2.0.0",
    providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "alice", password: "alice-pw" }] }],
    jwt: { iss: "purge", secret: "purge-secret-0123456789abcdef012345" },
    store: { enabled: true, path },
    services: [{ name: "ecflow", scopes: ["read"] }],
    // Every second; ended things are kept 1 s (sessions) and 0 s (tokens).
    purge: { interval: 1, sessions_after: 1, tokens_after: 0 },
  });
});
afterAll(() => app.stop());

const createToken = async (body: Record<string, unknown>) =>
  (await json(
    await fetch(`${app.url}/api/v1/tokens`, { method: "POST", headers: { authorization: ALICE, "content-type": "application/json" }, body: JSON.stringify(body) }),
  )) as { id: string; token: string };

const login = async () =>
  (await json(
    await fetch(`${app.url}/api/v1/auth/provider/local/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "username=alice&password=alice-pw" }),
  )) as { access_token: string; refresh_token: string };

const count = async (sql: string) => (await storedRow<{ n: number }>(app, sql))!.n;

test("ended sessions and tokens are purged after their retention; live ones, and the audit log, stay", async () => {
  const live = await createToken({ note: "live" });
  const revoked = await createToken({ note: "revoked" });
  const expiring = await createToken({ note: "expiring", expires_in: 1 });
  expect((await fetch(`${app.url}/api/v1/tokens/${revoked.id}`, { method: "DELETE", headers: { authorization: ALICE } })).status).toBe(204);
  const kept = await login();
  const ended = await login();
  expect((await fetch(`${app.url}/api/v1/auth/logout`, { method: "POST", headers: { authorization: `Bearer ${ended.access_token}` } })).status).toBe(204);
  const auditBefore = await count("SELECT count(*) AS n FROM audit_log");
  expect(await count("SELECT count(*) AS n FROM tokens")).toBe(3);
  expect(await count("SELECT count(*) AS n FROM sessions")).toBe(2);

  // Grow the WAL, so that the checkpoint has something to empty (SQLite's).
  for (let index = 0; index < 50; index++) await createToken({ note: `filler ${index}` });
  if (!storeIsPostgres) expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);

  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && ((await count("SELECT count(*) AS n FROM sessions")) > 1 || (await count(`SELECT count(*) AS n FROM tokens WHERE note IN ('revoked', 'expiring')`)) > 0)) {
    await Bun.sleep(200);
  }
  expect(await count(`SELECT count(*) AS n FROM tokens WHERE id IN ('${revoked.id}', '${expiring.id}')`)).toBe(0);
  expect(await count(`SELECT count(*) AS n FROM tokens WHERE id = '${live.id}'`)).toBe(1);
  expect(await count("SELECT count(*) AS n FROM sessions")).toBe(1);
  // What stays works: the live token authenticates, the live session refreshes.
  expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${live.token}` } })).status).toBe(200);
  const refreshed = await fetch(`${app.url}/api/v1/auth/session/refresh`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: kept.refresh_token }) });
  expect(refreshed.status).toBe(200);
  expect(await count("SELECT count(*) AS n FROM audit_log")).toBeGreaterThanOrEqual(auditBefore);
  expect(await count("SELECT count(*) AS n FROM refresh_tokens r WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.session_id)")).toBe(0);

  const purged = logEvents(app).filter((line) => line.event === "store.purged");
  expect(purged.length).toBeGreaterThan(0);
  expect(purged.some((line) => line.deleted.tokens >= 1)).toBe(true);
  if (!storeIsPostgres) expect(purged.some((line) => line.wal_pages === 0)).toBe(true);
}, 20_000);
