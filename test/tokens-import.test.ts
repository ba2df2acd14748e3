// auth-o-tron 0.3.7's tokens, exported from its MongoDB with mongoexport
// (both forms), imported with `gatehouse tokens import`, then used on
// /authenticate as they were with auth-o-tron; stored hashed only. The same
// import into a PostgreSQL store, all or nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { basic, startApp } from "./helpers/app.ts";
import { startWhoAmI } from "./helpers/who-am-i.ts";
import { parse } from "yaml";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";
import { hashOpaqueToken } from "../src/tokens/format.ts";

const ALICE_TOKEN = crypto.randomUUID();
const BOB_TOKEN = crypto.randomUUID();
const CAROL_TOKEN = crypto.randomUUID();
const ORPHAN_TOKEN = crypto.randomUUID();

// The documents as auth-o-tron's store writes them (authotron/src/store/mongodb_store.rs), in mongoexport's extended JSON.
const users = [
  { _id: { $oid: "65f000000000000000000001" }, user_id: "65f0000000000000000000a1", user_version: 1, user: { version: 1, realm: "internal", username: "alice", roles: ["admin"], attributes: {}, scopes: null } },
  { _id: { $oid: "65f000000000000000000002" }, user_id: "65f0000000000000000000b2", user_version: { $numberInt: "1" }, user: { version: 1, realm: "ecmwf", username: "bob", roles: [], attributes: {}, scopes: null } },
  { _id: { $oid: "65f000000000000000000003" }, user_id: "65f0000000000000000000c3", user_version: 1, user: { version: 1, realm: "internal", username: "carol", roles: [], attributes: {}, scopes: null } },
];
const tokenDocument = (oid: string, userId: string, secret: string, scopes: Record<string, string[]>) => ({
  _id: { $oid: oid },
  user_id: userId,
  token_version: 1,
  token: { version: 1, token_string: secret, scopes },
});
const tokens = [
  tokenDocument("66a000000000000000000001", "65f0000000000000000000a1", ALICE_TOKEN, { ecflow: ["read", "write"] }),
  tokenDocument("66a000000000000000000002", "65f0000000000000000000b2", BOB_TOKEN, {}),
  tokenDocument("66a000000000000000000003", "65f0000000000000000000c3", CAROL_TOKEN, { ecflow: ["read"] }),
  tokenDocument("66a000000000000000000004", "65f0000000000000000000ff", ORPHAN_TOKEN, {}),
  tokenDocument("66a000000000000000000005", "65f0000000000000000000a1", "not-a-uuid", {}),
];

const config = `
providers:
  - type: plain
    name: local
    realm: internal
    users:
      - {username: alice, password: alice-password, roles: [operator]}
      - {username: carol, password: carol-password}
store: {type: sqlite, path: ./data/gatehouse.db}
services: [{name: ecflow, scopes: [read, write]}]
jwt: {iss: gatehouse, secret: a-secret-that-is-long-enough-for-hs256}
include_legacy_headers: true
`;

let dir: string;
let server: RunningGatehouse;

function gatehouse(args: string[], configFile = join(dir, "config.yaml")) {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args, "--config", configFile], {
    cwd: dir,
    env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", USER: "operator" },
    // A command that left a PostgreSQL pool or listener open would never exit: killed here, it fails its test.
    timeout: 60_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

beforeAll(() => {
  dir = temporaryDirectory();
  writeFileSync(join(dir, "config.yaml"), config);
  // mongoexport's default form, one document per line, for the tokens; its --jsonArray form for the users.
  writeFileSync(join(dir, "tokens.json"), tokens.map((document) => JSON.stringify(document)).join("\n") + "\n");
  writeFileSync(join(dir, "users.json"), JSON.stringify(users, null, 2));
});
afterAll(() => server?.stop());

describe("gatehouse tokens import", () => {
  test("imports each token with its owner and realm, says what it skipped and why, never prints a secret", () => {
    const result = gatehouse(["tokens", "import", "tokens.json", "--users", "users.json"]);
    expect(result.stderr).toContain("tokens import: 3 imported, 0 already present, 2 skipped");
    expect(result.stderr).toContain('skipped token document 4 (_id 66a000000000000000000004): its user_id "65f0000000000000000000ff" is not in the users file');
    expect(result.stderr).toContain("skipped token document 5 (_id 66a000000000000000000005): token.token_string is not an auth-o-tron token");
    expect(result.stdout).toMatch(/^imported tok_\w+ for alice@internal\nimported tok_\w+ for bob@ecmwf\nimported tok_\w+ for carol@internal\n$/);
    expect(result.code).toBe(1); // something was skipped
    for (const secret of [ALICE_TOKEN, BOB_TOKEN, CAROL_TOKEN, ORPHAN_TOKEN]) expect(result.stdout + result.stderr).not.toContain(secret);
  });

  test("run again (or with the array form of the same export): nothing is imported twice", () => {
    writeFileSync(join(dir, "tokens-array.json"), JSON.stringify(tokens.slice(0, 3)));
    const again = gatehouse(["tokens", "import", "tokens-array.json", "--users", "users.json"]);
    expect(again.stderr).toContain("tokens import: 0 imported, 3 already present, 0 skipped");
    expect(again.code).toBe(0);
  });

  test("the secrets are nowhere in the store's files, only their hashes", () => {
    const files = readdirSync(join(dir, "data")).filter((name) => name.startsWith("gatehouse.db"));
    expect(files.length).toBeGreaterThan(0);
    for (const name of files) {
      const bytes = readFileSync(join(dir, "data", name)).toString("latin1");
      for (const secret of [ALICE_TOKEN, BOB_TOKEN, CAROL_TOKEN]) expect(bytes).not.toContain(secret);
    }
  });

  test("imported tokens are listed with their owner, scopes and an expiry", () => {
    const listed = JSON.parse(gatehouse(["tokens", "list", "--json"]).stdout).tokens;
    expect(listed).toHaveLength(3);
    const alice = listed.find((token: any) => token.username === "alice");
    expect(alice).toMatchObject({ realm: "internal", scopes: { ecflow: ["read", "write"] }, note: "imported from auth-o-tron", status: "active" });
    expect(Date.parse(alice.expires_at)).toBeGreaterThan(Date.now() + 300 * 86400_000); // tokens.max_expires_in, 365 days
    // auth-o-tron's `scopes: {}` (unrestricted there): every service, and Gatehouse's tokens and sessions, never admin (issue 26 § 3).
    expect(listed.find((token: any) => token.username === "bob").scopes).toEqual({ ecflow: ["read", "write"], gatehouse: ["tokens", "sessions"] });
  });

  test("bad files are refused clearly", () => {
    writeFileSync(join(dir, "broken.json"), '{"_id": 1}\n{not json\n');
    const broken = gatehouse(["tokens", "import", "broken.json", "--users", "users.json"]);
    expect(broken.stderr).toContain("broken.json, line 2: not a JSON document");
    expect(broken.code).toBe(1);
    expect(gatehouse(["tokens", "import", "tokens.json"]).stderr).toContain("import needs --users USERS.json");
    expect(gatehouse(["tokens", "import", "missing.json", "--users", "users.json"]).stderr).toContain("cannot read the file: ENOENT");
  });
});

describe("after the import, the tokens work on /authenticate", () => {
  beforeAll(async () => {
    server = await spawnGatehouse({ config, cwd: dir });
  });
  const authenticate = (authorization: string) => fetch(`${server.url}/authenticate`, { headers: { authorization } });

  test("an imported token authenticates its owner, with the owner's current roles and the token's scopes", async () => {
    const response = await authenticate(`Bearer ${ALICE_TOKEN}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-auth-username")).toBe("alice");
    expect(response.headers.get("x-auth-realm")).toBe("internal");
    expect(response.headers.get("x-auth-roles")).toBe("operator");
    const claims = decodeJwt(response.headers.get("authorization")!.slice(7));
    expect(claims.scopes).toEqual({ ecflow: ["read", "write"] });
    expect((await authenticate(`Bearer ${BOB_TOKEN}`)).headers.get("x-auth-username")).toBe("bob");
  });

  test("a UUID that was not imported, a skipped one, or a malformed look-alike is refused", async () => {
    for (const token of [crypto.randomUUID(), ORPHAN_TOKEN, ALICE_TOKEN.toUpperCase(), ALICE_TOKEN.slice(0, 35), `${ALICE_TOKEN}0`]) {
      expect((await authenticate(`Bearer ${token}`)).status).toBe(401);
    }
  });

  test("an imported token is revoked like any other, and then refused", async () => {
    const listed = JSON.parse(gatehouse(["tokens", "list", "--json"]).stdout).tokens;
    const carol = listed.find((token: any) => token.username === "carol");
    expect((await authenticate(`Bearer ${CAROL_TOKEN}`)).status).toBe(200);
    expect(gatehouse(["tokens", "revoke", carol.id]).code).toBe(0);
    expect((await authenticate(`Bearer ${CAROL_TOKEN}`)).status).toBe(401);
    // Its owner still signs in with a password.
    expect((await authenticate(basic("carol", "carol-password"))).status).toBe(200);
  });
});

describe("an imported token with scopes: {} does what it did in auth-o-tron, and gains no admin power (issue 26 § 3)", () => {
  test("its admin owner's token reaches backends and manages tokens, but the admin routes refuse it, and a token made with it", async () => {
    const adminDir = temporaryDirectory();
    const ROOT_TOKEN = crypto.randomUUID();
    const rootUser = { _id: { $oid: "65f000000000000000000009" }, user_id: "65f0000000000000000000d9", user_version: 1, user: { version: 1, realm: "internal", username: "root", roles: ["admin"], attributes: {}, scopes: null } };
    writeFileSync(join(adminDir, "users.json"), JSON.stringify([rootUser]));
    writeFileSync(join(adminDir, "tokens.json"), JSON.stringify(tokenDocument("66a000000000000000000009", "65f0000000000000000000d9", ROOT_TOKEN, {})));
    const adminConfig = config.replace("{username: carol, password: carol-password}", "{username: root, password: root-password, roles: [admin]}");
    writeFileSync(join(adminDir, "config.yaml"), adminConfig);
    const imported = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "tokens", "import", "tokens.json", "--users", "users.json", "--config", "config.yaml"], {
      cwd: adminDir,
      env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", USER: "operator" },
      timeout: 60_000,
    });
    expect(imported.stderr.toString()).toContain("1 imported");
    const raw = parse(adminConfig);
    raw.store.path = join(adminDir, "data/gatehouse.db");
    const app = await startApp(raw);
    try {
      const bearer = { authorization: `Bearer ${ROOT_TOKEN}` };
      const authenticated = await fetch(`${app.url}/authenticate`, { headers: bearer });
      expect(authenticated.status).toBe(200);
      expect(decodeJwt(authenticated.headers.get("authorization")!.slice(7)).scopes).toEqual({ ecflow: ["read", "write"], gatehouse: ["tokens", "sessions"] });
      // auth-o-tron's token routes took it: so do Gatehouse's.
      expect((await fetch(`${app.url}/api/v1/tokens`, { headers: bearer })).status).toBe(200);
      // Admin is new: not on this token, though its owner has the role (their password still has it).
      const admin = await fetch(`${app.url}/api/v1/audit`, { headers: bearer });
      expect(admin.status).toBe(403);
      expect(((await admin.json()) as { error: string }).error).toContain("gatehouse:admin");
      expect((await fetch(`${app.url}/api/v1/audit`, { headers: { authorization: basic("root", "root-password") } })).status).toBe(200);
      // A token made with it is bound alike.
      const child = await fetch(`${app.url}/api/v1/tokens`, { method: "POST", headers: bearer });
      expect(child.status).toBe(201);
      const { token: secret } = (await child.json()) as { token: string };
      expect((await fetch(`${app.url}/api/v1/audit`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(403);
    } finally {
      await app.stop();
    }
  });
});

describe("imported tokens never leave Gatehouse", () => {
  test("with a remote key service configured, an imported token (live or revoked) is never sent to it; an unknown UUID is", async () => {
    const whoAmI = startWhoAmI();
    const raw = parse(config);
    raw.store.path = join(dir, "data/gatehouse.db");
    raw.providers.push({ type: "ecmwf-api", name: "remote", realm: "ecmwf", uri: whoAmI.url });
    const app = await startApp(raw);
    try {
      const unknown = crypto.randomUUID();
      for (const token of [ALICE_TOKEN, CAROL_TOKEN, unknown]) await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });
      expect(whoAmI.seen).toEqual([unknown]);
    } finally {
      await app.stop();
      whoAmI.stop();
    }
  });
});

describe.skipIf(!postgresAvailable)("gatehouse tokens import into a PostgreSQL store", () => {
  let pg: Postgres;
  const pgConfig = (url: string) => {
    const file = join(dir, `pg-${url.split("/").pop()}.yaml`);
    writeFileSync(file, config.replace("store: {type: sqlite, path: ./data/gatehouse.db}", `store: {type: postgres, url: "${url}"}`));
    return file;
  };

  beforeAll(async () => {
    pg = await startPostgres("gatehouse_import");
  }, 120_000);
  afterAll(async () => {
    await pg?.destroy();
  });

  test("imports, skips and reports as on SQLite; stored hashed, audited; run again, nothing is imported twice", () => {
    const file = pgConfig(pg.url);
    const result = gatehouse(["tokens", "import", "tokens.json", "--users", "users.json"], file);
    expect(result.stderr).toContain("tokens import: 3 imported, 0 already present, 2 skipped");
    expect(result.stdout).toMatch(/^imported tok_\w+ for alice@internal\nimported tok_\w+ for bob@ecmwf\nimported tok_\w+ for carol@internal\n$/);
    expect(result.code).toBe(1);
    for (const secret of [ALICE_TOKEN, BOB_TOKEN, CAROL_TOKEN, ORPHAN_TOKEN]) expect(result.stdout + result.stderr).not.toContain(secret);

    const again = gatehouse(["tokens", "import", "tokens-array.json", "--users", "users.json"], file);
    expect(again.stderr).toContain("tokens import: 0 imported, 3 already present, 0 skipped");
    expect(again.code).toBe(0);

    expect(pg.psql(`SELECT u.username FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = '${hashOpaqueToken(ALICE_TOKEN)}'`)).toBe("alice");
    expect(pg.psql("SELECT string_agg(f.first_eight, ',' ORDER BY f.first_eight) FROM token_first_eight f")).toBe(
      [ALICE_TOKEN, BOB_TOKEN, CAROL_TOKEN].map((secret) => secret.slice(0, 8)).sort().join(","),
    );
    expect(pg.psql("SELECT count(*) FROM audit_log WHERE event = 'token.imported' AND actor_username = 'cli:operator'")).toBe("3");
    const dump = pg.psql("SELECT t::text FROM tokens t") + pg.psql("SELECT a::text FROM audit_log a");
    for (const secret of [ALICE_TOKEN, BOB_TOKEN, CAROL_TOKEN]) expect(dump).not.toContain(secret);

    const listed = JSON.parse(gatehouse(["tokens", "list", "--json"], file).stdout).tokens;
    expect(listed).toHaveLength(3);
    expect(listed.find((token: any) => token.username === "alice")).toMatchObject({ realm: "internal", scopes: { ecflow: ["read", "write"] }, note: "imported from auth-o-tron" });
  }, 120_000);

  test("all or nothing: a store that fails part way leaves no token, owner or audit event behind", () => {
    const url = pg.createDatabase("import_refused");
    const file = pgConfig(url);
    expect(gatehouse(["migrate"], file).code).toBe(0);
    // The third token's insert fails (as a store would, part way through).
    pg.psql(
      `CREATE FUNCTION refuse_carol() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF (SELECT username FROM users WHERE id = NEW.user_id) = 'carol' THEN RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$;
       CREATE TRIGGER refuse_carol BEFORE INSERT ON tokens FOR EACH ROW EXECUTE FUNCTION refuse_carol();`,
      "import_refused",
    );
    const failed = gatehouse(["tokens", "import", "tokens.json", "--users", "users.json"], file);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("tokens import: nothing imported: refused for the test");
    expect(failed.stdout).not.toContain("imported");
    for (const table of ["tokens", "token_first_eight", "users", "audit_log"]) {
      expect({ table, rows: pg.psql(`SELECT count(*) FROM ${table}`, "import_refused") }).toEqual({ table, rows: "0" });
    }
  }, 120_000);

  test("served from PostgreSQL, an imported token is never sent to a remote key service, even before it is in memory; an unknown UUID is", async () => {
    const whoAmI = startWhoAmI();
    const raw = parse(config);
    raw.store = { type: "postgres", url: pg.url }; // imported by the first test
    raw.providers.push({ type: "ecmwf-api", name: "remote", realm: "ecmwf", uri: whoAmI.url });
    const masterKey = join(dir, "pg-master.key");
    writeFileSync(masterKey, "tokens-import-test-master-key\n", { mode: 0o600 });
    raw.keys = { master_key_file: masterKey };
    const app = await startApp(raw);
    try {
      const unknown = crypto.randomUUID();
      for (const token of [ALICE_TOKEN, CAROL_TOKEN, unknown]) await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });
      expect(whoAmI.seen).toEqual([unknown]);
      // The imported token itself authenticates its owner (asked of the store, then kept in memory).
      expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${ALICE_TOKEN}` } })).status).toBe(200);
    } finally {
      await app.stop();
      whoAmI.stop();
    }
  });
});
