// The SQLite store behind the StoreBackend interface (src/store/sqlite-backend.ts):
// what a transaction promises (all or nothing, one at a time in a process,
// waiting for another process's lock, a 503 when the store cannot be written),
// and when this process's remembered answers are void.
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { openSqliteBackend, type SqliteBackend } from "../src/store/sqlite-backend.ts";
import { Refusal } from "../src/refusal.ts";
import { isPromise } from "../src/identity/maybe-promise.ts";
import { TokenService } from "../src/tokens/service.ts";
import { silentLogger } from "../src/log.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";

const opened: SqliteBackend[] = [];
afterEach(async () => {
  for (const backend of opened.splice(0)) await backend.close();
});

function openBackend(onUnavailable?: (reason: string) => void): SqliteBackend {
  const backend = openSqliteBackend(join(temporaryDirectory("gatehouse-backend-"), "gatehouse.db"), { onUnavailable });
  opened.push(backend);
  return backend;
}

const countUsers = (backend: SqliteBackend) =>
  backend.store.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM users").get()!.n;

const newToken = (id: string, userId: number) => ({
  id,
  hash: `hash-of-${id}`,
  userId,
  note: "",
  scopes: null,
  createdAt: 1,
  expiresAt: null,
  parentId: null,
  sessionId: null,
});

/** Another process that takes the write lock, says so, holds it `holdMs`, then commits a user row. */
async function holdLockElsewhere(path: string, holdMs: number): Promise<{ done: Promise<number> }> {
  const script = `
    import { Database } from "bun:sqlite";
    const db = new Database(${JSON.stringify(path)});
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("BEGIN IMMEDIATE");
    db.exec("INSERT INTO users (username, realm, first_seen, last_seen) VALUES ('elsewhere', 'other-process', 1, 1)");
    console.log("locked");
    await Bun.sleep(${holdMs});
    db.exec("COMMIT");
    db.close();`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
  const reader = child.stdout.getReader();
  let said = "";
  while (!said.includes("locked")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the locking process ended before it took the lock (exit ${await child.exited})`);
    said += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { done: child.exited };
}

test("a throw inside a transaction leaves nothing written, and the next transaction runs", async () => {
  const backend = openBackend();
  const failure = new Error("changed my mind");
  const attempt = backend.transaction(async (q) => {
    const userId = await q.upsertUser("alice", "local", 1);
    await q.insertToken(newToken("tok_rolled_back", userId));
    throw failure;
  });
  await expect(attempt).rejects.toBe(failure);
  expect(await backend.read.findToken("tok_rolled_back")).toBeUndefined();
  expect(countUsers(backend)).toBe(0);
  expect(backend.store.sqlite.inTransaction).toBe(false);

  await backend.transaction(async (q) => q.insertToken(newToken("tok_kept", await q.upsertUser("alice", "local", 2))));
  expect((await backend.read.findToken("tok_kept"))?.username).toBe("alice");
});

test("two transactions started at once in one process run one after the other, and both commit", async () => {
  const backend = openBackend();
  const steps: string[] = [];
  const slow = backend.transaction(async (q) => {
    steps.push("first begins");
    const userId = await q.upsertUser("alice", "local", 1);
    await Bun.sleep(30); // a real wait: the second must still not start inside this transaction
    await q.insertToken(newToken("tok_first", userId));
    steps.push("first ends");
  });
  const quick = backend.transaction(async (q) => {
    steps.push("second begins");
    await q.insertToken(newToken("tok_second", await q.upsertUser("bob", "local", 1)));
    steps.push("second ends");
  });
  await Promise.all([slow, quick]);
  expect(steps).toEqual(["first begins", "first ends", "second begins", "second ends"]);
  expect((await backend.read.listTokens({})).map((token) => token.id).sort()).toEqual(["tok_first", "tok_second"]);
});

test("a transaction that fails does not hold up the ones queued behind it", async () => {
  const backend = openBackend();
  const failing = backend.transaction(async () => {
    throw new Error("first fails");
  });
  const next = backend.transaction(async (q) => q.upsertUser("alice", "local", 1));
  await expect(failing).rejects.toThrow("first fails");
  expect(await next).toBeGreaterThan(0);
});

test("a transaction waits for another process holding the write lock, then commits", async () => {
  const backend = openBackend();
  const other = await holdLockElsewhere(backend.path, 400);
  const started = Date.now();
  await backend.transaction(async (q) => q.upsertUser("alice", "local", 1));
  expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  expect(await other.done).toBe(0);
  expect(countUsers(backend)).toBe(2); // the other process's row and ours
});

test("a lock held past the busy timeout refuses with 503, says why, and leaves the store usable", async () => {
  const reasons: string[] = [];
  const backend = openBackend((reason) => reasons.push(reason));
  backend.store.sqlite.exec("PRAGMA busy_timeout = 100");
  const other = await holdLockElsewhere(backend.path, 1500);
  const refused = await backend.transaction(async (q) => q.upsertUser("alice", "local", 1)).catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(Refusal);
  expect((refused as Refusal).status).toBe(503);
  expect((refused as Refusal).message).toContain("locked");
  expect(reasons).toEqual(["the database is locked by another process"]);
  expect(await other.done).toBe(0);
  await backend.transaction(async (q) => q.upsertUser("alice", "local", 2));
  expect(countUsers(backend)).toBe(2);
});

test("a change notified in a transaction voids remembered answers once it commits, not when it is rolled back", async () => {
  const backend = openBackend();
  const before = backend.changes.current();
  await backend
    .transaction(async (q) => {
      await q.notify({ kind: "token.revoked", ids: ["tok_x"] });
      throw new Error("rolled back");
    })
    .catch(() => undefined);
  expect(backend.changes.current()).toBe(before);
  await backend.transaction(async (q) => {
    await q.notify({ kind: "token.revoked", ids: ["tok_x"] });
    expect(backend.changes.current()).toBe(before); // not before the commit
  });
  expect(backend.changes.current()).not.toBe(before);
});

test("check() answers while the file is the store, and says so when the file is replaced", async () => {
  const backend = openBackend();
  await backend.check();
  await Bun.write(`${backend.path}.new`, "not a database");
  const { renameSync } = await import("node:fs");
  renameSync(`${backend.path}.new`, backend.path);
  await expect(backend.check()).rejects.toThrow("the database file was replaced or removed");
});

test("the reads of every /authenticate request answer at once on SQLite: a value, never a promise", async () => {
  const backend = openBackend();
  const policy = { prefix: "gth_", defaultExpiresIn: 3600, maxExpiresIn: 86_400, allowNonExpiring: false, services: [], recheckableRealms: "all" as const, unverifiableMaxAge: 3600 };
  const tokens = new TokenService(backend, policy, silentLogger);
  const operator = { user: null, admin: true, operator: "test", client: { socket: null, reported: null } };
  const { secret, token } = await tokens.create(operator, { username: "alice", realm: "local" }, {});

  const verified = tokens.verify(secret);
  expect(isPromise(verified)).toBe(false);
  expect(verified).toMatchObject({ id: token.id, username: "alice", realm: "local" });
  expect(tokens.keepsImported("0b6f3a52-6d0e-4c59-9a53-2b6d3f1c9e11")).toBe(false);
  expect(backend.hot.sessionOwner("ses_unknown", Date.now())).toBeNull();
  expect(backend.hot.account("alice", "local")).toEqual({ userId: expect.any(Number), profile: null });

  await tokens.revoke(operator, token.id);
  expect(tokens.verify(secret)).toBeNull(); // the very next verification, at once
  await tokens.close();
});
