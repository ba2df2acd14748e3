// The plain provider as auth-o-tron 0.4.0 configures it: password_hash
// (argon2id PHC) or the deprecated clear-text password, a dummy verification
// for unknown usernames, and at most two argon2 verifications at a time.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { plainProvider, dummyHashLike } from "../src/providers/plain.ts";
import { argon2Load, MAX_CONCURRENT_VERIFICATIONS } from "../src/identity/argon2-limit.ts";
import { buildConfig } from "../src/config/load.ts";
import { silentLogger } from "../src/log.ts";
import type { Provider } from "../src/providers/provider.ts";
import { basic, startApp, type TestApp } from "./helpers/app.ts";

// auth-o-tron's own documentation example (docs/src/configuration/providers.md): hashes of alicepass123 and bobpass456.
const ALICE_HASH = "$argon2id$v=19$m=19456,t=2,p=1$YXV0aG90cm9uLWRvYy0wNQ$bnM0TZfPrwI0Eb2pfBCK39sjwVCHBBUZYykFUnbwWfw";
const BOB_HASH = "$argon2id$v=19$m=19456,t=2,p=1$YXV0aG90cm9uLWRvYy0wNg$yVm3rzolxmoIYoxZyU/TR7q/PYcU73TsTxUdmXxyIRA";

const upstreamExample = () => ({
  version: "2.0.0",
  providers: [
    {
      type: "plain",
      name: "local_users",
      realm: "internal",
      users: [
        { username: "alice", password_hash: ALICE_HASH, roles: ["admin", "developer"] },
        { username: "bob", password_hash: BOB_HASH, roles: ["developer"] },
        { username: "carol", password: "carolpass789" },
      ],
    },
  ],
  store: { enabled: false },
  jwt: { iss: "auth-o-tron.example.com", aud: "my-application", exp: 3600, secret: "a-secret-long-enough-for-hs256-signing" },
  include_legacy_headers: true,
});

function provider(): Provider {
  const { config } = buildConfig(upstreamExample(), "test", {});
  return plainProvider.create(config.providers[0] as never, { logger: silentLogger });
}
const credential = (username: string, password: string) => ({ scheme: "basic" as const, username, password });
const signal = () => new AbortController().signal;

describe("plain users as auth-o-tron 0.4.0 writes them", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(upstreamExample());
  });
  afterAll(() => app.stop());
  const authenticate = (authorization: string) => fetch(`${app.url}/authenticate`, { headers: { authorization } });

  test("password_hash users from upstream's documentation authenticate with their passwords, and only them", async () => {
    const alice = await authenticate(basic("alice", "alicepass123"));
    expect(alice.status).toBe(200);
    expect(alice.headers.get("x-auth-roles")).toBe("admin,developer");
    expect((await authenticate(basic("bob", "bobpass456"))).status).toBe(200);
    expect((await authenticate(basic("alice", "bobpass456"))).status).toBe(401);
    expect((await authenticate(basic("nobody", "alicepass123"))).status).toBe(401);
  });

  test("a clear-text password still works, with a deprecation warning at start-up", async () => {
    expect((await authenticate(basic("carol", "carolpass789"))).status).toBe(200);
    expect((await authenticate(basic("carol", "wrong"))).status).toBe(401);
    const warning = app.logs.map((line) => JSON.parse(line)).find((line) => line.body === "providers.plain.password_deprecated");
    expect(warning).toMatchObject({ severityText: "WARN", attributes: { provider: "local_users", users: "carol" } });
    expect(app.logs.join("\n")).not.toContain("carolpass789");
  });
});

describe("timing does not reveal usernames", () => {
  // Lower bounds only: a busy machine makes argon2 slower, never faster.
  const timed = async (run: () => unknown) => {
    const started = performance.now();
    await run();
    return performance.now() - started;
  };

  test("an unknown username and a clear-text user cost an argon2id verification, like a hashed user's wrong password", async () => {
    const plain = provider();
    const wrongPassword = await timed(() => plain.authenticate(credential("alice", "guess"), signal(), {} as never));
    const unknownUser = await timed(() => plain.authenticate(credential("mallory", "guess"), signal(), {} as never));
    const clearTextUser = await timed(() => plain.authenticate(credential("carol", "guess"), signal(), {} as never));
    // m=19 MiB, t=2 takes tens of milliseconds; a bare digest comparison takes microseconds.
    for (const elapsed of [wrongPassword, unknownUser, clearTextUser]) expect(elapsed).toBeGreaterThan(5);
  });

  test("the dummy hash has the configured hashes' parameters and a fresh random salt and digest", async () => {
    const dummy = dummyHashLike("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA");
    expect(dummy).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(dummyHashLike(undefined)).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(dummyHashLike(undefined)).not.toBe(dummyHashLike(undefined));
  });
});

describe("argon2 verifications are bounded", () => {
  test(`at most ${MAX_CONCURRENT_VERIFICATIONS} run at once; the others wait their turn and all get their answer`, async () => {
    const plain = provider();
    let highest = 0;
    let queued = 0;
    const watcher = setInterval(() => {
      const load = argon2Load();
      highest = Math.max(highest, load.running);
      queued = Math.max(queued, load.waiting);
    }, 1);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        plain.authenticate(credential(index % 2 ? "alice" : "bob", index % 2 ? "alicepass123" : "wrong"), signal(), {} as never),
      ),
    );
    clearInterval(watcher);
    expect(highest).toBeLessThanOrEqual(MAX_CONCURRENT_VERIFICATIONS);
    expect(highest).toBeGreaterThan(0);
    expect(queued).toBeGreaterThan(0);
    expect(results.map((user) => user?.username ?? null)).toEqual(Array.from({ length: 8 }, (_, index) => (index % 2 ? "alice" : null)));
    expect(argon2Load()).toEqual({ running: 0, waiting: 0 });
  });

  test("a check still waiting when its request's signal aborts gives up at once", async () => {
    const plain = provider();
    const busy = Array.from({ length: MAX_CONCURRENT_VERIFICATIONS }, () =>
      plain.authenticate(credential("alice", "wrong-busy"), signal(), {} as never),
    );
    const controller = new AbortController();
    const waiting = Promise.resolve(plain.authenticate(credential("bob", "wrong-waiting"), controller.signal, {} as never));
    expect(argon2Load().waiting).toBe(1);
    controller.abort(new Error("timed out"));
    await expect(waiting).rejects.toThrow("timed out");
    expect(argon2Load().waiting).toBe(0);
    await Promise.all(busy);
  });
});
