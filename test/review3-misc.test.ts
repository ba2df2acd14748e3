// Issue 20 (the third security review), findings 8 to 11: each through the
// CLI or a server run as a process, as an operator would meet it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, spawnGatehouse, temporaryDirectory } from "./helpers/gatehouse.ts";
import http from "node:http";
import { basic, logEvents, startApp, type TestApp } from "./helpers/app.ts";
import { storeIsPostgres, storedRows } from "./helpers/stored.ts";
import { REALM, startIdp, type TestIdp } from "./helpers/oidc.ts";
import { buildConfig, type ConfigError } from "../src/config/load.ts";
import { slapdAvailable, startSlapd, type Slapd } from "./helpers/slapd.ts";

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

describe("finding 9: secret files are written owner-only, and those others may read are warned about", () => {
  const opensslAvailable = Bun.which("openssl") !== null;
  let dir: string;
  let ssl: string;
  const mode = (path: string) => statSync(path).mode & 0o777;
  const config = (extra: string) => `
providers:
  - {type: plain, name: local, realm: local, users: [{username: alice, password: alice-password}]}
store: {type: sqlite, path: ./data/gatehouse.db}
jwt: {iss: gatehouse, secret_file: ./jwt.secret}
logging: {level: info, format: json}
${extra}
`;

  beforeAll(() => {
    dir = temporaryDirectory("gatehouse-review3-modes-");
    ssl = join(dir, "ssl");
    writeFileSync(join(dir, "jwt.secret"), "a-secret-that-is-long-enough-for-hs256\n", { mode: 0o600 });
  });

  test.skipIf(!opensslAvailable)("tls self-signed --force over existing 0644 files leaves the key and the pass phrase 0600", () => {
    mkdirSync(ssl, { recursive: true });
    for (const name of ["server.key", "server.passwd", "server.crt"]) {
      writeFileSync(join(ssl, name), "old\n");
      chmodSync(join(ssl, name), 0o644);
    }
    const made = gatehouse(dir, ["tls", "self-signed", "--host", "127.0.0.1", "--out", ssl, "--passphrase", "--force"]);
    expect(made.code).toBe(0);
    expect(readFileSync(join(ssl, "server.key"), "utf8")).toContain("ENCRYPTED");
    expect(mode(join(ssl, "server.passwd"))).toBe(0o600);
    expect(mode(join(ssl, "server.key"))).toBe(0o600);
  });

  // On PostgreSQL (GATEHOUSE_TEST_STORE) the master key is given, not made next to the store.
  test.skipIf(!opensslAvailable || storeIsPostgres)("serve logs each secret file group or others may read (TLS key, pass phrase, *_file secret, master key), and config check warns", async () => {
    const file = join(dir, "config.yaml");
    writeFileSync(file, config(`tls: {dir: ${ssl}}`));
    // A first start makes the master key next to the store, owner-only; nothing to warn about yet.
    const first = await spawnGatehouse({ cwd: dir, config: readFileSync(file, "utf8") });
    await first.stop();
    expect(mode(join(dir, "data/master.key"))).toBe(0o600);
    expect(first.logs.filter((line) => line.includes("config.secret_file_readable"))).toEqual([]);
    const quiet = gatehouse(dir, ["config", "check", file]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).not.toContain("readable by");

    chmodSync(join(ssl, "server.key"), 0o640);
    chmodSync(join(ssl, "server.passwd"), 0o644);
    chmodSync(join(dir, "jwt.secret"), 0o604);
    chmodSync(join(dir, "data/master.key"), 0o644);
    const server = await spawnGatehouse({ cwd: dir, config: readFileSync(file, "utf8") });
    await server.stop();
    const logged = server.logs.filter((line) => line.includes("config.secret_file_readable")).join("\n");
    expect(logged).toContain(`tls.key: ${join(ssl, "server.key")} is readable by group (mode 0640)`);
    expect(logged).toContain(`tls.passphrase_file: ${join(ssl, "server.passwd")} is readable by group and others (mode 0644)`);
    expect(logged).toContain("jwt.secret_file: ./jwt.secret is readable by others (mode 0604)");
    expect(logged).toContain(`master key: ${join("data", "master.key")} is readable by group and others`);
    expect(logged).not.toContain("server.crt"); // a certificate is public
    expect(logged).not.toContain("a-secret-that-is-long-enough"); // never the content
    // It still serves: a warning, not a refusal.
    expect(server.logs.some((line) => line.includes("server.started"))).toBe(true);

    const check = gatehouse(dir, ["config", "check", file]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`warning: tls.key: ${join(ssl, "server.key")} is readable by group (mode 0640); restrict it: chmod 600`);
    expect(check.stdout).toContain("warning: tls.passphrase_file:");
    expect(check.stdout).toContain("warning: jwt.secret_file: ./jwt.secret is readable by others");
    expect(check.stdout).toContain("warning: master key:");
    // A secret read through a *_FILE variable is checked too.
    const fromVariable = gatehouse(dir, ["config", "check", file], { GATEHOUSE_JWT__SECRET_FILE: join(dir, "jwt.secret") });
    expect(fromVariable.stdout).toContain(`warning: GATEHOUSE_JWT__SECRET_FILE: ${join(dir, "jwt.secret")} is readable by others`);
  }, 60_000);

  test("gatehouse client warns when the .ecflowapirc it reads is readable by group or others, and still uses it", () => {
    const home = temporaryDirectory("gatehouse-review3-home-");
    const rc = join(home, ".ecflowapirc");
    // Nothing listens on port 9: the call fails after the file is read, either way.
    writeFileSync(rc, JSON.stringify({ version: 1, tokens: [{ server: ".*", type: "basic", api: { username: "alice", password: "pw" } }] }));
    chmodSync(rc, 0o644);
    const exposed = gatehouse(home, ["client", "--server", "http://127.0.0.1:9", "whoami"], { HOME: home });
    expect(exposed.stderr).toContain(`warning: credentials file: ${rc} is readable by group and others (mode 0644); restrict it: chmod 600 ${rc}`);
    expect(exposed.stderr).toContain("GET http://127.0.0.1:9/whoami"); // it went on to call the server
    chmodSync(rc, 0o600);
    expect(gatehouse(home, ["client", "--server", "http://127.0.0.1:9", "whoami"], { HOME: home }).stderr).not.toContain("warning");
  });
});

describe.skipIf(!slapdAvailable)("finding 10: an LDAP search-mode refusal costs the same directory operations for an unknown user as for a wrong password", () => {
  const BASE = "dc=company,dc=com";
  let slapd: Slapd;
  let app: TestApp;

  beforeAll(async () => {
    slapd = await startSlapd({ logOperations: true });
    app = await startApp({
      version: "2.0.0",
      providers: [
        {
          type: "ldap",
          name: "corp",
          realm: "corp",
          uri: slapd.url,
          search_base: `ou=people,${BASE}`,
          bind_dn: `cn=service,${BASE}`,
          ldap_password: "service-password",
          cache_seconds: 0,
        },
      ],
      jwt: { iss: "gatehouse-test", secret: "a-test-secret-that-is-long-enough-for-hs256" },
      store: { enabled: false },
    });
  });
  afterAll(async () => {
    await app?.stop();
    await slapd?.stop();
  });

  /**
   * The requests the directory received on the connection one sign-in
   * opened, as slapd's stats log names them (BIND, SRCH, UNBIND), in order.
   */
  async function operationsOf(username: string, password: string): Promise<{ status: number; operations: string[] }> {
    const from = slapd.log.length;
    const response = await fetch(`${app.url}/authenticate`, { headers: { authorization: basic(username, password) } });
    const deadline = Date.now() + 5000;
    let conn: string | undefined;
    while (Date.now() < deadline) {
      const lines = slapd.log.slice(from);
      // The first connection with an operation (slapd's own start-up probes close without any).
      conn ??= lines.map((line) => / conn=(\d+) op=\d+ /.exec(line)?.[1]).find(Boolean);
      if (conn && lines.some((line) => line.includes(` conn=${conn} fd=`) && line.includes(" closed"))) {
        const operations = lines.flatMap((line) => {
          const match = new RegExp(` conn=${conn} op=\\d+ (BIND dn=\\S+ method=|SRCH base=|UNBIND)`).exec(line);
          return match ? [match[1].split(" ")[0]] : [];
        });
        return { status: response.status, operations };
      }
      await Bun.sleep(10);
    }
    throw new Error(`no closed LDAP connection seen for ${username}:\n${slapd.log.slice(from).join("\n")}`);
  }

  test("unknown user, wrong password and right password: service bind, search, one bind with the password", async () => {
    const right = await operationsOf("jdoe", "jdoe-password");
    expect(right.status).toBe(200);
    const wrong = await operationsOf("jdoe", "not-the-password");
    const unknown = await operationsOf("nobody-here", "not-the-password");
    expect([wrong.status, unknown.status]).toEqual([401, 401]);
    // What the directory is asked to do; how the connection ends (an UNBIND, or a close when the client
    // gives up the connection first) is not what tells a user exists, and varies with timing.
    const asked = (operations: string[]) => operations.filter((operation) => operation !== "UNBIND");
    expect(asked(wrong.operations)).toEqual(["BIND", "SRCH", "BIND"]);
    expect(asked(unknown.operations)).toEqual(asked(wrong.operations));
    expect(asked(right.operations)).toEqual(asked(wrong.operations));
  });
});

/** Usernames that look like `admin` on a screen, one per class finding 11 names, and two more of the same kind. */
const LOOKALIKES: Record<string, string> = {
  "soft hyphen (Cf)": "adm\u00ADin",
  "zero-width space (Cf)": "adm\u200Bin",
  "right-to-left override (bidi)": "\u202Enimda",
  "bidi isolate": "\u2066admin\u2069",
  "next line (C1)": "ad\u0085min",
  "variation selector (default-ignorable)": "admin\uFE0F",
};
const b64 = (text: string) => `{base64}${Buffer.from(text, "utf8").toString("base64")}`;

/** A GET whose header values go out as the bytes given (latin1), from 127.0.0.1, as a front proxy would send them. */
function proxied(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const outgoing = http.request({ host: target.hostname, port: Number(target.port), path: target.pathname, localAddress: "127.0.0.1", headers }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

describe("finding 11: usernames with invisible, bidirectional or control characters are refused wherever they enter", () => {
  let idp: TestIdp;
  let app: TestApp;
  const trustedHeader = (name: string, realm: string, extra: Record<string, unknown> = {}) => ({
    type: "trusted-header",
    name,
    realm,
    trusted_proxies: ["127.0.0.1/32"],
    create_accounts: true,
    headers: { flag: `x-${name}-flag`, username: `x-${name}-user`, last_name: `x-${name}-last` },
    ...extra,
  });
  const accounts = async () => (await storedRows<{ username: string; realm: string }>(app, "SELECT username, realm FROM users ORDER BY id")).map((row) => `${row.username}@${row.realm}`);

  beforeAll(async () => {
    idp = await startIdp();
    idp.accounts.set("lookalike", { username: "adm\u200Bin", roles: [] });
    idp.accounts.set("plain", { username: "jdoe", roles: [] });
    app = await startApp({
      version: "2.0.0",
      providers: [
        { type: "plain", name: "local", realm: "local", users: [{ username: "admin", password: "admin-password" }] },
        { type: "jwt", name: "idp", realm: "idp", cert_uri: idp.certUri, iam_realm: REALM },
        // Default: no header decoded.
        trustedHeader("front", "front"),
        trustedHeader("names", "names", { decode_base64: ["last_name"] }),
        trustedHeader("users", "users", { decode_base64: ["username"] }),
        trustedHeader("every", "every", { decode_base64: true }),
      ],
      jwt: { iss: "gatehouse-test", secret: "a-test-secret-that-is-long-enough-for-hs256", reuse_seconds: 0 },
      include_legacy_headers: true,
      store: { enabled: true, type: "sqlite", path: ":memory:" },
      regulation: { enabled: false },
    });
  });
  afterAll(async () => {
    await app?.stop();
    await idp?.stop();
  });

  const viaHeaders = (provider: string, username: string, lastName?: string) =>
    proxied(`${app.url}/authenticate`, {
      [`x-${provider}-flag`]: "true",
      [`x-${provider}-user`]: username,
      ...(lastName ? { [`x-${provider}-last`]: lastName } : {}),
    });

  for (const [kind, username] of Object.entries(LOOKALIKES)) {
    test(`${kind}: refused in a trusted header, in Basic credentials, in Tiled's login and in an external JWT (401, no account)`, async () => {
      // Through a header that is decoded ({base64}, the way a proxy sends what is not ASCII) …
      expect((await viaHeaders("users", b64(username))).status).toBe(401);
      // … and as raw bytes where the character is one byte (latin1), as a proxy might pass it on.
      if ([...username].every((char) => char.charCodeAt(0) <= 0xff)) expect((await viaHeaders("front", username)).status).toBe(401);
      expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: basic(username, "admin-password") } })).status).toBe(401);
      const login = await fetch(`${app.url}/api/v1/auth/provider/local/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username, password: "admin-password" }),
      });
      expect(login.status).toBe(401);
      expect(await login.json()).toHaveProperty("detail");
      expect(await accounts()).not.toContain(`${username}@users`);
      expect(await accounts()).not.toContain(`${username}@front`);
    });
  }

  test("the same names without those characters are accepted, so the refusals above are about the characters", async () => {
    expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: basic("admin", "admin-password") } })).status).toBe(200);
    expect((await viaHeaders("users", b64("adminé"))).status).toBe(200);
    expect((await viaHeaders("front", "dave")).status).toBe(200);
    expect(logEvents(app).filter((line) => line.event === "auth.trusted_header.invalid").map((line) => line.reason)).toContain(
      "x-users-user: the username contains an invisible, bidirectional or control character",
    );
  });

  test("an external JWT naming such a user is refused; one naming a plain user is accepted", async () => {
    const issued = async (account: string) => {
      const token = await idp.sign(idp.accessClaims(account));
      return fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${token}`, "x-auth-realm": "idp" } });
    };
    expect((await issued("plain")).status).toBe(200);
    expect((await issued("lookalike")).status).toBe(401);
    expect(logEvents(app).some((line) => line.event === "auth.unsafe_identity" && line.source === "idp")).toBe(true);
  });

  test("{base64} is decoded only in the headers decode_base64 lists; elsewhere it refuses, naming the header", async () => {
    // By default nothing is decoded: an identity provider attribute reading {base64}YWRtaW4= does not make "admin".
    expect((await viaHeaders("front", b64("admin"))).status).toBe(401);
    const reasons = () => logEvents(app).filter((line) => line.event === "auth.trusted_header.invalid").map((line) => line.reason);
    expect(reasons()).toContain("x-front-user is {base64}-encoded, and decode_base64 does not list username");
    // last_name listed, username not.
    const named = await viaHeaders("names", "alice", b64("Dépré-Müller"));
    expect(named.status).toBe(200);
    expect((await viaHeaders("names", b64("alice"))).status).toBe(401);
    expect(reasons()).toContain("x-names-user is {base64}-encoded, and decode_base64 does not list username");
    // username listed, last_name not.
    expect((await viaHeaders("users", b64("bob"))).status).toBe(200);
    expect((await viaHeaders("users", "bob", b64("Dépré"))).status).toBe(401);
    // true: every header, as geOrchestra's gateway decodes them.
    expect((await viaHeaders("every", b64("carol"), b64("Müller"))).status).toBe(200);
    const who = await proxied(`${app.url}/whoami`, { "x-every-flag": "true", "x-every-user": b64("carol"), "x-every-last": b64("Müller") });
    expect(JSON.parse(who.body)).toMatchObject({ username: "carol", attributes: { last_name: "Müller" } });
    const stored = await accounts();
    expect(stored).toContain("alice@names");
    expect(stored).toContain("bob@users");
    expect(stored).not.toContain("admin@front");
    expect(stored.some((name) => name.startsWith("{base64}"))).toBe(false);
  });

  test("decode_base64 takes true, false or a list of the headers' keys; anything else is refused by config check", () => {
    const check = (value: unknown) => {
      try {
        buildConfig({ providers: [trustedHeader("front", "front", { decode_base64: value })], jwt: { iss: "test", secret: "a-test-secret-that-is-long-enough-for-hs256" } }, "test", {});
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    expect(check(true)).toEqual([]);
    expect(check(["username", "last_name", "roles"])).toEqual([]);
    expect(check(["preauth-lastname"]).join()).toContain("providers[0].decode_base64");
  });

  test("tokens create --user refuses such an owner (the operator names it, no provider does)", () => {
    const dir = temporaryDirectory("gatehouse-review3-owner-");
    writeFileSync(
      join(dir, "config.yaml"),
      "providers: [{type: plain, name: local, realm: local, users: [{username: admin, password: admin-password}]}]\n" +
        "store: {type: sqlite, path: ./data/gatehouse.db}\njwt: {iss: test, secret: a-test-secret-that-is-long-enough-for-hs256}\n",
    );
    const refused = gatehouse(dir, ["tokens", "create", "--user", "adm\u200Bin", "--realm", "local", "--config", "config.yaml"]);
    expect(refused.stderr).toContain("tokens create: the username contains an invisible, bidirectional or control character");
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
  });
});
