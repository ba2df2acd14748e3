// Network limits of API tokens (issue 23 § 4) through real nginx: the client's
// address is nginx's $remote_addr, passed in X-Real-IP by the /auth location,
// whatever X-Real-IP the client itself sends. Clients of different addresses
// are curl processes bound to loopback addresses (127.0.0.0/8) of their own.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { basic, logEvents, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx, type RunningNginx } from "./helpers/nginx.ts";

const enabled = nginxAvailable("token-lifecycle-nginx (network-limited tokens behind nginx)") && Bun.which("curl") !== null;

describe.skipIf(!enabled)("§ 4 network limits behind nginx (X-Real-IP from a trusted proxy)", () => {
  let app: TestApp;
  let nginx: RunningNginx;
  let port: number;

  beforeAll(async () => {
    const dir = temporaryDirectory("gatehouse-lifecycle-nginx-");
    app = await startApp({
      version: "2.0.0",
      providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "alice", password: "alice-pw" }] }],
      jwt: { iss: "lifecycle-nginx", secret: "lifecycle-nginx-secret-0123456789abcdef", reuse_seconds: 30 },
      store: { enabled: true, path: join(dir, "gatehouse.db") },
    });
    mkdirSync(join(dir, "html/data"), { recursive: true });
    writeFileSync(join(dir, "html/data/ok.txt"), "protected\n");
    port = freePort();
    const gatehousePort = Number(new URL(app.url).port);
    nginx = await startNginx({
      dir,
      http: `
  upstream gatehouse { server 127.0.0.1:${gatehousePort}; keepalive 8; }
  server {
    listen 127.0.0.1:${port};
    location = /auth {
      internal;
      proxy_pass http://gatehouse/authenticate;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location /data/ {
      auth_request /auth;
      root ${dir}/html;
    }
  }`,
    });
  });
  afterAll(async () => {
    await nginx?.stop();
    await app?.stop();
  });

  /** GET /data/ok.txt through nginx from `source` (a loopback address curl binds to); the status. Not spawnSync: Gatehouse answers in this process. */
  async function fetchFrom(source: string, token: string, headers: string[] = []): Promise<number> {
    const run = Bun.spawn(
      ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--interface", source, "-H", `Authorization: Bearer ${token}`, ...headers.flatMap((header) => ["-H", header]), `http://127.0.0.1:${port}/data/ok.txt`],
      { stdout: "pipe" },
    );
    const status = await new Response(run.stdout).text();
    await run.exited;
    return Number(status);
  }

  test("a token limited to 127.0.0.5/32 passes from there only, whatever X-Real-IP the client sends; the unlimited one from anywhere", async () => {
    const create = async (body: Record<string, unknown>) => {
      const response = await fetch(`${app.url}/api/v1/tokens`, {
        method: "POST",
        headers: { authorization: basic("alice", "alice-pw"), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(201);
      return (await response.json()) as { token: string; id: string };
    };
    const limited = await create({ note: "only 127.0.0.5", allowed_networks: ["127.0.0.5/32"] });
    const open = await create({ note: "anywhere" });
    expect(await fetchFrom("127.0.0.5", limited.token)).toBe(200);
    expect(await fetchFrom("127.0.0.6", limited.token)).toBe(401);
    // A client's own X-Real-IP naming the allowed address: nginx replaces it with $remote_addr.
    expect(await fetchFrom("127.0.0.6", limited.token, ["X-Real-IP: 127.0.0.5"])).toBe(401);
    // Remembered answers change nothing: inside again, then outside again.
    expect(await fetchFrom("127.0.0.5", limited.token)).toBe(200);
    expect(await fetchFrom("127.0.0.7", limited.token)).toBe(401);
    expect(await fetchFrom("127.0.0.6", open.token)).toBe(200);
    expect(await fetchFrom("127.0.0.5", open.token)).toBe(200);
    // The audit log names the client nginx saw.
    const audit = await fetch(`${app.url}/api/v1/tokens/${limited.id}`, { headers: { authorization: basic("alice", "alice-pw") } });
    expect(((await audit.json()) as { last_used_reported_address: string }).last_used_reported_address).toBe("127.0.0.5");
    const refusals = logEvents(app).filter((line) => line.event === "tokens.network_refused");
    expect(refusals.map((line) => line.address)).toEqual(expect.arrayContaining(["127.0.0.6", "127.0.0.7"]));
  });
});
