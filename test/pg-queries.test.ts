// The PostgreSQL queries (src/store/<family>/pg.ts) against a real PostgreSQL:
// one scenario touching every `Queries` method, run on the SQLite backend
// (src/store/sqlite-backend.ts over the queries of src/store/<family>/sqlite.ts, on
// openStore(":memory:")) and on PostgreSQL, answer by answer and then table by table; the hot rows against
// SQLite's hot reads; and what only PostgreSQL needs: one winner among
// concurrent rotations of a refresh token, key transitions serialised, every
// concurrent regulation failure counted, notifications delivered on commit
// only, and outages answered 503.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import type { HotReads, Queries, StoreChange, StoreChanges } from "../src/store/backend.ts";
import { openStore, type Store } from "../src/store/database.ts";
import { migratePg, openPgDatabase, type PgDatabase } from "../src/store/pg/database.ts";
import { PgBackend, STORE_UNAVAILABLE, pgOutageReason } from "../src/store/pg/backend.ts";
import { pgHotRows } from "../src/store/pg/hot-rows.ts";
import { CHANGES_CHANNEL, decodeChange } from "../src/store/pg/contract.ts";
import { SqliteBackend } from "../src/store/sqlite-backend.ts";
import { Refusal } from "../src/refusal.ts";
import { auditRow } from "../src/store/audit/model.ts";
import { dumpPg, dumpSqlite } from "./helpers/store-dump.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";
import { freePort } from "./helpers/slapd.ts";

/** A change stamp that counts bumps: the stand-in for the LISTEN listener. */
class CountingChanges implements StoreChanges {
  stamp = 0;
  current() {
    return this.stamp;
  }
  bump() {
    this.stamp++;
  }
}

const noHotReads: HotReads = {
  tokenCredential: () => null,
  owner: () => null,
  sessionOwner: () => null,
  account: () => null,
};

let pg: Postgres;
const opened: { close(): Promise<void> }[] = [];

/** A migrated database of its own, and a backend on it (one per "instance"). */
async function freshDatabase(name: string): Promise<string> {
  const url = pg.createDatabase(name);
  await migratePg(url);
  return url;
}

function backendOn(url: string, options: { poolSize?: number; publish?: (change: StoreChange) => void; instanceId?: string } = {}) {
  const database = openPgDatabase({ url, pool_size: options.poolSize ?? 4 });
  const changes = new CountingChanges();
  const backend = new PgBackend({ database, changes, hot: noHotReads, publish: options.publish, instanceId: options.instanceId });
  opened.push(backend);
  return { backend, database, changes };
}

const T0 = 1_796_000_000_000; // beyond 2^31: times are int8
const MINUTE = 60_000;

/** Runs `work` in a transaction where there is one (PostgreSQL), else directly. */
type InTransaction = <T>(work: (q: Queries) => Promise<T>) => Promise<T>;

/** Every Queries method, with answers recorded by step name; sets answered in no defined order are sorted. */
async function scenario(q: Queries, inTransaction: InTransaction): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const byId = <T extends { id: string }>(rows: T[]) => rows.toSorted((a, b) => a.id.localeCompare(b.id));
  const step = async (name: string, run: () => unknown) => {
    out[name] = await run();
  };

  // users
  await step("upsert alice", () => q.upsertUser("alice", "local", T0));
  await step("upsert bob", () => q.upsertUser("bob", "ldap", T0 + 1));
  await step("upsert alice again, earlier", () => q.upsertUser("alice", "local", T0 - 500));
  await step("upsert carol", () => q.upsertUser("carol", "local", T0 + 2));
  await step("mark seen", () => q.markUsersSeen(new Map([[1, T0 + 5_000], [2, T0 - 9_000]])));
  await step("lock user", () => inTransaction(async (tx) => tx.lockUser(1)));

  // tokens
  const token = (id: string, userId: number, extra: Partial<Parameters<Queries["insertToken"]>[0]> = {}) => ({
    id,
    hash: `hash-${id}`,
    userId,
    note: `note ${id}`,
    scopes: null,
    createdAt: T0 + 10,
    expiresAt: null,
    parentId: null,
    sessionId: null,
    ...extra,
  });
  await step("insert tokens", async () => {
    await q.insertToken(token("tok_1", 1, { scopes: { svc: ["read", "write"], other: [] }, expiresAt: T0 + 86_400_000 }));
    await q.insertToken(token("tok_2", 1, { parentId: "tok_1", createdAt: T0 + 11 }));
    await q.insertToken(token("tok_3", 1, { parentId: "tok_2", createdAt: T0 + 11 }));
    await q.insertToken(token("tok_B", 2, { sessionId: "ses_1", createdAt: T0 + 11 }));
    await q.insertToken(token("tok_a", 1, { sessionId: "ses_1", createdAt: T0 + 11 }));
    await q.insertToken(token("tok_6", 2, { createdAt: T0 + 12 }));
    await q.insertToken(token("tok_keep", 1, { createdAt: T0 + 12, scopes: { svc: [] } }));
    // Carol is user 4: the conflicting upsert of alice used up id 3 (SQLite's AUTOINCREMENT and PostgreSQL's identity alike).
    await q.insertToken(token("tok_7", out["upsert carol"] as number, { createdAt: T0 + 13, expiresAt: T0 + 100 }));
  });
  await step("find token", () => q.findToken("tok_1"));
  await step("find token by hash", () => q.findTokenByHash("hash-tok_2"));
  await step("find unknown token", () => q.findToken("tok_none"));
  await step("list all tokens (ties in creation time ordered by id, bytewise)", () => q.listTokens({}));
  await step("list alice's tokens", () => q.listTokens({ username: "alice", realm: "local" }));
  await step("list ldap tokens", () => q.listTokens({ realm: "ldap" }));
  await step("first eights", async () => {
    await q.recordFirstEight("tok_1", "abcdefgh");
    await q.recordFirstEight("tok_2", "abcdefgh");
    await q.recordFirstEight("tok_3", "zzzzzzzz");
    await q.recordFirstEight("tok_keep", "keepkeep");
    return [...(await q.firstEightOf(["tok_1", "tok_2", "tok_6"])).entries()].sort();
  });
  await step("first eights of none", async () => [...(await q.firstEightOf([])).entries()]);
  await step("tokens with a first eight", async () => (await q.tokensWithFirstEight("abcdefgh")).sort());
  await step("mark used, then an older use (kept forward)", async () => {
    await q.markTokensUsed(new Map([["tok_1", { at: T0 + 2_000, address: "10.0.0.1", reportedAddress: "203.0.113.9" }]]));
    await q.markTokensUsed(new Map([["tok_1", { at: T0 + 1_000, address: "10.0.0.2", reportedAddress: null }], ["tok_2", { at: T0 + 3, address: null, reportedAddress: null }]]));
    return [await q.findToken("tok_1"), await q.findToken("tok_2")];
  });
  await step("revoke", () => q.markTokenRevoked("tok_1", T0 + 100));
  await step("revoke again", () => q.markTokenRevoked("tok_1", T0 + 101));
  await step("revoke unknown", () => q.markTokenRevoked("tok_none", T0 + 101));
  await step("revoke descendants", async () => byId(await q.markDescendantsRevoked(["tok_1"], T0 + 102)));
  await step("revoke descendants again", () => q.markDescendantsRevoked(["tok_1"], T0 + 103));
  await step("revoke descendants of none", () => q.markDescendantsRevoked([], T0 + 103));
  await step("revoke session tokens", async () => byId(await q.markSessionTokensRevoked(["ses_1", "ses_none"], T0 + 104)));
  await step("revoke session tokens of none", () => q.markSessionTokensRevoked([], T0 + 104));
  await step("revoke owner tokens", async () => byId(await q.markOwnerTokensRevoked({ username: "bob", realm: "ldap" }, T0 + 105)));
  await step("revoke unknown owner's tokens", () => q.markOwnerTokensRevoked({ username: "nobody", realm: "x" }, T0 + 105));
  await step("list with revoked", () => q.listTokens({ includeRevoked: true }));
  await step("list without revoked", () => q.listTokens({}));

  // sessions and refresh tokens
  const session = (id: string, userId: number, createdAt: number, expiresAt: number) => ({
    id,
    userId,
    provider: "local-users",
    createdAt,
    expiresAt,
    refreshExpiresAt: Math.min(expiresAt, createdAt + 3_600_000),
    address: "10.0.0.1",
    reportedAddress: null,
    userAgent: "curl/8",
  });
  await step("insert sessions", async () => {
    await q.insertSession(session("ses_1", 1, T0, T0 + 86_400_000));
    await q.insertSession(session("ses_2", 1, T0 + 1, T0 + 86_400_000));
    await q.insertSession(session("ses_A", 1, T0 + 1, T0 + 86_400_000));
    await q.insertSession(session("ses_3", 2, T0 + 2, T0 + 10));
  });
  await step("find session", () => q.findSession("ses_1"));
  await step("find unknown session", () => q.findSession("ses_none"));
  await step("list live sessions", () => q.listSessions({ now: T0 + 100 }));
  await step("list alice's sessions, all", () => q.listSessions({ username: "alice", realm: "local", includeInactive: true, now: T0 + 100 }));
  for (const order of ["sign-in", "name", "seen"] as const) {
    await step(`list users by ${order}`, () => q.listUsers({ order, limit: 10, offset: 0, now: T0 + 100 }));
  }
  await step("list users, second page", () => q.listUsers({ order: "sign-in", limit: 2, offset: 2, now: T0 + 100 }));
  await step("count live", () => q.countLiveSessions(1, T0 + 100));
  await step("count live of bob (expired)", () => q.countLiveSessions(2, T0 + 100));
  await step("revoke sessions", () => q.markSessionsRevoked(["ses_2", "ses_none"], T0 + 200, "logout"));
  await step("revoke sessions again", () => q.markSessionsRevoked(["ses_2"], T0 + 201, "revoked"));
  await step("revoke no sessions", () => q.markSessionsRevoked([], T0 + 201, "revoked"));
  await step("refreshed", async () => {
    await q.markSessionRefreshed("ses_1", T0 + 300, T0 + 300 + 3_600_000);
    return q.findSession("ses_1");
  });
  await step("refresh tokens", async () => {
    await q.insertRefreshToken({ hash: "rt-1", sessionId: "ses_1", createdAt: T0 });
    await q.insertRefreshToken({ hash: "rt-2", sessionId: "ses_1", createdAt: T0 + 300 });
    await q.insertRefreshToken({ hash: "rt-3", sessionId: "ses_A", createdAt: T0 + 300 });
    return [await q.findRefreshToken("rt-1"), await q.findRefreshToken("rt-none")];
  });
  await step("find a refresh token for update, mark it used", () =>
    inTransaction(async (tx) => {
      const found = await tx.findRefreshToken("rt-2", { forUpdate: true });
      await tx.markRefreshTokenUsed(found!.id, T0 + 400);
      return [found, await tx.findRefreshToken("rt-2", { forUpdate: true }), await tx.findRefreshToken("rt-none", { forUpdate: true })];
    }),
  );
  await step("forget used refresh tokens", async () => {
    await q.markRefreshTokenUsed(1, T0 + 350);
    await q.forgetUsedRefreshTokens("ses_1", T0 + 360);
    return [await q.findRefreshToken("rt-1"), await q.findRefreshToken("rt-2")];
  });

  // signing keys
  const key = (kid: string, state: string, createdAt: number) => ({
    kid,
    alg: "ES256",
    state,
    publicJwk: JSON.stringify({ kid, kty: "EC" }),
    privateKeySealed: `sealed-${kid}`,
    createdAt,
    activatesAt: state === "next" ? createdAt + 1000 : null,
    activatedAt: state === "current" ? createdAt : null,
  });
  await step("keys", () =>
    inTransaction(async (tx) => {
      await tx.lockKeys();
      await tx.insertKey(key("k1", "current", T0));
      await tx.insertKey(key("k2", "next", T0 + 1));
      await tx.insertKey(key("k0", "retired", T0 - 10));
      return [await tx.liveKeys(), await tx.keysInState("next"), await tx.keysInState("previous")];
    }),
  );
  await step("key transition", () =>
    inTransaction(async (tx) => {
      await tx.lockKeys();
      await tx.makePrevious("k1", T0 + 1000, T0 + 5000);
      await tx.makeCurrent("k2", T0 + 1000);
      return [await tx.previousKeysDue(T0 + 4999), await tx.previousKeysDue(T0 + 5000), await tx.liveKeys()];
    }),
  );
  await step("retire keys", async () => {
    await q.retireKeys(["k1"], T0 + 6000);
    await q.retireKeys([], T0 + 6000);
    return [await q.allKeys(), await q.liveKeys()];
  });

  // audit
  await step("audit", async () => {
    await q.recordAudit({ at: T0, event: "token.created", actorUsername: "alice", actorRealm: "local", tokenId: "tok_1", detail: { scopes: ["a"] } });
    await q.recordAudit({ at: T0 + 1, event: "token.revoked", actorUsername: "admin", targetUsername: "alice", targetRealm: "local", tokenId: "tok_1" });
    await q.recordAudit({ at: T0 + 2, event: "session.created", actorUsername: "bob", actorRealm: "ldap", address: "10.0.0.3" });
    await q.recordAudit({ at: T0 + 3, event: "token_x.created", actorUsername: "eve", detail: { kind: "odd" } });
    return q.listAudit();
  });
  const failed = (at: number, address: string | null, actor: string | null = "mallory") =>
    auditRow(actor === null ? { user: null, operator: undefined, client: address ? { socket: address, reported: null } : undefined } : { user: { username: actor, realm: "local" }, client: address ? { socket: address, reported: null } : undefined }, "login.failed", at, { detail: { reason: "bad password" } });
  await step("aggregated audit", async () => {
    const minute = T0 - (T0 % MINUTE) + 10 * MINUTE;
    await q.recordAggregatedAudit(failed(minute + 1, "10.0.0.9"));
    await q.recordAggregatedAudit(failed(minute + 2, "10.0.0.9"));
    await q.recordAggregatedAudit(failed(minute + 3, "10.0.0.9"));
    await q.recordAggregatedAudit(failed(minute + 4, "10.0.0.8"));
    await q.recordAggregatedAudit(failed(minute + 5, null));
    await q.recordAggregatedAudit(failed(minute + 6, null));
    await q.recordAggregatedAudit(failed(minute + MINUTE + 1, "10.0.0.9"));
    return q.listAudit({ limit: 10 });
  });
  await step("list audit of a token", () => q.listAudit({ tokenId: "tok_1", limit: 1 }));
  await step("search audit", async () => [
    await q.searchAudit({ event: "token" }),
    await q.searchAudit({ event: "TOKEN" }),
    await q.searchAudit({ event: "token.created" }),
    await q.searchAudit({ actor: "bob" }),
    await q.searchAudit({ subject: "alice", from: T0, to: T0 + 2 }),
    await q.searchAudit({ before: 3, limit: 1 }),
  ]);
  await step("audit pages", async () => {
    const first = await q.listAuditPage({ event: "token.*", limit: 1 });
    const second = await q.listAuditPage({ event: "token.*", limit: 1, cursor: first.nextCursor! });
    return [
      first,
      second,
      await q.listAuditPage({ event: "login.failed", limit: 2 }),
      await q.listAuditPage({ subject: "tok_1", limit: 10 }),
      await q.listAuditPage({ realm: "ldap", limit: 10 }),
      await q.listAuditPage({ actor: "alice", since: T0, until: T0 + 1, limit: 10 }),
      await q.listAuditPage({ limit: 0 }),
    ];
  });
  await step("audit page, a prefix with an underscore", () => q.listAuditPage({ event: "token_*", limit: 10 }));
  // LIKE's own characters in a prefix match themselves only: `tok_n` is not `token`, `%` and `\` are not wildcards.
  await step("audit page, LIKE's characters are literal", async () => [
    await q.listAuditPage({ event: "tok_n*", limit: 10 }),
    await q.listAuditPage({ event: "token%*", limit: 10 }),
    await q.listAuditPage({ event: "token\\*", limit: 10 }),
  ]);
  await step("bad cursor", async () => {
    try {
      await q.listAuditPage({ cursor: "nonsense", limit: 1 });
      return "accepted";
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message}`;
    }
  });
  await step("newest audit id", () => q.newestAuditId());
  await step("audit events since", async () => {
    const since = await q.auditEventsSince(2);
    return { lastId: since.lastId, counts: since.counts.toSorted((a, b) => `${a.event}${a.reason}${a.kind}`.localeCompare(`${b.event}${b.reason}${b.kind}`)) };
  });
  await step("audit events since the newest", async () => q.auditEventsSince(await q.newestAuditId()));

  // regulation
  await step("counter missing", () => q.regulationCounter("username", "mallory"));
  await step("counter for update, missing, then saved", () =>
    inTransaction(async (tx) => {
      const before = await tx.regulationCounter("username", "mallory", { forUpdate: true });
      await tx.saveRegulationCounter({ kind: "username", subject: "mallory", failures: 1, windowStartedAt: T0, bannedUntil: null });
      return [before, await tx.regulationCounter("username", "mallory", { forUpdate: true })];
    }),
  );
  await step("counters saved", async () => {
    await q.saveRegulationCounter({ kind: "username", subject: "mallory", failures: 5, windowStartedAt: T0, bannedUntil: T0 + 60_000 });
    await q.saveRegulationCounter({ kind: "address", subject: "10.0.0.9", failures: 2, windowStartedAt: T0 - 1_000_000, bannedUntil: null });
    await q.saveRegulationCounter({ kind: "address", subject: "10.0.0.8", failures: 2, windowStartedAt: T0, bannedUntil: null });
    await q.saveRegulationCounter({ kind: "address", subject: "10.0.0.7", failures: 9, windowStartedAt: T0, bannedUntil: T0 + 120_000 });
    return [await q.regulationCounter("username", "mallory"), await q.activeBans(T0), await q.activeBans(T0 + 60_000)];
  });
  await step("release regulation", async () => [await q.releaseRegulation(T0 + 60_000, 600_000), await q.activeBans(T0)]);
  await step("delete counter", async () => {
    await q.deleteRegulationCounter("address", "10.0.0.8");
    return q.regulationCounter("address", "10.0.0.8");
  });

  // accounts vouched for by a proxy
  await step("save profile (new user)", () =>
    q.saveProfile("dave", "proxy", { email: "d@example.org", firstName: "Dave", lastName: null, organisation: "Org", provider: "idp", providerId: "42", roles: ["a", "b"] }, T0 + 7),
  );
  await step("save profile (again, changed; roles unset)", () =>
    q.saveProfile("dave", "proxy", { email: "dave@example.org", firstName: "Dave", lastName: "D", organisation: null, provider: null, providerId: null, roles: null }, T0 + 8),
  );
  await step("save profile (an existing user)", () =>
    q.saveProfile("alice", "local", { email: null, firstName: null, lastName: null, organisation: null, provider: null, providerId: null, roles: [] }, T0 + 9),
  );

  // purge
  await step("purge sessions", async () => [await q.deleteEndedSessions(T0 + 250, 1), await q.deleteEndedSessions(T0 + 250, 10), await q.deleteEndedSessions(T0 + 250, 10)]);
  await step("purge tokens", async () => [await q.deleteEndedTokens(T0 + 103, 2), await q.deleteEndedTokens(T0 + 103, 2), await q.deleteEndedTokens(T0 + 200, 100)]);
  await step("purge audit", () => q.purgeAudit(T0 + 2));
  await step("tokens left", () => q.listTokens({ includeRevoked: true }));
  await step("notify (a no-op on SQLite; PostgreSQL tested below)", () => inTransaction(async (tx) => tx.notify({ kind: "token.revoked", ids: ["tok_1"] })));
  return out;
}

describe.skipIf(!postgresAvailable)("PostgreSQL queries", () => {
  beforeAll(async () => {
    pg = await startPostgres("gatehouse_queries");
  }, 60_000);

  afterAll(async () => {
    await Promise.all(opened.map((each) => each.close().catch(() => {})));
    await pg?.destroy();
  });

  describe("every Queries method answers as SQLite's table functions do", () => {
    let lite: SqliteBackend;
    let liteAnswers: Record<string, unknown>;
    let pgAnswers: Record<string, unknown>;
    let pgDatabase: PgDatabase;

    beforeAll(async () => {
      lite = new SqliteBackend(openStore(":memory:"), ":memory:");
      liteAnswers = await scenario(lite.read, (work) => lite.transaction(work));
      const { backend, database } = backendOn(await freshDatabase("parity"));
      pgDatabase = database;
      pgAnswers = await scenario(backend.read, (work) => backend.transaction(work));
    }, 60_000);

    afterAll(async () => {
      await lite?.close();
    });

    test("the same steps ran", () => {
      expect(Object.keys(pgAnswers)).toEqual(Object.keys(liteAnswers));
      expect(Object.keys(pgAnswers).length).toBeGreaterThan(60);
    });

    test("answer by answer", () => {
      for (const name of Object.keys(liteAnswers)) {
        expect({ step: name, answer: pgAnswers[name] }).toEqual({ step: name, answer: liteAnswers[name] });
      }
    });

    test("an event prefix with _ is matched literally on both (SQLite's LIKE is told its escape character)", () => {
      const name = "audit page, a prefix with an underscore";
      for (const answers of [liteAnswers, pgAnswers]) {
        expect((answers[name] as { events: { event: string }[] }).events.map((event) => event.event)).toEqual(["token_x.created"]);
      }
      const literal = liteAnswers["audit page, LIKE's characters are literal"] as { events: unknown[] }[];
      expect(literal.map((page) => page.events.length)).toEqual([0, 0, 0]);
    });

    test("every table holds the same rows afterwards", async () => {
      const [liteDump, pgDump] = [dumpSqlite(lite.store), await dumpPg(pgDatabase.db)];
      for (const table of Object.keys(liteDump)) {
        expect({ table, rows: pgDump[table] }).toEqual({ table, rows: liteDump[table] });
        expect({ table, empty: liteDump[table]!.length === 0 }).toEqual({ table, empty: false });
      }
    });

    test("the hot rows read what SQLite's hot reads read", async () => {
      const rows = pgHotRows(pgDatabase.sql);
      for (const hash of ["hash-tok_1", "hash-tok_keep", "hash-none"]) {
        expect(await rows.tokenCredential(hash)).toEqual(await lite.hot.tokenCredential(hash));
      }
      for (const id of [1, 2, 99]) expect(await rows.owner(id)).toEqual(await lite.hot.owner(id));
      const liveness = lite.store.sqlite.prepare(
        `SELECT s.expires_at, s.refresh_expires_at, s.revoked_at, u.username, u.realm FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`,
      );
      for (const id of ["ses_1", "ses_A", "ses_none"]) expect(await rows.session(id)).toEqual(liveness.get(id) as never);
      for (const [username, realm] of [["dave", "proxy"], ["alice", "local"], ["bob", "ldap"], ["nobody", "x"]] as const) {
        expect(await rows.account(username, realm)).toEqual(await lite.hot.account(username, realm));
      }
    });
  });

  describe("concurrency: one winner where it matters", () => {
    let url: string;
    beforeAll(async () => {
      url = await freshDatabase("concurrency");
      const { backend } = backendOn(url);
      await backend.transaction(async (q) => {
        await q.upsertUser("alice", "local", T0);
        await q.insertSession({ id: "ses_r", userId: 1, provider: "p", createdAt: T0, expiresAt: T0 + 1e9, refreshExpiresAt: T0 + 1e9 });
        await q.insertRefreshToken({ hash: "rt-race", sessionId: "ses_r", createdAt: T0 });
      });
    });

    test("two instances rotating one refresh token (FOR UPDATE): one sees it unused and rotates, the other then sees it used", async () => {
      const [a, b] = [backendOn(url).backend, backendOn(url).backend];
      let firstHolds!: () => void;
      const held = new Promise<void>((resolve) => (firstHolds = resolve));
      const order: string[] = [];
      const rotate = (backend: PgBackend, name: string, holdFor: number) =>
        backend.transaction(async (q) => {
          const found = await q.findRefreshToken("rt-race", { forUpdate: true });
          order.push(`${name} read usedAt=${found!.usedAt}`);
          if (found!.usedAt === null) {
            if (holdFor > 0) {
              firstHolds();
              await Bun.sleep(holdFor); // the other instance arrives meanwhile
            }
            await q.markRefreshTokenUsed(found!.id, T0 + 1);
            await q.insertRefreshToken({ hash: `rt-next-${name}`, sessionId: "ses_r", createdAt: T0 + 1 });
            return "rotated";
          }
          await q.markSessionsRevoked(["ses_r"], T0 + 2, "refresh token reuse");
          return "reuse";
        });
      const first = rotate(a, "first", 300);
      await held;
      const second = rotate(b, "second", 0);
      expect(await Promise.all([first, second])).toEqual(["rotated", "reuse"]);
      expect(order).toEqual(["first read usedAt=null", `second read usedAt=${T0 + 1}`]);
      expect((await a.read.findSession("ses_r"))!.revokedReason).toBe("refresh token reuse");
    });

    test("lockKeys serialises key transitions: of two instances making the first key, one inserts, the other finds it", async () => {
      const instances = [backendOn(url).backend, backendOn(url).backend, backendOn(url).backend];
      const events: string[] = [];
      const makeFirstKey = (backend: PgBackend, name: string) =>
        backend.transaction(async (q) => {
          await q.lockKeys();
          events.push(`${name} locked`);
          if ((await q.keysInState("current")).length > 0) return "found";
          await Bun.sleep(150); // without the lock, the others would also find none by now
          await q.insertKey({ kid: `key-${name}`, alg: "ES256", state: "current", publicJwk: "{}", privateKeySealed: "x", createdAt: T0 });
          events.push(`${name} inserted`);
          return "inserted";
        });
      const outcomes = await Promise.all(instances.map((backend, index) => makeFirstKey(backend, `i${index}`)));
      expect(outcomes.filter((outcome) => outcome === "inserted")).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome === "found")).toHaveLength(2);
      // Nobody took the lock while the winner held it: its "inserted" directly follows its "locked".
      const winner = events.find((event) => event.endsWith("inserted"))!.split(" ")[0];
      expect(events.indexOf(`${winner} inserted`)).toBe(events.indexOf(`${winner} locked`) + 1);
      expect(pg.psql("SELECT count(*) FROM signing_keys", "concurrency")).toBe("1");
    });

    test("8 concurrent failures for one subject (regulationCounter forUpdate) count 8, and ban once", async () => {
      const instances = Array.from({ length: 8 }, () => backendOn(url, { poolSize: 1 }).backend);
      await Promise.all(instances.map((backend) => backend.read.newestAuditId())); // connected: the race is on the counter
      const limit = 8;
      const fail = (backend: PgBackend, now: number) =>
        backend.transaction(async (q) => {
          const row = await q.regulationCounter("username", "mallory", { forUpdate: true });
          const fresh = !row || now - row.windowStartedAt > 600_000 || row.bannedUntil !== null;
          const failures = fresh ? 1 : row!.failures + 1;
          const bannedUntil = failures >= limit ? now + 60_000 : null;
          await q.saveRegulationCounter({ kind: "username", subject: "mallory", failures, windowStartedAt: fresh ? now : row!.windowStartedAt, bannedUntil });
          if (bannedUntil !== null) await q.recordAudit({ at: now, event: "regulation.banned", targetUsername: "mallory" });
          return failures;
        });
      const counts = await Promise.all(instances.map((backend, index) => fail(backend, T0 + index)));
      expect(counts.toSorted((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const counter = await instances[0]!.read.regulationCounter("username", "mallory");
      expect(counter!.failures).toBe(8);
      expect(counter!.bannedUntil).not.toBeNull();
      expect(pg.psql("SELECT count(*) FROM audit_log WHERE event = 'regulation.banned'", "concurrency")).toBe("1");
    });

    test("lockUser: a second transaction on the same user waits for the first", async () => {
      const [a, b] = [backendOn(url).backend, backendOn(url).backend];
      const order: string[] = [];
      let firstHolds!: () => void;
      const held = new Promise<void>((resolve) => (firstHolds = resolve));
      const first = a.transaction(async (q) => {
        await q.lockUser(1);
        firstHolds();
        await Bun.sleep(200);
        order.push("first done");
      });
      await held;
      const second = b.transaction(async (q) => {
        await q.lockUser(1);
        order.push("second locked");
      });
      await Promise.all([first, second]);
      expect(order).toEqual(["first done", "second locked"]);
    });
  });

  describe("batched updates", () => {
    test("a flush of 12,000 last uses and last-seen times: every row moves forward (never back), in a few statements", async () => {
      const { backend } = backendOn(await freshDatabase("batches"));
      const ids = Array.from({ length: 12_000 }, (_, i) => `tok_${i}`);
      await backend.transaction(async (q) => {
        const user = await q.upsertUser("alice", "local", T0);
        for (let i = 0; i < ids.length; i += 500) {
          await Promise.all(ids.slice(i, i + 500).map((id) => q.insertToken({ id, hash: `h-${id}`, userId: user, note: "", scopes: null, createdAt: T0, expiresAt: null, parentId: null, sessionId: null })));
        }
      });
      await backend.read.markTokensUsed(new Map([["tok_7", { at: T0 + 10_000, address: "later", reportedAddress: null }]]));
      const started = performance.now();
      await backend.transaction(async (q) => {
        await q.markTokensUsed(new Map(ids.map((id, i) => [id, { at: T0 + i, address: `10.0.${i % 256}.1`, reportedAddress: i % 2 ? null : "203.0.113.1" }])));
        await q.markUsersSeen(new Map([[1, T0 + 5]]));
      });
      console.log(`pg-queries: 12,000 last uses flushed in one transaction in ${(performance.now() - started).toFixed(0)} ms`);
      expect(pg.psql("SELECT count(*) FROM tokens WHERE last_used_at = created_at + substr(id, 5)::int8", "batches")).toBe("11999");
      expect(pg.psql("SELECT last_used_at - created_at, last_used_address FROM tokens WHERE id = 'tok_7'", "batches")).toBe("10000|later");
      expect(pg.psql("SELECT coalesce(last_used_reported_address, 'NULL') FROM tokens WHERE id IN ('tok_0', 'tok_1') ORDER BY id", "batches")).toBe("203.0.113.1\nNULL");
      expect(pg.psql("SELECT last_seen - first_seen FROM users", "batches")).toBe("5");
      // Lists of ids are one array parameter: more than PostgreSQL's 65,535 parameters is fine.
      const many = [...ids, ...Array.from({ length: 60_000 }, (_, i) => `tok_unknown_${i}`)];
      expect((await backend.read.firstEightOf(many)).size).toBe(0);
      expect((await backend.read.markSessionTokensRevoked(many, T0)).length).toBe(0);
      expect(await backend.read.markSessionsRevoked(many, T0, "test")).toEqual([]);
      expect((await backend.read.markDescendantsRevoked(many, T0)).length).toBe(0);
    }, 60_000);
  });

  describe("notifications", () => {
    test("notify inside a rolled-back transaction is never delivered; a committed one is, once, after the commit, and published here", async () => {
      const url = await freshDatabase("notify");
      const published: StoreChange[] = [];
      const { backend } = backendOn(url, { instanceId: "instance-a", publish: (change) => published.push(change) });
      const { backend: unpublished, changes } = backendOn(url); // no publisher: the backend moves the stamp itself
      const received: string[] = [];
      const listener = new SQL({ url, max: 1 });
      opened.push(listener);
      const subscription = await listener.listen(CHANGES_CHANNEL, (payload) => received.push(payload));

      const rolledBack = await backend
        .transaction(async (q) => {
          await q.notify({ kind: "token.revoked", ids: ["tok_rolled_back"] });
          throw new Error("abort");
        })
        .then(
          () => "committed",
          (error: Error) => error.message,
        );
      expect(rolledBack).toBe("abort");
      expect(published).toEqual([]);
      await unpublished.transaction(async (q) => {
        await q.notify({ kind: "flush" });
        throw new Error("abort");
      }).catch(() => {});
      expect(changes.stamp).toBe(0);

      await backend.transaction(async (q) => {
        await q.notify({ kind: "session.revoked", ids: ["ses_1", "ses_2"] });
        await q.notify({ kind: "account.changed", userIds: [7] });
        await Bun.sleep(100);
        expect(received).toEqual([]); // not before the commit
      });
      expect(published).toEqual([
        { kind: "session.revoked", ids: ["ses_1", "ses_2"] },
        { kind: "account.changed", userIds: [7] },
      ]);
      await unpublished.transaction(async (q) => q.notify({ kind: "keys.changed" }));
      expect(changes.stamp).toBe(1);
      const deadline = Date.now() + 5_000;
      while (received.length < 3 && Date.now() < deadline) await Bun.sleep(10);
      await Bun.sleep(100);
      expect(received.map(decodeChange)).toEqual([
        { kind: "session.revoked", ids: ["ses_1", "ses_2"], from: "instance-a" },
        { kind: "account.changed", userIds: [7], from: "instance-a" },
        { kind: "keys.changed", from: expect.any(String) },
      ]);
      // A change too large for one notification goes out as a flush.
      received.length = 0;
      await backend.transaction(async (q) => q.notify({ kind: "token.revoked", ids: Array.from({ length: 2000 }, (_, i) => `tok_${i}`) }));
      while (received.length < 1 && Date.now() < deadline + 5_000) await Bun.sleep(10);
      expect(received.map(decodeChange)).toEqual([{ kind: "flush", from: "instance-a" }]);
      await subscription.unlisten();
      await listener.close();
    });
  });

  describe("outages", () => {
    test("a database that cannot be reached: reads and transactions refuse with 503, onUnavailable is told, check() says why", async () => {
      const url = `postgres://postgres:hunter2-secret@127.0.0.1:${freePort()}/gatehouse`;
      const { backend } = backendOn(url);
      const reasons: string[] = [];
      backend.onUnavailable = (reason) => reasons.push(reason);
      const attempts: (() => Promise<unknown>)[] = [() => backend.transaction(async (q) => q.upsertUser("a", "b", 1)), async () => backend.read.listTokens({})];
      for (const attempt of attempts) {
        const error = await attempt().then(
          () => null,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(Refusal);
        expect((error as Refusal).status).toBe(503);
        expect((error as Refusal).message).toBe(STORE_UNAVAILABLE);
      }
      expect(reasons).toHaveLength(2);
      expect(reasons[0]).toMatch(/^the database cannot be reached \(ERR_POSTGRES_CONNECTION_/);
      const checked = await backend.check().then(
        () => "ok",
        (error: Error) => error.message,
      );
      expect(checked).toMatch(/^the store does not answer: the database cannot be reached/);
      expect([...reasons, checked].join("\n")).not.toContain("hunter2-secret");
    });

    test("a server that stops and comes back: refused (503) while away, served again by the same pool", async () => {
      const url = await freshDatabase("outage");
      const { backend } = backendOn(url);
      await backend.check();
      await pg.stop();
      try {
        const error = await backend.transaction(async (q) => q.upsertUser("a", "b", 1)).then(
          () => null,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(Refusal);
        expect((error as Refusal).status).toBe(503);
      } finally {
        await pg.start();
      }
      expect(await backend.transaction(async (q) => q.upsertUser("a", "b", 1))).toBe(1);
      await backend.check();
    }, 60_000);

    test("errors that are not outages pass through unchanged; conflicts between instances are outages (try again)", async () => {
      const url = await freshDatabase("errors");
      const { backend, database } = backendOn(url);
      const duplicate = await backend
        .transaction(async (q) => {
          await q.insertKey({ kid: "k", alg: "ES256", state: "current", publicJwk: "{}", privateKeySealed: "x", createdAt: 1 });
          await q.insertKey({ kid: "k", alg: "ES256", state: "previous", publicJwk: "{}", privateKeySealed: "x", createdAt: 1 });
        })
        .then(
          () => null,
          (caught: unknown) => caught,
        );
      expect(duplicate).not.toBeInstanceOf(Refusal);
      expect(pgOutageReason(duplicate)).toBeNull();
      expect(pgOutageReason({ cause: { errno: "40P01" } })).toBe("a deadlock with another transaction (40P01)");
      expect(pgOutageReason({ errno: "57P01" })).toBe("the database is shutting down or starting up (57P01)");
      expect(pgOutageReason({ cause: { errno: "55P03" } })).toBe("a lock could not be obtained in time (55P03)");
      // No request waits forever on another instance's lock or a runaway statement.
      const [settings] = await database.sql`SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement,
        current_setting('idle_in_transaction_session_timeout') AS idle, current_setting('application_name') AS name`;
      expect(settings).toEqual({ lock: "10s", statement: "30s", idle: "30s", name: "gatehouse" });
      // A Refusal thrown by the work itself (a service's 409) is kept as it is.
      const refusal = await backend.transaction(async () => {
        throw new Refusal(409, "conflict");
      }).catch((caught: unknown) => caught);
      expect(refusal).toEqual(new Refusal(409, "conflict"));
    });
  });
});
