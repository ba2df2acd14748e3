// Signing keys: shared secrets that rotate (Tiled), managed key pairs with a
// JWKS and a lifecycle that never breaks a valid token, and RFC 8725 attacks.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import {
  SignJWT,
  UnsecuredJWT,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportSPKI,
  importJWK,
  jwtVerify,
  generateKeyPair,
} from "jose";
import { basic, json, startApp, type TestApp } from "./helpers/app.ts";
import { spawnGatehouse, temporaryDirectory, projectRoot } from "./helpers/gatehouse.ts";
import { storedRow, storedRows, storeIsPostgres, TEST_MASTER_KEY } from "./helpers/stored.ts";
import { verifyOwnJwt, type KeySet } from "../src/keys/keyset.ts";
import { decryptWithMasterKey, loadMasterKey } from "../src/keys/master-key.ts";
import { buildConfig } from "../src/config/load.ts";

const user = { username: "admin", password: "admin-password", roles: ["admin"] };
const reader = { username: "reader", password: "reader-password" };

function managedConfig(dir: string, overrides: Record<string, any> = {}) {
  return {
    version: "2.0.0",
    providers: [{ type: "plain", name: "local", realm: "local", users: [user, reader] }],
    jwt: { iss: "https://gatehouse.test", aud: "backend", exp: 60, alg: "ES256", reuse_seconds: 0, ...overrides.jwt },
    keys: { publish_ahead: 1, poll_interval: 1, retire_margin: 1, ...overrides.keys },
    // A previous key lives as long as the longest token it signed: here 60 s for both kinds.
    authentication: { access_token_max_age: 60 },
    store: { enabled: true, path: join(dir, "gatehouse.db") },
    include_legacy_headers: true,
    // The tests stand in for the reverse proxy, on loopback.
    trusted_proxies: ["127.0.0.1", "::1"],
  };
}

async function jwtFrom(app: TestApp, who = user) {
  const response = await fetch(`${app.url}/authenticate`, { headers: { authorization: basic(who.username, who.password) } });
  expect(response.status).toBe(200);
  return response.headers.get("authorization")!.slice("Bearer ".length);
}

const keySetOf = (app: TestApp) => app.gatehouse.keys.keySet as KeySet;
const expected = { issuer: "https://gatehouse.test", audience: "backend" };

describe("shared secrets (compatible mode)", () => {
  test("jwt.secrets rotates like Tiled: the first signs, every one verifies", async () => {
    const oldSecret = "an-old-secret-that-is-32-bytes-long!";
    const newSecret = "a-new-secret-that-is-also-32-bytes-long";
    const before = await startApp({ ...managedConfig(temporaryDirectory()), jwt: { iss: "i", secret: oldSecret, reuse_seconds: 0 } });
    const oldJwt = await jwtFrom(before);
    await before.stop();
    const after = await startApp(
      { ...managedConfig(temporaryDirectory()), jwt: { iss: "i", reuse_seconds: 0 } },
      { GATEHOUSE_JWT__SECRETS: `${newSecret};${oldSecret}` },
    );
    try {
      const newJwt = await jwtFrom(after);
      await jwtVerify(newJwt, new TextEncoder().encode(newSecret)); // signed with the first
      expect((await verifyOwnJwt(oldJwt, keySetOf(after), { issuer: "i" })).ok).toBe(true); // the old one still verifies
      const stranger = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer("i").setExpirationTime("1m").sign(new TextEncoder().encode("x".repeat(40)));
      expect((await verifyOwnJwt(stranger, keySetOf(after), { issuer: "i" })).ok).toBe(false);
      expect(await (await json(await fetch(`${after.url}/.well-known/jwks.json`)))).toEqual({ keys: [] }); // secrets are never published
    } finally {
      await after.stop();
    }
  });

  test("a secret shorter than 32 bytes: config check and serve both run it with a warning", () => {
    const dir = temporaryDirectory();
    const file = join(dir, "config.yaml");
    writeFileSync(file, "providers: []\njwt: {iss: i, secret: short}\nstore: {enabled: false}\n");
    const check = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "config", "check", file]);
    expect(check.exitCode).toBe(0);
    expect(check.stdout.toString()).toContain("warning: jwt.secret: shorter than 32 bytes");
    const loaded = buildConfig({ providers: [], jwt: { iss: "i", secret: "short" }, store: { enabled: false } }, "t", {});
    expect(loaded.warnings.join()).toContain("shorter than 32 bytes");
    const allowed = buildConfig({ providers: [], jwt: { iss: "i", secret: "short", allow_short_secret: true }, store: { enabled: false } }, "t", {});
    expect(allowed.weaknesses).toEqual([]);
  });
});

describe("managed keys", () => {
  let dir: string;
  let app: TestApp;
  beforeAll(async () => {
    dir = temporaryDirectory();
    app = await startApp(managedConfig(dir));
  });
  afterAll(() => app.stop());

  const admin = { authorization: basic(user.username, user.password) };

  test("JWTs carry a kid and verify against the published JWKS, as a backend would", async () => {
    const jwt = await jwtFrom(app);
    const header = decodeProtectedHeader(jwt);
    expect(header.alg).toBe("ES256");
    expect(header.kid).toBeString();
    const jwks = await fetch(`${app.url}/.well-known/jwks.json`);
    expect(jwks.headers.get("cache-control")).toBe("public, max-age=0"); // publish_ahead 1 s
    const published = (await json(jwks)).keys;
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ kid: header.kid, alg: "ES256", use: "sig", kty: "EC", crv: "P-256" });
    expect(published[0].d).toBeUndefined(); // never the private part
    const remote = createRemoteJWKSet(new URL(`${app.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(jwt, remote, expected);
    expect(payload.sub).toBe("local-admin");
  });

  test("the discovery document names the issuer and the JWKS", async () => {
    const discovery = await (await json(await fetch(`${app.url}/.well-known/openid-configuration`, { headers: { "x-forwarded-proto": "https", "x-forwarded-host": "auth.example.org", "x-forwarded-prefix": "/gatehouse" } })));
    expect(discovery.issuer).toBe("https://gatehouse.test");
    expect(discovery.jwks_uri).toBe("https://auth.example.org/gatehouse/.well-known/jwks.json");
    expect(discovery.id_token_signing_alg_values_supported).toEqual(["ES256"]);
  });

  test("key administration needs the admin role", async () => {
    expect((await fetch(`${app.url}/api/v1/keys`)).status).toBe(401);
    const forbidden = await fetch(`${app.url}/api/v1/keys`, { headers: { authorization: basic(reader.username, reader.password) } });
    expect(forbidden.status).toBe(403);
    expect(await json(forbidden)).toEqual({ error: "This needs the admin role" });
    expect((await fetch(`${app.url}/api/v1/keys/rotate`, { method: "POST", headers: { authorization: basic(reader.username, reader.password) } })).status).toBe(403);
    const listed = await (await json(await fetch(`${app.url}/api/v1/keys`, { headers: admin })));
    expect(listed.mode).toBe("managed");
    expect(listed.keys.map((key: any) => key.state)).toEqual(["current"]);
    expect(JSON.stringify(listed)).not.toContain("sealed");
  });

  test("a rotation publishes first, signs after publish_ahead, and never breaks a token; a backend follows across two rotations", async () => {
    const remote = createRemoteJWKSet(new URL(`${app.url}/.well-known/jwks.json`), { cooldownDuration: 0, cacheMaxAge: 0 });
    const first = await jwtFrom(app);
    const firstKid = decodeProtectedHeader(first).kid;

    const rotation = await fetch(`${app.url}/api/v1/keys/rotate`, { method: "POST", headers: admin });
    expect(rotation.status).toBe(202);
    const { rotating_to: secondKid } = await json(rotation);
    expect(secondKid).not.toBe(firstKid);
    // Published at once, not signing yet.
    expect((await (await json(await fetch(`${app.url}/.well-known/jwks.json`)))).keys.map((k: any) => k.kid)).toEqual([firstKid, secondKid]);
    expect(decodeProtectedHeader(await jwtFrom(app)).kid).toBe(firstKid);

    await Bun.sleep(2600); // publish_ahead (1 s), a poll (1 s) and a margin for a busy machine
    const second = await jwtFrom(app);
    expect(decodeProtectedHeader(second).kid).toBe(secondKid);
    await jwtVerify(first, remote, expected); // the previous key still verifies
    await jwtVerify(second, remote, expected);
    expect((await verifyOwnJwt(first, keySetOf(app), expected)).ok).toBe(true);

    const { rotating_to: thirdKid } = await (await json(await fetch(`${app.url}/api/v1/keys/rotate`, { method: "POST", headers: admin })));
    await Bun.sleep(2600);
    const third = await jwtFrom(app);
    expect(decodeProtectedHeader(third).kid).toBe(thirdKid);
    for (const jwt of [first, second, third]) await jwtVerify(jwt, remote, expected);

    const states = (await (await json(await fetch(`${app.url}/api/v1/keys`, { headers: admin })))).keys.map((key: any) => [key.kid, key.state]);
    expect(states).toEqual([
      [firstKid, "previous"],
      [secondKid, "previous"],
      [thirdKid, "current"],
    ]);
  }, 20_000);

  test("a previous key retires once its tokens have expired (exp + margin); its tokens are then refused", async () => {
    const managed = app.gatehouse.keys.managed!;
    const before = (await managed.list()).filter((key) => key.state === "previous");
    expect(before.length).toBeGreaterThan(0);
    const oldJwt = await new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: before[0].kid }).sign((await generateKeyPair("ES256")).privateKey);
    // Time travel: 62 s later every previous key is due (exp 60 s + margin 1 s).
    await managed.refresh(Date.now() + 62_000);
    const after = await managed.list();
    expect(after.filter((key) => key.state === "previous")).toEqual([]);
    const published = (await (await json(await fetch(`${app.url}/.well-known/jwks.json`)))).keys.map((k: any) => k.kid);
    for (const key of before) expect(published).not.toContain(key.kid);
    expect((await verifyOwnJwt(oldJwt, keySetOf(app), expected)).ok).toBe(false);
  });

  test("every key event is in the audit log", async () => {
    const events = (await storedRows<{ event: string }>(app, "SELECT event FROM audit_log WHERE event LIKE 'key.%' ORDER BY id")).map((row) => row.event);
    expect(events).toEqual(expect.arrayContaining(["key.created", "key.published", "key.activated", "key.deactivated", "key.retired"]));
  });

  test("RFC 8725 attacks are refused", async () => {
    const keySet = keySetOf(app);
    const good = await jwtFrom(app);
    const { kid } = decodeProtectedHeader(good);
    expect((await verifyOwnJwt(good, keySet, expected)).ok).toBe(true);
    const claims = decodeJwt(good);
    const refused = async (token: string) => expect((await verifyOwnJwt(token, keySet, expected)).ok).toBe(false);

    // alg: none
    await refused(new UnsecuredJWT(claims).encode());
    await refused(`${Buffer.from(JSON.stringify({ alg: "none", kid })).toString("base64url")}.${good.split(".")[1]}.`);
    // HS256 signed with the public key (algorithm confusion)
    const publicJwk = (await (await json(await fetch(`${app.url}/.well-known/jwks.json`)))).keys.find((k: any) => k.kid === kid);
    const pem = await exportSPKI((await importJWK(publicJwk, "ES256", { extractable: true })) as CryptoKey);
    for (const material of [pem, JSON.stringify(publicJwk)]) {
      await refused(await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid }).sign(new TextEncoder().encode(material)));
    }
    // unknown or injected kid
    const stranger = (await generateKeyPair("ES256")).privateKey;
    for (const badKid of ["unknown-kid", "../../../../etc/passwd", "' OR 1=1 --", "x".repeat(500), ""]) {
      await refused(await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: badKid }).sign(stranger));
    }
    await refused(await new SignJWT(claims).setProtectedHeader({ alg: "ES256" }).sign(stranger)); // no kid
    await refused(await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid }).sign(stranger)); // right kid, wrong key
    // altered payload, same signature
    const [head, , signature] = good.split(".");
    await refused(`${head}.${Buffer.from(JSON.stringify({ ...claims, roles: ["admin", "root"] })).toString("base64url")}.${signature}`);
    // oversized
    await refused(`${head}.${"A".repeat(10_000)}.${signature}`);
    // garbage
    for (const junk of ["", "a.b", "a.b.c", "eyJ.eyJ.", "....."]) await refused(junk);
    // wrong issuer, wrong audience, expired: refused by checks on a genuine signature
    expect((await verifyOwnJwt(good, keySet, { issuer: "https://elsewhere" })).ok).toBe(false);
    expect((await verifyOwnJwt(good, keySet, { ...expected, audience: "another-backend" })).ok).toBe(false);
  });

  test("an expired token is refused as expired", async () => {
    const dir2 = temporaryDirectory();
    const short = await startApp(managedConfig(dir2, { jwt: { exp: 1 } }));
    try {
      const jwt = await jwtFrom(short);
      await Bun.sleep(2100);
      expect(await verifyOwnJwt(jwt, keySetOf(short), expected)).toEqual({ ok: false, reason: "expired" });
    } finally {
      await short.stop();
    }
  });
});

describe("keys at rest and across processes", () => {
  test("a restart keeps the keys; private keys are unreadable without the master key", async () => {
    const dir = temporaryDirectory();
    const first = await startApp(managedConfig(dir));
    const kid = decodeProtectedHeader(await jwtFrom(first)).kid;
    await first.stop();
    const second = await startApp(managedConfig(dir));
    expect(decodeProtectedHeader(await jwtFrom(second)).kid).toBe(kid);
    await second.stop();

    // SQLite: the master key made on first start, next to the store; PostgreSQL: the one every instance is given.
    if (!storeIsPostgres) expect(readFileSync(join(dir, "master.key"), "utf8").length).toBeGreaterThan(32);
    const row = (await storedRow<{ private_key_sealed: string }>(second, "SELECT private_key_sealed FROM signing_keys WHERE kid = ?", kid!))!;
    expect(row.private_key_sealed).toStartWith("v1.");
    expect(row.private_key_sealed).not.toContain('"d"');
    const rightKey = storeIsPostgres
      ? await loadMasterKey({ env: TEST_MASTER_KEY, file: undefined, defaultFile: "" })
      : await loadMasterKey({ env: undefined, file: join(dir, "master.key"), defaultFile: "" });
    expect(JSON.parse(await decryptWithMasterKey(rightKey, row.private_key_sealed, kid!)).d).toBeString();
    const wrongKey = await loadMasterKey({ env: "some-other-master-key-value", file: undefined, defaultFile: "" });
    await expect(decryptWithMasterKey(wrongKey, row.private_key_sealed, kid!)).rejects.toThrow("cannot decrypt");
    await expect(decryptWithMasterKey(rightKey, row.private_key_sealed, "another-kid")).rejects.toThrow("cannot decrypt");
  });

  test("EdDSA and RS256 keys", async () => {
    for (const [alg, kty] of [["EdDSA", "OKP"], ["RS256", "RSA"]]) {
      const app = await startApp(managedConfig(temporaryDirectory(), { jwt: { alg } }));
      try {
        const jwt = await jwtFrom(app);
        expect(decodeProtectedHeader(jwt).alg).toBe(alg);
        const jwks = (await (await json(await fetch(`${app.url}/.well-known/jwks.json`)))).keys;
        expect(jwks[0].kty).toBe(kty);
        await jwtVerify(jwt, createRemoteJWKSet(new URL(`${app.url}/.well-known/jwks.json`)), expected);
      } finally {
        await app.stop();
      }
    }
  });

  test("two server processes on one store: a rotation started on one is followed by the other within a poll", async () => {
    const dir = temporaryDirectory();
    const yaml = JSON.stringify(managedConfig(dir, { keys: { publish_ahead: 0 } }));
    const env = { GATEHOUSE_MASTER_KEY: "a-master-key-shared-by-both-instances" };
    const a = await spawnGatehouse({ config: yaml, env });
    const b = await spawnGatehouse({ config: yaml, env });
    try {
      const kidOf = async (url: string) =>
        decodeProtectedHeader(
          (await fetch(`${url}/authenticate`, { headers: { authorization: basic(user.username, user.password) } })).headers.get("authorization")!.slice(7),
        ).kid;
      const before = await kidOf(a.url);
      expect(await kidOf(b.url)).toBe(before); // one first key, not one per instance
      const rotation = await fetch(`${a.url}/api/v1/keys/rotate`, { method: "POST", headers: { authorization: basic(user.username, user.password) } });
      const { rotating_to } = await json(rotation);
      expect(await kidOf(a.url)).toBe(rotating_to);
      await Bun.sleep(1800); // one poll interval and a margin for a busy machine
      expect(await kidOf(b.url)).toBe(rotating_to);
      const published = (await (await json(await fetch(`${b.url}/.well-known/jwks.json`)))).keys.map((k: any) => k.kid);
      expect(published).toEqual([before, rotating_to]);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  // SQLite here; test/cli.test.ts runs `gatehouse keys` on PostgreSQL.
  test.skipIf(storeIsPostgres)("gatehouse keys list | rotate | retire", async () => {
    const dir = temporaryDirectory();
    const file = join(dir, "config.yaml");
    writeFileSync(file, JSON.stringify(managedConfig(dir, { keys: { publish_ahead: 0 } })));
    const run = (...args: string[]) => {
      const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "keys", ...args, "--config", file], { cwd: dir });
      return { code: result.exitCode, out: result.stdout.toString(), err: result.stderr.toString() };
    };
    const listed = run("list");
    expect(listed.code).toBe(0);
    expect(listed.out).toContain("current");
    const firstKid = listed.out.split(/\s+/)[0];
    const rotated = run("rotate");
    expect(rotated.code).toBe(0);
    expect(rotated.out).toContain("rotating to");
    expect(run("list").out).toMatch(/previous[\s\S]*current/);
    expect(run("retire", "no-such-kid").code).toBe(1);
    // It signed until a moment ago: JWTs it signed may still be live, so only with --yes (issue 26 § 2).
    expect(run("retire", firstKid).code).toBe(1);
    const retired = run("retire", firstKid, "--yes");
    expect(retired.code).toBe(0);
    expect(run("list").out).toContain(`${firstKid}  ES256  retired`);
    expect(run("retire").code).toBe(2);
    // A kid is base64url: one that begins with "-" is a kid, not an option.
    const dashed = run("retire", "-no-such-kid");
    expect(dashed.code).toBe(1);
    expect(dashed.err).toContain("keys retire: no live key -no-such-kid");
  });
});
