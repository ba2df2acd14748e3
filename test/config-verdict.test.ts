// Issue 26 § 1: `config check` and `serve` give one verdict. The check runs what
// serve checks at start-up (TLS files and pass phrase, the master key, the
// password hashes, the store with --connect); an error is what serve refuses
// to start with, a warning what it runs with and logs in the same words.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { postgresAvailable, startPostgres } from "./helpers/postgres.ts";

const opensslAvailable = Bun.which("openssl") !== null;
const storeIsPostgres = process.env.GATEHOUSE_TEST_STORE === "postgres";
const seed = join(import.meta.dir, "fixtures/seed-config.yaml");

function gatehouse(dir: string, args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: dir,
    env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", GATEHOUSE_MASTER_KEY: "", ...env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

const running: RunningGatehouse[] = [];
afterAll(async () => {
  await Promise.all(running.map((server) => server.stop()));
});

/** serve's start-up log, or its refusal (exit code and output) for a config that does not start. */
async function serve(config: string, options: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ started: boolean; text: string }> {
  try {
    const server = await spawnGatehouse({ config, cwd: options.cwd, env: { GATEHOUSE_MASTER_KEY: "", ...options.env } });
    running.push(server);
    await Bun.sleep(100);
    return { started: true, text: server.logs.join("\n") };
  } catch (error) {
    return { started: false, text: (error as Error).message };
  }
}

/** Writes `config` to DIR/config.yaml (returned) and expects both `config check` and `serve` to refuse it, saying `message`. */
async function refusedByBoth(dir: string, config: string, message: string): Promise<string> {
  const path = join(dir, "config.yaml");
  writeFileSync(path, config);
  const check = gatehouse(dir, ["config", "check", path]);
  expect(check.code).toBe(1);
  expect(check.stderr).toContain(message);
  const served = await serve(config, { cwd: dir });
  expect(served.started).toBe(false);
  expect(served.text).toContain(message);
  return path;
}

const PLAIN = (user: string) => `version: "2.0.0"
logging: {level: info, format: json}
providers:
  - {type: plain, name: local, realm: local, users: [${user}]}
jwt: {iss: verdict-test, secret: a-shared-secret-of-more-than-32-bytes}
`;

describe("warnings: serve runs the config, and the check passes it saying the same", () => {
  test("the seed's auth-o-tron config (a short HS256 secret): a warning on both, not a refusal by the check", async () => {
    const dir = temporaryDirectory();
    const check = gatehouse(dir, ["config", "check", seed]);
    expect(check.code).toBe(0);
    expect(check.stderr).toBe("");
    const warning = "jwt.secret: shorter than 32 bytes, easy to guess offline from any JWT";
    expect(check.stdout).toContain(`warning: ${warning}`);
    const served = await serve(readFileSync(seed, "utf8"));
    expect(served.started).toBe(true);
    expect(served.text).toContain(warning);
  });
});

describe("errors: serve refuses to start, and so does the check", () => {
  test("a placeholder password_hash (the README's, copied as it stands) matches no password: refused by both", async () => {
    const dir = temporaryDirectory();
    const config = PLAIN('{username: alice, password_hash: "$argon2id$v=19$m=19456,p=1,t=2$…"}');
    const path = await refusedByBoth(dir, config, "providers[0].users[0].password_hash: not a whole argon2 hash");
    // A hash in `password` (which Gatehouse also takes) is read the same way; a whole one passes.
    writeFileSync(path, PLAIN('{username: alice, password: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}'));
    expect(gatehouse(dir, ["config", "check", path]).stderr).toContain("providers[0].users[0].password: not a whole argon2 hash");
    writeFileSync(path, PLAIN('{username: alice, password_hash: "$argon2id$v=19$m=19456,t=2,p=1$YXV0aG90cm9uLWRvYy0wNQ$bnM0TZfPrwI0Eb2pfBCK39sjwVCHBBUZYykFUnbwWfw"}'));
    expect(gatehouse(dir, ["config", "check", path]).code).toBe(0);
  });

  test.skipIf(!opensslAvailable)("a TLS key with a wrong pass phrase: refused by the check as by serve, naming the file", async () => {
    const dir = temporaryDirectory();
    const made = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "2", "-passout", "pass:right-phrase", "-keyout", join(dir, "server.key"),
        "-out", join(dir, "server.crt"), "-subj", "/CN=localhost"],
      { stdout: "pipe", stderr: "pipe" },
    );
    expect(made.exitCode).toBe(0);
    writeFileSync(join(dir, "wrong.passwd"), "wrong-phrase\n");
    const config = `${PLAIN("{username: alice, password: pw}")}store: {enabled: false}\ntls: {cert: ${dir}/server.crt, key: ${dir}/server.key, passphrase_file: ${dir}/wrong.passwd}\n`;
    const message = `tls.key: cannot decrypt ${dir}/server.key with the pass phrase in ${dir}/wrong.passwd: wrong pass phrase`;
    const path = await refusedByBoth(dir, config, message);
    writeFileSync(join(dir, "wrong.passwd"), "right-phrase\n");
    expect(gatehouse(dir, ["config", "check", path]).code).toBe(0);
  });

  test.skipIf(storeIsPostgres)("a master key file too short to use: refused by the check as by serve", async () => {
    const dir = temporaryDirectory();
    writeFileSync(join(dir, "master.key"), "short\n", { mode: 0o600 });
    const config = `${PLAIN("{username: alice, password: pw}")}store: {path: ${dir}/data/gatehouse.db}\nkeys: {master_key_file: ${dir}/master.key}\n`;
    await refusedByBoth(dir, config, `the master key from ${dir}/master.key is shorter than 16 characters`);
  });
});

describe("config check --connect: the store", () => {
  test("a PostgreSQL server that does not answer is an error, its password never shown; without --connect the file alone is checked", () => {
    const dir = temporaryDirectory();
    const path = join(dir, "config.yaml");
    writeFileSync(path, `${PLAIN("{username: alice, password: pw}")}store: {type: postgres, url: "postgres://gatehouse:hunter2-secret@127.0.0.1:1/gatehouse"}\n`);
    const env = { GATEHOUSE_MASTER_KEY: "a-master-key-for-the-test" };
    expect(gatehouse(dir, ["config", "check", path], env).code).toBe(0);
    const connect = gatehouse(dir, ["config", "check", "--connect", path], env);
    expect(connect.code).toBe(1);
    expect(connect.stderr).toContain("store: cannot reach postgres://gatehouse:");
    expect(connect.stdout + connect.stderr).not.toContain("hunter2-secret");
  });

  test.skipIf(storeIsPostgres)("a SQLite store: not made yet, then answering; its signing keys opened with the master key, refused with another", async () => {
    const dir = temporaryDirectory();
    const config = `${PLAIN("{username: alice, password: pw}").replace(/jwt: .*\n/, "jwt: {iss: verdict-test}\n")}store: {path: ${dir}/data/gatehouse.db}\n`;
    const path = join(dir, "config.yaml");
    writeFileSync(path, config);
    const before = gatehouse(dir, ["config", "check", "--connect", path]);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain(`store: ${dir}/data/gatehouse.db does not exist yet; serve creates it`);
    // A first start makes the store, the master key next to it and a signing key sealed with it.
    const first = await serve(config, { cwd: dir });
    expect(first.started).toBe(true);
    await running.pop()!.stop();
    const after = gatehouse(dir, ["config", "check", "--connect", path]);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain(`store: ${dir}/data/gatehouse.db answers`);
    const other = { GATEHOUSE_MASTER_KEY: "another-master-key-than-the-first" };
    const wrongKey = gatehouse(dir, ["config", "check", "--connect", path], other);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain("cannot decrypt the private key; is this the master key it was encrypted with?");
    const served = await serve(config, { cwd: dir, env: other });
    expect(served.started).toBe(false);
    expect(served.text).toContain("cannot decrypt the private key; is this the master key it was encrypted with?");
  });

  test.skipIf(!postgresAvailable)("a PostgreSQL store: managed keys with no master key given are refused by both; with one, --connect finds it answering", async () => {
    const pg = await startPostgres("gatehouse_verdict");
    try {
      const dir = temporaryDirectory();
      const config = `${PLAIN("{username: alice, password: pw}").replace(/jwt: .*\n/, "jwt: {iss: verdict-test}\n")}store: {type: postgres, url: "${pg.url}"}\n`;
      const path = await refusedByBoth(dir, config, "store.type postgres with managed signing keys needs the same master key on every instance");
      const connect = gatehouse(dir, ["config", "check", "--connect", path], { GATEHOUSE_MASTER_KEY: "a-master-key-for-the-test" });
      expect(connect.code).toBe(0);
      expect(connect.stdout).toContain(`store: ${pg.url} answers`);
    } finally {
      await pg.destroy();
    }
  }, 60_000);
});
