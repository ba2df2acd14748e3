// Issue 26 § 2: the store commands never guess silently. Without a config they
// refuse (only `serve` makes the development default); with one, they say on
// stderr which config and which store they use; durations take units;
// revoking twice says so, a secret revokes as an id does; ending nobody exits 1;
// keys say when servers see a change and ask before ending live tokens.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashPassword } from "../src/identity/passwords.ts";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { runGatehouse } from "./helpers/cli.ts";

const CONFIG = `
providers:
  - { type: plain, name: local, realm: local, users: [{ username: alice, password_hash: "${await hashPassword("alice-pw")}" }] }
jwt: { iss: cli-store-test, alg: ES256 }
keys: { publish_ahead: 0, poll_interval: 7 }
store: { type: sqlite, path: ./data/gatehouse.db }
`;

describe("without a config", () => {
  test("every store command refuses in one line, exit 2, and makes nothing", () => {
    const empty = temporaryDirectory("gatehouse-empty-");
    for (const args of [["tokens", "list"], ["tokens", "create", "--user", "a", "--realm", "b"], ["keys", "list"], ["users", "end", "--user", "a", "--realm", "b"], ["audit"], ["migrate"], ["store", "backup", "x.db"]]) {
      const run = runGatehouse(args, { cwd: empty });
      const name = args[0] === "store" ? "store backup" : args[0];
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: "" });
      expect(run.stderr).toBe(
        `gatehouse ${name}: no config: give --config FILE (or set GATEHOUSE_CONFIG, or put a config.yaml in this folder); ` +
          "without one only `gatehouse serve` runs, on a development default it makes in ./data\n",
      );
    }
    expect(readdirSync(empty)).toEqual([]);
  }, 120_000);

  test("once serve made the development default here, the commands use it and say so", async () => {
    const dir = temporaryDirectory("gatehouse-development-");
    const server = await spawnGatehouse({ cwd: dir, env: { GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "" } });
    await server.stop();
    const listed = runGatehouse(["tokens", "list"], { cwd: dir });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe("no tokens\n");
    expect(listed.stderr).toBe(`tokens: config the development default (no config file; made by gatehouse serve in ${join(dir, "data")}); store SQLite ${join(dir, "data/gatehouse.db")}\n`);
  }, 60_000);
});

describe("with a config", () => {
  let dir: string;
  let server: RunningGatehouse;
  const cli = (...args: string[]) => runGatehouse([...args, "--config", "config.yaml"], { cwd: dir });

  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-store-commands-");
    writeFileSync(join(dir, "config.yaml"), CONFIG);
    server = await spawnGatehouse({ config: CONFIG, cwd: dir });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  test("says which config and which store it used, on stderr; through $GATEHOUSE_CONFIG too", () => {
    const listed = cli("tokens", "list");
    expect(listed.code).toBe(0);
    expect(listed.stderr).toBe(`tokens: config ${join(dir, "config.yaml")} (--config); store SQLite ${join(dir, "data/gatehouse.db")}\n`);
    const fromEnvironment = runGatehouse(["audit"], { cwd: temporaryDirectory(), env: { GATEHOUSE_CONFIG: join(dir, "config.yaml") } });
    expect(fromEnvironment.stderr).toStartWith(`audit: config ${join(dir, "config.yaml")} ($GATEHOUSE_CONFIG); store SQLite `);
    expect(fromEnvironment.stderr).toContain("(does not exist yet: made now)"); // ./data relative to that folder: a new store, said
  });

  test("durations take units; a bare number is refused with the hint", () => {
    const bare = cli("tokens", "create", "--user", "alice", "--realm", "local", "--expires-in", "30");
    expect(bare.code).toBe(2);
    expect(bare.stderr).toBe("gatehouse tokens: --expires-in 30: give a unit: 30s, 30m, 30h or 30d (see gatehouse tokens --help)\n");
    const created = cli("tokens", "create", "--user", "alice", "--realm", "local", "--expires-in", "12h");
    expect(created.code).toBe(0);
    const expires = Date.parse(created.stderr.match(/expires (\S+);/)![1]!);
    expect(Math.abs(expires - (Date.now() + 12 * 3600_000))).toBeLessThan(60_000);
    expect(cli("tokens", "list", "--expiring", "7").stderr).toContain("--expiring 7: give a unit: 7s, 7m, 7h or 7d");
    const id = created.stderr.match(/created (tok_\S+)/)![1]!;
    expect(cli("tokens", "rotate", id, "--grace", "300").stderr).toContain("--grace 300: give a unit");
  });

  test("revoke takes an id or the secret; a second revocation says already revoked", () => {
    const byId = cli("tokens", "create", "--user", "alice", "--realm", "local");
    const id = byId.stderr.match(/created (tok_\S+)/)![1]!;
    expect(cli("tokens", "revoke", id).stdout).toBe(`revoked ${id} (alice@local)\n`);
    const again = cli("tokens", "revoke", id);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`^tokens revoke: Token ${id} was already revoked \\(\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)$`, "m"));

    const bySecret = cli("tokens", "create", "--user", "alice", "--realm", "local");
    const secret = bySecret.stdout.trim();
    const secretId = bySecret.stderr.match(/created (tok_\S+)/)![1]!;
    const revoked = cli("tokens", "revoke", secret);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe(`revoked ${secretId} (alice@local)\n`);
    expect(revoked.stdout + revoked.stderr).not.toContain(secret);
    expect(cli("tokens", "revoke", secret).stderr).toContain(`Token ${secretId} was already revoked`);
  });

  test("users end of nobody exits 1 and says so", () => {
    const ghost = cli("users", "end", "--user", "ghost", "--realm", "local");
    expect(ghost.code).toBe(1);
    expect(ghost.stderr).toContain("users end: nobody found: ghost@local has no live session and no live API token in this store; nothing was ended");
    cli("tokens", "create", "--user", "alice", "--realm", "local");
    const alice = cli("users", "end", "--user", "alice", "--realm", "local");
    expect(alice.code).toBe(0);
    expect(alice.stdout).toMatch(/^alice@local: 0 session\(s\) ended, [1-9]\d* API token\(s\) revoked\n$/);
  });

  test("keys rotate says when running servers load the key; retire of a key live tokens need asks for --yes, saying what it ends", async () => {
    const first = cli("keys", "list").stdout.split(/\s+/)[0]!;
    // A JWT signed by the first key, still live.
    const signed = await fetch(`${server.url}/authenticate`, { headers: { authorization: `Basic ${btoa("alice:alice-pw")}` } });
    expect(signed.status).toBe(200);
    const rotated = cli("keys", "rotate");
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain("running servers load it at their next poll, within keys.poll_interval (7 s)");
    const asked = cli("keys", "retire", first);
    expect(asked.code).toBe(1);
    expect(asked.stderr).toContain(`keys retire: ${first} still verifies live tokens: the access tokens of 0 live session(s); and the JWTs /authenticate signed with it until `);
    expect(asked.stderr).toContain("give --yes to retire it anyway");
    expect(cli("keys", "list").stdout).toContain(`${first}  ES256  previous`);
    const retired = cli("keys", "retire", first, "--yes");
    expect(retired.code).toBe(0);
    expect(retired.stdout).toContain(`retired ${first}: tokens it signed no longer verify; running servers load it at their next poll`);
    expect(existsSync(join(dir, "data/gatehouse.db"))).toBe(true);
  });
});
