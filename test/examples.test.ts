// examples/ is tested as it is printed (issue 27 § 2): `config check` on every
// config, `nginx -t` on every nginx site, `caddy validate` on the Caddyfile,
// `systemd-analyze verify` on the units, the ecFlow client against the
// .ecflowapirc (and the docs' trusted-header snippets), and end-to-end runs
// of the API, portal, trusted-header and single sign-on sites: a real nginx
// with the example file (placeholders filled) in front of a real Gatehouse
// serving the matching example config.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, type RunningNginx } from "./helpers/nginx.ts";
import {
  clientCertificate,
  echoBackend,
  exampleFiles,
  examplesDir,
  fillNginxSite,
  gatehouseCommand,
  nginxSyntaxCheck,
  readExample,
  run,
  selfSignedCertificate,
  writeTemporary,
  type Echo,
  type NginxPlaceholders,
} from "./helpers/examples.ts";

const configs = exampleFiles((path) => path.endsWith(".yaml"));
const nginxSites = exampleFiles((path) => path.startsWith("nginx/") && path.endsWith(".conf"));
const caddyfiles = exampleFiles((path) => path.endsWith("Caddyfile"));
const units = exampleFiles((path) => path.startsWith("systemd/"));

const opensslAvailable = Bun.which("openssl") !== null;
if (!opensslAvailable) console.warn("\n!!! SKIPPING the nginx and Caddy examples: openssl is not installed (run test/setup.sh) !!!\n");
const nginxEnabled = nginxAvailable("examples/nginx (nginx -t, end to end)") && opensslAvailable;
const caddy = Bun.which("caddy");
if (!caddy) console.warn("\n!!! SKIPPING examples/caddy: caddy is not installed (run test/setup.sh as root: Debian's caddy) !!!\n");
const systemdAnalyze = Bun.which("systemd-analyze");
if (!systemdAnalyze) console.warn("\n!!! SKIPPING examples/systemd: systemd-analyze is not on this machine (Debian's systemd package) !!!\n");

/** Every file a test reads is there: a file moved or renamed fails here rather than being skipped. */
test("examples/ holds what the issue lists, each file saying what it is for and what to change", () => {
  expect(configs).toEqual(["auth-o-tron/config.yaml", "production/config.yaml", "sso/config.yaml", "trusted-header/config.yaml"]);
  expect(nginxSites).toEqual(["nginx/api.conf", "nginx/portal.conf", "nginx/trusted-header.conf", "nginx/unix-socket.conf", "nginx/web-app-sso.conf"]);
  expect(caddyfiles).toEqual(["caddy/Caddyfile"]);
  expect(units).toEqual(["systemd/gatehouse-healthcheck.service", "systemd/gatehouse-healthcheck.timer", "systemd/gatehouse.service"]);
  for (const path of [...configs, ...nginxSites, ...caddyfiles, ...units]) {
    const text = readExample(path);
    expect(text.startsWith("# "), `${path} starts with a comment`).toBe(true);
    expect(text.split("\n").slice(0, 20).join("\n"), `${path} says what to change`).toMatch(/\bChange:/);
  }
  // JSON has no comments: examples/README.md describes .ecflowapirc.
  expect(JSON.parse(readExample("ecflowapirc")).version).toBe(1);
  expect(readExample("README.md")).toContain("ecflowapirc");
});

describe("config check on every config of examples/", () => {
  for (const path of configs.filter((path) => path !== "auth-o-tron/config.yaml")) {
    test(`${path} passes, with no warning`, async () => {
      const result = await gatehouseCommand(["config", "check", join(examplesDir, path)]);
      expect(result.stderr).toBe("");
      expect(result.stdout).toContain(": ok (");
      expect(result.code).toBe(0);
    });
  }

  test("auth-o-tron/config.yaml (the seed's, unchanged) passes with the warnings serve logs (its short jwt.secret); quiet when allowed", async () => {
    const path = join(examplesDir, "auth-o-tron/config.yaml");
    const checked = await gatehouseCommand(["config", "check", path]);
    expect(checked.code).toBe(0);
    const warnings = checked.stdout.split("\n").filter((line) => line.startsWith("warning: "));
    expect(warnings).toContainEqual(expect.stringMatching(/^warning: jwt\.secret: shorter than 32 bytes.*allow_short_secret: true$/));
    const allowed = await gatehouseCommand(["config", "check", path], { env: { ...process.env, GATEHOUSE_JWT__ALLOW_SHORT_SECRET: "true" } });
    expect(allowed.code).toBe(0);
    expect(allowed.stdout + allowed.stderr).not.toContain("jwt.secret");
  });

  test("auth-o-tron/config.yaml is served as it is (a warning about the secret)", async () => {
    const server = await spawnGatehouse({ config: readExample("auth-o-tron/config.yaml") });
    try {
      const answer = await fetch(`${server.url}/authenticate`, { headers: { Authorization: `Basic ${btoa("someuser:somesecret")}` } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get("x-auth-username")).toBe("someuser");
      expect(server.logs.join("\n")).toMatch(/shorter than 32 bytes/);
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(!nginxEnabled)("nginx -t on every nginx site of examples/", () => {
  let placeholders: NginxPlaceholders;
  beforeAll(() => {
    const { certificate, key } = selfSignedCertificate(temporaryDirectory("gatehouse-examples-tls-"), "ecflow.example.int");
    placeholders = { gatehouse: freePort(), https: freePort(), http: freePort(), backend: freePort(), certificate, key };
  });

  /** nginx -t's verdict: a success with no warning (a `conflicting server name` would be one). */
  async function expectValid(http: string) {
    const result = await nginxSyntaxCheck(http);
    const output = result.stdout + result.stderr;
    expect(output).toContain("test is successful");
    expect(output).not.toMatch(/\[(warn|emerg|alert|crit)\]/);
    expect(result.code).toBe(0);
  }

  for (const path of nginxSites.filter((path) => path !== "nginx/unix-socket.conf")) {
    test(`${path}`, async () => {
      await expectValid(fillNginxSite(readExample(path), placeholders));
    });
  }

  test("nginx/unix-socket.conf, in place of api.conf's upstream", async () => {
    const api = fillNginxSite(readExample("nginx/api.conf"), placeholders);
    const withoutUpstream = api.replace(/^upstream gatehouse \{[^}]*\}\n/m, "");
    expect(withoutUpstream).not.toMatch(/^upstream /m);
    await expectValid(`${readExample("nginx/unix-socket.conf")}\n${withoutUpstream}`);
  });

  test("docs/web-applications.md's trusted-header blocks, as printed (the maps, then the /auth location in a server)", async () => {
    const blocks = [...readFileSync(join(projectRoot, "docs/web-applications.md"), "utf8").matchAll(/```nginx\n([^]*?)```/g)].map((match) => match[1]);
    const maps = blocks.filter((block) => block.includes("map $ssl_client_verify $preauth_flag {"));
    const auth = blocks.filter((block) => block.includes("proxy_set_header sec-georchestra-preauthenticated $preauth_flag;"));
    expect([maps.length, auth.length]).toEqual([1, 1]);
    await expectValid(`
upstream gatehouse { server 127.0.0.1:${placeholders.gatehouse}; }
${maps[0]}
server {
    listen 127.0.0.1:${placeholders.https} ssl;
    ssl_certificate ${placeholders.certificate};
    ssl_certificate_key ${placeholders.key};
    ssl_client_certificate ${placeholders.certificate};
    ssl_verify_client optional;
${auth[0]}
}`);
  });

  test("the check fails on what the README's trusted-header snippet once lacked (a sanity check of the check)", async () => {
    const site = fillNginxSite(readExample("nginx/trusted-header.conf"), placeholders);
    const withoutFlagMap = site.replace(/^map \$ssl_client_verify \$preauth_flag \{[^}]*\}\n/m, "");
    expect(withoutFlagMap).not.toBe(site);
    const result = await nginxSyntaxCheck(withoutFlagMap);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('unknown "preauth_flag" variable');
  });
});

describe.skipIf(!caddy || !opensslAvailable)("caddy validate on the Caddyfile", () => {
  test("caddy/Caddyfile is valid and formatted", async () => {
    const dir = temporaryDirectory("gatehouse-examples-caddy-");
    const { certificate, key } = selfSignedCertificate(dir, "ecflow.example.int");
    const text = readExample("caddy/Caddyfile")
      .replace("/etc/ssl/certs/ecflow.example.int.pem", certificate)
      .replace("/etc/ssl/private/ecflow.example.int.key", key);
    expect(text).not.toContain("/etc/ssl/");
    const path = writeTemporary("Caddyfile", text, dir);
    // Caddy keeps its state under $HOME (XDG_DATA_HOME): a private one.
    const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
    const result = await run([caddy!, "validate", "--config", path, "--adapter", "caddyfile"], { env });
    expect(result.stdout + result.stderr).toContain("Valid configuration");
    expect(result.stderr).not.toContain("not formatted");
    expect(result.code).toBe(0);
  });
});

describe.skipIf(!systemdAnalyze)("systemd-analyze verify on the units", () => {
  test("gatehouse.service, gatehouse-healthcheck.service and .timer: no error, no warning", async () => {
    const dir = temporaryDirectory("gatehouse-examples-systemd-");
    // verify checks that every Exec command exists: a stand-in for /usr/local/bin/gatehouse.
    const binary = join(dir, "gatehouse");
    writeFileSync(binary, "#!/bin/sh\nexit 0\n");
    chmodSync(binary, 0o755);
    const paths = units.map((path) => {
      const text = readExample(path).replaceAll("/usr/local/bin/gatehouse", binary);
      return writeTemporary(path.slice("systemd/".length), text, dir);
    });
    const result = await run([systemdAnalyze!, "verify", "--man=no", ...paths], { cwd: dir });
    // Unknown keys are only warnings (exit 0): the output must be empty too.
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  test("the main unit is hardened as the issue asks", () => {
    const unit = readExample("systemd/gatehouse.service");
    for (const line of ["ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=gatehouse", "RuntimeDirectory=gatehouse", "ExecReload=/bin/kill -HUP $MAINPID", "User=gatehouse"]) {
      expect(unit.split("\n")).toContain(line);
    }
    expect(readExample("systemd/gatehouse-healthcheck.service")).toContain("/usr/local/bin/gatehouse healthcheck --config /etc/gatehouse/config.yaml");
  });
});

/**
 * The production example, served: its store moved to a temporary folder, and
 * alice's password hash (of a random string in the file) replaced by the hash
 * of a password the test knows, through the environment as an operator could.
 */
const ALICE_PASSWORD = "examples-alice-password";
let aliceHash = "";
/** The argon2id hash of ALICE_PASSWORD, made once by `gatehouse hash-password`. */
async function aliceHashed(): Promise<string> {
  if (!aliceHash) {
    const hashed = await gatehouseCommand(["hash-password"], { input: `${ALICE_PASSWORD}\n` });
    expect(hashed.code).toBe(0);
    aliceHash = hashed.stdout.trim();
  }
  return aliceHash;
}
/** The environment of a Gatehouse on an example config: its store in storeDir, alice's password ALICE_PASSWORD (in the provider of that index). */
async function exampleEnvironment(storeDir: string, aliceProvider: number): Promise<Record<string, string>> {
  return {
    GATEHOUSE_STORE__PATH: join(storeDir, "gatehouse.db"),
    [`GATEHOUSE_PROVIDERS__${aliceProvider}__USERS__0__PASSWORD_HASH`]: await aliceHashed(),
  };
}
/** production/config.yaml's: alice is in its second provider. */
const productionEnvironment = (storeDir: string) => exampleEnvironment(storeDir, 1);

/**
 * examples/ecflowapirc with a test server's URL in place of ecflow.example.int's, and the given key and
 * password; `bearer: false` leaves the basic entry alone, as the first step of docs/command-line.md has it.
 */
function rcFile(serverUrl: string, options: { key?: string; password?: string; bearer?: boolean }): string {
  const printed = readExample("ecflowapirc");
  expect(printed).toContain("https://ecflow\\\\.example\\\\.int:443");
  // What ecflow_client matches the pattern against: scheme://host:port.
  const pattern = new URL(serverUrl).origin.replace(/\./g, "\\.");
  const rc = JSON.parse(printed.replace("https://ecflow\\\\.example\\\\.int:443", pattern.replace(/\\/g, "\\\\")));
  if (options.key) rc.tokens[0].api.key = options.key;
  if (options.password) rc.tokens[1].api.password = options.password;
  if (options.bearer === false) rc.tokens.shift();
  const path = join(temporaryDirectory("gatehouse-examples-rc-"), ".ecflowapirc");
  writeFileSync(path, JSON.stringify(rc, null, 2), { mode: 0o600 });
  return path;
}

/** `gatehouse client --server URL ARGS…` with the given .ecflowapirc, from a home of its own. */
function clientWith(rc: string, serverUrl: string, ...args: string[]) {
  const home = temporaryDirectory("gatehouse-examples-home-");
  return gatehouseCommand(["client", "--server", serverUrl, ...args], {
    cwd: home,
    env: { ...process.env, HOME: home, ECF_AUTHTOKENS: rc, GATEHOUSE_SERVER: undefined, GATEHOUSE_CA_FILE: undefined },
  });
}

/**
 * The steps of docs/command-line.md ("The ecFlow client"): with the basic entry alone, whoami and a token; then the
 * token in the bearer entry, first in the file. Returns the token. `ca` when the server speaks HTTPS.
 */
async function readmeClientSteps(serverUrl: string, ca?: string): Promise<string> {
  const extra = ca ? ["--ca", ca] : [];
  const basicOnly = rcFile(serverUrl, { password: ALICE_PASSWORD, bearer: false });
  const who = await clientWith(basicOnly, serverUrl, ...extra, "whoami");
  expect(who.stderr).toBe("");
  expect(JSON.parse(who.stdout)).toMatchObject({ username: "alice", realm: "local" });

  const created = await clientWith(basicOnly, serverUrl, ...extra, "token", "create", "--note", "ecflow jobs", "--scope", "ecflow:read");
  expect(created.code).toBe(0);
  const token = created.stdout.trim();
  expect(token).toMatch(/^gth_\S+$/);

  const withToken = await clientWith(rcFile(serverUrl, { key: token, password: "not-used" }), serverUrl, ...extra, "whoami");
  // Both entries match: the client says which one it used (the first, the bearer one), as ecflow_client picks it.
  expect(withToken.stderr).toMatch(/^warning: \S+\.ecflowapirc: several entries match \S+: tokens\[0\] \(\S+, bearer\) is used, the first, as ecflow_client does; tokens\[1\] \("\.\*"\) also match\n$/);
  expect(withToken.code).toBe(0);
  expect(JSON.parse(withToken.stdout)).toMatchObject({ username: "alice", realm: "local", scopes: { ecflow: ["read"] } });
  return token;
}

describe("the ecFlow client against examples/ecflowapirc", () => {
  let server: RunningGatehouse;

  beforeAll(async () => {
    server = await spawnGatehouse({
      config: readExample("production/config.yaml"),
      env: await productionEnvironment(temporaryDirectory("gatehouse-examples-store-")),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test("as printed, the first entry that matches is the bearer one, with its placeholder key: refused, clearly", async () => {
    const result = await clientWith(rcFile(server.url, { password: ALICE_PASSWORD }), server.url, "whoami");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^client: .*401/m);
    expect(result.stderr).not.toContain("invalid value");
  });

  test("docs/command-line.md links this very file, and keeps no copy of it that could drift", () => {
    const page = readFileSync(join(projectRoot, "docs/command-line.md"), "utf8");
    expect(page).toContain("[`examples/ecflowapirc`](../examples/ecflowapirc)");
    expect(page).not.toContain("```json");
  });

  test("docs/command-line.md's steps: a token made with the basic entry alone, then the bearer entry carries it", async () => {
    await readmeClientSteps(server.url);
  });

  test("the basic entry (.*) answers for any other server", async () => {
    const rc = rcFile(server.url, { password: ALICE_PASSWORD });
    const result = await clientWith(rc, server.url.replace("127.0.0.1", "localhost"), "whoami");
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toMatchObject({ username: "alice", realm: "local" });
  });
});

describe.skipIf(!nginxEnabled)("end to end: examples/nginx/api.conf and portal.conf in front of the production example", () => {
  let gatehouse: RunningGatehouse | undefined;
  let proxied: RunningGatehouse | undefined;
  let api: RunningNginx | undefined;
  let portal: RunningNginx | undefined;
  let ecflow: ReturnType<typeof echoBackend> | undefined;
  let apiBase = "";
  let apiHttpPort = 0;
  let portalBase = "";
  let tlsCertificate = "";
  let token = "";

  beforeAll(async () => {
    ecflow = echoBackend();
    const environment = await productionEnvironment(temporaryDirectory("gatehouse-examples-store-"));
    gatehouse = await spawnGatehouse({ config: readExample("production/config.yaml"), env: environment });
    // A token made as an operator would, with the CLI on the same config and store.
    const created = await gatehouseCommand(
      ["tokens", "create", "--config", gatehouse.configPath, "--user", "alice", "--realm", "local", "--scope", "ecflow:read"],
      { cwd: gatehouse.dir, env: { ...process.env, ...environment } },
    );
    token = created.stdout.match(/gth_\S+/)?.[0] ?? "";
    if (!token) throw new Error(`tokens create: ${created.stdout}\n${created.stderr}`);

    // The alternative portal.conf names: no public_url, nginx believed as a trusted proxy.
    const production = readExample("production/config.yaml");
    const withoutPublicUrl = production.replace(/^public_url: .*$/m, 'trusted_proxies: [127.0.0.1, "::1"]');
    expect(withoutPublicUrl).not.toMatch(/^public_url:/m);
    proxied = await spawnGatehouse({
      config: withoutPublicUrl,
      env: await productionEnvironment(temporaryDirectory("gatehouse-examples-store-")),
    });

    const tls = selfSignedCertificate(temporaryDirectory("gatehouse-examples-tls-"), "ecflow.example.int");
    tlsCertificate = tls.certificate;
    const apiPorts = { https: freePort(), http: freePort() };
    api = await startNginx({
      http: fillNginxSite(readExample("nginx/api.conf"), { ...apiPorts, gatehouse: gatehouse.port, backend: ecflow.port, ...tls }),
    });
    const portalPorts = { https: freePort(), http: freePort() };
    portal = await startNginx({
      http: fillNginxSite(readExample("nginx/portal.conf"), { ...portalPorts, gatehouse: proxied.port, backend: ecflow.port, ...tls }),
    });
    apiBase = `https://127.0.0.1:${apiPorts.https}`;
    apiHttpPort = apiPorts.http;
    portalBase = `https://127.0.0.1:${portalPorts.https}`;
  }, 60_000);

  afterAll(async () => {
    await api?.stop();
    await portal?.stop();
    await gatehouse?.stop();
    await proxied?.stop();
    ecflow?.stop();
  });

  const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers, redirect: "manual", tls: { rejectUnauthorized: false } });
  const context = () => `nginx error log:\n${api?.errorLog()}\ngatehouse logs:\n${gatehouse?.logs.slice(-20).join("\n")}`;

  test("api.conf: an API token reaches ecFlow as alice, with Gatehouse's JWT in place of the token", async () => {
    const before = ecflow!.hits();
    const answer = await get(`${apiBase}/v1/ecflow/ping`, { Authorization: `Bearer ${token}` });
    if (answer.status !== 200) throw new Error(`status ${answer.status}\n${context()}`);
    const echo = (await answer.json()) as Echo;
    expect(ecflow!.hits()).toBe(before + 1);
    expect(echo.path).toBe("/v1/ecflow/ping");
    expect(echo.headers["x-auth-username"]).toBe("alice");
    expect(echo.headers["x-auth-realm"]).toBe("local");
    expect(echo.headers["x-auth-roles"]).toBe("admin");
    expect(echo.headers["authorization"]).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(echo.headers["authorization"]).not.toContain(token);
  });

  test("api.conf: no credential, or a wrong one, is 401 and never reaches ecFlow", async () => {
    const before = ecflow!.hits();
    expect((await get(`${apiBase}/v1/ecflow/ping`)).status).toBe(401);
    expect((await get(`${apiBase}/v1/ecflow/ping`, { Authorization: "Bearer gth_not-a-token" })).status).toBe(401);
    expect(ecflow!.hits()).toBe(before);
  });

  test("api.conf: port 80 only redirects to https", async () => {
    const redirect = await get(`http://127.0.0.1:${apiHttpPort}/v1/ecflow/ping`);
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get("location")).toMatch(/^https:\/\/127\.0\.0\.1(:\d+)?\/v1\/ecflow\/ping$/);
  });

  test("production config: the discovery links are public_url's, with /auth", async () => {
    const discovery = (await (await fetch(`${gatehouse!.url}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
    expect(discovery.jwks_uri).toBe("https://ecflow.example.int/auth/.well-known/jwks.json");
  });

  test("portal.conf with trusted_proxies: discovery links carry /auth and work through nginx; the API stays protected", async () => {
    const discovery = await get(`${portalBase}/auth/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    const { jwks_uri } = (await discovery.json()) as { jwks_uri: string };
    expect(jwks_uri).toBe(`${portalBase}/auth/.well-known/jwks.json`);
    expect((await get(jwks_uri)).status).toBe(200);

    const tiled = (await (await get(`${portalBase}/auth/api/v1/`)).json()) as { authentication: { providers: { links: { auth_endpoint: string } }[] } };
    for (const provider of tiled.authentication.providers) {
      expect(provider.links.auth_endpoint.startsWith(`${portalBase}/auth/`)).toBe(true);
    }
    const signIn = await get(`${portalBase}/auth/portal/sign-in`);
    expect(signIn.headers.get("content-type")).toContain("text/html");
    expect(signIn.status).toBe(200);
    expect((await get(`${portalBase}/v1/ecflow/ping`)).status).toBe(401);
  });

  test("portal.conf: docs/command-line.md's client steps against https://host/auth, and the token then opens the API", async () => {
    const token = await readmeClientSteps(`${portalBase}/auth`, tlsCertificate);
    const answer = await get(`${portalBase}/v1/ecflow/ping`, { Authorization: `Bearer ${token}` });
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as Echo).headers["x-auth-username"]).toBe("alice");
  });
});

describe.skipIf(!nginxEnabled)("end to end: examples/nginx/trusted-header.conf (client certificates) and web-app-sso.conf", () => {
  let trusted: RunningGatehouse | undefined;
  let sso: RunningGatehouse | undefined;
  let front: RunningNginx | undefined;
  let apps: RunningNginx | undefined;
  let backend: ReturnType<typeof echoBackend> | undefined;
  let person: { certificate: string; key: string };
  let frontBase = "";
  let appsBase = "";

  beforeAll(async () => {
    backend = echoBackend();
    const tls = selfSignedCertificate(temporaryDirectory("gatehouse-examples-tls-"), "data.example.int");
    const people = clientCertificate(temporaryDirectory("gatehouse-examples-people-"), "/CN=jdupont/O=INRAE/emailAddress=jeanne.dupont@example.fr");
    person = people;

    trusted = await spawnGatehouse({
      config: readExample("trusted-header/config.yaml"),
      env: { GATEHOUSE_STORE__PATH: join(temporaryDirectory("gatehouse-examples-store-"), "gatehouse.db") },
    });
    const frontPorts = { https: freePort(), http: freePort() };
    front = await startNginx({
      http: fillNginxSite(readExample("nginx/trusted-header.conf"), { ...frontPorts, gatehouse: trusted.port, backend: backend.port, ...tls, clientCa: people.ca }),
    });
    frontBase = `https://127.0.0.1:${frontPorts.https}`;

    sso = await spawnGatehouse({
      config: readExample("sso/config.yaml"),
      env: await exampleEnvironment(temporaryDirectory("gatehouse-examples-store-"), 0),
    });
    const appsPorts = { https: freePort(), http: freePort() };
    apps = await startNginx({
      http: fillNginxSite(readExample("nginx/web-app-sso.conf"), { ...appsPorts, gatehouse: sso.port, backend: backend.port, ...tls }),
    });
    appsBase = `https://127.0.0.1:${appsPorts.https}`;
  }, 60_000);

  afterAll(async () => {
    await front?.stop();
    await apps?.stop();
    await trusted?.stop();
    await sso?.stop();
    backend?.stop();
  });

  const insecure = { rejectUnauthorized: false };

  test("trusted-header.conf: a verified client certificate arrives as its person, through the pre-authentication headers", async () => {
    const answer = await fetch(`${frontBase}/page`, { tls: { ...insecure, cert: Bun.file(person.certificate), key: Bun.file(person.key) } });
    if (answer.status !== 200) throw new Error(`status ${answer.status}\n${front?.errorLog()}\n${trusted?.logs.slice(-10).join("\n")}`);
    const echo = (await answer.json()) as Echo;
    expect(echo.headers["x-auth-username"]).toBe("jdupont");
    expect(echo.headers["x-auth-realm"]).toBe("people");
    // The application never sees the pre-authentication headers.
    expect(echo.headers["preauth-username"]).toBeUndefined();
    expect(echo.headers["sec-georchestra-preauthenticated"]).toBeUndefined();
  });

  test("trusted-header.conf: without a certificate, headers a client forges are stripped: 401", async () => {
    const before = backend!.hits();
    const forged = { "sec-georchestra-preauthenticated": "true", "preauth-username": "admin", "preauth-roles": "admin" };
    expect((await fetch(`${frontBase}/page`, { headers: forged, tls: insecure })).status).toBe(401);
    expect((await fetch(`${frontBase}/page`, { tls: insecure })).status).toBe(401);
    expect(backend!.hits()).toBe(before);
  });

  test("trusted-header.conf: with a certificate, a forged username loses to the certificate's", async () => {
    const answer = await fetch(`${frontBase}/page`, {
      headers: { "preauth-username": "admin" },
      tls: { ...insecure, cert: Bun.file(person.certificate), key: Bun.file(person.key) },
    });
    expect(((await answer.json()) as Echo).headers["x-auth-username"]).toBe("jdupont");
  });

  test("web-app-sso.conf: a browser's navigation is sent to the portal's sign-in page, back to the page asked for", async () => {
    const answer = await fetch(`${appsBase}/reports/today?x=1`, {
      headers: { Host: "app1.example.org", Accept: "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate" },
      redirect: "manual",
      tls: insecure,
    });
    expect(answer.status).toBe(302);
    const location = new URL(answer.headers.get("location") ?? "");
    expect(`${location.origin}${location.pathname}`).toBe("https://auth.example.org/portal/sign-in");
    expect(location.searchParams.get("rd")).toBe("https://app1.example.org/reports/today?x=1");
  });

  test("web-app-sso.conf: an API client keeps its 401 (no redirect); a password passes as alice", async () => {
    const api = await fetch(`${appsBase}/data.json`, { headers: { Host: "app1.example.org", Accept: "application/json" }, redirect: "manual", tls: insecure });
    expect(api.status).toBe(401);
    expect(api.headers.get("location")).toBeNull();
    const signedIn = await fetch(`${appsBase}/data.json`, {
      headers: { Host: "app1.example.org", Authorization: `Basic ${btoa(`alice:${ALICE_PASSWORD}`)}` },
      tls: insecure,
    });
    expect(signedIn.status).toBe(200);
    expect(((await signedIn.json()) as Echo).headers["x-auth-username"]).toBe("alice");
  });
});
