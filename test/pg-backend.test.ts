// Two Gatehouse instances on one PostgreSQL, each its own openPgBackend (pool,
// LISTEN listener, hot-read cache, /ready check): what one commits, the other
// applies within milliseconds; the committing one at once. This is the store's
// half of issue 16 without the HTTP layer (the services and app.ts wiring sit
// on top of it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isPromise } from "../src/identity/maybe-promise.ts";
import { openPgBackend, type PgBackend } from "../src/store/pg/backend.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";

const T0 = 1_796_000_000_000;

/** Polls until `check` holds; answers the milliseconds it took. */
async function within(ms: number, check: () => Promise<boolean> | boolean, what: string): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(1);
  }
  return performance.now() - started;
}

describe.skipIf(!postgresAvailable)("two instances on one PostgreSQL (openPgBackend)", () => {
  let pg: Postgres;
  let a: PgBackend;
  let b: PgBackend;
  let tokenId: string;
  let userId: number;

  beforeAll(async () => {
    pg = await startPostgres("gatehouse_instances");
    // Both start together: the migration runs once (the advisory lock), both find the schema.
    [a, b] = await Promise.all([openPgBackend({ url: pg.url, pool_size: 4 }), openPgBackend({ url: pg.url, pool_size: 4 })]);
    await Promise.all([a.check(), b.check()]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()].map((closing) => closing?.catch(() => {})));
    await pg?.destroy();
  });

  test("a token made on A verifies on B at once (no negative caching), then from B's memory without a query", async () => {
    tokenId = "tok_shared";
    userId = await a.transaction(async (q) => {
      const user = await q.upsertUser("alice", "local", T0);
      await q.insertToken({ id: tokenId, hash: "hash-shared", userId: user, note: "", scopes: { svc: ["read"] }, createdAt: T0, expiresAt: null, parentId: null, sessionId: null });
      await q.insertSession({ id: "ses_shared", userId: user, provider: "p", createdAt: T0, expiresAt: Date.now() + 3_600_000, refreshExpiresAt: Date.now() + 3_600_000 });
      return user;
    });
    const first = b.hot.tokenCredential("hash-shared");
    expect(isPromise(first)).toBe(true); // a miss: read from PostgreSQL
    expect((await first)!.id).toBe(tokenId);
    const kept = b.hot.tokenCredential("hash-shared");
    expect(isPromise(kept)).toBe(false); // kept: answered synchronously
    expect((kept as { revoked_at: number | null }).revoked_at).toBeNull();
    expect(await b.hot.sessionOwner("ses_shared", Date.now())).toEqual({ username: "alice", realm: "local" });
    expect(isPromise(b.hot.sessionOwner("ses_shared", Date.now()))).toBe(false);
  });

  test("revoked on A: A answers revoked at once, B within milliseconds (LISTEN/NOTIFY), and B's stamp moves", async () => {
    // A keeps it too before the revocation.
    await a.hot.tokenCredential("hash-shared");
    expect(isPromise(a.hot.tokenCredential("hash-shared"))).toBe(false);
    const stampBefore = b.changes.current();
    const committed = performance.now();
    await a.transaction(async (q) => {
      await q.markTokenRevoked(tokenId, T0 + 1);
      await q.notify({ kind: "token.revoked", ids: [tokenId] });
      await q.markSessionsRevoked(["ses_shared"], T0 + 1, "logout");
      await q.notify({ kind: "session.revoked", ids: ["ses_shared"] });
    });
    // The committing instance: dropped before the commit returned (publish), so the next read goes to the store.
    const onA = a.hot.tokenCredential("hash-shared");
    expect(isPromise(onA)).toBe(true);
    expect((await onA)!.revoked_at).toBe(T0 + 1);
    // The other instance: as soon as the notification arrives.
    const tookMs = await within(5_000, async () => (await b.hot.tokenCredential("hash-shared"))?.revoked_at === T0 + 1, "B to see the revocation");
    console.log(`pg-backend: a revocation committed on A reached B's cache in ${(performance.now() - committed).toFixed(1)} ms (${tookMs.toFixed(1)} ms after A's commit returned)`);
    expect(await b.hot.sessionOwner("ses_shared", Date.now())).toBeNull();
    expect(b.changes.current()).toBeGreaterThan(stampBefore);
  });

  test("an account saved on A is re-read on B after account.changed", async () => {
    const profile = { email: "a@example.org", firstName: "A", lastName: null, organisation: null, provider: null, providerId: null, roles: ["r1"] };
    await a.transaction(async (q) => {
      await q.saveProfile("alice", "local", profile, T0 + 2);
      await q.notify({ kind: "account.changed", userIds: [userId] });
    });
    expect((await b.hot.account("alice", "local"))!.profile!.roles).toEqual(["r1"]);
    await a.transaction(async (q) => {
      await q.saveProfile("alice", "local", { ...profile, roles: ["r2"] }, T0 + 3);
      await q.notify({ kind: "account.changed", userIds: [userId] });
    });
    await within(5_000, async () => (await b.hot.account("alice", "local"))!.profile!.roles?.[0] === "r2", "B to re-read the account");
  });

  test("/ready on both: ready while the database answers and the listeners listen", async () => {
    await Promise.all([a.check(), b.check()]);
  });
});
