// The gatehouse command line, run as a user would: a child process.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import argon2 from "argon2";
import { projectRoot, spawnGatehouse, temporaryDirectory } from "./helpers/gatehouse.ts";
import { basic } from "./helpers/app.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";

const fixture = join(import.meta.dir, "fixtures/seed-config.yaml");

function gatehouse(args: string[], options: { stdin?: string; cwd?: string; env?: Record<string, string> } = {}) {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: options.cwd ?? temporaryDirectory(),
    stdin: options.stdin !== undefined ? Buffer.from(options.stdin) : "ignore",
    env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", ...options.env },
    // A command that left a PostgreSQL pool or listener open would never exit: killed here, it fails its test.
    timeout: 60_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("gatehouse CLI", () => {
  test("hash-password reads stdin and prints an argon2id hash that verifies", async () => {
    const { code, stdout } = gatehouse(["hash-password"], { stdin: "correct horse\n" });
    expect(code).toBe(0);
    const hash = stdout.trim();
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/); // OWASP parameters
    expect(await argon2.verify(hash, "correct horse")).toBe(true);
    expect(await argon2.verify(hash, "correct horse\n")).toBe(false);
    expect(gatehouse(["hash-password"], { stdin: "" }).code).toBe(2);
  });

  test("config check: 0 and a summary for the seed's config; 1 and every problem for a broken one", () => {
    // The seed's secret is short: serve runs it with a warning, and the check says the same (issue 26).
    const short = gatehouse(["config", "check", fixture]);
    expect(short.code).toBe(0);
    expect(short.stdout).toContain("warning: jwt.secret: shorter than 32 bytes");
    expect(short.stdout).toContain("ok (2 providers, 0 augmenters; 2 warning(s): serve runs with them and logs them)");
    const good = gatehouse(["config", "check", fixture], { env: { GATEHOUSE_JWT__ALLOW_SHORT_SECRET: "true" } });
    expect(good.code).toBe(0);
    expect(good.stdout).not.toContain("jwt.secret");
    expect(good.stdout).toContain("ok (2 providers, 0 augmenters; 1 warning(s)");

    const dir = temporaryDirectory();
    writeFileSync(join(dir, "bad.yaml"), "store: {type: mongo}\nproviders: [{type: plain, name: p}]\njwt: {secret: s}\n");
    const bad = gatehouse(["config", "check", join(dir, "bad.yaml")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('store.type: "mongo" is not supported; use sqlite or postgres');
    expect(bad.stderr).toContain("providers[0].realm: is required");
    expect(bad.stderr).toContain("jwt.iss: is required");
    expect(bad.stderr).not.toContain("    at "); // a message, not a stack trace

    expect(gatehouse(["config", "check", "--config", fixture]).code).toBe(0);
    expect(gatehouse(["config", "check", join(dir, "missing.yaml")]).stderr).toContain("cannot read the config file: ENOENT");
  });

  test("config schema prints a JSON Schema naming every provider type", () => {
    const { code, stdout } = gatehouse(["config", "schema"]);
    expect(code).toBe(0);
    const schema = JSON.parse(stdout);
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["providers", "jwt", "store", "bind_address", "server"]));
    const providerTypes = schema.properties.providers.items.anyOf.map((entry: any) => entry.properties.type.const);
    expect(providerTypes).toEqual(expect.arrayContaining(["plain", "ecmwf-api"]));
  });

  test("unknown commands and options are refused with the usage", () => {
    const unknown = gatehouse(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('gatehouse: unknown command "frobnicate" (gatehouse help lists the commands)\n');
    const option = gatehouse(["--nope"]);
    expect(option.code).toBe(2);
    expect(option.stderr).toBe("gatehouse serve: unknown option --nope (see gatehouse serve --help)\n");
  });

  test("with no config at all: the development default on loopback, its admin password printed once", async () => {
    const dir = temporaryDirectory();
    const first = await spawnGatehouse({ cwd: dir, env: { GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "" } });
    try {
      expect(first.url).toStartWith("http://127.0.0.1:");
      const banner = first.logs.find((line) => line.includes("Password:"));
      const password = banner?.match(/Password: (\S+)/)?.[1];
      expect(password).toBeTruthy();
      const ok = await fetch(`${first.url}/authenticate`, { headers: { authorization: basic("admin", password!) } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("x-auth-roles")).toBe("admin");
      const refused = await fetch(`${first.url}/authenticate`, { headers: { authorization: basic("admin", "guess") } });
      expect(refused.status).toBe(401);
    } finally {
      await first.stop();
    }
    const second = await spawnGatehouse({ cwd: dir, env: { GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "" } });
    await second.stop();
    expect(second.logs.some((line) => line.includes("Password:"))).toBe(false);
    const kept = await Bun.file(join(dir, "data/development-secrets.json")).text();
    expect(kept).toContain("$argon2id$");
  });

  test("serve refuses a broken config with its problems and exit code 1", () => {
    const dir = temporaryDirectory();
    writeFileSync(join(dir, "config.yaml"), "providers: [{type: ldapx, name: a, realm: b}]\njwt: {iss: i, secret: s}\n");
    const { code, stderr } = gatehouse(["serve"], { cwd: dir });
    expect(code).toBe(1);
    expect(stderr).toContain('providers[0].type: unknown provider type "ldapx"');
  });
});

describe.skipIf(!postgresAvailable)("gatehouse keys on a PostgreSQL store", () => {
  let pg: Postgres;
  let dir: string;

  beforeAll(async () => {
    pg = await startPostgres("gatehouse_keys");
    dir = temporaryDirectory("gatehouse-keys-pg-");
    // Every instance sharing the store reads the same master key file.
    writeFileSync(join(dir, "master.key"), "a-master-key-shared-by-every-instance\n", { mode: 0o600 });
    writeFileSync(
      join(dir, "config.yaml"),
      JSON.stringify({
        providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "u", password: "p" }] }],
        jwt: { iss: "https://gatehouse.test", alg: "ES256" },
        keys: { publish_ahead: 0, master_key_file: join(dir, "master.key") },
        store: { type: "postgres", url: pg.url },
      }),
    );
  }, 120_000);
  afterAll(async () => {
    await pg?.destroy();
  });

  test("list makes the first key; rotate and retire change the keys in PostgreSQL", () => {
    const keys = (...args: string[]) => gatehouse(["keys", ...args, "--config", "config.yaml"], { cwd: dir });
    const listed = keys("list");
    expect(listed.stderr).toMatch(/^keys: config \S+config\.yaml \(--config\); store PostgreSQL postgres:\/\/\S+\n$/);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^\S+  ES256  current +created /);
    const firstKid = listed.stdout.split(/\s+/)[0]!;
    expect(pg.psql("SELECT kid || ' ' || state FROM signing_keys")).toBe(`${firstKid} current`);

    const rotated = keys("rotate");
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain("running servers sharing the store load it at once (PostgreSQL notifies them)");
    const secondKid = rotated.stdout.match(/^rotating to (\S+):/)![1]!;
    const afterRotation = keys("list").stdout;
    expect(afterRotation).toContain(`${secondKid}  ES256  current`);
    expect(afterRotation).toContain(`${firstKid}  ES256  previous`);

    expect(keys("retire", "no-such-kid").code).toBe(1);
    // The first key signed until a moment ago: JWTs it signed are still live.
    const asked = keys("retire", firstKid);
    expect(asked.code).toBe(1);
    expect(asked.stderr).toContain(`keys retire: ${firstKid} still verifies live tokens`);
    expect(asked.stderr).toContain("give --yes to retire it anyway");
    const retired = keys("retire", firstKid, "--yes");
    expect(retired.stdout).toContain(`retired ${firstKid}`);
    expect(retired.code).toBe(0);
    expect(pg.psql("SELECT kid || ' ' || state FROM signing_keys ORDER BY created_at, kid").split("\n")).toEqual([`${firstKid} retired`, `${secondKid} current`]);
    expect(pg.psql("SELECT count(*) FROM audit_log WHERE event LIKE 'key.%'")).not.toBe("0");
    expect(keys("retire").code).toBe(2);
    // No SQLite store was made on the side (store.path's folder).
    expect(existsSync(join(dir, "data"))).toBe(false);
  }, 120_000);
});
