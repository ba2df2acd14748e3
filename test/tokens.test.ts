// API tokens through HTTP: the whole life of a token, the rules on scopes,
// expiry and ownership, the audit log, and what the database keeps.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { jwtVerify } from "jose";
import { basic, startApp, type TestApp, storeOf } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { storedRow, storedRows, storedText, storeIsPostgres } from "./helpers/stored.ts";

const JWT_SECRET = "tokens-test-secret-0123456789abcdef";
const jwtKey = new TextEncoder().encode(JWT_SECRET);
const ALICE = basic("alice", "alice-pw");
const BOB = basic("bob", "bob-pw");
const ADMIN = basic("root", "root-pw");

/** Every secret any test here was given, for the scan of the store at the end. */
const issued: string[] = [];

function config(dir: string, overrides: { aliceRoles?: string[]; withoutAlice?: boolean; tokens?: object } = {}) {
  const users = [
    { username: "bob", password: "bob-pw" },
    { username: "root", password: "root-pw", roles: ["admin"] },
  ];
  if (!overrides.withoutAlice) {
    users.push({ username: "alice", password: "alice-pw", roles: overrides.aliceRoles ?? ["ops"] } as never);
  }
  return {
    version: "2.0.0",
    logging: { level: "info", format: "json" },
    providers: [{ type: "plain", name: "local", realm: "local", users }],
    augmenters: [{ type: "plain", name: "staff", realm: "local", roles: { staff: ["alice", "bob"] } }],
    jwt: { iss: "gatehouse-test", exp: 600, secret: JWT_SECRET },
    include_legacy_headers: true,
    store: { enabled: true, type: "sqlite", path: join(dir, "gatehouse.db") },
    services: [
      { name: "ecflow", scopes: ["read", "write"] },
      { name: "tiled", scopes: ["read"] },
    ],
    ...(overrides.tokens ? { tokens: overrides.tokens } : {}),
  };
}

let dir: string;
let app: TestApp;

beforeAll(async () => {
  dir = temporaryDirectory("gatehouse-tokens-");
  app = await startApp(config(dir));
});
afterAll(async () => {
  await app?.stop();
});

async function call(method: string, path: string, authorization?: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      ...(authorization ? { authorization } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (json && typeof json.token === "string") issued.push(json.token);
  return { status: response.status, headers: response.headers, json };
}

const authenticate = (token: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${token}`, ...headers } });

async function claimsOf(response: Response) {
  const header = response.headers.get("authorization") ?? "";
  expect(header).toStartWith("Bearer ");
  return (await jwtVerify(header.slice(7), jwtKey, { issuer: "gatehouse-test" })).payload;
}

async function createToken(authorization: string, body: Record<string, unknown> = {}) {
  const created = await call("POST", "/api/v1/tokens", authorization, body);
  expect(created.status).toBe(201);
  return created.json as { token: string; id: string; expires_at: string | null; scopes: unknown };
}

describe("a token's life through HTTP", () => {
  test("created with Basic: the secret once, with the prefix, checksum length and the asked scopes", async () => {
    const created = await call("POST", "/api/v1/tokens", ALICE, { note: "ci job", expires_in: 3600, scopes: { ecflow: ["read"] } });
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    expect(created.json.token).toMatch(/^gth_[0-9A-Za-z]{36}$/);
    expect(created.json).toMatchObject({ username: "alice", realm: "local", note: "ci job", scopes: { ecflow: ["read"] }, status: "active" });
    expect(created.json.id).toMatch(/^tok_[0-9A-Za-z]{12}$/);
    const lifetime = Date.parse(created.json.expires_at) - Date.parse(created.json.created_at);
    expect(lifetime).toBe(3600 * 1000);
  });

  test("auth-o-tron's GET /token creates one with the default expiry (30 days)", async () => {
    const created = await call("GET", "/token", ALICE);
    expect(created.status).toBe(200);
    expect(Object.keys(created.json)).toEqual(["token"]);
    const listed = (await call("GET", "/api/v1/tokens", ALICE)).json.tokens as { id: string; expires_at: string; created_at: string }[];
    const newest = listed.at(-1)!;
    expect(Date.parse(newest.expires_at) - Date.parse(newest.created_at)).toBe(2592000 * 1000);
    const response = await authenticate(created.json.token);
    expect(response.status).toBe(200);
    // A token created without scopes by a direct login is unrestricted: every configured service and scope.
    expect((await claimsOf(response)).scopes).toEqual({ ecflow: ["read", "write"], tiled: ["read"], gatehouse: ["tokens", "sessions", "admin"] });
  });

  test("the token authenticates: JWT claims of the owner with the token's scopes, and the legacy headers", async () => {
    const { token } = await createToken(ALICE, { scopes: { ecflow: ["read"], tiled: ["read"] } });
    const response = await authenticate(token);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
    expect(response.headers.get("x-auth-username")).toBe("alice");
    expect(response.headers.get("x-auth-realm")).toBe("local");
    expect(response.headers.get("x-auth-roles")).toBe("ops,staff");
    const claims = await claimsOf(response);
    expect(claims).toMatchObject({
      sub: "local-alice",
      iss: "gatehouse-test",
      username: "alice",
      realm: "local",
      roles: ["ops", "staff"],
      scopes: { ecflow: ["read"], tiled: ["read"] },
    });
    // /whoami sees the same identity.
    const whoami = await call("GET", "/whoami", `Bearer ${token}`);
    expect(whoami.json).toMatchObject({ username: "alice", roles: ["ops", "staff"], scopes: { ecflow: ["read"], tiled: ["read"] } });
  });

  test("created with another token, within that token's scopes; the new token works too", async () => {
    const parent = await createToken(ALICE, { expires_in: 7200, scopes: { ecflow: ["read", "write"], gatehouse: ["tokens"] } });
    const child = await call("POST", "/api/v1/tokens", `Bearer ${parent.token}`, { note: "child", expires_in: 600, scopes: { ecflow: ["write"] } });
    expect(child.status).toBe(201);
    expect(child.json).toMatchObject({ username: "alice", scopes: { ecflow: ["write"] } });
    const claims = await claimsOf(await authenticate(child.json.token));
    expect(claims.scopes).toEqual({ ecflow: ["write"] });
    // Without scopes, a copy of the creating token's; without an expiry, never beyond the creating token's.
    const inherited = await call("POST", "/api/v1/tokens", `Bearer ${parent.token}`, {});
    expect(inherited.status).toBe(201);
    expect(inherited.json.scopes).toEqual({ ecflow: ["read", "write"], gatehouse: ["tokens"] });
    expect(Date.parse(inherited.json.expires_at)).toBeLessThanOrEqual(Date.parse(parent.expires_at!));
  });

  test("a token cannot create a token with more scopes than its own", async () => {
    const parent = await createToken(ALICE, { scopes: { ecflow: ["read"], gatehouse: ["tokens"] } });
    for (const scopes of [{ ecflow: ["write"] }, { tiled: ["read"] }, { ecflow: ["read", "write"] }]) {
      const refused = await call("POST", "/api/v1/tokens", `Bearer ${parent.token}`, { scopes });
      expect(refused.status).toBe(403);
      expect(refused.json.error).toContain("cannot grant more than the credential creating it holds");
      expect(refused.json.error).toContain("held: ecflow: read; gatehouse: tokens");
    }
    const denied = await storedRows(app, "SELECT * FROM audit_log WHERE event = 'token.create_denied' AND actor_token_id = ?", parent.id);
    expect(denied).toHaveLength(3);
    expect(denied[0]).toMatchObject({ actor_username: "alice", target_username: "alice", address: "127.0.0.1" });
    expect(denied[0].detail).toContain("ecflow:write not held");
  });

  test("a token cannot create a token that outlives it", async () => {
    const parent = await createToken(ALICE, { expires_in: 600 });
    for (const body of [{ expires_in: 601 }, { expires_at: new Date(Date.now() + 3600_000).toISOString() }]) {
      const refused = await call("POST", "/api/v1/tokens", `Bearer ${parent.token}`, body);
      expect(refused.status).toBe(403);
      expect(refused.json.error).toContain(`cannot outlive the token creating it, which expires at ${parent.expires_at}`);
    }
    // GET /token (the default expiry) is clamped to the creating token's expiry instead.
    const clamped = await call("GET", "/token", `Bearer ${parent.token}`);
    expect(clamped.status).toBe(200);
    const listed = (await call("GET", "/api/v1/tokens", ALICE)).json.tokens as { expires_at: string }[];
    expect(listed.at(-1)!.expires_at).toBe(parent.expires_at!);
  });

  test("unknown services and scopes are refused with the valid list", async () => {
    const unknownService = await call("POST", "/api/v1/tokens", ALICE, { scopes: { polytope: ["read"] } });
    expect(unknownService.status).toBe(400);
    expect(unknownService.json.error).toBe('Unknown service "polytope"; valid services and scopes: ecflow: read, write; tiled: read; gatehouse: tokens, sessions, admin');
    const unknownScope = await call("POST", "/api/v1/tokens", ALICE, { scopes: { tiled: ["write"] } });
    expect(unknownScope.status).toBe(400);
    expect(unknownScope.json.error).toBe('Unknown scope "write" for service "tiled"; valid services and scopes: ecflow: read, write; tiled: read; gatehouse: tokens, sessions, admin');
  });

  test("listing: the caller's tokens, never a secret, with the last use", async () => {
    const { token, id } = await createToken(ALICE, { note: "listed" });
    expect((await authenticate(token, { "x-real-ip": "203.0.113.9" })).status).toBe(200);
    for (const path of ["/tokens", "/api/v1/tokens"]) {
      const listed = await call("GET", path, ALICE);
      expect(listed.status).toBe(200);
      const text = JSON.stringify(listed.json);
      expect(text).not.toContain("gth_");
      const mine = (listed.json.tokens as any[]).find((entry) => entry.id === id);
      expect(mine).toMatchObject({ note: "listed", username: "alice", status: "active", last_used_address: "127.0.0.1", last_used_reported_address: "203.0.113.9" });
      expect(Date.now() - Date.parse(mine.last_used_at)).toBeLessThan(10_000);
      expect((listed.json.tokens as any[]).every((entry) => entry.username === "alice")).toBe(true);
    }
    const bobs = await call("GET", "/api/v1/tokens", BOB);
    expect((bobs.json.tokens as any[]).some((entry) => entry.id === id)).toBe(false);
    const one = await call("GET", `/api/v1/tokens/${id}`, ALICE);
    expect(one.json).toMatchObject({ id, note: "listed" });
    expect(JSON.stringify(one.json)).not.toContain("gth_");
    expect((await call("GET", `/api/v1/tokens/${id}`, BOB)).status).toBe(404);
  });

  test("the last use is written to the database in a batch, not per request", async () => {
    const { token, id } = await createToken(ALICE);
    const row = () => storedRow(app, "SELECT last_used_at, last_used_address FROM tokens WHERE id = ?", id);
    for (let i = 0; i < 5; i++) expect((await authenticate(token)).status).toBe(200);
    expect((await row()).last_used_at).toBeNull();
    await app.gatehouse.tokens!.flushUses();
    expect((await row()).last_used_address).toBe("127.0.0.1");
    expect(Date.now() - (await row()).last_used_at).toBeLessThan(10_000);
  });

  test("revoked by its secret (auth-o-tron's DELETE /token/{token}): refused on the very next request", async () => {
    const { token, id } = await createToken(ALICE);
    expect((await authenticate(token)).status).toBe(200);
    const deleted = await fetch(`${app.url}/token/${token}`, { method: "DELETE", headers: { authorization: ALICE } });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe("");
    const refused = await authenticate(token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("authorization")).toBeNull();
    expect((await call("GET", "/api/v1/tokens", ALICE)).json.tokens.some((entry: any) => entry.id === id)).toBe(false);
    const withRevoked = await call("GET", "/api/v1/tokens?include_revoked=true", ALICE);
    expect(withRevoked.json.tokens.find((entry: any) => entry.id === id)).toMatchObject({ status: "revoked" });
    // Revoking it again: it is gone.
    expect((await call("DELETE", `/token/${token}`, ALICE)).status).toBe(404);
  });

  test("revoked by id (REST): refused on the very next request, even when a JWT for it was just reused", async () => {
    const { token, id } = await createToken(ALICE, { scopes: { tiled: ["read"] } });
    for (let i = 0; i < 3; i++) expect((await authenticate(token)).status).toBe(200);
    expect((await call("DELETE", `/api/v1/tokens/${id}`, ALICE)).status).toBe(204);
    expect((await authenticate(token)).status).toBe(401);
    expect((await call("GET", "/whoami", `Bearer ${token}`)).status).toBe(401);
  });

  // SQLite only: `gatehouse tokens revoke` refuses a PostgreSQL store in this version (src/cli/common.ts storeConfig);
  // a revocation seen by other instances on PostgreSQL is test/pg-cluster.test.ts's and pg-services.test.ts's.
  test.skipIf(storeIsPostgres)("revoked by another process sharing the store (the operator's CLI): refused within milliseconds", async () => {
    const { token, id } = await createToken(ALICE);
    for (let i = 0; i < 3; i++) expect((await authenticate(token)).status).toBe(200); // its success is remembered
    const configFile = join(dir, "config.yaml");
    await Bun.write(configFile, JSON.stringify(config(dir)));
    const main = join(import.meta.dir, "../src/main.ts");
    const cli = Bun.spawnSync([process.execPath, "run", main, "tokens", "revoke", id, "--config", configFile], { cwd: dir });
    expect(cli.exitCode).toBe(0);
    await Bun.sleep(2); // the store's change counter is read at most once a millisecond
    expect((await authenticate(token)).status).toBe(401);
  });

  test("refused once expired", async () => {
    const { token } = await createToken(ALICE, { expires_at: new Date(Date.now() + 1200).toISOString() });
    expect((await authenticate(token)).status).toBe(200);
    await Bun.sleep(1300);
    expect((await authenticate(token)).status).toBe(401);
    expect((await call("GET", "/api/v1/tokens", ALICE)).json.tokens.some((entry: any) => entry.status === "expired")).toBe(true);
  });

  test("another user's delete is refused with 404, nothing is deleted, and the attempt is audited", async () => {
    const { token, id } = await createToken(ALICE);
    const byId = await call("DELETE", `/api/v1/tokens/${id}`, BOB, undefined, { "x-forwarded-for": "198.51.100.7, 10.0.0.1" });
    expect(byId.status).toBe(404);
    expect(byId.json.error).toBe(`Token ${id} not found`);
    const bySecret = await call("DELETE", `/token/${token}`, BOB);
    expect(bySecret.status).toBe(404);
    expect(bySecret.json.error).toBe("Token not found");
    // ... answered exactly like a token that does not exist:
    expect((await call("DELETE", "/api/v1/tokens/tok_doesnotexist", BOB)).json.error).toBe("Token tok_doesnotexist not found");
    expect((await authenticate(token)).status).toBe(200);
    const denied = await storedRows(app, "SELECT * FROM audit_log WHERE event = 'token.delete_denied' AND token_id = ? ORDER BY id", id);
    expect(denied).toHaveLength(2);
    expect(denied[0]).toMatchObject({
      actor_username: "bob",
      actor_realm: "local",
      target_username: "alice",
      target_realm: "local",
      address: "127.0.0.1",
      reported_address: "198.51.100.7",
    });
  });

  test("an admin lists and revokes any user's tokens; a non-admin may not ask for others'", async () => {
    const { token, id } = await createToken(ALICE, { note: "seen by admin" });
    expect((await call("GET", "/api/v1/tokens?user=alice&realm=local", BOB)).status).toBe(403);
    const listed = await call("GET", "/api/v1/tokens?user=alice&realm=local", ADMIN);
    expect(listed.status).toBe(200);
    expect(listed.json.tokens.find((entry: any) => entry.id === id)).toMatchObject({ note: "seen by admin" });
    expect(listed.json.tokens.every((entry: any) => entry.username === "alice")).toBe(true);
    const all = await call("GET", "/api/v1/tokens?all=true", ADMIN);
    expect(new Set(all.json.tokens.map((entry: any) => entry.username)).has("alice")).toBe(true);
    expect((await call("GET", `/api/v1/tokens/${id}`, ADMIN)).status).toBe(200);
    expect((await call("DELETE", `/api/v1/tokens/${id}`, ADMIN)).status).toBe(204);
    expect((await authenticate(token)).status).toBe(401);
    const events = await storedRows(app, "SELECT event, actor_username, target_username FROM audit_log WHERE token_id = ? ORDER BY id", id);
    expect(events).toEqual([
      { event: "token.created", actor_username: "alice", target_username: "alice" },
      { event: "token.revoked", actor_username: "root", target_username: "alice" },
    ]);
  });

  test("X-Auth-Realm must be the owner's realm", async () => {
    const { token } = await createToken(ALICE);
    expect((await authenticate(token, { "x-auth-realm": "local" })).status).toBe(200);
    expect((await authenticate(token, { "x-auth-realm": "ecmwf" })).status).toBe(401);
  });
});

describe("bad requests are clear 4xx answers, never 500", () => {
  test.each([
    ["a string expiry", { expires_in: "soon" }, "expires_in: a whole number of seconds"],
    ["a zero expiry", { expires_in: 0 }, "expires_in: a whole number of seconds"],
    ["both expiries", { expires_in: 60, expires_at: new Date(Date.now() + 60_000).toISOString() }, "Give expires_in or expires_at, not both"],
    ["a date in the past", { expires_at: "2001-01-01T00:00:00Z" }, "The expiry must be in the future"],
    ["a date that is not one", { expires_at: "next tuesday" }, 'expires_at: "next tuesday" is not an RFC 3339 date'],
    ["a year alone", { expires_at: "2027" }, 'expires_at: "2027" is not an RFC 3339 date'],
    ["a date read differently in different countries", { expires_at: "12/01/2026" }, 'expires_at: "12/01/2026" is not an RFC 3339 date'],
    ["a date without a time zone", { expires_at: "2027-01-01T00:00:00" }, "is not an RFC 3339 date"],
    ["beyond the maximum", { expires_in: 31536001 }, "The longest lifetime of a token is 31536000 seconds (365 days)"],
    ["a token that never expires", { expires_in: null }, "Tokens that never expire are not allowed here"],
    ["scopes that are not a map", { scopes: ["ecflow"] }, "scopes: an object of service"],
    ["a note too long", { note: "x".repeat(201) }, "Invalid request: note"],
    ["a misspelt field", { note: "typo", expire_in: 60 }, "Unknown field: expire_in; known: note, expires_in, expires_at, scopes"],
  ])("%s", async (_name, body, message) => {
    const refused = await call("POST", "/api/v1/tokens", ALICE, body);
    expect(refused.status).toBe(400);
    expect(refused.json.error).toContain(message);
  });

  test("a body that is not JSON", async () => {
    const refused = await call("POST", "/api/v1/tokens", ALICE, "{not json");
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe("The request body is not valid JSON");
  });

  test("no credentials: 401 JSON with the challenge; a wrong password too", async () => {
    for (const authorization of [undefined, basic("alice", "wrong"), "Bearer gth_000000000000000000000000000000000000"]) {
      const refused = await call("GET", "/tokens", authorization);
      expect(refused.status).toBe(401);
      expect(refused.json).toEqual({ error: "Unauthorized access" });
      expect(refused.headers.get("www-authenticate")).toBe('Basic realm="local"');
    }
  });
});

describe("the owner's roles are read again on every use", () => {
  test("a role removed from the owner (config change, same database) no longer appears on the token's JWT", async () => {
    const { token } = await createToken(ALICE, { scopes: { ecflow: ["read"] } });
    expect((await claimsOf(await authenticate(token))).roles).toEqual(["ops", "staff"]);
    // A second server, on a copy of the same database (SQLite) or on the same database (PostgreSQL,
    // where instances share one), where alice no longer has "ops".
    let other = dir;
    if (!storeIsPostgres) {
      other = temporaryDirectory("gatehouse-tokens-db-");
      await app.gatehouse.tokens!.flushUses();
      storeOf(app.gatehouse).sqlite.exec(`VACUUM INTO '${join(other, "gatehouse.db")}'`);
      // With the master key that seals the sessions' signing key kept in the store (issue 9, finding 1).
      copyFileSync(join(dir, "master.key"), join(other, "master.key"));
    }
    const changed = await startApp(config(other, { aliceRoles: [] }));
    try {
      const response = await fetch(`${changed.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      const claims = await claimsOf(response);
      expect(claims.roles).toEqual(["staff"]);
      expect(claims.scopes).toEqual({ ecflow: ["read"] });
      expect(response.headers.get("x-auth-roles")).toBe("staff");
    } finally {
      await changed.stop();
    }
    // And where alice is gone altogether, her token no longer authenticates.
    const gone = await startApp(config(other, { withoutAlice: true }));
    try {
      expect((await fetch(`${gone.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    } finally {
      await gone.stop();
    }
  });
});

describe("shutdown", () => {
  test("the last uses not written yet are written when the server closes", async () => {
    const ownDir = temporaryDirectory("gatehouse-tokens-close-");
    const own = await startApp(config(ownDir));
    const created = await fetch(`${own.url}/api/v1/tokens`, { method: "POST", headers: { authorization: ALICE } });
    const { token, id } = (await created.json()) as { token: string; id: string };
    issued.push(token);
    expect((await fetch(`${own.url}/authenticate`, { headers: { authorization: `Bearer ${token}`, "x-real-ip": "192.0.2.1" } })).status).toBe(200);
    await own.stop();
    const row = await storedRow(own, "SELECT last_used_at, last_used_address, last_used_reported_address FROM tokens WHERE id = ?", id);
    expect(row).toMatchObject({ last_used_address: "127.0.0.1", last_used_reported_address: "192.0.2.1" });
    expect(Date.now() - row.last_used_at).toBeLessThan(10_000);
    const seen = await storedRow(own, "SELECT first_seen, last_seen FROM users WHERE username = 'alice'");
    expect(seen.last_seen).toBeGreaterThanOrEqual(row.last_used_at);
  });
});

describe("a malformed token never reaches the database", () => {
  // SQLite only: it counts bun:sqlite's statements (the same code path decides before any store is asked, on both).
  test.skipIf(storeIsPostgres)("checksum-invalid, wrong prefix or wrong length: refused without a single SQLite statement", async () => {
    // Count every statement run by connections opened from now on (a server of its own).
    let statements = 0;
    const wrapped = Symbol("counted");
    const counting = (statement: any) => {
      if (statement[wrapped]) return statement;
      for (const name of ["get", "all", "values", "run", "iterate"]) {
        const run = statement[name];
        statement[name] = (...args: unknown[]) => {
          statements++;
          return run.apply(statement, args);
        };
      }
      statement[wrapped] = true;
      return statement;
    };
    const { prepare, query } = Database.prototype;
    Database.prototype.prepare = function (this: Database, ...args: Parameters<typeof prepare>) {
      return counting(prepare.apply(this, args));
    } as typeof prepare;
    Database.prototype.query = function (this: Database, ...args: Parameters<typeof query>) {
      return counting(query.apply(this, args));
    } as typeof query;
    const own = await startApp(config(temporaryDirectory("gatehouse-tokens-counted-")));
    try {
      const created = await fetch(`${own.url}/api/v1/tokens`, { method: "POST", headers: { authorization: ALICE } });
      const { token } = (await created.json()) as { token: string };
      issued.push(token);
      const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
      const malformed = [flip(token, 10), flip(token, token.length - 1), token.slice(0, -1), `${token}0`, `ghp_${token.slice(4)}`];
      statements = 0;
      for (const value of malformed) {
        expect((await fetch(`${own.url}/authenticate`, { headers: { authorization: `Bearer ${value}` } })).status).toBe(401);
      }
      expect(statements).toBe(0);
      // The control: a well-formed token is read from the database (with its owner's name, the first
      // time), and the store's change counter is read to stamp the remembered success...
      expect((await fetch(`${own.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect(statements).toBe(3);
      // ... then, within jwt.reuse_seconds, only the change counter is read (at most once a millisecond).
      statements = 0;
      expect((await fetch(`${own.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect(statements).toBeLessThanOrEqual(1);
    } finally {
      Database.prototype.prepare = prepare;
      Database.prototype.query = query;
      await own.stop();
    }
  });
});

describe("store.enabled: false", () => {
  test("the token routes answer 503 JSON; /authenticate still works; no database is created", async () => {
    const off = temporaryDirectory("gatehouse-tokens-off-");
    const raw = config(off);
    raw.store.enabled = false;
    const disabled = await startApp(raw);
    try {
      const routes: [string, string][] = [
        ["GET", "/token"],
        ["GET", "/tokens"],
        ["DELETE", "/token/gth_x"],
        ["POST", "/api/v1/tokens"],
        ["GET", "/api/v1/tokens"],
        ["GET", "/api/v1/tokens/tok_x"],
        ["DELETE", "/api/v1/tokens/tok_x"],
      ];
      for (const [method, path] of routes) {
        const response = await fetch(`${disabled.url}${path}`, { method, headers: { authorization: ALICE } });
        expect({ method, path, status: response.status }).toEqual({ method, path, status: 503 });
        expect(await response.json()).toEqual({ error: "Token store is disabled" });
      }
      const ok = await fetch(`${disabled.url}/authenticate`, { headers: { authorization: ALICE } });
      expect(ok.status).toBe(200);
      expect(existsSync(join(off, "gatehouse.db"))).toBe(false);
    } finally {
      await disabled.stop();
    }
  });
});

describe("tokens that never expire", () => {
  test("are given only when tokens.allow_non_expiring is set", async () => {
    const allowed = await startApp(config(temporaryDirectory("gatehouse-tokens-forever-"), { tokens: { allow_non_expiring: true } }));
    try {
      const created = await fetch(`${allowed.url}/api/v1/tokens`, {
        method: "POST",
        headers: { authorization: ALICE, "content-type": "application/json" },
        body: JSON.stringify({ expires_in: null }),
      });
      expect(created.status).toBe(201);
      const body = (await created.json()) as { token: string; expires_at: string | null };
      issued.push(body.token);
      expect(body.expires_at).toBeNull();
      // A never-expiring token may create tokens with any expiry up to the maximum.
      const child = await fetch(`${allowed.url}/api/v1/tokens`, {
        method: "POST",
        headers: { authorization: `Bearer ${body.token}`, "content-type": "application/json" },
        body: JSON.stringify({ expires_in: 31536000 }),
      });
      expect(child.status).toBe(201);
      issued.push(((await child.json()) as { token: string }).token);
    } finally {
      await allowed.stop();
    }
  });
});

describe("the store", () => {
  // SQLite: the bytes of the .db and -wal files; PostgreSQL: every row of every table as text.
  test("holds no token secret in clear (SQLite: in the .db and -wal files), while open and after closing", async () => {
    expect(issued.length).toBeGreaterThan(20);
    const scan = async () => {
      const content = await storedText(app);
      expect(content.length).toBeGreaterThan(0);
      for (const secret of issued) {
        expect(content.includes(secret)).toBe(false);
        expect(content.includes(secret.slice(4, 34))).toBe(false);
      }
    };
    await scan();
    await app.stop();
    await scan();
    app = undefined as never;
  });
});
