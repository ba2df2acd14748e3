// `gatehouse store copy` (src/cli/store-copy.ts) and `gatehouse migrate` on a
// PostgreSQL store, run as an operator runs them (the CLI from source), on a
// SQLite store filled with the SQLite table functions: every row arrives with
// its id, hash and stored JSON text; identity sequences continue after the
// copied ids; a target holding rows is refused without --force; the URL's
// password never appears in the output.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { openStore, type Store } from "../src/store/database.ts";
import { openPgDatabase } from "../src/store/pg/database.ts";
import { PgBackend } from "../src/store/pg/backend.ts";
import type { HotReads } from "../src/store/backend.ts";
import { auditRow } from "../src/store/audit/model.ts";
import { SqliteBackend } from "../src/store/sqlite-backend.ts";
import { dumpPg, dumpSqlite } from "./helpers/store-dump.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";

const PASSWORD = "not-shown-pw"; // the test server trusts loopback: the password is only there to be hidden
const T0 = 1_796_000_000_000;

function gatehouse(args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: temporaryDirectory(),
    env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", ...env },
    timeout: 120_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** A SQLite store as a server leaves it: users, tokens (2,500: three batches), first eights, sessions, refresh tokens, keys, counters, profiles, audit. */
async function populatedSqlite(path: string): Promise<Store> {
  const store = openStore(path);
  const q = new SqliteBackend(store, path).read;
  const alice = await q.upsertUser("alice", "local", T0);
  const bob = await q.upsertUser("bob", "ldap", T0 + 1);
  await q.upsertUser("alice", "local", T0 + 2); // uses up an id: the copy keeps the gap
  const dave = await q.saveProfile("dave", "proxy", { email: "d@example.org", firstName: "D", lastName: null, organisation: "O", provider: "idp", providerId: "7", roles: ["r1", "r2"] }, T0 + 3);
  store.sqlite.exec("BEGIN");
  for (let i = 0; i < 2500; i++) {
    await q.insertToken({
      id: `tok_${String(i).padStart(5, "0")}`,
      hash: `hash-${i}-${Bun.hash(String(i)).toString(16)}`,
      userId: [alice, bob, dave][i % 3]!,
      note: i % 2 ? `note ${i}` : "",
      scopes: i % 5 === 0 ? null : { svc: ["read"], [`s${i % 7}`]: [] },
      createdAt: T0 + i,
      expiresAt: i % 4 === 0 ? null : T0 + 86_400_000 + i,
      parentId: i > 0 && i % 10 === 0 ? `tok_${String(i - 1).padStart(5, "0")}` : null,
      sessionId: i % 9 === 0 ? "ses_a" : null,
    });
    if (i % 3 === 0) await q.recordFirstEight(`tok_${String(i).padStart(5, "0")}`, `fe${String(i).padStart(6, "0")}`);
  }
  store.sqlite.exec("COMMIT");
  await q.markTokensUsed(new Map([["tok_00001", { at: T0 + 50, address: "10.0.0.1", reportedAddress: "203.0.113.1" }]]));
  await q.markTokenRevoked("tok_00002", T0 + 60);
  await q.insertSession({ id: "ses_a", userId: alice, provider: "local", createdAt: T0, expiresAt: T0 + 1e9, refreshExpiresAt: T0 + 1e8, address: "10.0.0.1", reportedAddress: null, userAgent: "ua" });
  await q.insertSession({ id: "ses_b", userId: bob, provider: "ldap", createdAt: T0, expiresAt: T0 + 1e9, refreshExpiresAt: T0 + 1e8, address: null, reportedAddress: null, userAgent: null });
  await q.markSessionsRevoked(["ses_b"], T0 + 70, "logout");
  for (let i = 0; i < 5; i++) await q.insertRefreshToken({ hash: `rt-${i}`, sessionId: i < 3 ? "ses_a" : "ses_b", createdAt: T0 + i });
  await q.markRefreshTokenUsed(1, T0 + 5);
  await q.insertKey({ kid: "k-old", alg: "ES256", state: "retired", publicJwk: '{"kty":"EC","kid":"k-old"}', privateKeySealed: "", createdAt: T0 - 10, retiredAt: T0 });
  await q.insertKey({ kid: "k-cur", alg: "ES256", state: "current", publicJwk: '{"kty":"EC","kid":"k-cur"}', privateKeySealed: "v1.sealed.bytes", createdAt: T0, activatedAt: T0 });
  await q.saveRegulationCounter({ kind: "username", subject: "mallory", failures: 3, windowStartedAt: T0, bannedUntil: null });
  await q.saveRegulationCounter({ kind: "address", subject: "10.9.9.9", failures: 10, windowStartedAt: T0, bannedUntil: T0 + 60_000 });
  for (let i = 0; i < 30; i++) {
    await q.recordAudit(auditRow({ user: { username: "alice", realm: "local" }, client: { socket: "10.0.0.1", reported: null } }, "token.created", T0 + i, { tokenId: `tok_${String(i).padStart(5, "0")}`, detail: { scopes: { svc: ["read"] }, n: i } }));
  }
  await q.recordAggregatedAudit(auditRow({ user: { username: "mallory", realm: "local" } }, "login.failed", T0, { detail: { reason: "bad password" } }));
  await q.recordAggregatedAudit(auditRow({ user: { username: "mallory", realm: "local" } }, "login.failed", T0 + 1, { detail: { reason: "bad password" } }));
  // A gap in audit ids (a purge): the copy keeps ids as they are.
  store.sqlite.exec("DELETE FROM audit_log WHERE id IN (3, 4)");
  return store;
}

const noHotReads: HotReads = { tokenCredential: () => null, owner: () => null, sessionOwner: () => null, account: () => null };
const changes = { current: () => 0, bump() {} };

describe.skipIf(!postgresAvailable)("gatehouse store copy and gatehouse migrate on PostgreSQL", () => {
  let pg: Postgres;
  let dir: string;
  let sqlitePath: string;
  let source: Store;

  beforeAll(async () => {
    pg = await startPostgres("gatehouse_copy");
    dir = temporaryDirectory("gatehouse-copy-");
    sqlitePath = join(dir, "gatehouse.db");
    source = await populatedSqlite(sqlitePath);
  }, 120_000);

  afterAll(async () => {
    source?.close();
    await pg?.destroy();
  });

  const withPassword = (url: string) => url.replace("postgres@", `postgres:${PASSWORD}@`);

  test("every row is copied with its id, hash and stored values; sequences continue after the copied ids", async () => {
    const url = withPassword(pg.createDatabase("copied"));
    const run = gatehouse(["store", "copy", "--from", sqlitePath, "--to", url]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`into postgres://postgres:***@127.0.0.1:${pg.port}/copied`);
    expect(run.stdout).toMatch(/^ {2}tokens +2500$/m);
    expect(run.stdout).toMatch(/^ {2}audit_log +29$/m); // 30, one aggregated, two purged
    expect(run.stdout).toContain("the target's count matches the source's in every table");
    expect(run.stdout).toContain("same master key");
    expect(run.stdout + run.stderr).not.toContain(PASSWORD);

    const database = openPgDatabase(url);
    try {
      const [liteDump, pgDump] = [dumpSqlite(source), await dumpPg(database.db)];
      for (const table of Object.keys(liteDump)) {
        expect({ table, rows: pgDump[table] }).toEqual({ table, rows: liteDump[table] });
        expect({ table, copied: pgDump[table]!.length > 0 }).toEqual({ table, copied: true });
      }
      // JSON and sealed keys as stored, byte for byte (not re-serialised).
      const raw = (sql: string) => (source.sqlite.query(sql).all() as Record<string, unknown>[]).map((row) => Object.values(row).join("|")).join("\n");
      for (const [lite, postgres] of [
        ["SELECT id, scopes FROM tokens ORDER BY id", 'SELECT id, scopes FROM tokens ORDER BY id COLLATE "C"'],
        ["SELECT id, detail FROM audit_log ORDER BY id", "SELECT id, detail FROM audit_log ORDER BY id"],
        ["SELECT user_id, roles FROM user_profiles ORDER BY user_id", "SELECT user_id, roles FROM user_profiles ORDER BY user_id"],
        ["SELECT kid, public_jwk, private_key_sealed FROM signing_keys ORDER BY kid", 'SELECT kid, public_jwk, private_key_sealed FROM signing_keys ORDER BY kid COLLATE "C"'],
      ] as const) {
        expect(pg.psql(postgres, "copied")).toBe(raw(lite));
      }

      // New rows after the copy get new ids (the identity sequences were moved past the copied ones).
      const backend = new PgBackend({ database, changes, hot: noHotReads });
      const maxUser = (source.sqlite.query("SELECT max(id) AS id FROM users").get() as { id: number }).id;
      expect(await backend.transaction(async (q) => q.upsertUser("newcomer", "local", T0 + 9))).toBe(maxUser + 1);
      await backend.transaction(async (q) => {
        await q.recordAudit({ at: T0 + 9, event: "after.copy" });
        await q.insertRefreshToken({ hash: "rt-after", sessionId: "ses_a", createdAt: T0 + 9 });
      });
      const maxAudit = (source.sqlite.query("SELECT max(id) AS id FROM audit_log").get() as { id: number }).id;
      expect((await backend.read.listAudit({ limit: 1 }))[0]!.id).toBe(maxAudit + 1);
      expect(pg.psql("SELECT max(id) FROM refresh_tokens", "copied")).toBe("6");
      // The copied rows serve: a token by its hash, with its owner.
      expect((await backend.read.findTokenByHash(`hash-1-${Bun.hash("1").toString(16)}`))!.username).toBe("bob");
    } finally {
      await database.close();
    }
  }, 120_000);

  test("a target that holds rows is refused, unchanged; --force empties it and copies", async () => {
    const url = withPassword(pg.createDatabase("occupied"));
    expect(gatehouse(["store", "copy", "--from", sqlitePath, "--to", url]).code).toBe(0);
    pg.psql("INSERT INTO users (username, realm, first_seen, last_seen) VALUES ('intruder', 'x', 0, 0)", "occupied");
    const refused = gatehouse(["store", "copy", "--from", sqlitePath, "--to", url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("store copy: the target already holds rows (in users, user_profiles, tokens");
    expect(refused.stderr).toContain("give --force to delete them first");
    expect(refused.stdout + refused.stderr).not.toContain(PASSWORD);
    expect(pg.psql("SELECT count(*) FROM users WHERE username = 'intruder'", "occupied")).toBe("1");

    const forced = gatehouse(["store", "copy", "--from", sqlitePath, "--to", url, "--force"]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain("emptied the target's tables (--force)");
    expect(pg.psql("SELECT count(*) FROM users WHERE username = 'intruder'", "occupied")).toBe("0");
    const database = openPgDatabase(url);
    try {
      expect(await dumpPg(database.db)).toEqual(dumpSqlite(source));
    } finally {
      await database.close();
    }
  }, 120_000);

  test("refused: a missing file, a store with a migration missing, a bad --to; usage without --from", () => {
    const url = pg.createDatabase("refusals");
    const missing = gatehouse(["store", "copy", "--from", join(dir, "none.db"), "--to", url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${join(dir, "none.db")} does not exist`);

    const behind = join(dir, "behind.db");
    openStore(behind).close();
    const database = new Database(behind);
    database.exec("DELETE FROM __drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM __drizzle_migrations)");
    database.close();
    const old = gatehouse(["store", "copy", "--from", behind, "--to", url]);
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/has \d+ of this version's \d+ migrations applied; run gatehouse migrate on it first/);

    const badUrl = gatehouse(["store", "copy", "--from", sqlitePath, "--to", `mysql://u:${PASSWORD}@h/db`]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain("--to: the scheme must be postgres:// or postgresql://");
    expect(badUrl.stderr).not.toContain(PASSWORD);
    expect(gatehouse(["store", "copy", "--to", url]).code).toBe(2);
    expect(pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'users'", "refusals")).toBe("0"); // refused before touching the target
  }, 120_000);

  test("without --to, the config's store.url (here from store.url_file); gatehouse migrate on it says what it did", () => {
    const url = withPassword(pg.createDatabase("configured"));
    const urlFile = join(dir, "store-url");
    writeFileSync(urlFile, `${url}\n`);
    const config = join(dir, "pg.yaml");
    writeFileSync(
      config,
      `jwt: {iss: x, secret: a-secret-long-enough-for-hs256-signing}\nstore: {type: postgres, url_file: ${urlFile}}\nproviders: [{type: plain, name: p, realm: r, users: [{username: u, password: p}]}]\n`,
    );
    const migrated = gatehouse(["migrate", "--config", config]);
    expect(migrated.stderr).toBe(`migrate: config ${config} (--config); store PostgreSQL postgres://postgres:***@127.0.0.1:${pg.port}/configured\n`);
    expect(migrated.code).toBe(0);
    const all = readdirSync(join(projectRoot, "migrations-pg")).filter((name) => name.endsWith(".sql")).length;
    expect(migrated.stdout).toMatch(new RegExp(`^postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${pg.port}/configured: ${all} migration\\(s\\) applied, ${all} in all; the schema is up to date`, "m"));
    expect(gatehouse(["migrate", "--config", config]).stdout).toContain(`0 migration(s) applied, ${all} in all`);
    const copied = gatehouse(["store", "copy", "--from", sqlitePath, "--config", config]);
    expect(copied.code).toBe(0);
    expect(copied.stdout).toMatch(/^ {2}tokens +2500$/m);
    expect(migrated.stdout + copied.stdout + copied.stderr).not.toContain(PASSWORD);
    // A SQLite config has no target to offer.
    const sqliteConfig = join(dir, "sqlite.yaml");
    writeFileSync(sqliteConfig, `jwt: {iss: x, secret: a-secret-long-enough-for-hs256-signing}\nproviders: []\n`);
    const noTarget = gatehouse(["store", "copy", "--from", sqlitePath, "--config", sqliteConfig]);
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toContain("copy needs --to postgres://…, or a config with store.type: postgres and store.url");
  }, 120_000);
});
