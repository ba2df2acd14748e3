// End to end: the ecFlow HTTPS seed set-up. nginx (private instance, high ports)
// terminates TLS, asks Gatehouse through `auth_request`, and forwards the
// identity headers to a stand-in ecFlow server that echoes what it received.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { decodeJwt, jwtVerify } from "jose";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, type RunningNginx } from "./helpers/nginx.ts";

const opensslAvailable = Bun.which("openssl") !== null;
if (!opensslAvailable) console.warn("\n!!! SKIPPING e2e-nginx: openssl is not installed (run test/setup.sh) !!!\n");
const enabled = nginxAvailable("e2e-nginx (nginx auth_request in front of Gatehouse)") && opensslAvailable;

const seedConfig = readFileSync(join(projectRoot, "test/fixtures/seed-config.yaml"), "utf8");
const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

/** The seed's nginx `server` blocks on high ports; the marked lines are the only additions. */
function nginxHttpBlock(dir: string, ports: { http: number; https: number; gatehouse: number; ecflow: number }) {
  // The seed also listens on [::]:80/443; loopback IPv4 only here (containers may lack IPv6).
  // `localhost` upstreams become 127.0.0.1 so nginx does not try ::1 first.
  return `
  # added: keep-alive to Gatehouse (needs HTTP/1.1 and an empty Connection header)
  upstream gatehouse_upstream {
    server 127.0.0.1:${ports.gatehouse};
    keepalive 16;
  }

  server {
    listen 127.0.0.1:${ports.http};
    server_name your_domain.com;
    return 301 https://$host$request_uri; # Redirect HTTP to HTTPS
  }

  server {
    listen 127.0.0.1:${ports.https} ssl;
    server_name your_domain.com;
    ssl_certificate ${dir}/certificate.crt;
    ssl_certificate_key ${dir}/private.key;

    location / {
      root ${dir}/html/server;
      index index.html index.htm;
      access_log ${dir}/access.base.log;
    }

    location = /auth {
      internal;
      proxy_pass http://gatehouse_upstream/authenticate;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_http_version 1.1;          # added (keep-alive)
      proxy_set_header Connection "";  # added (keep-alive)
    }

    location /v1/ecflow {
      proxy_read_timeout 500s;
      proxy_connect_timeout 90s;
      auth_request /auth;
      proxy_pass http://127.0.0.1:${ports.ecflow}/v1/ecflow;
      # Forwarding Authorization Headers:
      # * Authorization [Bearer ]
      auth_request_set $authorization $upstream_http_authorization;
      proxy_set_header Authorization $authorization;
      # * X-Auth-Username [username]
      auth_request_set $auth_username $upstream_http_x_auth_username;
      proxy_set_header X-Auth-Username $auth_username;
      # * X-Auth-Realm [realm]
      auth_request_set $auth_realm $upstream_http_x_auth_realm;
      proxy_set_header X-Auth-Realm $auth_realm;
      # * X-Auth-Roles [role[,role]*]
      auth_request_set $auth_roles $upstream_http_x_auth_roles;
      proxy_set_header X-Auth-Roles $auth_roles;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Host $host;
      proxy_redirect default /;
      access_log ${dir}/access.ecflow.log;
    }

    error_page 500 502 503 504 /50x.html;
    location = /50x.html {
      root ${dir}/html/server;
    }
  }
`;
}

interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
}

describe.skipIf(!enabled)("nginx auth_request in front of Gatehouse (ecFlow seed)", () => {
  let gatehouse: RunningGatehouse | undefined;
  let nginx: RunningNginx | undefined;
  let ecflow: Server<undefined> | undefined;
  let ecflowHits = 0;
  let httpsBase = "";
  let httpBase = "";

  beforeAll(async () => {
    // The stand-in ecFlow server: echoes the request it got as JSON.
    ecflow = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        ecflowHits++;
        const url = new URL(request.url);
        const echo: Echo = { method: request.method, path: url.pathname, headers: request.headers.toJSON() };
        return Response.json(echo);
      },
    });
    // GATEHOUSE_E2E_COMMAND runs another build (e.g. "dist/gatehouse") instead of the sources.
    const command = process.env.GATEHOUSE_E2E_COMMAND?.split(" ");
    // The seed's config as it is; the environment adds a store (the seed has it disabled), so
    // that Gatehouse's own API tokens and sessions can be tried through nginx too.
    const storeDir = temporaryDirectory("gatehouse-e2e-store-");
    gatehouse = await spawnGatehouse({
      config: seedConfig,
      command,
      env: { GATEHOUSE_STORE__ENABLED: "true", GATEHOUSE_STORE__PATH: join(storeDir, "gatehouse.db") },
    });

    const dir = temporaryDirectory("gatehouse-e2e-nginx-");
    mkdirSync(join(dir, "html/server"), { recursive: true });
    const openssl = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", join(dir, "private.key"), "-out", join(dir, "certificate.crt"), "-days", "2",
        "-subj", "/CN=your_domain.com"],
      { stdout: "pipe", stderr: "pipe" },
    );
    if (openssl.exitCode !== 0) throw new Error(`openssl failed: ${openssl.stderr.toString()}`);

    const ports = { http: freePort(), https: freePort(), gatehouse: gatehouse.port, ecflow: ecflow.port! };
    nginx = await startNginx({ dir, http: nginxHttpBlock(dir, ports) });
    httpsBase = `https://127.0.0.1:${ports.https}`;
    httpBase = `http://127.0.0.1:${ports.http}`;
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await gatehouse?.stop();
    if (nginx) rmSync(nginx.dir, { recursive: true, force: true });
    ecflow?.stop(true);
  });

  // The certificate is self-signed; redirects are checked, not followed.
  const get = (url: string, headers: Record<string, string> = {}) =>
    fetch(url, { headers, redirect: "manual", tls: { rejectUnauthorized: false } });

  /** Diagnostics for failed assertions. */
  const context = () => `nginx error log:\n${nginx?.errorLog()}\ngatehouse logs:\n${gatehouse?.logs.join("\n")}`;

  test("a good Basic credential reaches ecFlow as a Gatehouse JWT plus legacy headers", async () => {
    const before = ecflowHits;
    const response = await get(`${httpsBase}/v1/ecflow/ping`, { Authorization: basic("someuser", "somesecret") });
    if (response.status !== 200) throw new Error(`status ${response.status}\n${context()}`);
    expect(ecflowHits).toBe(before + 1);
    const echo = (await response.json()) as Echo;
    expect(echo.path).toBe("/v1/ecflow/ping");
    expect(echo.headers["x-forwarded-proto"]).toBe("https");
    expect(echo.headers["x-auth-username"]).toBe("someuser");
    expect(echo.headers["x-auth-realm"]).toBe("local");

    // The Basic credential was replaced by the JWT Gatehouse issued.
    const authorization = echo.headers["authorization"] ?? "";
    expect(authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const jwt = authorization.slice("Bearer ".length);
    const { payload, protectedHeader } = await jwtVerify(jwt, new TextEncoder().encode("authotron-secret-key"), {
      issuer: "authotron-issuer",
      audience: "authotron-audience",
    });
    expect(protectedHeader.alg).toBe("HS256");
    expect(payload.sub).toBe("local-someuser");
    expect(payload.username).toBe("someuser");
    expect(payload.realm).toBe("local");
    expect(Array.isArray(payload.roles)).toBe(true);
    expect(payload.exp! - payload.iat!).toBe(3600);

    // nginx drops a header whose value is empty, so X-Auth-Roles reaches ecFlow
    // only when the user has roles (someuser has none in the seed config).
    expect(echo.headers["x-auth-roles"] ?? "").toBe((payload.roles as string[]).join(","));
  });

  test("Gatehouse's own answer carries all legacy headers (X-Auth-Roles too) and no body", async () => {
    const response = await fetch(`${gatehouse!.url}/authenticate`, {
      headers: { Authorization: basic("someuser", "somesecret"), "X-Original-URI": "/v1/ecflow/ping" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-auth-username")).toBe("someuser");
    expect(response.headers.get("x-auth-realm")).toBe("local");
    expect(response.headers.has("x-auth-roles")).toBe(true);
    const claims = decodeJwt((response.headers.get("authorization") ?? "").replace(/^Bearer /, ""));
    expect(response.headers.get("x-auth-roles")).toBe((claims.roles as string[]).join(","));
    expect(response.headers.get("cache-control")).toBe("no-store");
    // An empty body is what lets nginx keep its auth_request connection alive.
    expect(await response.text()).toBe("");
  });

  test("a wrong password gets 401 from nginx and never reaches ecFlow", async () => {
    const before = ecflowHits;
    const response = await get(`${httpsBase}/v1/ecflow/ping`, { Authorization: basic("someuser", "wrong") });
    expect(response.status).toBe(401);
    // auth_request passes the subrequest's challenge on with the 401.
    expect(response.headers.get("www-authenticate") ?? "").toContain('Basic realm="local"');
    expect(ecflowHits).toBe(before);
  });

  test("no credential gets 401 and never reaches ecFlow", async () => {
    const before = ecflowHits;
    const response = await get(`${httpsBase}/v1/ecflow/ping`);
    expect(response.status).toBe(401);
    expect(ecflowHits).toBe(before);
  });

  test("a malformed Authorization header gets 401, not a 500", async () => {
    const before = ecflowHits;
    for (const header of ["Basic %%%not-base64", "Basic " + btoa("no-colon"), "Bearer", "Garbage x y z"]) {
      const response = await get(`${httpsBase}/v1/ecflow/ping`, { Authorization: header });
      expect(`${header} → ${response.status}`).toBe(`${header} → 401`);
    }
    expect(ecflowHits).toBe(before);
  });

  test("an API token goes through nginx as the owner's JWT, and is refused there once revoked", async () => {
    const created = await fetch(`${gatehouse!.url}/token`, { headers: { authorization: basic("someuser", "somesecret") } });
    expect(created.status).toBe(200);
    const { token } = (await created.json()) as { token: string };
    const response = await get(`${httpsBase}/v1/ecflow/ping`, { Authorization: `Bearer ${token}` });
    if (response.status !== 200) throw new Error(`status ${response.status}\n${context()}`);
    const echo = (await response.json()) as Echo;
    expect(echo.headers["x-auth-username"]).toBe("someuser");
    const jwt = (echo.headers["authorization"] ?? "").slice("Bearer ".length);
    const { payload } = await jwtVerify(jwt, new TextEncoder().encode("authotron-secret-key"), { issuer: "authotron-issuer" });
    expect(payload.sub).toBe("local-someuser");
    expect(JSON.stringify(echo)).not.toContain(token); // the backend never sees the token itself

    const deleted = await fetch(`${gatehouse!.url}/token/${token}`, { method: "DELETE", headers: { authorization: basic("someuser", "somesecret") } });
    expect(deleted.status).toBe(204);
    expect((await get(`${httpsBase}/v1/ecflow/ping`, { Authorization: `Bearer ${token}` })).status).toBe(401);
  });

  test("a session's access token (Tiled login) goes through nginx; after logout it is refused", async () => {
    const login = await fetch(`${gatehouse!.url}/api/v1/auth/provider/plain-provider/token`, {
      method: "POST",
      body: new URLSearchParams({ username: "someuser", password: "somesecret" }),
    });
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };
    const response = await get(`${httpsBase}/v1/ecflow/ping`, { Authorization: `Bearer ${access_token}` });
    if (response.status !== 200) throw new Error(`status ${response.status}\n${context()}`);
    const echo = (await response.json()) as Echo;
    expect(echo.headers["x-auth-username"]).toBe("someuser");
    expect(echo.headers["authorization"]).not.toBe(`Bearer ${access_token}`); // swapped for the backend's JWT

    const logout = await fetch(`${gatehouse!.url}/api/v1/auth/logout`, { method: "POST", headers: { authorization: `Bearer ${access_token}` } });
    expect(logout.status).toBe(204);
    expect((await get(`${httpsBase}/v1/ecflow/ping`, { Authorization: `Bearer ${access_token}` })).status).toBe(401);
  });

  test("plain http on the redirect port answers 301 to https", async () => {
    const response = await get(`${httpBase}/v1/ecflow/ping?x=1`);
    expect(response.status).toBe(301);
    // $host drops the port: the seed redirects to the standard https port.
    expect(response.headers.get("location")).toBe("https://127.0.0.1/v1/ecflow/ping?x=1");
  });
});
