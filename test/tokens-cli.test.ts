// `gatehouse migrate` and `gatehouse tokens …` on the host, against the store
// of a running server, which sees every change on its next request; and the
// same commands on a PostgreSQL store, where an instance's cache hears of a
// revocation made by the command line.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";
import { openPgBackend } from "../src/store/pg/backend.ts";
import type { StoreBackend } from "../src/store/backend.ts";
import { hashOpaqueToken } from "../src/tokens/format.ts";

const CONFIG = `
version: "2.0.0"
logging: { level: info, format: json }
providers:
  - { type: plain, name: local, realm: local, users: [{ username: alice, password: alice-pw, roles: [ops] }] }
jwt: { iss: cli-test, secret: cli-test-secret-0123456789abcdef }
store: { enabled: true, type: sqlite, path: ./data/gatehouse.db }
services: [{ name: ecflow, scopes: [read, write] }]
`;

let dir: string;
let server: RunningGatehouse;
const migrations = readdirSync(join(projectRoot, "migrations")).filter((name) => name.endsWith(".sql")).length;

function gatehouse(...args: string[]) {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: dir,
    env: { ...process.env, USER: "operator" },
    // A command that left a PostgreSQL pool or listener open would never exit: killed here, it fails its test.
    timeout: 60_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-tokens-cli-");
  writeFileSync(join(dir, "config.yaml"), CONFIG);
  const migrated = gatehouse("migrate", "--config", "config.yaml");
  expect(migrated.stdout).toContain(`./data/gatehouse.db: ${migrations} migration(s) applied, ${migrations} in all`);
  server = await spawnGatehouse({ config: CONFIG, cwd: dir });
}, 60_000); // two processes started: slower than the default 5 s on a busy machine
afterAll(async () => {
  await server?.stop();
});

const authenticate = (token: string) => fetch(`${server.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });

describe("gatehouse tokens", () => {
  test("migrate again: nothing to apply", () => {
    const again = gatehouse("migrate", "--config", "config.yaml");
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`0 migration(s) applied, ${migrations} in all`);
  });

  test("create prints the secret once (alone on stdout); the running server accepts it at once, with its scopes", async () => {
    const created = gatehouse("tokens", "create", "--config", "config.yaml", "--user", "alice", "--realm", "local", "--note", "batch job", "--expires-in", "1d", "--scope", "ecflow:read");
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^gth_[0-9A-Za-z]{36}$/);
    expect(created.stderr).toMatch(/created tok_[0-9A-Za-z]{12} for alice@local, expires /);
    const response = await authenticate(secret);
    expect(response.status).toBe(200);
    expect(response.headers.get("authorization")).toStartWith("Bearer ");
    const who = await fetch(`${server.url}/whoami`, { headers: { authorization: `Bearer ${secret}` } });
    expect(await who.json()).toMatchObject({ username: "alice", roles: ["ops"], scopes: { ecflow: ["read"] } });
  });

  test("list shows every token without secrets; revoke applies to the server's very next request", async () => {
    const secret = gatehouse("--config", "config.yaml", "tokens", "create", "--user", "alice", "--realm", "local", "--note", "to revoke").stdout.trim();
    expect((await authenticate(secret)).status).toBe(200);
    const listed = gatehouse("tokens", "list", "--config", "config.yaml");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain("to revoke");
    expect(listed.stdout).toContain("alice@local");
    expect(listed.stdout).not.toContain("gth_");
    const { tokens } = JSON.parse(gatehouse("tokens", "list", "--config", "config.yaml", "--user", "alice", "--json").stdout);
    const id = tokens.find((token: { note: string }) => token.note === "to revoke").id;

    const revoked = gatehouse("tokens", "revoke", id, "--config", "config.yaml");
    expect(revoked.code).toBe(0);
    expect(revoked.stdout.trim()).toBe(`revoked ${id} (alice@local)`);
    expect((await authenticate(secret)).status).toBe(401);

    const database = new Database(join(dir, "data/gatehouse.db"), { readonly: true });
    try {
      expect(database.query("SELECT event, actor_username, actor_realm, address FROM audit_log WHERE token_id = ? ORDER BY id").all(id)).toEqual([
        { event: "token.created", actor_username: "cli:operator", actor_realm: null, address: "cli" },
        { event: "token.revoked", actor_username: "cli:operator", actor_realm: null, address: "cli" },
      ]);
    } finally {
      database.close();
    }
  });

  test("users end: a compromised account's sessions and tokens end in one command, at the server's next request", async () => {
    const secrets = [1, 2].map(() => gatehouse("--config", "config.yaml", "tokens", "create", "--user", "alice", "--realm", "local").stdout.trim());
    const login = await fetch(`${server.url}/api/v1/auth/provider/local/token`, { method: "POST", body: new URLSearchParams({ username: "alice", password: "alice-pw" }) });
    const { access_token } = (await login.json()) as { access_token: string };
    for (const secret of [...secrets, access_token]) expect((await authenticate(secret)).status).toBe(200);
    const ended = gatehouse("users", "end", "--user", "alice", "--realm", "local", "--config", "config.yaml");
    expect(ended.code).toBe(0);
    expect(ended.stdout).toMatch(/^alice@local: 1 session\(s\) ended, \d+ API token\(s\) revoked\n$/);
    // The log line says how many tokens, not "[redacted]" (issue 26 § 3).
    expect(ended.stderr).toMatch(/"tokens":\d+/);
    for (const secret of [...secrets, access_token]) expect((await authenticate(secret)).status).toBe(401);
    expect(gatehouse("users", "end", "--user", "alice", "--config", "config.yaml").code).toBe(2);
  });

  test("clear refusals: unknown scope, missing options, an unknown owner is warned about", () => {
    const unknownScope = gatehouse("tokens", "create", "--config", "config.yaml", "--user", "alice", "--realm", "local", "--scope", "ecflow:admin");
    expect(unknownScope.code).toBe(1);
    expect(unknownScope.stderr).toContain('Unknown scope "admin" for service "ecflow"; valid services and scopes: ecflow: read, write');
    const missing = gatehouse("tokens", "create", "--config", "config.yaml", "--user", "alice");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("gatehouse tokens: create needs --user and --realm (see gatehouse tokens --help)\n");
    const badExpiry = gatehouse("tokens", "create", "--config", "config.yaml", "--user", "alice", "--realm", "local", "--expires-in", "soon");
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toContain("--expires-in soon: expected a duration with its unit, such as 3600s, 90m, 12h or 30d, or never");
    const unknownOwner = gatehouse("tokens", "create", "--config", "config.yaml", "--user", "mallory", "--realm", "local");
    expect(unknownOwner.code).toBe(0);
    expect(unknownOwner.stderr).toContain('warning: no provider of realm "local" knows user "mallory"');
    expect(gatehouse("tokens", "revoke", "tok_doesnotexist", "--config", "config.yaml").stderr).toContain("Token tok_doesnotexist not found");
  });

  test("with the store disabled, the commands say so", () => {
    writeFileSync(join(dir, "no-store.yaml"), CONFIG.replace("store: { enabled: true", "store: { enabled: false"));
    for (const args of [["tokens", "list"], ["migrate"]]) {
      const refused = gatehouse(...args, "--config", "no-store.yaml");
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("the store is disabled (store.enabled: false in no-store.yaml)");
    }
  });
});

describe.skipIf(!postgresAvailable)("gatehouse tokens and users end on a PostgreSQL store", () => {
  let pg: Postgres;
  let instance: StoreBackend;
  const config = () => ["--config", "pg.yaml"];

  beforeAll(async () => {
    pg = await startPostgres("gatehouse_tokens_cli");
    writeFileSync(join(dir, "pg.yaml"), CONFIG.replace("store: { enabled: true, type: sqlite, path: ./data/gatehouse.db }", `store: { type: postgres, url: "${pg.url}" }`));
    // An instance's store, as a server holds it: its cache is told of revocations by NOTIFY.
    instance = await openPgBackend({ url: pg.url });
  }, 120_000);
  afterAll(async () => {
    await instance?.close();
    await pg?.destroy();
  });

  /** What the instance's hot read says of a secret, polled until `until` holds. */
  async function credential(secret: string, until: (row: { revoked_at: number | null } | null) => boolean) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const row = await instance.hot.tokenCredential(hashOpaqueToken(secret));
      if (until(row) || Date.now() > deadline) return row;
      await Bun.sleep(20);
    }
  }

  test("create, list and revoke: the token is in PostgreSQL, audited as the operator; an instance's cache hears of the revocation", async () => {
    const created = gatehouse("tokens", "create", ...config(), "--user", "alice", "--realm", "local", "--note", "pg job", "--scope", "ecflow:read");
    expect(created.stderr).toMatch(/created tok_[0-9A-Za-z]{12} for alice@local, expires /);
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^gth_[0-9A-Za-z]{36}$/);
    expect(await credential(secret, (row) => row !== null)).toMatchObject({ revoked_at: null, scopes: '{"ecflow":["read"]}' });

    const listed = gatehouse("tokens", "list", ...config(), "--json");
    expect(listed.code).toBe(0);
    const [token] = JSON.parse(listed.stdout).tokens;
    expect(token).toMatchObject({ username: "alice", realm: "local", note: "pg job", scopes: { ecflow: ["read"] }, status: "active" });
    expect(gatehouse("tokens", "list", ...config()).stdout).toContain("pg job");

    const revoked = gatehouse("tokens", "revoke", token.id, ...config());
    expect(revoked.stdout.trim()).toBe(`revoked ${token.id} (alice@local)`);
    expect(revoked.code).toBe(0);
    expect((await credential(secret, (row) => row?.revoked_at !== null))!.revoked_at).not.toBeNull();
    expect(JSON.parse(gatehouse("tokens", "list", ...config(), "--json").stdout).tokens).toEqual([]);
    expect(JSON.parse(gatehouse("tokens", "list", ...config(), "--json", "--include-revoked").stdout).tokens[0]).toMatchObject({ id: token.id, status: "revoked" });
    expect(pg.psql(`SELECT event || ' ' || actor_username || ' ' || address FROM audit_log WHERE token_id = '${token.id}' ORDER BY id`)).toBe(
      "token.created cli:operator cli\ntoken.revoked cli:operator cli",
    );
    expect(gatehouse("tokens", "revoke", "tok_doesnotexist", ...config()).stderr).toContain("Token tok_doesnotexist not found");
  }, 120_000);

  test("users end: the user's sessions end and their tokens are revoked, in PostgreSQL", async () => {
    const secrets = [1, 2].map(() => gatehouse("tokens", "create", ...config(), "--user", "alice", "--realm", "local").stdout.trim());
    const live = pg.psql("SELECT count(*) FROM tokens WHERE revoked_at IS NULL");
    const now = Date.now();
    await instance.transaction(async (q) => {
      const userId = await q.upsertUser("alice", "local", now);
      for (const id of ["ses_pg_1", "ses_pg_2"]) {
        await q.insertSession({ id, userId, provider: "local", createdAt: now, expiresAt: now + 3_600_000, refreshExpiresAt: now + 3_600_000, address: null, reportedAddress: null, userAgent: null });
      }
    });
    const ended = gatehouse("users", "end", "--user", "alice", "--realm", "local", ...config());
    expect(ended.stdout).toBe(`alice@local: 2 session(s) ended, ${live} API token(s) revoked\n`);
    expect(ended.code).toBe(0);
    expect(pg.psql("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")).toBe("0");
    expect(pg.psql("SELECT count(*) FROM tokens WHERE revoked_at IS NULL")).toBe("0");
    for (const secret of secrets) expect((await credential(secret, (row) => row?.revoked_at !== null))!.revoked_at).not.toBeNull();
    expect(await instance.hot.sessionOwner("ses_pg_1", Date.now())).toBeNull();
  }, 120_000);
});
