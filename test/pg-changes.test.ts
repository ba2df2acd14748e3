// The PostgreSQL change listener (src/store/pg/changes.ts) and the /ready
// check over it (src/store/pg/readiness.ts), against a private PostgreSQL
// (test/helpers/postgres.ts): changes from another client reach subscribers,
// the stamp moves, an oversized or malformed change becomes a flush, losing
// the listening connection (restart, terminated backend, a peer that stops
// answering with no RST) makes the listener deaf and it listens again by
// itself. Measured figures are printed as `pg-changes:` lines.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import type { StoreChange } from "../src/store/backend.ts";
import { describeError, normaliseChange, PgChangeListener, type ListenState } from "../src/store/pg/changes.ts";
import { CHANGES_CHANNEL, encodeChange, type ChangeMessage } from "../src/store/pg/contract.ts";
import { createPgReadinessCheck } from "../src/store/pg/readiness.ts";
import { postgresAvailable, startPostgres, type Postgres, eventually, percentile, pgRelay } from "./helpers/postgres.ts";

let pg: Postgres;
let pool: SQL;
let other: SQL;
const toClose: { close(): Promise<unknown> }[] = [];

function report(line: string): void {
  console.log(`pg-changes: ${line}`);
}

interface Harness {
  listener: PgChangeListener;
  received: ChangeMessage[];
  states: { state: ListenState; at: number; reason: string }[];
  logs: string[];
}

async function startListener(options: { url?: string; instanceId?: string; applicationName?: string } = {}): Promise<Harness> {
  const received: ChangeMessage[] = [];
  const states: Harness["states"] = [];
  const logs: string[] = [];
  const listener = new PgChangeListener({
    url: options.url ?? pg.url,
    instanceId: options.instanceId ?? "instance-a",
    pool,
    applicationName: options.applicationName,
    log: {
      warn: (event, fields) => logs.push(`${event} ${JSON.stringify(fields)}`),
      info: (event, fields) => logs.push(`${event} ${JSON.stringify(fields)}`),
    },
    onState: (state, at, reason) => states.push({ state, at, reason }),
  });
  toClose.push(listener);
  listener.onChange((message) => received.push(message));
  await listener.start();
  await eventually(() => listener.listening, 5_000, "listening");
  expect(states.map((each) => each.state)).toEqual(["listening"]);
  expect(received).toEqual([{ kind: "flush", from: listener.deafSince === null ? (options.instanceId ?? "instance-a") : "" }]);
  expect(logs).toEqual([]);
  states.length = 0;
  received.length = 0;
  return { listener, received, states, logs };
}

/** Commits `change` from another client, as queries.ts does: pg_notify inside the writing transaction. */
async function commitChange(change: StoreChange, from = "instance-b"): Promise<void> {
  await other.begin(async (tx) => {
    await tx`SELECT pg_notify(${CHANGES_CHANNEL}, ${encodeChange(change, from)})`;
  });
}

describe.skipIf(!postgresAvailable)("PostgreSQL change listener (LISTEN/NOTIFY)", () => {
  beforeAll(async () => {
    pg = await startPostgres();
    pool = new SQL({ url: pg.url, max: 4 });
    other = new SQL({ url: pg.url, max: 2 });
  }, 60_000);

  afterAll(async () => {
    for (const each of toClose.reverse()) await each.close().catch(() => {});
    await Promise.all([pool?.close().catch(() => {}), other?.close().catch(() => {})]);
    await pg?.destroy();
  });

  test("a change committed by another client reaches subscribers within milliseconds and moves the stamp: median and p99 over 200", async () => {
    const { listener } = await startListener();
    let expected = "";
    let arrived: (at: number) => void = () => {};
    listener.onChange((message) => {
      if (message.kind === "token.revoked" && message.ids[0] === expected) arrived(performance.now());
    });
    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      expected = `t${i}`;
      const stamp = listener.current();
      const arrival = new Promise<number>((resolve) => (arrived = resolve));
      const sent = performance.now();
      await commitChange({ kind: "token.revoked", ids: [expected] });
      const at = await Promise.race([arrival, Bun.sleep(5_000).then(() => Number.NaN)]);
      latencies.push(at - sent);
      expect(listener.current()).toBeGreaterThan(stamp);
    }
    const sorted = latencies.toSorted((a, b) => a - b);
    report(
      `change committed on another client -> subscriber called, 200 in sequence: median ${percentile(sorted, 50).toFixed(2)} ms, ` +
        `p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms`,
    );
    expect(latencies.every(Number.isFinite)).toBe(true);
    expect(percentile(sorted, 99)).toBeLessThan(1_000); // the bound; the figures above are the point
  }, 60_000);

  test("what subscribers receive: changes as sent; an oversized or malformed change as a flush; foreign payloads and heartbeats not at all", async () => {
    const { listener, received } = await startListener();
    await commitChange({ kind: "session.revoked", ids: ["s1", "s2"] });
    await commitChange({ kind: "account.changed", userIds: [7] });
    // 2000 ids do not fit in a NOTIFY payload: encodeChange sends a flush instead.
    const many = Array.from({ length: 2_000 }, (_, i) => `token-${i.toString().padStart(8, "0")}`);
    expect(encodeChange({ kind: "token.revoked", ids: many }, "instance-b")).toBe('{"kind":"flush","from":"instance-b"}');
    await commitChange({ kind: "token.revoked", ids: many });
    // From a newer version, or broken: dropping everything is the safe reading.
    await other`SELECT pg_notify(${CHANGES_CHANNEL}, ${JSON.stringify({ kind: "token.revoked", ids: "t1", from: "x" })})`;
    await other`SELECT pg_notify(${CHANGES_CHANNEL}, ${JSON.stringify({ kind: "user.renamed", ids: [1], from: "x" })})`;
    // Another program on the channel: ignored, the stamp does not move.
    await eventually(() => received.length === 5, 5_000, "the first five");
    const beforeForeign = listener.current();
    await other`SELECT pg_notify(${CHANGES_CHANNEL}, 'hello')`;
    await other`SELECT pg_notify(${CHANGES_CHANNEL}, ${JSON.stringify({ kind: "heartbeat", from: "instance-z" })})`;
    await commitChange({ kind: "keys.changed" });
    await eventually(() => received.some((message) => message.kind === "keys.changed"), 5_000, "keys.changed");
    expect(listener.current()).toBe(beforeForeign + 1);
    expect(received.map((message) => message.kind)).toEqual(["session.revoked", "account.changed", "flush", "flush", "flush", "keys.changed"]);
    expect(received[0]).toEqual({ kind: "session.revoked", ids: ["s1", "s2"], from: "instance-b" });
    expect(received[1]).toEqual({ kind: "account.changed", userIds: [7], from: "instance-b" });
    expect(listener.counters.heartbeats).toBeGreaterThanOrEqual(1);
  });

  test("publish(): a change committed through this instance is applied at once, before its notification comes back", async () => {
    const { listener, received } = await startListener({ instanceId: "self" });
    const stamp = listener.current();
    listener.publish({ kind: "token.revoked", ids: ["mine"] });
    expect(received).toEqual([{ kind: "token.revoked", ids: ["mine"], from: "self" }]);
    expect(listener.current()).toBe(stamp + 1);
  });

  test("the heartbeat: this instance's own NOTIFY arrives every second, and moves nothing", async () => {
    const { listener } = await startListener({ instanceId: "beating" });
    const stamp = listener.current();
    const heartbeats = listener.counters.heartbeats;
    await Bun.sleep(2_500);
    expect(listener.counters.heartbeats - heartbeats).toBeGreaterThanOrEqual(2);
    expect(listener.current()).toBe(stamp);
    expect(listener.listening).toBe(true);
  });

  test("pg_terminate_backend of the listening connection: deaf at once (subscribers flushed), listening again by itself", async () => {
    const { listener, received, states, logs } = await startListener({ applicationName: "gatehouse-listen-terminated" });
    const [{ pid }] = await pool`SELECT pid FROM pg_stat_activity WHERE application_name = 'gatehouse-listen-terminated'`;
    expect(typeof pid).toBe("number");
    const stamp = listener.current();
    const killed = performance.now();
    await pool`SELECT pg_terminate_backend(${pid})`;
    await eventually(() => states.length >= 1, 5_000, "deaf");
    const deafAfter = performance.now() - killed;
    expect(states[0]!.state).toBe("deaf");
    expect(states[0]!.reason).toContain("terminating connection");
    expect(received.at(-1)?.kind).toBe("flush");
    await eventually(() => listener.listening, 10_000, "listening again");
    const backAfter = performance.now() - killed;
    expect(states.map((each) => each.state)).toEqual(["deaf", "listening"]);
    expect(received.filter((message) => message.kind === "flush")).toHaveLength(2); // lost, then restored
    expect(listener.current()).toBeGreaterThanOrEqual(stamp + 2);
    expect(logs[0]).toStartWith("store.listen.lost ");
    expect(logs[1]).toStartWith("store.listen.restored ");
    report(`listening backend terminated: deaf after ${deafAfter.toFixed(0)} ms, listening again after ${backAfter.toFixed(0)} ms`);
    // And it hears changes again.
    await commitChange({ kind: "token.revoked", ids: ["after-terminate"] });
    await eventually(() => received.some((message) => message.kind === "token.revoked" && message.ids[0] === "after-terminate"), 5_000, "a change after");
  }, 30_000);

  test("a peer that stops answering with no RST: no heartbeat for 3 s makes the listener deaf; it listens again once the path is back", async () => {
    const path = pgRelay(pg);
    try {
      const { listener, states, received } = await startListener({ url: path.url, instanceId: "behind-relay" });
      const check = createPgReadinessCheck({ pool, listener });
      await check();
      const cut = performance.now();
      path.cut = true;
      await eventually(() => !listener.listening, 10_000, "deaf for want of heartbeats");
      const detected = performance.now() - cut;
      expect(states[0]!.reason).toMatch(/^no notification for \d+ ms/);
      expect(received.at(-1)?.kind).toBe("flush");
      // Deaf, the stamp moves every millisecond: no verdict is reused for longer.
      const stamp = listener.current(1_000);
      expect(listener.current(1_000)).toBe(stamp);
      expect(listener.current(1_001)).toBe(stamp + 1);
      // The pool still answers: /ready says why it is not ready.
      await expect(check()).rejects.toThrow(/^change notifications lost \(since \d{4}-\d\d-\d\dT/);
      // recover() attempts meanwhile cannot get through either.
      await Bun.sleep(1_500);
      expect(listener.listening).toBe(false);
      const restored = performance.now();
      path.cut = false;
      await eventually(() => listener.listening, 15_000, "listening again after the path is back");
      const back = performance.now() - restored;
      await check();
      expect(listener.counters.reopened).toBeGreaterThanOrEqual(1);
      // Listening, it moves only with changes.
      const listeningStamp = listener.current(5_000);
      expect(listener.current(6_000)).toBe(listeningStamp);
      report(
        `relay stopped relaying (no RST): deaf after ${detected.toFixed(0)} ms (heartbeat every 1 s, deaf after 3 s without); ` +
          `listening again ${back.toFixed(0)} ms after the path came back (${listener.counters.reopened} client reopenings by recover())`,
      );
      await commitChange({ kind: "session.revoked", ids: ["after-relay"] });
      await eventually(() => received.some((message) => message.kind === "session.revoked" && message.ids[0] === "after-relay"), 5_000, "a change after");
    } finally {
      path.stop();
    }
  }, 40_000);

  test("/ready: fails with the reason when the database stops (no URL in it), recovers by itself when it is back", async () => {
    const { listener, states } = await startListener({ instanceId: "ready" });
    let queries = 0;
    const check = createPgReadinessCheck({
      pool,
      listener,
      url: pg.url,
      timeQuery: (_query, run) => (queries++, run()),
    });
    await check();
    await check();
    expect(queries).toBe(1); // kept for a second
    await pg.stop();
    let started = false;
    try {
      await eventually(() => !listener.listening, 5_000, "deaf on stop");
      await Bun.sleep(1_050); // the kept answer expires
      const error = await check().then(
        () => null,
        (caught: Error) => caught,
      );
      expect(error?.message).toMatch(/^the store does not answer: ERR_POSTGRES_/);
      expect(error?.message).not.toContain(String(pg.port));
      expect(error?.message).not.toContain("postgres://");
      const startedAt = performance.now();
      await pg.start();
      started = true;
      const serverBack = performance.now() - startedAt;
      // A balancer probing every 100 ms.
      let ready = false;
      while (!ready) {
        if (performance.now() - startedAt > 20_000) throw new Error("not ready 20 s after the database came back");
        ready = await check().then(
          () => true,
          () => false,
        );
        if (!ready) await Bun.sleep(100);
      }
      report(
        `database stopped then started: /ready ok again ${(performance.now() - startedAt).toFixed(0)} ms after pg_ctl start began ` +
          `(server accepting after ${serverBack.toFixed(0)} ms); ${listener.counters.reopened} reopenings by recover()`,
      );
      expect(states.map((each) => each.state)).toEqual(["deaf", "listening"]);
    } finally {
      if (!started) await pg.start();
    }
  }, 60_000);

  test("started while the database is down: start() rejects, the listener stays deaf, and listens by itself once the database is up", async () => {
    await pg.stop();
    let started = false;
    try {
      const states: ListenState[] = [];
      const listener = new PgChangeListener({ url: pg.url, instanceId: "early", pool, onState: (state) => states.push(state) });
      toClose.push(listener);
      await expect(listener.start()).rejects.toThrow();
      expect(listener.listening).toBe(false);
      expect(listener.deafSince).toBeNumber();
      const startedAt = performance.now();
      await pg.start();
      started = true;
      // Bun gives up on a first LISTEN that failed: recover() (the heartbeat tick) opens a fresh one.
      await eventually(() => listener.listening, 15_000, "listening once the database is up");
      report(`started with the database down: listening ${(performance.now() - startedAt).toFixed(0)} ms after pg_ctl start began`);
      expect(states).toEqual(["listening"]);
      expect(listener.counters.reopened).toBeGreaterThanOrEqual(1);
    } finally {
      if (!started) await pg.start();
    }
  }, 60_000);

  test("pg_ctl restart: deaf while the server is away, listening again by itself, and changes heard after", async () => {
    const { listener, states, received } = await startListener({ instanceId: "restart" });
    const began = performance.now();
    const beganAt = Date.now();
    await pg.restart();
    const serverBack = performance.now() - began;
    await eventually(() => listener.listening, 15_000, "listening after the restart");
    const listening = performance.now() - began;
    expect(states.map((each) => each.state)).toEqual(["deaf", "listening"]);
    report(
      `pg_ctl restart: deaf ${states[0]!.at - beganAt} ms after it began, ` +
        `server back after ${serverBack.toFixed(0)} ms, listening again after ${listening.toFixed(0)} ms`,
    );
    await commitChange({ kind: "token.revoked", ids: ["after-restart"] });
    await eventually(() => received.some((message) => message.kind === "token.revoked" && message.ids[0] === "after-restart"), 5_000, "a change after");
  }, 60_000);

  test("close(): no more callbacks, timers stopped, the listening connection gone", async () => {
    const { listener, received } = await startListener({ applicationName: "gatehouse-listen-closed" });
    await listener.close();
    const count = received.length;
    await commitChange({ kind: "keys.changed" });
    await Bun.sleep(200);
    expect(received.length).toBe(count);
    let left = 1;
    for (let attempt = 0; attempt < 100 && left > 0; attempt++) {
      [{ left }] = await pool`SELECT count(*)::int AS left FROM pg_stat_activity WHERE application_name = 'gatehouse-listen-closed'`;
      if (left > 0) await Bun.sleep(20);
    }
    expect(left).toBe(0);
  });
});

describe("change payloads and error texts (no server)", () => {
  test("normaliseChange: known kinds with well-formed ids pass; anything else is a flush", () => {
    const from = "x";
    expect(normaliseChange({ kind: "token.revoked", ids: ["a"], from })).toEqual({ kind: "token.revoked", ids: ["a"], from });
    expect(normaliseChange({ kind: "account.changed", userIds: [1], from })).toEqual({ kind: "account.changed", userIds: [1], from });
    expect(normaliseChange({ kind: "regulation.changed", from })).toEqual({ kind: "regulation.changed", from });
    const odd = [
      { kind: "token.revoked", ids: [1], from },
      { kind: "session.revoked", from },
      { kind: "account.changed", userIds: ["1"], from },
      { kind: "user.renamed", from },
    ];
    for (const message of odd) expect(normaliseChange(message as ChangeMessage)).toEqual({ kind: "flush", from });
  });

  test("describeError never shows the URL or its password", () => {
    const url = "postgres://gatehouse:s3cr%2Et@db.internal:5432/gatehouse";
    const error = Object.assign(new Error(`could not connect to ${url} (password s3cr.t rejected)`), { code: "ERR_POSTGRES_X" });
    const text = describeError(error, url);
    expect(text).toStartWith("ERR_POSTGRES_X: could not connect to");
    expect(text).not.toContain("s3cr");
    expect(text).not.toContain("db.internal");
    expect(describeError(new Error("see postgresql://u:p@h/d"))).toBe("see …");
  });
});
