// The compiled binary (scripts/build.ts) works on its own: copied to a folder
// outside the project, it serves /authenticate, verifies argon2id hashes with
// its embedded addon, and checks config files.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import argon2 from "argon2";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { parsePrometheus, promtoolCheck } from "./helpers/prometheus.ts";
import { postgresAvailable, startPostgres } from "./helpers/postgres.ts";
import { logEvents } from "./helpers/app.ts";
import { VERSION } from "../src/version.ts";

const builtBinary = join(projectRoot, "dist/gatehouse");
// Everything that ends up inside the binary.
const buildInputs = ["src", "migrations", "migrations-pg", "public", "scripts/build.ts", "package.json", "package-lock.json"];

function newestInputTime(path: string): number {
  if (!existsSync(path)) return 0;
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestInputTime(join(path, name))));
}

async function ensureBinary(): Promise<void> {
  const inputsTime = Math.max(...buildInputs.map((input) => newestInputTime(join(projectRoot, input))));
  if (existsSync(builtBinary) && statSync(builtBinary).mtimeMs >= inputsTime) return;
  const build = Bun.spawn([process.execPath, "run", "scripts/build.ts"], {
    cwd: projectRoot,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([
    build.exited,
    new Response(build.stdout).text(),
    new Response(build.stderr).text(),
  ]);
  if (code !== 0) throw new Error(`scripts/build.ts exited with ${code}:\n${stdout}${stderr}`);
}

const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;

function configYaml(argonHash: string): string {
  return `version: "2.0.0"
logging:
  level: info
  format: json
server:
  host: 127.0.0.1
  port: 8080
metrics:
  enabled: false
providers:
  - type: plain
    name: local-users
    realm: local
    users:
      - username: someuser
        password: somesecret
      - username: hasheduser
        password: '${argonHash}'
jwt:
  iss: gatehouse-binary-test
  exp: 3600
  secret: binary-test-secret-that-is-long-enough-0123456789
`;
}

let dir: string;
let binary: string;
let server: RunningGatehouse | undefined;
let childEnv: Record<string, string>;

beforeAll(async () => {
  await ensureBinary();
  dir = temporaryDirectory("gatehouse-binary-");
  binary = join(dir, "gatehouse");
  copyFileSync(builtBinary, binary);
  chmodSync(binary, 0o755);
  // A private TMPDIR: the binary extracts argon2's addon there when it starts.
  mkdirSync(join(dir, "tmp"));
  childEnv = { TMPDIR: join(dir, "tmp") };
  // OWASP parameters keep the test fast; the binary only has to verify the hash.
  const argonHash = await argon2.hash("hashedsecret", { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
  server = await spawnGatehouse({ config: configYaml(argonHash), command: [binary], cwd: dir, env: childEnv, timeoutMs: 20_000 });
}, 180_000);

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true }); // the binary copy is ~110 MB
});

function runBinary(args: string[]) {
  return Bun.spawnSync([binary, ...args], {
    cwd: dir,
    env: { ...process.env, ...childEnv },
    stdout: "pipe",
    stderr: "pipe",
  });
}

describe("compiled binary run outside the project", () => {
  const authenticate = (authorization: string) =>
    fetch(`${server!.url}/authenticate`, { headers: { authorization } });

  test("a clear-text config password authenticates and gets a bearer JWT", async () => {
    const response = await authenticate(basic("someuser", "somesecret"));
    expect(response.status).toBe(200);
    expect(response.headers.get("authorization") ?? "").toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  });

  test("an argon2id hash is verified by the embedded addon", async () => {
    const response = await authenticate(basic("hasheduser", "hashedsecret"));
    expect(response.status).toBe(200);
    expect(response.headers.get("authorization") ?? "").toStartWith("Bearer ");
    // The addon came out of the binary (Bun extracts embedded addons to $TMPDIR), not
    // from this machine's node_modules, which a non-embedded build would still find.
    expect(readdirSync(childEnv.TMPDIR).some((name) => /^\.bun-.*\.node$/.test(name))).toBe(true);
  });

  test("wrong passwords get 401", async () => {
    expect((await authenticate(basic("someuser", "wrong"))).status).toBe(401);
    expect((await authenticate(basic("hasheduser", "wrong"))).status).toBe(401);
  });

  test("the store's embedded migrations work: an API token is created and authenticates", async () => {
    const created = await fetch(`${server!.url}/token`, { headers: { authorization: basic("someuser", "somesecret") } });
    expect(created.status).toBe(200);
    const { token } = (await created.json()) as { token: string };
    expect(token).toStartWith("gth_");
    expect((await authenticate(`Bearer ${token}`)).status).toBe(200);
  });

  test.skipIf(!postgresAvailable)("the PostgreSQL store's embedded migrations work: gatehouse migrate, then store copy of the running server's SQLite store", async () => {
    const pg = await startPostgres("gatehouse_binary");
    try {
      writeFileSync(join(dir, "pg.yaml"), `${configYaml("unused")}store: {type: postgres, url: "${pg.url}"}\n`);
      const migrated = runBinary(["migrate", "--config", "pg.yaml"]);
      expect(migrated.stderr.toString()).toBe(`migrate: config ${join(dir, "pg.yaml")} (--config); store PostgreSQL ${pg.url}\n`); // said, issue 26 § 2
      const count = readdirSync(join(projectRoot, "migrations-pg")).filter((name) => name.endsWith(".sql")).length;
      expect(migrated.stdout.toString()).toContain(`: ${count} migration(s) applied, ${count} in all`);
      const copied = runBinary(["store", "copy", "--from", join(dir, "data/gatehouse.db"), "--to", pg.url]);
      expect(copied.stderr.toString()).toBe("");
      expect(copied.exitCode).toBe(0);
      expect(copied.stdout.toString()).toContain("the target's count matches the source's in every table");
    } finally {
      await pg.destroy();
    }
  }, 120_000);

  test("managed ES256 keys: generated, encrypted with a master key file, published as a JWKS", async () => {
    const managedDir = join(dir, "managed");
    mkdirSync(managedDir);
    const yaml = configYaml("unused").replace(/  secret: .*\n/, "  alg: ES256\n");
    const managed = await spawnGatehouse({ config: yaml, command: [binary], cwd: managedDir, env: childEnv, timeoutMs: 20_000 });
    try {
      const jwks = (await (await fetch(`${managed.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; alg: string }[] };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0].alg).toBe("ES256");
      const response = await fetch(`${managed.url}/authenticate`, { headers: { authorization: basic("someuser", "somesecret") } });
      const jwt = response.headers.get("authorization")!.slice(7);
      const header = JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString());
      expect(header).toMatchObject({ alg: "ES256", kid: jwks.keys[0].kid });
      expect(existsSync(join(managedDir, "data", "master.key"))).toBe(true);
    } finally {
      await managed.stop();
    }
  });

  test("prom-client in the binary: the metrics port of two workers, combined, in Prometheus text", async () => {
    const workersDir = join(dir, "workers");
    mkdirSync(workersDir);
    const yaml = configYaml("unused").replace("metrics:\n  enabled: false\n", "").replace("  port: 8080\n", "  port: 8080\n  workers: 2\n");
    const running = await spawnGatehouse({ config: yaml, command: [binary], cwd: workersDir, env: childEnv, timeoutMs: 30_000 });
    try {
      for (let i = 0; i < 4; i++) {
        const answer = await fetch(`${running.url}/authenticate`, { headers: { authorization: basic("someuser", "somesecret"), connection: "close" } });
        expect(answer.status).toBe(200);
      }
      const events = logEvents(running);
      expect(events.filter((entry) => entry.event === "server.worker_started")).toHaveLength(2);
      const metricsUrl = events.find((entry) => entry.event === "server.started")!.metrics;
      const text = await (await fetch(`${metricsUrl}/metrics`)).text();
      const exposition = parsePrometheus(text);
      expect(exposition.value("authotron_auth_requests_total", { result: "success", realm: "local" })).toBe(4);
      expect(exposition.value("authotron_build_info", { version: VERSION })).toBe(1);
      const promtool = promtoolCheck(text);
      if (promtool) expect(promtool.ok).toBe(true);
    } finally {
      await running.stop();
    }
  });

  test("the portal and its static files (public/, embedded) are served", async () => {
    for (const name of ["portal.css", "portal.js"]) {
      const asset = await fetch(`${server!.url}/portal/assets/${name}`);
      expect(asset.status).toBe(200);
      expect(await asset.text()).toBe(readFileSync(join(projectRoot, "public", name), "utf8"));
    }
    const signIn = await fetch(`${server!.url}/portal/sign-in`);
    expect(signIn.status).toBe(200);
    expect(await signIn.text()).toContain('name="password"');
  });

  test("GET /openapi.json describes the binary's routes", async () => {
    const response = await fetch(`${server!.url}/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toStartWith("3.1.");
    expect(Object.keys(document.paths["/api/v1/tokens"])).toEqual(["post", "get"]);
    expect(Object.keys(document.paths)).toContain("/authenticate");
  });

  test("config check exits 0 on a valid file", () => {
    const result = runBinary(["config", "check", server!.configPath]);
    expect(result.exitCode, result.stderr.toString() + result.stdout.toString()).toBe(0);
  });

  test("config check exits non-zero on a broken file", () => {
    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, "server:\n  port: 99999\nproviders:\n  - type: no-such-provider\n    name: x\n    realm: y\n");
    expect(runBinary(["config", "check", broken]).exitCode).not.toBe(0);
  });
});
