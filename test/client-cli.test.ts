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
  return clientWith({ cwd, home }, ...args);
}

/** The client run as a user would, with its own HOME, working directory and environment. */
async function clientWith(where: { cwd: string; home: string; env?: Record<string, string> }, ...args: string[]) {
  const env: Record<string, string | undefined> = { ...process.env, HOME: where.home, ...where.env };
  if (!where.env?.ECF_AUTHTOKENS) delete env.ECF_AUTHTOKENS;
  delete env.GATEHOUSE_SERVER;
  const child = Bun.spawn([process.execPath, "run", join(projectRoot, "src/main.ts"), "client", "--server", server.url, ...args], {
    cwd: where.cwd,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, stdout, stderr };
}

/** What ecflow_client matches patterns against: http://127.0.0.1:PORT here. */
const escaped = () => server.url.replace(/\./g, "\\.");

describe("gatehouse client", () => {
  test("whoami with the first entry whose server pattern matches the whole URL", async () => {
    const dir = temporaryDirectory("gatehouse-client-");
    writeRc(dir, [basicEntry("https://api\\.example\\.int:443", "wrong"), basicEntry("http://127\\.0\\.0\\.[0-9]+:[0-9]+"), basicEntry(".*", "also-wrong")]);
    const result = await clientWith({ cwd: dir, home: temporaryDirectory("gatehouse-client-home-") }, "whoami");
    // Two entries match: the one used is named (issue 26 § 2).
    expect(result.stderr).toBe(
      `warning: ${join(dir, ".ecflowapirc")}: several entries match ${server.url}: tokens[1] ("http://127\\.0\\.0\\.[0-9]+:[0-9]+", basic) is used, the first, as ecflow_client does; tokens[2] (".*") also match\n`,
    );
    expect(result).toMatchObject({ code: 0 });
    expect(JSON.parse(result.stdout)).toMatchObject({ username: "alice", realm: "local", roles: ["ops"], scopes: {} });
  });

  test("each pattern form: the exact URL, a regular expression over it, .*; a host name alone does not match, as in ecflow_client", async () => {
    const dir = temporaryDirectory("gatehouse-client-");
    const isolated = { cwd: dir, home: temporaryDirectory("gatehouse-client-home-") };
    const { hostname, port } = new URL(server.url);
    for (const pattern of [escaped(), `http://${hostname.replace(/\./g, "\\.")}:${port}`, `https?://127\\.0\\.0\\.1:\\d+`, `.*127\\.0\\.0\\.1.*`, ".*"]) {
      writeRc(dir, [basicEntry(pattern)]);
      const result = await clientWith(isolated, "whoami");
      expect(result.code, pattern).toBe(0);
    }
    for (const pattern of [hostname.replace(/\./g, "\\."), `${hostname.replace(/\./g, "\\.")}:${port}`, "127\\.0\\.0\\.1.*"]) {
      writeRc(dir, [basicEntry(pattern)]);
      const result = await clientWith(isolated, "whoami");
      expect(result.code, pattern).toBe(1);
      expect(result.stderr).toContain(`no entry's server pattern matches ${server.url}`);
    }
    // The host-name-only mistake gets the fix.
    writeRc(dir, [basicEntry(hostname.replace(/\./g, "\\."))]);
    expect((await clientWith(isolated, "whoami")).stderr).toContain("tokens[0] match the host name only: a pattern must match the whole URL");
  });

  test("the file is $ECF_AUTHTOKENS, else ~/.ecflowapirc, else ./.ecflowapirc, as ecflow_client finds it", async () => {
    const cwd = temporaryDirectory("gatehouse-client-");
    const ownHome = temporaryDirectory("gatehouse-client-home-");
    const elsewhere = temporaryDirectory("gatehouse-client-elsewhere-");
    // Only the working directory's file: used.
    writeRc(cwd, [basicEntry(".*")]);
    expect((await clientWith({ cwd, home: ownHome }, "whoami")).code).toBe(0);
    // A home file too: the home file wins (a wrong password there proves it).
    writeRc(ownHome, [basicEntry(".*", "wrong-from-home")]);
    const fromHome = await clientWith({ cwd, home: ownHome }, "whoami");
    expect(fromHome.code).toBe(1);
    expect(fromHome.stderr).toContain("GET /whoami: 401");
    // $ECF_AUTHTOKENS wins over both, whatever its name.
    const named = writeRc(elsewhere, [basicEntry(".*")], "credentials.json");
    expect((await clientWith({ cwd, home: ownHome, env: { ECF_AUTHTOKENS: named } }, "whoami")).code).toBe(0);
    // --rc wins over everything.
    const viaOption = await clientWith({ cwd, home: ownHome, env: { ECF_AUTHTOKENS: join(elsewhere, "missing.json") } }, "--rc", named, "whoami");
    expect(viaOption).toMatchObject({ code: 0 });
    // $ECF_AUTHTOKENS naming a missing file is an error, not a fall-back.
    const missing = await clientWith({ cwd, home: ownHome, env: { ECF_AUTHTOKENS: join(elsewhere, "missing.json") } }, "whoami");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("missing.json: ENOENT");
  });

  test("a bearer entry ecflow_client would refuse (no url or email) works here, with a warning naming the fix", async () => {
    const dir = temporaryDirectory("gatehouse-client-");
    const isolated = { cwd: dir, home: temporaryDirectory("gatehouse-client-home-") };
    writeRc(dir, [basicEntry(".*")]);
    const secret = (await clientWith(isolated, "token", "create", "--note", "bearer-entry")).stdout.trim();
    writeRc(dir, [{ server: ".*", type: "bearer", api: { key: secret } }]);
    const bare = await clientWith(isolated, "whoami");
    expect(bare).toMatchObject({ code: 0 });
    expect(bare.stderr).toContain('tokens[0]: ecflow_client 5.19 refuses this whole file: a bearer entry needs api.url and api.email; add "url": "" and "email": ""');
    writeRc(dir, [{ server: ".*", type: "bearer", api: { url: "", key: secret, email: "" } }]);
    const complete = await clientWith(isolated, "whoami");
    expect(complete).toMatchObject({ code: 0 });
    expect(complete.stderr).toBe("");
  });

  test("the whole life of a token: create, use it from a bearer entry, list, revoke", async () => {
    const dir = temporaryDirectory("gatehouse-client-");
    writeRc(dir, [basicEntry(".*")]);
    const created = await client(dir, "token", "create", "--note", "from the client", "--expires-in", "2h", "--scope", "ecflow:read", "--scope", "gatehouse:tokens");
    expect(created).toMatchObject({ code: 0 });
    expect(created.stderr).toContain("the secret is shown this once");
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^gth_[0-9A-Za-z]{36}$/);

    // The new token in a bearer entry (server pattern as the URL ecflow_client matches), in the home directory.
    writeRc(home, [bearerEntry(escaped(), secret)]);
    const elsewhere = temporaryDirectory("gatehouse-client-");
    const whoami = await client(elsewhere, "whoami");
    expect(whoami).toMatchObject({ code: 0 });
    expect(JSON.parse(whoami.stdout)).toMatchObject({ username: "alice", roles: ["ops"], scopes: { ecflow: ["read"], gatehouse: ["tokens"] } });

    // A token may not create a token beyond its scopes.
    const escalation = await client(elsewhere, "token", "create", "--scope", "ecflow:write");
    expect(escalation.code).toBe(1);
    expect(escalation.stderr).toContain("403 A token cannot grant more than the credential creating it holds: ecflow:write");

    const basicHome = { cwd: dir, home: temporaryDirectory("gatehouse-client-home-") };
    const listed = await clientWith(basicHome, "token", "list");
    expect(listed).toMatchObject({ code: 0 });
    expect(listed.stdout).toContain("from the client");
    expect(listed.stdout).not.toContain("gth_");
    const { tokens } = JSON.parse((await clientWith(basicHome, "token", "list", "--json")).stdout) as { tokens: { id: string; note: string }[] };
    const id = tokens.find((token) => token.note === "from the client")!.id;
    expect(listed.stdout).toContain(id);

    const revoked = await clientWith(basicHome, "token", "revoke", id);
    expect(revoked).toMatchObject({ code: 0 });
    expect(revoked.stdout.trim()).toBe(`revoked ${id}`);
    const refused = await client(elsewhere, "whoami");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("GET /whoami: 401");
  });

  test("clear errors for a missing file, no matching entry, a bad file; other entry types are skipped", async () => {
    const dir = temporaryDirectory("gatehouse-client-");
    const empty = temporaryDirectory("gatehouse-client-empty-home-");
    const isolated = { cwd: dir, home: empty };
    const missing = await clientWith({ cwd: empty, home: empty }, "whoami");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no credentials file: looked for");

    writeRc(dir, [basicEntry("https://api\\.example\\.int:443")]);
    const unmatched = await clientWith(isolated, "whoami");
    expect(unmatched.code).toBe(1);
    expect(unmatched.stderr).toContain(`no entry's server pattern matches ${server.url}`);

    writeRc(dir, [{ server: ".*", type: "oauth", api: {} }, basicEntry(".*")]);
    const skipped = await clientWith(isolated, "whoami");
    expect(skipped).toMatchObject({ code: 0 });
    expect(skipped.stderr).toContain('tokens[0] is skipped: its type is neither "bearer" nor "basic"');

    writeRc(dir, [{ server: ".*", type: "basic", api: { username: "alice" } }]);
    const bad = await clientWith(isolated, "whoami");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("tokens[0].api must have a username and a password");

    // A placeholder left in a bearer entry (the README's gth_…): the entry is named, not Bun's "invalid header value".
    writeRc(dir, [bearerEntry(".*", "gth_\u2026")]);
    const placeholder = await clientWith(isolated, "whoami");
    expect(placeholder.code).toBe(1);
    expect(placeholder.stderr).toContain("tokens[0].api.key cannot be sent in an Authorization header");
    expect(placeholder.stderr).toContain("is it a placeholder?");
    expect(placeholder.stderr).not.toContain("invalid value");

    const usage = await clientWith(isolated, "token", "frobnicate");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('gatehouse client: unknown command "token frobnicate"; one of: whoami, token create, token list or token revoke (see gatehouse client --help)\n');
  });
});
