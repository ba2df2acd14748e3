// Issue 26 § 2: what the commands say. healthcheck names what it asked and
// the answer; the client names a certificate's names when they miss the host;
// long work shows progress on a terminal only; `store backup` copies a running
// SQLite store consistently and never overwrites.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashPassword } from "../src/identity/passwords.ts";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { runGatehouse } from "./helpers/cli.ts";
import { postgresAvailable, startPostgres } from "./helpers/postgres.ts";

const ALICE = `Basic ${btoa("alice:alice-pw")}`;
const CONFIG = `
providers:
  - { type: plain, name: local, realm: local, users: [{ username: alice, password_hash: "${await hashPassword("alice-pw")}" }] }
jwt: { iss: cli-output-test, secret: cli-output-test-secret-0123456789abcdef }
store: { type: sqlite, path: ./data/gatehouse.db }
`;

/** The command under a pseudo-terminal (util-linux's script), as an operator at a terminal runs it. */
function atTerminal(args: string[], cwd: string): { code: number | null; output: string } {
  const command = [process.execPath, "run", join(projectRoot, "src/main.ts"), ...args].map((word) => `'${word.replace(/'/g, "'\\''")}'`).join(" ");
  const run = Bun.spawnSync(["script", "-qefc", command, "/dev/null"], { cwd, env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", USER: "operator" }, timeout: 120_000 });
  return { code: run.exitCode, output: run.stdout.toString() };
}

describe("with a running server", () => {
  let dir: string;
  let server: RunningGatehouse;

  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-cli-output-");
    writeFileSync(join(dir, "config.yaml"), CONFIG);
    server = await spawnGatehouse({ config: CONFIG, cwd: dir });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  test("store backup: a consistent copy while the server writes; 0600; never over an existing file", async () => {
    // The server writes tokens all along (each a transaction of several rows).
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const created = await fetch(`${server.url}/api/v1/tokens`, { method: "POST", headers: { authorization: ALICE, "content-type": "application/json" }, body: "{}" });
        expect(created.status).toBe(201);
        written++;
      }
    })();
    await Bun.sleep(300);
    const backup = Bun.spawn([process.execPath, "run", join(projectRoot, "src/main.ts"), "store", "backup", "backup.db", "--config", "config.yaml"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const [code, stdout, stderr] = await Promise.all([backup.exited, new Response(backup.stdout).text(), new Response(backup.stderr).text()]);
    writing = false;
    await writer;
    expect({ code, stderr }).toEqual({ code: 0, stderr: `store backup: config ${join(dir, "config.yaml")} (--config); store SQLite ${join(dir, "data/gatehouse.db")}\n` });
    expect(stdout).toContain(`backed up ${join(dir, "data/gatehouse.db")} to ${join(dir, "backup.db")}`);
    expect(statSync(join(dir, "backup.db")).mode & 0o777).toBe(0o600);
    const copy = new Database(join(dir, "backup.db"), { readonly: true });
    try {
      expect((copy.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check).toBe("ok");
      const tokens = (copy.query("SELECT count(*) AS n FROM tokens").get() as { n: number }).n;
      // Consistent: every token in the copy has its audit event (written in the same transaction).
      const audited = (copy.query("SELECT count(*) AS n FROM audit_log WHERE event = 'token.created'").get() as { n: number }).n;
      expect(tokens).toBeGreaterThan(0);
      expect(audited).toBe(tokens);
      expect(tokens).toBeLessThanOrEqual(written);
    } finally {
      copy.close();
    }
    const again = runGatehouse(["store", "backup", "backup.db", "--config", "config.yaml"], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`store backup: ${join(dir, "backup.db")} already exists; a backup never overwrites a file (give a new name)\n`);
  }, 60_000);

  test("store backup of a PostgreSQL store points at pg_dump", () => {
    const pg = temporaryDirectory();
    writeFileSync(join(pg, "pg.yaml"), CONFIG.replace("store: { type: sqlite, path: ./data/gatehouse.db }", "store: { type: postgres, url: 'postgres://u:secret@127.0.0.1:1/db' }"));
    const refused = runGatehouse(["store", "backup", "x.db", "--config", "pg.yaml"], { cwd: pg });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("gatehouse store: backup copies a SQLite store; this store is PostgreSQL: use pg_dump (docs/operations.md#backups)");
    expect(refused.stderr).not.toContain("secret");
    expect(existsSync(join(pg, "x.db"))).toBe(false);
  });

  test("healthcheck prints what it asked and the answer, on success and on failure", async () => {
    const env = { GATEHOUSE_BIND_ADDRESS: `127.0.0.1:${server.port}` };
    const healthy = runGatehouse(["healthcheck", "--config", "config.yaml"], { cwd: dir, env });
    expect(healthy).toEqual({ code: 0, stdout: `healthcheck: GET http://127.0.0.1:${server.port}/health: 200 OK: healthy\n`, stderr: "" });
    const nobody = runGatehouse(["healthcheck", "--config", "config.yaml"], { cwd: dir, env: { GATEHOUSE_BIND_ADDRESS: "127.0.0.1:1" } });
    expect(nobody.code).toBe(1);
    expect(nobody.stdout).toBe("");
    expect(nobody.stderr).toMatch(/^healthcheck: GET http:\/\/127\.0\.0\.1:1\/health: no answer \(.+\): unhealthy\n$/);
  });

  test("tokens import shows its progress at a terminal, and nothing of it in a pipe", () => {
    const owners = [{ user_id: "u1", user: { realm: "local", username: "alice", roles: [] } }];
    const documents = Array.from({ length: 40 }, (_, index) => ({ _id: `t${index}`, user_id: "u1", token: { token_string: crypto.randomUUID(), scopes: null } }));
    writeFileSync(join(dir, "users.json"), owners.map((each) => JSON.stringify(each)).join("\n"));
    writeFileSync(join(dir, "tokens.json"), documents.slice(0, 20).map((each) => JSON.stringify(each)).join("\n"));
    const piped = runGatehouse(["tokens", "import", "tokens.json", "--users", "users.json", "--config", "config.yaml"], { cwd: dir });
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain("importing");
    expect(piped.stderr).not.toContain("\r");
    writeFileSync(join(dir, "more.json"), documents.slice(20).map((each) => JSON.stringify(each)).join("\n"));
    const shown = atTerminal(["tokens", "import", "more.json", "--users", "users.json", "--config", "config.yaml"], dir);
    expect(shown.code).toBe(0);
    expect(shown.output).toContain("tokens import: importing 20/20");
    expect(shown.output).toContain("20 imported");
  }, 60_000);

  test.skipIf(!postgresAvailable)("store copy shows its progress at a terminal, table by table", async () => {
    const pg = await startPostgres("gatehouse_progress");
    try {
      const shown = atTerminal(["store", "copy", "--from", join(dir, "data/gatehouse.db"), "--to", pg.url], dir);
      expect(shown.code).toBe(0);
      expect(shown.output).toMatch(/store copy: audit_log: \d+ rows \(\d+ s\)/);
      expect(shown.output).toContain("the target's count matches the source's in every table");
    } finally {
      await pg.destroy();
    }
  }, 120_000);
});

describe("client and TLS", () => {
  test("a --ca that does not vouch for the host name: the certificate's names are said", async () => {
    const home = temporaryDirectory("gatehouse-client-names-");
    const ssl = join(home, "ssl");
    const made = runGatehouse(["tls", "self-signed", "--host", "gatehouse.test", "--out", ssl], { cwd: home });
    expect(made.code).toBe(0);
    const server = await spawnGatehouse({ config: `${CONFIG}tls: { dir: ${ssl} }\n`, cwd: home });
    try {
      writeFileSync(join(home, ".ecflowapirc"), JSON.stringify({ version: 1, tokens: [{ server: ".*", type: "basic", api: { username: "alice", password: "alice-pw" } }] }), { mode: 0o600 });
      const refused = runGatehouse(["client", "--server", server.url, "--ca", join(ssl, "server.crt"), "whoami"], { cwd: home, env: { HOME: home } });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`client: GET ${server.url}/whoami: the server's certificate does not name 127.0.0.1: its names are DNS:gatehouse.test;`);
      expect(refused.stderr).not.toContain("give --ca");
    } finally {
      await server.stop();
    }
  }, 60_000);

  // Each openssl step (dhparam: seconds to a minute) shows the time spent; the key's step stands in for
  // dhparam here, which would take this test a minute on a busy machine.
  test("tls self-signed shows each openssl step's progress at a terminal only", () => {
    const dir = temporaryDirectory("gatehouse-dh-");
    const shown = atTerminal(["tls", "self-signed", "--host", "127.0.0.1", "--out", join(dir, "a")], dir);
    expect(shown.code).toBe(0);
    expect(shown.output).toContain("tls self-signed: openssl req: working (0 s)");
    const piped = runGatehouse(["tls", "self-signed", "--host", "127.0.0.1", "--out", join(dir, "b")], { cwd: dir });
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe("");
  }, 60_000);
});
