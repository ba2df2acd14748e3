// server.socket (issue 24 § 1): Gatehouse on a Unix socket, alone or beside
// its TCP port; the socket file's mode and group; a stale file replaced, a
// live one or a non-socket refused, the file removed on SIGTERM; the peer of
// the socket trusted as a proxy (nginx's X-Real-IP names the client); the
// client and the health check over the socket; real nginx with
// `upstream { server unix:…; }`.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, lstatSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { basic } from "./helpers/app.ts";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx } from "./helpers/nginx.ts";

setDefaultTimeout(60_000);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function folder() {
  const dir = temporaryDirectory("gatehouse-socket-");
  dirs.push(dir);
  return dir;
}

const config = (socket: string, server: Record<string, unknown> = {}, extra = "") => `version: "2.0.0"
providers:
  - {type: plain, name: local, realm: local, users: [{username: alice, password: alice-pw}]}
jwt: {iss: socket-test, secret: "0123456789abcdef0123456789abcdef", exp: 300}
store: {enabled: true, path: ./data/gatehouse.db}
server: ${JSON.stringify({ socket, ...server })}
${extra}`;

/** Starts Gatehouse with the config as written: no TCP port unless the config names one. */
const start = (dir: string, yaml: string, env: Record<string, string | undefined> = {}) =>
  spawnGatehouse({ config: yaml, cwd: dir, env: { GATEHOUSE_BIND_ADDRESS: undefined, ...env } as unknown as Record<string, string> });

const viaSocket = (socket: string, path: string, init: RequestInit = {}) => fetch(`http://localhost${path}`, { ...init, unix: socket } as RequestInit);

describe("Gatehouse on a Unix socket", () => {
  test("alone: /authenticate and the API answer there, mode 0660 by default, no TCP port; SIGTERM removes the file", async () => {
    const dir = folder();
    const socket = join(dir, "auth.sock");
    const gatehouse = await start(dir, config(socket));
    try {
      expect(gatehouse.url).toBe(`unix:${socket}`);
      expect(lstatSync(socket).isSocket()).toBe(true);
      expect(statSync(socket).mode & 0o777).toBe(0o660);
      const answer = await viaSocket(socket, "/authenticate", { headers: { authorization: basic("alice", "alice-pw") } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get("authorization")).toStartWith("Bearer ");
      expect((await viaSocket(socket, "/authenticate", { headers: { authorization: basic("alice", "wrong") } })).status).toBe(401);
      const created = await viaSocket(socket, "/api/v1/tokens", { method: "POST", headers: { authorization: basic("alice", "alice-pw") } });
      expect(created.status).toBe(201);
      const started = gatehouse.logs.find((line) => line.includes("server.started"))!;
      expect(JSON.parse(started).attributes.url).toBe(`unix:${socket}`);
    } finally {
      await gatehouse.stop();
    }
    expect(existsSync(socket)).toBe(false);
  });

  test("beside server.port: both answer; socket_mode and socket_group as configured", async () => {
    const dir = folder();
    const socket = join(dir, "auth.sock");
    const gid = statSync(dir).gid;
    const gatehouse = await start(dir, config(socket, { host: "127.0.0.1", port: 0, socket_mode: "0600", socket_group: String(gid) }));
    try {
      expect(gatehouse.url).toStartWith("http://127.0.0.1:");
      expect(statSync(socket).mode & 0o777).toBe(0o600);
      expect(statSync(socket).gid).toBe(gid);
      for (const answer of [
        await fetch(`${gatehouse.url}/authenticate`, { headers: { authorization: basic("alice", "alice-pw") } }),
        await viaSocket(socket, "/authenticate", { headers: { authorization: basic("alice", "alice-pw") } }),
      ]) {
        expect(answer.status).toBe(200);
      }
    } finally {
      await gatehouse.stop();
    }
  });

  test("a stale socket file (its process killed) is replaced", async () => {
    const dir = folder();
    const socket = join(dir, "auth.sock");
    // A socket bound and left behind, with nothing listening: what a SIGKILL leaves.
    const left = Bun.spawnSync(["python3", "-c", `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(socket)})`]);
    expect(left.exitCode).toBe(0);
    expect(lstatSync(socket).isSocket()).toBe(true);
    const gatehouse = await start(dir, config(socket));
    try {
      expect((await viaSocket(socket, "/health")).status).toBe(200);
    } finally {
      await gatehouse.stop();
    }
  });

  test("refused, naming the path: a socket a live server holds, a file that is not a socket, a folder that does not exist", async () => {
    const dir = folder();
    const socket = join(dir, "auth.sock");
    const first = await start(dir, config(socket));
    try {
      const second = folder();
      await expect(start(second, config(socket))).rejects.toThrow(`server.socket: ${socket} is held by a running server`);
      expect((await viaSocket(socket, "/health")).status).toBe(200); // the first one is untouched
    } finally {
      await first.stop();
    }
    const plain = join(dir, "not-a-socket");
    writeFileSync(plain, "x");
    await expect(start(folder(), config(plain))).rejects.toThrow(`server.socket: ${plain} exists and is not a socket`);
    const nowhere = join(dir, "missing", "auth.sock");
    await expect(start(folder(), config(nowhere))).rejects.toThrow(`server.socket: cannot listen on ${nowhere}`);
  });

  test("config check: an absolute path; one socket serves one process (server.workers above 1 refused)", async () => {
    const dir = folder();
    const check = (yaml: string) => {
      writeFileSync(join(dir, "check.yaml"), yaml);
      const run = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "config", "check", join(dir, "check.yaml")], { cwd: dir });
      return { code: run.exitCode, output: run.stdout.toString() + run.stderr.toString() };
    };
    expect(check(config("relative.sock")).output).toContain('server.socket: "relative.sock" must be an absolute path');
    const workers = check(config(join(dir, "a.sock"), { workers: 2 }));
    expect(workers.code).toBe(1);
    expect(workers.output).toContain("server.socket: one socket serves one process");
  });

  test("the socket's peer is a proxy: its X-Real-IP names the client for the regulation of guessing", async () => {
    const dir = folder();
    const socket = join(dir, "auth.sock");
    const gatehouse = await start(dir, config(socket, {}, "regulation: {max_retries: 100, address_max_retries: 3, find_time: 60, ban_time: 60}\n"));
    try {
      const attempt = (address: string, username: string) =>
        viaSocket(socket, "/authenticate", { headers: { authorization: basic(username, "wrong"), "x-real-ip": address } });
      for (const username of ["a", "b", "c"]) await attempt("203.0.113.7", username);
      const banned = await viaSocket(socket, "/authenticate", { headers: { authorization: basic("alice", "alice-pw"), "x-real-ip": "203.0.113.7" } });
      expect(banned.status).toBe(401);
      expect(banned.headers.get("retry-after")).not.toBeNull();
      // Another client behind the same proxy is not concerned.
      const other = await viaSocket(socket, "/authenticate", { headers: { authorization: basic("alice", "alice-pw"), "x-real-ip": "198.51.100.4" } });
      expect(other.status).toBe(200);
    } finally {
      await gatehouse.stop();
    }
  });

  test("gatehouse client --socket and gatehouse healthcheck reach it there", async () => {
    const dir = folder();
    const socket = join(dir, "auth.sock");
    const yaml = config(socket);
    const gatehouse = await start(dir, yaml);
    try {
      writeFileSync(join(dir, "rc.json"), JSON.stringify({ version: 1, tokens: [{ server: "http://gatehouse\\.local:80", type: "basic", api: { username: "alice", password: "alice-pw" } }] }), { mode: 0o600 });
      const cli = (...args: string[]) =>
        Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], { cwd: dir, env: { ...process.env, GATEHOUSE_BIND_ADDRESS: undefined } as unknown as Record<string, string> });
      const whoami = cli("client", "--server", "http://gatehouse.local", "--socket", socket, "--rc", join(dir, "rc.json"), "whoami");
      expect([whoami.exitCode, whoami.stderr.toString()]).toEqual([0, ""]);
      expect(JSON.parse(whoami.stdout.toString()).username).toBe("alice");
      expect(cli("healthcheck", "--config", join(dir, "config.yaml")).exitCode).toBe(0);
    } finally {
      await gatehouse.stop();
    }
  });
});

describe.skipIf(!nginxAvailable("unix-socket (nginx's upstream over a Unix socket)"))("nginx in front, over the socket", () => {
  test("auth_request through `upstream { server unix:…; keepalive 16; }`", async () => {
    const dir = folder();
    const socket = join(dir, "auth.sock");
    // nginx's workers run as nobody under root: the socket must be open to them here (mode 0666 in this test).
    const gatehouse: RunningGatehouse = await start(dir, config(socket, { socket_mode: "0666" }));
    const port = freePort();
    const nginx = await startNginx({
      http: (root) => `
  upstream gatehouse_socket { server unix:${socket}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location = /auth {
      internal;
      proxy_pass http://gatehouse_socket/authenticate;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location /v1/ { auth_request /auth; alias ${root}/v1/; }
  }`,
    });
    try {
      Bun.spawnSync(["mkdir", "-p", join(nginx.dir, "v1")]);
      writeFileSync(join(nginx.dir, "v1", "index.html"), "ok\n", { mode: 0o644 });
      Bun.spawnSync(["chmod", "755", dir, join(nginx.dir, "v1")]);
      const allowed = await fetch(`http://127.0.0.1:${port}/v1/index.html`, { headers: { authorization: basic("alice", "alice-pw") } });
      expect([allowed.status, await allowed.text()]).toEqual([200, "ok\n"]);
      expect((await fetch(`http://127.0.0.1:${port}/v1/index.html`, { headers: { authorization: basic("alice", "nope") } })).status).toBe(401);
    } finally {
      await nginx.stop();
      await gatehouse.stop();
      rmSync(nginx.dir, { recursive: true, force: true });
    }
  });
});
