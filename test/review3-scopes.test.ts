// The third security review (issue 20): finding 0 (Tiled's own scope names,
// written with a colon, refused since the fix for prototype-named scopes) and
// finding 4 (README nginx examples that let a client choose its own X-Real-IP).
// Each through what a user or an operator touches: the config file checked by
// the command, the REST API, Tiled's routes, the command line, the portal's
// form over HTTP, and real nginx with the README's own blocks.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { decodeJwt } from "jose";
import { basic, localUsersConfig, logEvents, rawHttp, startApp, type TestApp } from "./helpers/app.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, type RunningNginx } from "./helpers/nginx.ts";
import { portalCookie } from "./helpers/portal.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
import { storedRows } from "./helpers/stored.ts";

const ALICE = basic("alice", "alice-pw");

/** Tiled's real vocabulary (test/fixtures/tiled-scopes.yaml): the list an operator copies from Tiled. */
const TILED_FIXTURE = readFileSync(join(import.meta.dir, "fixtures/tiled-scopes.yaml"), "utf8");
const TILED_SCOPES: string[] = parse(TILED_FIXTURE).services[0].scopes;
/** The same, in the list form of Tiled's routes and the command line: "tiled:read:data". */
const TILED_LIST = TILED_SCOPES.map((scope) => `tiled:${scope}`);

function gatehouseCommand(dir: string, ...args: string[]) {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: dir,
    env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", USER: "operator" },
    timeout: 60_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

async function call(app: TestApp, method: string, path: string, options: { authorization?: string; json?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (options.authorization) headers.authorization = options.authorization;
  if (options.json !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${app.url}${path}`, { method, headers, body: options.json === undefined ? undefined : JSON.stringify(options.json) });
  const text = await response.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** The scopes /authenticate vouches for with this secret (the JWT's `scopes` claim). */
async function scopesClaim(app: TestApp, authorization: string) {
  const answer = await fetch(`${app.url}/authenticate`, { headers: { authorization } });
  expect(answer.status).toBe(200);
  return decodeJwt(answer.headers.get("authorization")!.slice("Bearer ".length)).scopes;
}

describe("finding 0: Tiled's own scope names (read:data, admin:apikeys) are configured and granted", () => {
  let dir: string;
  let app: TestApp;
  const tiledConfig = (extra: Record<string, unknown> = {}) => ({
    version: "2.0.0",
    logging: { level: "info", format: "json" },
    providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "alice", password: "alice-pw", roles: ["ops"] }] }],
    jwt: { iss: "gatehouse-test", secret: "gatehouse-test-secret-0123456789abcdef", reuse_seconds: 0 },
    store: { enabled: true, path: join(dir, "gatehouse.db") },
    services: [...parse(TILED_FIXTURE).services, { name: "ecflow", scopes: ["read", "write"] }],
    regulation: { enabled: false },
    ...extra,
  });
  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-review3-scopes-");
    app = await startApp(tiledConfig());
  });
  afterAll(async () => {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("`config check` (the command) accepts the issue's example and Tiled's whole list; a colon stays out of service names", () => {
    const head = 'version: "2.0.0"\njwt: { iss: gatehouse, secret: an-example-secret-of-at-least-32-bytes }\n';
    writeFileSync(join(dir, "example.yaml"), `${head}services: [{name: tiled, scopes: [read:data, read:metadata]}]\n`);
    writeFileSync(join(dir, "tiled.yaml"), head + TILED_FIXTURE);
    for (const file of ["example.yaml", "tiled.yaml"]) {
      const checked = gatehouseCommand(dir, "config", "check", join(dir, file));
      expect([file, checked.stderr, checked.code]).toEqual([file, "", 0]);
    }
    // The list form splits at the first colon: a service named "tiled:read" could never be asked for.
    writeFileSync(join(dir, "colon.yaml"), `${head}services: [{name: "tiled:read", scopes: [data]}, {name: x, scopes: [":read", "a b"]}]\n`);
    const refused = gatehouseCommand(dir, "config", "check", join(dir, "colon.yaml"));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("services[0].name");
    expect(refused.stderr).toContain("services[1].scopes[0]");
    expect(refused.stderr).toContain("services[1].scopes[1]");
    // A token's scopes are an object keyed by service: "__proto__" would be its prototype, not a service.
    writeFileSync(join(dir, "proto.yaml"), `${head}services: [{name: __proto__, scopes: [read]}, {name: constructor, scopes: [read:data]}]\n`);
    const proto = gatehouseCommand(dir, "config", "check", join(dir, "proto.yaml"));
    expect(proto.code).not.toBe(0);
    expect(proto.stderr).toContain('services[0].name: "__proto__" cannot name a service');
    expect(proto.stderr).not.toContain("services[1]");
  });

  test("the REST API: a token with every Tiled scope; /authenticate, /whoami and the token's listing carry them as written", async () => {
    const created = await call(app, "POST", "/api/v1/tokens", { authorization: ALICE, json: { note: "tiled", scopes: { tiled: TILED_SCOPES } } });
    expect(created.status).toBe(201);
    expect(created.json.scopes).toEqual({ tiled: TILED_SCOPES });
    expect(await scopesClaim(app, `Bearer ${created.json.token}`)).toEqual({ tiled: TILED_SCOPES });
    const whoami = await call(app, "GET", "/whoami", { authorization: `Bearer ${created.json.token}` });
    expect(whoami.json.scopes).toEqual({ tiled: TILED_SCOPES });
    const listed = await call(app, "GET", "/api/v1/tokens", { authorization: ALICE });
    expect(listed.json.tokens.find((token: any) => token.id === created.json.id).scopes).toEqual({ tiled: TILED_SCOPES });
  });

  test("Tiled's apikey route: scopes [\"tiled:read:data\", …] round-trip; a key with read:data cannot grant write:data", async () => {
    const created = await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json: { expires_in: 3600, scopes: TILED_LIST, note: "notebook" } });
    expect(created.status).toBe(200);
    expect(created.json.scopes).toEqual(TILED_LIST);
    expect(await scopesClaim(app, `Apikey ${created.json.secret}`)).toEqual({ tiled: TILED_SCOPES });
    const described = await call(app, "GET", "/api/v1/auth/apikey", { authorization: `Apikey ${created.json.secret}` });
    expect(described.json.scopes).toEqual(TILED_LIST);
    const whoami = await call(app, "GET", "/api/v1/auth/whoami", { authorization: ALICE });
    expect(whoami.json.api_keys.find((key: any) => key.first_eight === created.json.first_eight).scopes).toEqual(TILED_LIST);

    // Narrowing with Tiled's names: the refusal names the scope as written.
    const reader = await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json: { scopes: ["tiled:read:data", "gatehouse:tokens"] } });
    expect(reader.json.scopes).toEqual(["tiled:read:data", "gatehouse:tokens"]);
    const wider = await call(app, "POST", "/api/v1/auth/apikey", { authorization: `Apikey ${reader.json.secret}`, json: { scopes: ["tiled:write:data"] } });
    expect(wider.status).toBe(403);
    expect(wider.json.detail).toContain("tiled:write:data");
    expect(wider.json.detail).toContain("tiled: read:data");
    const same = await call(app, "POST", "/api/v1/auth/apikey", { authorization: `Apikey ${reader.json.secret}`, json: { scopes: ["tiled:read:data"] } });
    expect(same.status).toBe(200);
    expect(await scopesClaim(app, `Apikey ${same.json.secret}`)).toEqual({ tiled: ["read:data"] });
  });

  test("prototype names stay unknown names with a colon allowed: __proto__, constructor, toString as service or scope answer 400", async () => {
    const refusals: [string[], string][] = [
      [["__proto__:read:data"], 'Unknown service "__proto__"'],
      [["constructor:read:data"], 'Unknown service "constructor"'],
      [["toString"], 'Unknown service "toString"'],
      [["tiled:__proto__"], 'Unknown scope "__proto__" for service "tiled"'],
      [["tiled:constructor"], 'Unknown scope "constructor" for service "tiled"'],
      [["tiled:read:__proto__"], 'Unknown scope "read:__proto__" for service "tiled"'],
      [["tiled::read"], "is not"],
      [["tiled:read data"], "is not"],
    ];
    for (const [scopes, message] of refusals) {
      const answer = await call(app, "POST", "/api/v1/auth/apikey", { authorization: ALICE, json: { scopes } });
      expect([scopes, answer.status]).toEqual([scopes, 400]);
      expect(answer.json.detail).toContain(message);
    }
    for (const scopes of [{ tiled: ["__proto__"] }, { constructor: ["read:data"] }, { tiled: ["toString"] }]) {
      const answer = await call(app, "POST", "/api/v1/tokens", { authorization: ALICE, json: { scopes } });
      expect([scopes, answer.status]).toEqual([scopes, 400]);
      expect(answer.json.error).toStartWith("Unknown");
    }
  });

  test("the command line: `tokens create --scope tiled:read:data --scope tiled:admin:apikeys`; `tokens list` shows them; --scope __proto__:read is an unknown service", async () => {
    // The app's own config (its store moved to PostgreSQL under GATEHOUSE_TEST_STORE=postgres): JSON is YAML.
    writeFileSync(join(dir, "cli.yaml"), JSON.stringify(app.raw));
    const created = gatehouseCommand(dir, "tokens", "create", "--config", "cli.yaml", "--user", "alice", "--realm", "local", "--scope", "tiled:read:data", "--scope", "tiled:admin:apikeys");
    expect([created.stderr.match(/created tok_\w+ for alice@local/)?.[0], created.code]).toEqual([expect.stringContaining("created tok_"), 0]);
    const secret = created.stdout.trim();
    expect(await scopesClaim(app, `Bearer ${secret}`)).toEqual({ tiled: ["read:data", "admin:apikeys"] });
    const listed = gatehouseCommand(dir, "tokens", "list", "--config", "cli.yaml", "--user", "alice", "--realm", "local");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain("tiled: read:data, admin:apikeys");
    for (const scope of ["__proto__:read", "constructor:read:data"]) {
      const refused = gatehouseCommand(dir, "tokens", "create", "--config", "cli.yaml", "--user", "alice", "--realm", "local", "--scope", scope);
      expect([scope, refused.code]).toEqual([scope, 1]);
      expect(refused.stderr).toContain(`Unknown service "${scope.split(":")[0]}"`);
      expect(refused.stderr).not.toContain("TypeError");
    }
  });

  test("the portal's create-token form over HTTP: a checkbox per Tiled scope, all of them granted as written", async () => {
    const cookie = await portalCookie(app.url, "alice", "alice-pw");
    const page = await (await fetch(`${app.url}/portal/tokens/new`, { headers: { cookie } })).text();
    const offered = [...page.matchAll(/name="scope" value="([^"]+)"/g)].map((match) => match[1]);
    expect(offered.filter((value) => value.startsWith("tiled:"))).toEqual(TILED_LIST);
    // Every hidden field of the form (the CSRF token, and whatever else the form carries), then the choices.
    const formHtml = page.match(/<form method="post" action="tokens\/new"[^]*?<\/form>/)![0];
    const form = new URLSearchParams([...formHtml.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((match): [string, string] => [match[1], match[2]]));
    form.set("note", "from the portal");
    form.set("expires", "7");
    for (const value of TILED_LIST) form.append("scope", value);
    const created = await fetch(`${app.url}/portal/tokens/new`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie, origin: app.url, "sec-fetch-site": "same-origin" },
      body: form,
    });
    const text = await created.text();
    expect([created.status, text.match(/class="notice error"[^]*?<\/div>/)?.[0] ?? null]).toEqual([201, null]);
    const secret = text.match(/id="secret" class="secret" value="([^"]+)"/)![1];
    expect(await scopesClaim(app, `Bearer ${secret}`)).toEqual({ tiled: TILED_SCOPES });
    expect(text).toContain("tiled</code>: read:metadata, read:data, write:metadata");
  });
});

// ---------------------------------------------------------------------------
// Finding 4: the README's nginx blocks, as printed, in front of Gatehouse with
// regulation's defaults (trusted_proxies: loopback, address_max_retries: 20).

/** The README and every page of docs/, docs/nginx.md ("Putting it behind nginx") first. */
const DOCS = ["docs/nginx.md", "README.md", ...readdirSync(join(projectRoot, "docs")).filter((name) => name.endsWith(".md") && name !== "nginx.md").map((name) => `docs/${name}`)]
  .map((page) => readFileSync(join(projectRoot, page), "utf8"))
  .join("\n");
/** Every ```nginx block of the docs, as a user copies it. */
const NGINX_BLOCKS = [...DOCS.matchAll(/```nginx\n([^]*?)```/g)].map((match) => match[1]);

/**
 * The first README nginx block holding `marker`: the one of "Putting it behind nginx" (later
 * sections, the Unix socket and web applications, repeat the upstream and the 443 server; every
 * block is checked for X-Real-IP by the first test).
 */
function readmeBlock(marker: string): string {
  const found = NGINX_BLOCKS.filter((block) => block.includes(marker)).slice(0, 1);
  if (found.length !== 1) throw new Error(`no README nginx block holds ${JSON.stringify(marker)}`);
  return found[0];
}

/** Each `location … { … }` of an nginx block: its head and its body (braces matched). */
function locations(block: string): { head: string; body: string }[] {
  const found: { head: string; body: string }[] = [];
  for (const match of block.matchAll(/location[^{;]*\{/g)) {
    let depth = 1;
    let end = match.index! + match[0].length;
    while (depth > 0 && end < block.length) {
      if (block[end] === "{") depth++;
      else if (block[end] === "}") depth--;
      end++;
    }
    found.push({ head: match[0].slice(0, -1).trim(), body: block.slice(match.index! + match[0].length, end - 1) });
  }
  return found;
}

const SETS_REAL_IP = /proxy_set_header\s+X-Real-IP\s+\$remote_addr;/;

/** The README's upstream block, pointed at the test's Gatehouse. */
const upstreamFor = (app: TestApp) =>
  readmeBlock("upstream gatehouse {\n    server 127.0.0.1:8080;")
    .match(/upstream gatehouse \{[^}]*\}/)![0]
    .replace("127.0.0.1:8080", `127.0.0.1:${new URL(app.url).port}`);

/** The README's merged 443 server (the ecFlow seed's trap, fixed), on loopback ports without TLS, ecFlow played by `ecflowPort`. */
function mergedServer(port: number, ecflowPort: number, block = readmeBlock("listen 443 ssl;")) {
  return block
    .replace(/^(\s*)listen 443 ssl;/m, `$1listen 127.0.0.1:${port};`)
    .replace(/^(\s*)listen 80;/m, `$1listen 127.0.0.1:${freePort()};`)
    .replace(/^\s*listen \[::\]:\d+.*$/gm, "")
    .replace(/^\s*ssl_certificate.*$/gm, "")
    .replaceAll("http://localhost:8888", `http://127.0.0.1:${ecflowPort}`);
}

/** The README's trusted-header `/auth` location, in a server whose /v1/ecflow it guards (nobody pre-authenticated). */
function trustedHeaderServer(port: number, ecflowPort: number) {
  const auth = readmeBlock("proxy_set_header sec-georchestra-preauthenticated");
  const variables = [...new Set(auth.match(/\$preauth_\w+/g))].map((name) => `    set ${name} "";`).join("\n");
  return `
server {
    listen 127.0.0.1:${port};
${variables}
${auth}
    location /v1/ecflow {
        auth_request /auth;
        proxy_pass http://127.0.0.1:${ecflowPort};
    }
}`;
}

const nginxEnabled = nginxAvailable("review3 finding 4 (the README's nginx blocks and X-Real-IP)");

describe("finding 4: a client cannot choose its own X-Real-IP through the README's nginx blocks", () => {
  test("every location of every README nginx block that proxies to Gatehouse sets X-Real-IP to $remote_addr", () => {
    const proxying = NGINX_BLOCKS.flatMap(locations).filter(({ body }) => /proxy_pass\s+http:\/\/gatehouse\b/.test(body));
    // The ecFlow section's /auth, the merged 443 block's, the portal section's two, the trusted-header section's.
    expect(proxying.length).toBeGreaterThanOrEqual(5);
    const without = proxying.filter(({ body }) => !SETS_REAL_IP.test(body)).map(({ head, body }) => `${head} { ${body.trim().slice(0, 120)} …`);
    expect(without).toEqual([]);
  });

  let ecflow: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    ecflow = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ecflow says hello\n") });
  });
  afterAll(() => ecflow?.stop(true));

  /** A fresh Gatehouse (regulation's defaults) behind nginx running `http(gatehouse, nginxPort)`; `run` gets both. */
  async function behindNginx(http: (app: TestApp, port: number) => string, run: (app: TestApp, through: (headers: Record<string, string>) => Promise<Response>, port: number) => Promise<void>) {
    const dir = temporaryDirectory("gatehouse-review3-nginx-");
    const app = await startApp(localUsersConfig(dir, ["dave", "erin", "frank"].map((username) => ({ username, password: `${username}-pw` }))));
    const port = freePort();
    let nginx: RunningNginx | undefined;
    try {
      nginx = await startNginx({ http: http(app, port) });
      const through = (headers: Record<string, string>) => fetch(`http://127.0.0.1:${port}/v1/ecflow`, { headers });
      await run(app, through, port);
    } finally {
      await nginx?.stop();
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const addressRows = async (app: TestApp) => (await storedRows<{ subject: string }>(app, "SELECT subject FROM regulation_counters WHERE kind = 'address'")).map((row) => row.subject);

  /** The attack of the review: rotating X-Real-IP to escape the address limit, a fixed one to frame an address. */
  async function attack(app: TestApp, through: (headers: Record<string, string>) => Promise<Response>) {
    // 25 guesses, each under another username and another claimed address.
    for (let i = 0; i < 25; i++) {
      expect((await through({ authorization: basic(`nobody-${i}`, "guess"), "x-real-ip": `198.51.100.${i + 1}` })).status).toBe(401);
    }
    // The guesser's real address (nginx's $remote_addr) was counted: it is banned, whatever it claims next.
    // (frank's first attempt: an Authorization header that succeeded moments before is answered from memory, bans included.)
    expect((await through({ authorization: basic("frank", "frank-pw"), "x-real-ip": "198.51.100.200" })).status).toBe(401);
    const rows = await storedRows<{ subject: string; banned_until: number | null }>(app, "SELECT subject, banned_until FROM regulation_counters WHERE kind = 'address'");
    expect(rows.map((row) => [row.subject, row.banned_until !== null])).toEqual([["127.0.0.1", true]]);
  }

  async function framing(app: TestApp, through: (headers: Record<string, string>) => Promise<Response>) {
    for (let i = 0; i < 21; i++) expect((await through({ authorization: basic(`nobody-${i}`, "guess"), "x-real-ip": "203.0.113.7" })).status).toBe(401);
    expect((await addressRows(app)).filter((subject) => subject.includes("203.0.113"))).toEqual([]);
    // The client really at 203.0.113.7, named by a proxy that sets X-Real-IP (Gatehouse's trusted loopback peer), is not banned.
    expect((await fetch(`${app.url}/authenticate`, { headers: { authorization: basic("erin", "erin-pw"), "x-real-ip": "203.0.113.7" } })).status).toBe(200);
  }

  test.skipIf(!nginxEnabled)("the README's merged 443 block, as printed: rotating X-Real-IP escapes nothing, a fixed one frames nobody", async () => {
    const http = (app: TestApp, port: number) => `${upstreamFor(app)}\n${mergedServer(port, ecflow.port!)}`;
    await behindNginx(http, async (app, through) => {
      expect((await through({ authorization: basic("dave", "dave-pw") })).status).toBe(200);
      await attack(app, through);
      // A proxy that sets X-Real-IP is never suspected.
      expect(logEvents(app).filter((line) => line.event === "regulation.proxy_x_real_ip_ignored")).toEqual([]);
    });
    await behindNginx(http, async (app, through) => framing(app, through));
  }, 60_000);

  test.skipIf(!nginxEnabled)("the README's trusted-header /auth location, as printed: the same", async () => {
    const http = (app: TestApp, port: number) => `${upstreamFor(app)}\n${trustedHeaderServer(port, ecflow.port!)}`;
    await behindNginx(http, async (app, through) => attack(app, through));
    await behindNginx(http, async (app, through) => framing(app, through));
  }, 60_000);

  test.skipIf(!nginxEnabled)(
    "a block that forgets X-Real-IP (the merged block as the README printed it before): once a request shows it, that proxy's X-Real-IP is ignored, warned once and counted",
    async () => {
      const forgetful = readmeBlock("listen 443 ssl;").replace(/^.*X-Real-IP.*\n/gm, "");
      expect(forgetful).not.toContain("X-Real-IP");
      const http = (app: TestApp, port: number) => `${upstreamFor(app)}\n${mergedServer(port, ecflow.port!, forgetful)}`;
      const ignored = (app: TestApp) => logEvents(app).filter((line) => line.event === "regulation.proxy_x_real_ip_ignored");
      const problems = async (app: TestApp, reason: string) =>
        parsePrometheus(await app.gatehouse.metrics!.render()).value("gatehouse_regulation_proxy_x_real_ip_problems_total", { reason }) ?? 0;

      // An ordinary client sends no X-Real-IP: through this block, Gatehouse gets none from its trusted peer.
      await behindNginx(http, async (app, through) => {
        expect((await through({ authorization: basic("dave", "dave-pw") })).status).toBe(200);
        expect(ignored(app)).toMatchObject([{ level: "warn", proxy: "127.0.0.1", reason: "missing" }]);
        for (let i = 0; i < 21; i++) expect((await through({ authorization: basic(`nobody-${i}`, "guess"), "x-real-ip": "203.0.113.7" })).status).toBe(401);
        for (let i = 0; i < 25; i++) expect((await through({ authorization: basic(`rotating-${i}`, "guess"), "x-real-ip": `198.51.100.${i + 1}` })).status).toBe(401);
        // Nobody framed, no address counted: regulated by username only, as for a proxy that sends no X-Real-IP.
        expect(await addressRows(app)).toEqual([]);
        expect((await through({ authorization: basic("erin", "erin-pw") })).status).toBe(200);
        // Warned once; counted each time.
        expect(ignored(app)).toHaveLength(1);
        expect(await problems(app, "missing")).toBe(2);
      });

      // Several X-Real-IP headers (or a comma list): never what nginx's proxy_set_header sends.
      await behindNginx(http, async (app, _through, port) => {
        const raw = await rawHttp(
          `http://127.0.0.1:${port}`,
          `GET /v1/ecflow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${basic("nobody", "guess")}\r\nX-Real-IP: 203.0.113.7\r\nX-Real-IP: 203.0.113.8`,
        );
        expect(raw.status).toBe(401);
        expect(ignored(app)).toMatchObject([{ proxy: "127.0.0.1", reason: "several" }]);
        for (let i = 0; i < 21; i++) await fetch(`http://127.0.0.1:${port}/v1/ecflow`, { headers: { authorization: basic(`nobody-${i}`, "guess"), "x-real-ip": "203.0.113.7" } });
        expect(await addressRows(app)).toEqual([]);
        expect(await problems(app, "several")).toBe(1);
      });
    },
    60_000,
  );
});
