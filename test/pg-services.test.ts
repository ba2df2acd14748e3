// The services themselves (src/tokens, src/sessions, src/keys, src/regulation),
// unchanged, on PostgreSQL: several instances, each its own openPgBackend on
// one database, doing at once what must have one winner or lose nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { openPgBackend, type PgBackend } from "../src/store/pg/backend.ts";
import { TokenService } from "../src/tokens/service.ts";
import { REUSE_REASON, SessionService } from "../src/sessions/service.ts";
import { ManagedKeySet } from "../src/keys/managed.ts";
import { loadMasterKey } from "../src/keys/master-key.ts";
import { Regulator } from "../src/regulation/regulator.ts";
import { Refusal } from "../src/refusal.ts";
import { createUser } from "../src/identity/user.ts";
import { silentLogger } from "../src/log.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";

const INSTANCES = 4;
const client = { socket: "10.0.0.1", reported: null };
const operator = { user: null, admin: true, operator: "test", client };

describe.skipIf(!postgresAvailable)("the services on PostgreSQL, several instances at once", () => {
  let pg: Postgres;
  let instances: PgBackend[];
  let keySets: ManagedKeySet[];
  const closers: (() => unknown)[] = [];

  beforeAll(async () => {
    pg = await startPostgres("gatehouse_services");
    instances = await Promise.all(Array.from({ length: INSTANCES }, () => openPgBackend({ url: pg.url, pool_size: 4 })));
    const master = await loadMasterKey({ env: randomBytes(32).toString("base64url"), file: undefined, defaultFile: "/nonexistent/master.key" });
    // Every instance starts at once on an empty store: each would make the first key without the keys' lock.
    keySets = await Promise.all(
      instances.map((store) =>
        ManagedKeySet.open(store, master, { alg: "ES256", publishAheadSeconds: 60, keepPreviousSeconds: 3600, rotateEverySeconds: 0, pollSeconds: 0 }, silentLogger),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    for (const close of closers) await close();
    for (const keySet of keySets ?? []) keySet.close();
    await Promise.all((instances ?? []).map((store) => store.close().catch(() => {})));
    await pg?.destroy();
  });

  test("keys: instances starting together make one first key, and all sign with it; a rotation asked everywhere at once publishes one next key", async () => {
    expect(pg.psql("SELECT state, count(*) FROM signing_keys GROUP BY state")).toBe("current|1");
    const kids = new Set(keySets.map((keySet) => keySet.signer().kid));
    expect(kids.size).toBe(1);
    const next = await Promise.all(keySets.map((keySet) => keySet.rotate(operator)));
    expect(new Set(next).size).toBe(1);
    expect(pg.psql("SELECT state, count(*) FROM signing_keys GROUP BY state ORDER BY state")).toBe("current|1\nnext|1");
  });

  test("API tokens: made on one instance, verified on another; revoked on one, refused on every other within milliseconds", async () => {
    const policy = { prefix: "gth_", defaultExpiresIn: 3600, maxExpiresIn: 86_400, allowNonExpiring: false, services: [], recheckableRealms: "all" as const, unverifiableMaxAge: 3600 };
    const services = instances.map((store) => new TokenService(store, policy, silentLogger));
    closers.push(...services.map((service) => () => service.close()));
    const { secret, token } = await services[0]!.create(operator, { username: "alice", realm: "local" }, {});
    for (const service of services) expect(await service.verify(secret)).toMatchObject({ id: token.id, username: "alice" });
    const revokedAt = performance.now();
    await services[1]!.revoke(operator, token.id);
    const reached: number[] = [];
    for (const service of services) {
      while ((await service.verify(secret)) !== null) {
        if (performance.now() - revokedAt > 5_000) throw new Error("an instance still accepts the revoked token after 5 s");
        await Bun.sleep(1);
      }
      reached.push(performance.now() - revokedAt);
    }
    console.log(`pg-services: a token revoked on one instance was refused by all ${INSTANCES} within ${Math.max(...reached).toFixed(1)} ms`);
  });

  test("sessions: one refresh token presented on two instances at once rotates once; the other is taken as reuse and ends the session", async () => {
    const alice = createUser({ username: "alice", realm: "local" });
    const services = instances.map(
      (store, index) => new SessionService(store, { accessTokenMaxAge: 900, refreshTokenMaxAge: 3600, sessionMaxAge: 86_400, unverifiableMaxAge: 3600, maxSessionsPerUser: 100 }, { keySet: keySets[index]!, iss: "t" }, async () => alice, silentLogger),
    );
    const login = await services[0]!.login(alice, { name: "local", realm: "local", describeUser: () => alice }, client, "test");
    const results = await Promise.allSettled([services[1]!.refresh(login.refresh_token, client), services[2]!.refresh(login.refresh_token, client)]);
    const fulfilled = results.filter((result) => result.status === "fulfilled");
    const rejected = results.filter((result): result is PromiseRejectedResult => result.status === "rejected");
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.reason).toBeInstanceOf(Refusal);
    expect((rejected[0]!.reason as Refusal).status).toBe(401);
    const [session] = await instances[3]!.read.listSessions({ username: "alice", realm: "local", includeInactive: true, now: Date.now() });
    expect(session!.revokedReason).toBe(REUSE_REASON);
  });

  test("sessions: logins racing past the per-user cap on every instance: the cap holds (lockUser)", async () => {
    const bob = createUser({ username: "bob", realm: "local" });
    const cap = 3;
    const services = instances.map(
      (store, index) => new SessionService(store, { accessTokenMaxAge: 900, refreshTokenMaxAge: 3600, sessionMaxAge: 86_400, unverifiableMaxAge: 3600, maxSessionsPerUser: cap }, { keySet: keySets[index]!, iss: "t" }, async () => bob, silentLogger),
    );
    const attempts = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => services[i % INSTANCES]!.login(bob, { name: "local", realm: "local", describeUser: () => bob }, client, "test")));
    expect(attempts.filter((attempt) => attempt.status === "fulfilled")).toHaveLength(cap);
    expect(await instances[0]!.read.countLiveSessions((await instances[0]!.read.listSessions({ username: "bob", realm: "local", now: Date.now() }))[0]!.userId, Date.now())).toBe(cap);
  });

  test("regulation: failures for one username counted on every instance at once are all counted; one ban, seen by every instance", async () => {
    const policy = { maxRetries: 6, addressMaxRetries: 1000, findTimeMs: 600_000, banTimeMs: 60_000 };
    const regulators = instances.map((store) => new Regulator(store, policy, silentLogger));
    await Promise.all(Array.from({ length: 6 }, (_, i) => regulators[i % INSTANCES]!.recordFailure(["mallory"], `10.0.0.${i}`)));
    expect(pg.psql("SELECT failures, banned_until IS NOT NULL FROM regulation_counters WHERE kind = 'username' AND subject = 'mallory'")).toBe("6|t");
    expect(pg.psql("SELECT count(*) FROM audit_log WHERE event = 'regulation.banned'")).toBe("1");
    // Every instance refuses the very next attempt: it waits for the ban's notification to be read, if need be.
    for (const regulator of regulators) expect((await regulator.banFor("mallory", null))?.kind).toBe("username");
  });
});
