// Regulation of guessing through HTTP: repeated failures ban a username and,
// separately, a client address (X-Real-IP from a trusted proxy); a banned
// attempt is answered without checking the password; a valid API token is
// never refused for someone else's failures; a success resets the username's
// count; bans are shared by instances on one store, audited, counted, and end.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { basic, json, localUsersConfig, startApp, type TestApp } from "./helpers/app.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { freePort, nginxAvailable, startNginx } from "./helpers/nginx.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";

const BAN_SECONDS = 2;

const USERS = ["alice", "bob", "carol", "dave", "frank"].map((username) => ({ username, password: `${username}-pw` }));

function config(dir: string, regulation: object = {}) {
  return localUsersConfig(dir, [...USERS, { username: "root", password: "root-pw", roles: ["admin"] }], {
    regulation: { max_retries: 3, address_max_retries: 5, find_time: 60, ban_time: BAN_SECONDS, ...regulation },
  });
}

let dir: string;
let app: TestApp;
/** A second instance on the same store. */
let other: TestApp;

const authenticate = (target: TestApp, authorization: string, headers: Record<string, string> = {}) =>
  fetch(`${target.url}/authenticate`, { headers: { authorization, ...headers } });
const attempts = (m: ReturnType<typeof parsePrometheus>, result: string) =>
  m.value("authotron_auth_provider_attempts_total", { provider_name: "local", provider_type: "Basic", realm: "local", result }) ?? 0;
const scrape = async (target: TestApp) => parsePrometheus(await target.gatehouse.metrics!.render());

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-regulation-");
  app = await startApp(config(dir));
  other = await startApp(config(dir));
});
afterAll(async () => {
  await app?.stop();
  await other?.stop();
});

describe("regulation", () => {
  test("a username is banned after max_retries failures: even its right password is refused unchecked, then released", async () => {
    // An API token of alice's, made before anything goes wrong.
    const created = await fetch(`${app.url}/api/v1/tokens`, { method: "POST", headers: { authorization: basic("alice", "alice-pw") } });
    expect(created.status).toBe(201);
    const token = (await json(created)).token as string;

    for (let i = 0; i < 3; i++) expect((await authenticate(app, basic("alice", `guess-${i}`))).status).toBe(401);
    const before = await scrape(app);
    const banned = await authenticate(app, basic("alice", "alice-pw"));
    // 401 on /authenticate (nginx's auth_request turns a 429 into a 500), with Retry-After.
    expect(banned.status).toBe(401);
    expect(Number(banned.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(banned.headers.get("retry-after"))).toBeLessThanOrEqual(BAN_SECONDS);
    // The password was not checked: no provider attempt was made.
    const after = await scrape(app);
    expect(attempts(after, "success") + attempts(after, "error")).toBe(attempts(before, "success") + attempts(before, "error"));
    expect(after.value("gatehouse_regulation_refusals_total", { kind: "username" })).toBeGreaterThanOrEqual(1);

    // Gatehouse's API answers 429; so does a login.
    const api = await fetch(`${app.url}/api/v1/tokens`, { headers: { authorization: basic("alice", "alice-pw") } });
    expect(api.status).toBe(429);
    expect(api.headers.get("retry-after")).not.toBeNull();
    expect(await api.json()).toEqual({ error: "Too many failed attempts; try again later" });
    const login = await fetch(`${app.url}/api/v1/auth/provider/local/token`, { method: "POST", body: new URLSearchParams({ username: "alice", password: "alice-pw" }) });
    expect(login.status).toBe(429);

    // Shared through the store: the other instance refuses too.
    expect((await authenticate(other, basic("alice", "alice-pw"))).status).toBe(401);
    // A valid API token of the same user still works: tokens are never regulated.
    expect((await authenticate(app, `Bearer ${token}`)).status).toBe(200);
    expect((await authenticate(other, `Bearer ${token}`)).status).toBe(200);
    // Other users are not affected.
    expect((await authenticate(app, basic("bob", "bob-pw"))).status).toBe(200);

    // Released after ban_time (the sweep runs every second), audited once.
    const deadline = Date.now() + 15_000;
    while ((await authenticate(app, basic("alice", "alice-pw"))).status !== 200) {
      expect(Date.now()).toBeLessThan(deadline);
      await Bun.sleep(200);
    }
    // The sweep that ends it runs every second; each transition is audited once and counted.
    const auditOf = async () => {
      const audit = await fetch(`${app.url}/api/v1/audit?event=regulation.*&subject=alice`, { headers: { authorization: basic("root", "root-pw") } });
      return (await json(audit)).events.map((event: { event: string; detail: { kind: string } }) => event.event);
    };
    while ((await auditOf()).length < 2) {
      expect(Date.now()).toBeLessThan(deadline);
      await Bun.sleep(200);
    }
    expect(await auditOf()).toEqual(["regulation.released", "regulation.banned"]);
    const metrics = await scrape(app);
    expect(metrics.value("gatehouse_regulation_bans_total", { kind: "username" })).toBe(1);
    expect(metrics.value("gatehouse_regulation_releases_total", { kind: "username" })).toBe(1);
  }, 30_000);

  test("a success resets the username's count", async () => {
    for (let i = 0; i < 2; i++) expect((await authenticate(app, basic("carol", `guess-${i}`))).status).toBe(401);
    expect((await authenticate(app, basic("carol", "carol-pw"))).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await authenticate(app, basic("carol", `again-${i}`))).status).toBe(401);
    // Four failures in all, but never three in a row: not banned.
    expect((await fetch(`${app.url}/api/v1/tokens`, { headers: { authorization: basic("carol", "carol-pw") } })).status).toBe(200);
  });

  test("an address named by a trusted proxy's X-Real-IP is banned after address_max_retries, whatever the usernames", async () => {
    const from = (address: string) => ({ "x-real-ip": address });
    for (let i = 0; i < 5; i++) expect((await authenticate(app, basic(`nobody-${i}`, "x"), from("203.0.113.7"))).status).toBe(401);
    const banned = await authenticate(app, basic("dave", "dave-pw"), from("203.0.113.7"));
    expect(banned.status).toBe(401);
    expect(banned.headers.get("retry-after")).not.toBeNull();
    // The same user from elsewhere is fine; X-Forwarded-For is never believed.
    expect((await authenticate(app, basic("dave", "dave-pw"), from("203.0.113.8"))).status).toBe(200);
    for (let i = 0; i < 6; i++) {
      expect((await authenticate(app, basic(`xff-${i}`, "x"), { "x-forwarded-for": "198.51.100.1" })).status).toBe(401);
    }
    expect((await authenticate(app, basic("dave", "dave-pw"), { "x-forwarded-for": "198.51.100.1" })).status).toBe(200);
  });

  test("regulation.trusted_proxies takes CIDR blocks: a proxy named by its block passes X-Real-IP on, and is never banned itself", async () => {
    const behindBlock = await startApp(config(temporaryDirectory("gatehouse-regulation-"), { trusted_proxies: ["127.0.0.0/8", "::1/128"] }));
    try {
      const from = (address: string) => ({ "x-real-ip": address });
      for (let i = 0; i < 5; i++) expect((await authenticate(behindBlock, basic(`nobody-${i}`, "x"), from("203.0.113.20"))).status).toBe(401);
      expect((await authenticate(behindBlock, basic("frank", "frank-pw"), from("203.0.113.20"))).status).toBe(401);
      // The guesser's address is banned, not the proxy's: everyone else still gets in through it.
      expect((await authenticate(behindBlock, basic("frank", "frank-pw"), from("203.0.113.21"))).status).toBe(200);
    } finally {
      await behindBlock.stop();
    }
  });

  test("regulation.authenticate_status: 429 for proxies that pass it on; regulation.enabled: false checks every attempt", async () => {
    const strict = await startApp(config(temporaryDirectory("gatehouse-regulation-"), { authenticate_status: 429 }));
    const off = await startApp(config(temporaryDirectory("gatehouse-regulation-"), { enabled: false }));
    try {
      for (const target of [strict, off]) {
        for (let i = 0; i < 3; i++) expect((await authenticate(target, basic("bob", `guess-${i}`))).status).toBe(401);
      }
      expect((await authenticate(strict, basic("bob", "bob-pw"))).status).toBe(429);
      expect((await authenticate(off, basic("bob", "bob-pw"))).status).toBe(200);
    } finally {
      await strict.stop();
      await off.stop();
    }
  });
});

describe("behind nginx's auth_request", () => {
  const enabled = nginxAvailable("regulation behind nginx");
  test.skipIf(!enabled)("a ban reaches the client through nginx as 401 with Retry-After (a 429 would become nginx's 500)", async () => {
    const strict = await startApp(config(temporaryDirectory("gatehouse-regulation-"), { authenticate_status: 429 }));
    const port = freePort();
    const strictPort = freePort();
    const nginx = await startNginx({
      http: (nginxDir) => {
        mkdirSync(join(nginxDir, "html"), { recursive: true });
        writeFileSync(join(nginxDir, "html/protected"), "ok\n");
        const server = (listen: number, upstream: string) => `
  server {
    listen 127.0.0.1:${listen};
    location = /auth {
      internal;
      proxy_pass ${upstream}/authenticate;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Real-IP $remote_addr;
    }
    location = /protected {
      auth_request /auth;
      auth_request_set $retry_after $upstream_http_retry_after;
      add_header Retry-After $retry_after always;
      root ${nginxDir}/html;
    }
  }`;
        return server(port, app.url) + server(strictPort, strict.url);
      },
    });
    try {
      const through = (listen: number, authorization: string) =>
        fetch(`http://127.0.0.1:${listen}/protected`, { headers: { authorization } });
      for (const listen of [port, strictPort]) {
        for (let i = 0; i < 3; i++) expect((await through(listen, basic("frank", `nginx-guess-${i}`))).status).toBe(401);
      }
      const banned = await through(port, basic("frank", "frank-pw"));
      expect(banned.status).toBe(401);
      expect(Number(banned.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      // Why 401 is the default: nginx refuses to pass any other refusal on.
      expect((await through(strictPort, basic("frank", "frank-pw"))).status).toBe(500);
      expect(nginx.errorLog()).toContain("auth request unexpected status: 429");
    } finally {
      await nginx.stop();
      await strict.stop();
    }
  }, 30_000);
});
