// `gatehouse migrate` and `gatehouse tokens …` on the host, against the store
// of a running server, which sees every change on its next request.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";

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
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-tokens-cli-");
  writeFileSync(join(dir, "config.yaml"), CONFIG);
  const migrated = gatehouse("migrate", "--config", "config.yaml");
  expect(migrated.stdout).toContain(`./data/gatehouse.db: ${migrations} migration(s) applied, ${migrations} in all`);
  server = await spawnGatehouse({ config: CONFIG, cwd: dir });
});
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
    for (const secret of [...secrets, access_token]) expect((await authenticate(secret)).status).toBe(401);
    expect(gatehouse("users", "end", "--user", "alice", "--config", "config.yaml").code).toBe(2);
  });

  test("clear refusals: unknown scope, missing options, an unknown owner is warned about", () => {
    const unknownScope = gatehouse("tokens", "create", "--config", "config.yaml", "--user", "alice", "--realm", "local", "--scope", "ecflow:admin");
    expect(unknownScope.code).toBe(1);
    expect(unknownScope.stderr).toContain('Unknown scope "admin" for service "ecflow"; valid services and scopes: ecflow: read, write');
    const missing = gatehouse("tokens", "create", "--config", "config.yaml", "--user", "alice");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--user and --realm are required");
    const badExpiry = gatehouse("tokens", "create", "--config", "config.yaml", "--user", "alice", "--realm", "local", "--expires-in", "soon");
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toContain("--expires-in soon: expected seconds");
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
