// Issue 20 (the third security review), findings 8 to 11: each through the
// CLI or a server run as a process, as an operator would meet it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";

/** Runs `gatehouse ARGS` from source in DIR, as the operator would. */
function gatehouse(dir: string, args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: dir,
    env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", USER: "operator", ...env },
    timeout: 60_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("finding 8: tokens import applies creation's expiry cap and scope validation", () => {
  // Realm "ecmwf" has only a remote key service: it cannot tell later whether a user still exists.
  const config = `
providers:
  - {type: plain, name: local, realm: internal, users: [{username: alice, password: alice-password}]}
  - {type: ecmwf-api, name: remote, realm: ecmwf, uri: "http://127.0.0.1:9/"}
store: {type: sqlite, path: ./data/gatehouse.db}
services: [{name: ecflow, scopes: [read, write]}]
authentication: {unverifiable_max_age: 86400}
jwt: {iss: gatehouse, secret: a-secret-that-is-long-enough-for-hs256}
`;
  const users = [
    { user_id: "u-alice", user: { version: 1, realm: "internal", username: "alice", roles: [], attributes: {} } },
    { user_id: "u-bob", user: { version: 1, realm: "ecmwf", username: "bob", roles: [], attributes: {} } },
  ];
  const token = (userId: string, scopes: unknown) => ({ user_id: userId, token: { version: 1, token_string: crypto.randomUUID(), scopes } });
  let dir: string;
  const listed = () => JSON.parse(gatehouse(dir, ["tokens", "list", "--json", "--config", "config.yaml"]).stdout).tokens as any[];

  beforeAll(() => {
    dir = temporaryDirectory("gatehouse-review3-import-");
    writeFileSync(join(dir, "config.yaml"), config);
    writeFileSync(join(dir, "users.json"), JSON.stringify(users));
  });

  test("an imported token of a realm that cannot be rechecked lives at most unverifiable_max_age, as one created would", () => {
    writeFileSync(join(dir, "bob.json"), JSON.stringify([token("u-bob", { ecflow: ["read"] }), token("u-alice", { ecflow: ["read"] })]));
    const before = Date.now();
    const result = gatehouse(dir, ["tokens", "import", "bob.json", "--users", "users.json", "--config", "config.yaml"]);
    expect(result.stderr).toContain("2 imported");
    expect(result.stderr).toContain('the providers of realm "ecmwf" cannot tell later');
    expect(result.code).toBe(0);
    const bob = listed().find((row) => row.username === "bob");
    expect(Date.parse(bob.expires_at)).toBeLessThanOrEqual(Date.now() + 86400_000);
    expect(Date.parse(bob.expires_at)).toBeGreaterThanOrEqual(before + 86400_000 - 1000);
    // A realm that can be rechecked keeps tokens.max_expires_in (365 days).
    const alice = listed().find((row) => row.username === "alice");
    expect(Date.parse(alice.expires_at)).toBeGreaterThan(Date.now() + 300 * 86400_000);
    // The same as `tokens create` for that realm.
    const created = gatehouse(dir, ["tokens", "create", "--user", "bob", "--realm", "ecmwf", "--expires-in", "365d", "--config", "config.yaml"]);
    expect(created.code).toBe(0);
    const createdRow = listed().find((row) => row.username === "bob" && row.note === "");
    expect(Date.parse(createdRow.expires_at)).toBeLessThanOrEqual(Date.now() + 86400_000);
  });

  test("prototype-named and unknown services are refused as creation refuses them, never stored unrestricted", () => {
    const documents = [
      { user_id: "u-alice", token: { version: 1, token_string: crypto.randomUUID(), scopes: JSON.parse('{"__proto__": ["read"]}') } },
      token("u-alice", { constructor: ["read"] }),
      token("u-alice", { wiki: ["read"] }),
      token("u-alice", { ecflow: ["delete"] }),
      token("u-alice", { ecflow: ["write", "read", "read"] }),
    ];
    // Written by hand: JSON.stringify of an own "__proto__" key keeps it, as mongoexport would write it.
    writeFileSync(join(dir, "odd.json"), documents.map((document) => JSON.stringify(document)).join("\n"));
    expect(readFileSync(join(dir, "odd.json"), "utf8")).toContain('"__proto__":["read"]');
    const before = listed().length;
    const result = gatehouse(dir, ["tokens", "import", "odd.json", "--users", "users.json", "--config", "config.yaml"]);
    expect(result.stderr).toContain("1 imported, 0 already present, 4 skipped");
    expect(result.stderr).toContain('skipped token document 1: Unknown service "__proto__"');
    expect(result.stderr).toContain('skipped token document 2: Unknown service "constructor"');
    expect(result.stderr).toContain('skipped token document 3: Unknown service "wiki"');
    expect(result.stderr).toContain('skipped token document 4: Unknown scope "delete" for service "ecflow"');
    expect(result.code).toBe(1);
    const after = listed();
    expect(after).toHaveLength(before + 1);
    // The one imported is normalised as creation does (config order, no repeats), and nothing became unrestricted.
    expect(after.filter((row) => row.note === "imported from auth-o-tron" && row.scopes === null)).toHaveLength(0);
    expect(after.some((row) => JSON.stringify(row.scopes) === JSON.stringify({ ecflow: ["read", "write"] }))).toBe(true);
  });
});
