// `gatehouse client`, run as a child process against a real server, with the
// credentials of an .ecflowapirc file written here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";

const CONFIG = `
version: "2.0.0"
logging: { level: info, format: json }
providers:
  - { type: plain, name: local, realm: local, users: [{ username: alice, password: alice-pw, roles: [ops] }] }
jwt: { iss: client-test, secret: client-test-secret-0123456789abcdef }
store: { enabled: true, type: sqlite, path: ./data/gatehouse.db }
services: [{ name: ecflow, scopes: [read, write] }]
`;

let server: RunningGatehouse;
let home: string;

beforeAll(async () => {
  server = await spawnGatehouse({ config: CONFIG });
  home = temporaryDirectory("gatehouse-client-home-");
});
afterAll(async () => {
  await server?.stop();
});

function writeRc(dir: string, tokens: unknown[], name = ".ecflowapirc"): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ version: 1, tokens }), { mode: 0o600 });
  return path;
}

const basicEntry = (server: string, password = "alice-pw") => ({ server, type: "basic", api: { username: "alice", password } });
const bearerEntry = (server: string, key: string) => ({
  server,
  type: "bearer",
  api: { url: "https://api.ecmwf.int/v1", key, email: "alice@example.int" },
});

async function client(cwd: string, ...args: string[]) {
  const env: Record<string, string | undefined> = { ...process.env, HOME: home };
  delete env.ECF_AUTHTOKENS;
  delete env.GATEHOUSE_SERVER;
  const child = Bun.spawn([process.execPath, "run", join(projectRoot, "src/main.ts"), "client", "--server", server.url, ...args], {
    cwd,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, stdout, stderr };
}

describe("gatehouse client", () => {
  test("whoami with the first entry whose server pattern matches (the working directory's file)", async () => {
    const dir = temporaryDirectory("gatehouse-client-");
    writeRc(dir, [basicEntry("api\\.example\\.int", "wrong"), basicEntry("127\\.0\\.0\\.[0-9]+"), basicEntry(".*", "also-wrong")]);
    const result = await client(dir, "whoami");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ username: "alice", realm: "local", roles: ["ops"], scopes: {} });
  });

  test("the whole life of a token: create, use it from a bearer entry, list, revoke", async () => {
    const dir = temporaryDirectory("gatehouse-client-");
    writeRc(dir, [basicEntry(".*")]);
    const created = await client(dir, "token", "create", "--note", "from the client", "--expires-in", "2h", "--scope", "ecflow:read");
    expect(created.code).toBe(0);
    expect(created.stderr).toContain("the secret is shown this once");
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^gth_[0-9A-Za-z]{36}$/);

    // The new token in a bearer entry (server pattern as an origin URL, as ecFlow's own files may have it),
    // found in the home directory when the working directory has no file.
    writeRc(home, [bearerEntry(server.url.replace(/\./g, "\\."), secret)]);
    const elsewhere = temporaryDirectory("gatehouse-client-");
    const whoami = await client(elsewhere, "whoami");
    expect(whoami.code).toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ username: "alice", roles: ["ops"], scopes: { ecflow: ["read"] } });

    // A token may not create a token beyond its scopes.
    const escalation = await client(elsewhere, "token", "create", "--scope", "ecflow:write");
    expect(escalation.code).toBe(1);
    expect(escalation.stderr).toContain("403 A token cannot grant more than the credential creating it holds: ecflow:write");

    const listed = await client(dir, "token", "list");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain("from the client");
    expect(listed.stdout).not.toContain("gth_");
    const { tokens } = JSON.parse((await client(dir, "token", "list", "--json")).stdout) as { tokens: { id: string; note: string }[] };
    const id = tokens.find((token) => token.note === "from the client")!.id;
    expect(listed.stdout).toContain(id);

    const revoked = await client(dir, "token", "revoke", id);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout.trim()).toBe(`revoked ${id}`);
    const refused = await client(elsewhere, "whoami");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("GET /whoami: 401");
  });

  test("--rc overrides the search; clear errors for a missing file, no matching entry, a bad file", async () => {
    const dir = temporaryDirectory("gatehouse-client-");
    const other = writeRc(join(dir, "elsewhere"), [basicEntry(".*")], "credentials.json");
    const explicit = await client(dir, "--rc", other, "whoami");
    expect(explicit.code).toBe(0);

    const empty = temporaryDirectory("gatehouse-client-empty-home-");
    const env: Record<string, string | undefined> = { ...process.env, HOME: empty };
    delete env.ECF_AUTHTOKENS;
    const missing = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "client", "--server", server.url, "whoami"], {
      cwd: empty,
      env,
    });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr.toString()).toContain("no credentials file: looked for");

    writeRc(dir, [basicEntry("api\\.example\\.int")]);
    const unmatched = await client(dir, "whoami");
    expect(unmatched.code).toBe(1);
    expect(unmatched.stderr).toContain("no entry's server pattern matches 127.0.0.1");

    writeRc(dir, [{ server: ".*", type: "oauth", api: {} }]);
    const bad = await client(dir, "whoami");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('tokens[0].type must be "bearer" or "basic"');

    const usage = await client(dir, "token", "frobnicate");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("usage: gatehouse client");
  });
});
