// Access rules through a real nginx (issue 22, § 3): nginx's auth_request asks
// Gatehouse about every request to two host names, app.test and docs.test,
// and forwards what passes to a small application that echoes what it got.
// Raw requests (the Host header, paths as written: fetch would clean them).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, type RunningNginx } from "./helpers/nginx.ts";
import { basic, rawHttp } from "./helpers/app.ts";

const enabled = nginxAvailable("access-nginx (access rules behind nginx auth_request)");

const config = (dir: string) =>
  JSON.stringify({
    version: "2.0.0",
    logging: { level: "info" },
    providers: [
      {
        type: "plain",
        name: "people",
        realm: "local",
        users: [
          { username: "alice", password: "alice-pw", roles: ["admin"] },
          { username: "bob", password: "bob-pw" },
        ],
      },
    ],
    store: { enabled: true, path: join(dir, "gatehouse.db") },
    services: [{ name: "ecflow", scopes: ["read", "write"] }],
    jwt: { iss: "gatehouse-access-nginx", secret: "access-nginx-secret-0123456789abcdef" },
    include_legacy_headers: true,
    access: {
      rules: [
        { hosts: ["docs.test"], policy: "bypass" },
        { hosts: ["app.test"], paths: ["^/admin/"], roles: ["admin"] },
        { hosts: ["app.test"], methods: ["POST", "PUT", "DELETE"], scopes: { ecflow: ["write"] } },
        { paths: ["/internal/"], policy: "deny" },
      ],
    },
  });

/** The /auth location of "Access rules" in docs/web-applications.md, and the seed's (X-Original-URI) on a second port. */
function nginxConfig(dir: string, ports: { main: number; seed: number; gatehouse: number; app: number }) {
  const forward = `
      auth_request_set $authorization $upstream_http_authorization;
      proxy_set_header Authorization $authorization;
      auth_request_set $auth_username $upstream_http_x_auth_username;
      proxy_set_header X-Auth-Username $auth_username;
      proxy_pass http://127.0.0.1:${ports.app};`;
  const upstreamKeepAlive = `
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Real-IP $remote_addr;`;
  return `
  upstream gatehouse {
    server 127.0.0.1:${ports.gatehouse};
    keepalive 4;
  }
  server {
    listen 127.0.0.1:${ports.main};
    server_name app.test docs.test;
    error_page 403 /403.html;
    location = /403.html { internal; root ${dir}/html; }
    location = /auth {
      internal;
      proxy_pass http://gatehouse/authenticate;${upstreamKeepAlive}
      proxy_set_header X-Original-URL $scheme://$host$request_uri;
      proxy_set_header X-Original-Method $request_method;
    }
    location / {
      auth_request /auth;${forward}
    }
  }
  server {
    listen 127.0.0.1:${ports.seed};
    server_name app.test docs.test;
    location = /auth {
      internal;
      proxy_pass http://gatehouse/authenticate;${upstreamKeepAlive}
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header Host $host;
    }
    location / {
      auth_request /auth;${forward}
    }
  }
`;
}

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
}

describe.skipIf(!enabled)("access rules behind nginx", () => {
  let gatehouse: RunningGatehouse;
  let nginx: RunningNginx;
  let app: Server<undefined>;
  let main = "";
  let seed = "";
  let readToken = "";
  let writeToken = "";

  beforeAll(async () => {
    app = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        const seen: Seen = { method: request.method, path: new URL(request.url).pathname, headers: request.headers.toJSON() };
        return Response.json(seen);
      },
    });
    const dir = temporaryDirectory("gatehouse-access-nginx-");
    gatehouse = await spawnGatehouse({ config: config(dir) });
    for (const [scopes, set] of [
      [{ ecflow: ["read"] }, (token: string) => (readToken = token)],
      [{ ecflow: ["write"] }, (token: string) => (writeToken = token)],
    ] as const) {
      const response = await fetch(`${gatehouse.url}/api/v1/tokens`, {
        method: "POST",
        headers: { authorization: basic("bob", "bob-pw"), "content-type": "application/json" },
        body: JSON.stringify({ note: "nginx", scopes }),
      });
      expect(response.status).toBe(201);
      set(((await response.json()) as { token: string }).token);
    }
    const nginxDir = temporaryDirectory("gatehouse-access-nginx-conf-");
    mkdirSync(join(nginxDir, "html"), { recursive: true });
    writeFileSync(join(nginxDir, "html/403.html"), "<p>Not for you: the application's own 403 page.</p>\n");
    const ports = { main: freePort(), seed: freePort(), gatehouse: gatehouse.port, app: app.port! };
    nginx = await startNginx({ dir: nginxDir, http: nginxConfig(nginxDir, ports) });
    main = `http://127.0.0.1:${ports.main}`;
    seed = `http://127.0.0.1:${ports.seed}`;
  });
  afterAll(async () => {
    await nginx?.stop();
    await gatehouse?.stop();
    app?.stop(true);
  });

  /** A raw request to nginx: the Host and the request target exactly as written. */
  async function get(base: string, host: string, target: string, options: { method?: string; authorization?: string; headers?: Record<string, string> } = {}) {
    const lines = [`${options.method ?? "GET"} ${target} HTTP/1.1`, `Host: ${host}`];
    if (options.authorization) lines.push(`Authorization: ${options.authorization}`);
    for (const [name, value] of Object.entries(options.headers ?? {})) lines.push(`${name}: ${value}`);
    if (options.method && options.method !== "GET") lines.push("Content-Length: 0");
    const { status, text } = await rawHttp(base, lines.join("\r\n"));
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    const json = body.indexOf("{");
    const seen = json >= 0 && status === 200 ? (JSON.parse(body.slice(json, body.lastIndexOf("}") + 1)) as Seen) : null;
    return { status, text, body, seen };
  }

  test("a bypass host needs nothing: the application gets the request without an identity", async () => {
    const { status, seen } = await get(main, "docs.test", "/guide/intro");
    expect(status).toBe(200);
    expect(seen!.path).toBe("/guide/intro");
    expect(seen!.headers.authorization).toBeUndefined();
    expect(seen!.headers["x-auth-username"]).toBeUndefined();
  });

  test("no credential on a protected host: 401, never a redirect", async () => {
    const { status, text } = await get(main, "app.test", "/reports/");
    expect(status).toBe(401);
    expect(text).not.toMatch(/^Location:/im);
  });

  test("a deny path: 403 for everyone, the admin included (nginx shows its error_page 403)", async () => {
    for (const authorization of [undefined, basic("alice", "alice-pw"), basic("bob", "bob-pw")]) {
      const { status, body } = await get(main, "app.test", "/internal/x", { authorization });
      expect(status).toBe(403);
      expect(body).toContain("the application's own 403 page");
    }
  });

  test("a path with roles: [admin]: the admin passes with her identity, another caller gets 403", async () => {
    const alice = await get(main, "app.test", "/admin/users", { authorization: basic("alice", "alice-pw") });
    expect(alice.status).toBe(200);
    expect(alice.seen!.headers["x-auth-username"]).toBe("alice");
    expect(alice.seen!.headers.authorization).toStartWith("Bearer ");
    expect((await get(main, "app.test", "/admin/users", { authorization: basic("bob", "bob-pw") })).status).toBe(403);
    expect((await get(main, "app.test", "/reports/", { authorization: basic("bob", "bob-pw") })).status).toBe(200);
  });

  test("methods with token scopes: a token scoped ecflow: [read] may GET, not POST; one scoped write may POST", async () => {
    const read = `Bearer ${readToken}`;
    const write = `Bearer ${writeToken}`;
    expect((await get(main, "app.test", "/v1/suites", { authorization: read })).status).toBe(200);
    expect((await get(main, "app.test", "/v1/suites", { authorization: read, method: "POST" })).status).toBe(403);
    expect((await get(main, "app.test", "/v1/suites", { authorization: read, method: "DELETE" })).status).toBe(403);
    const posted = await get(main, "app.test", "/v1/suites", { authorization: write, method: "POST" });
    expect(posted.status).toBe(200);
    expect(posted.seen!.method).toBe("POST");
    // A client's own X-Original-Method cannot turn its POST into a GET: nginx's replaces it.
    expect((await get(main, "app.test", "/v1/suites", { authorization: read, method: "POST", headers: { "X-Original-Method": "GET" } })).status).toBe(403);
  });

  test("path spellings nginx serves as /admin/… are refused for bob and served to alice", async () => {
    for (const target of ["/a/../admin/x", "/%61dmin/x", "//admin/x", "/public/%2e%2e/admin/x", "/admin/./x"]) {
      expect({ target, status: (await get(main, "app.test", target, { authorization: basic("bob", "bob-pw") })).status }).toEqual({ target, status: 403 });
      const alice = await get(main, "app.test", target, { authorization: basic("alice", "alice-pw") });
      expect({ target, status: alice.status }).toEqual({ target, status: 200 });
      expect(alice.seen!.headers["x-auth-username"]).toBe("alice");
    }
    // What the application might read otherwise is refused, even for the admin.
    expect((await get(main, "app.test", "/admin%2Fusers", { authorization: basic("alice", "alice-pw") })).status).toBe(403);
  });

  test("the seed's block (X-Original-URI): a client's own X-Original-URL, naming the bypass host, is refused", async () => {
    // Without it, the seed's block works: Host and X-Original-URI.
    expect((await get(seed, "docs.test", "/guide/")).status).toBe(200);
    expect((await get(seed, "app.test", "/admin/x", { authorization: basic("bob", "bob-pw") })).status).toBe(403);
    const spoofed = await get(seed, "app.test", "/admin/x", { authorization: basic("bob", "bob-pw"), headers: { "X-Original-URL": "https://docs.test/admin/x" } });
    expect(spoofed.status).toBe(403);
    const anonymous = await get(seed, "app.test", "/reports/", { headers: { "X-Forwarded-Host": "docs.test", "X-Forwarded-Uri": "/reports/" } });
    expect(anonymous.status).toBe(403);
    // Logged once, at warn (lines are written a moment later).
    const deadline = Date.now() + 5000;
    while (!gatehouse.logs.some((line) => line.includes("access.unreadable_request")) && Date.now() < deadline) await Bun.sleep(50);
    expect(gatehouse.logs.filter((line) => line.includes("access.unreadable_request"))).toHaveLength(1);
  });
});
