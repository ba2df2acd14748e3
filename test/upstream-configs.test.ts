// auth-o-tron's own example configs (0.3.7's HS256 `jwt.secret`, 0.4.0's RS256
// `jwt.private_key` + `kid`) pass `config check` and serve; the RS256 JWT
// verifies with the configured public key, pinned to RS256, under its kid;
// staged rotation publishes a key before it signs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, decodeProtectedHeader, importPKCS8, importSPKI, jwtVerify } from "jose";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { basic, startApp } from "./helpers/app.ts";
import { configuredKeySet } from "../src/keys/configured.ts";
import { verifyOwnJwt } from "../src/keys/keyset.ts";

const rsa = (modulusLength = 2048) => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength });
  return {
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
    publicPem: publicKey.export({ format: "pem", type: "spki" }) as string,
  };
};

// The plain users of auth-o-tron's providers.md (hashes of alicepass123 and bobpass456).
const PLAIN_PROVIDER = `
providers:
  - type: plain
    name: local_users
    realm: internal
    users:
      - username: alice
        # Hash of alicepass123 for this example only.
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$YXV0aG90cm9uLWRvYy0wNQ$bnM0TZfPrwI0Eb2pfBCK39sjwVCHBBUZYykFUnbwWfw"
        roles: [admin, developer]
      - username: bob
        # Hash of bobpass456 for this example only.
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$YXV0aG90cm9uLWRvYy0wNg$yVm3rzolxmoIYoxZyU/TR7q/PYcU73TsTxUdmXxyIRA"
        roles: [developer]
`;

// auth-o-tron 0.4.0: docs/src/configuration/jwt.md, with the key injected through the environment as it recommends.
const CONFIG_040 = `version: "2.0.0"
server:
  host: "0.0.0.0"
  port: 8080
logging:
  level: INFO
  format: json
${PLAIN_PROVIDER}
jwt:
  iss: auth-o-tron.example.com
  aud: my-application
  exp: 3600
  kid: key-2026-01
  private_key: set-via-AOT_JWT__PRIVATE_KEY
include_legacy_headers: true
store:
  enabled: false
`;

// auth-o-tron 0.3.7: a shared HS256 secret, clear-text passwords, a MongoDB store (not available: tokens are imported).
const CONFIG_037 = `version: "2.0.0"
server: {host: "0.0.0.0", port: 8080}
metrics: {enabled: false}
logging: {level: info, format: console}
auth: {timeout_in_ms: 3000}
providers:
  - type: plain
    name: local
    realm: local
    users:
      - {username: admin, password: admin-password, roles: [admin]}
jwt:
  iss: auth-o-tron
  aud: my-application
  exp: 3600
  secret: a-shared-secret-of-more-than-32-bytes
include_legacy_headers: false
`;

function gatehouseCli(args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: temporaryDirectory(),
    env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", ...env },
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

const writeConfig = (text: string) => {
  const path = join(temporaryDirectory(), "config.yaml");
  writeFileSync(path, text);
  return path;
};

describe("auth-o-tron 0.4.0's RS256 config", () => {
  const key = rsa(2048);
  let server: RunningGatehouse;
  beforeAll(async () => {
    server = await spawnGatehouse({ config: CONFIG_040, env: { AOT_JWT__PRIVATE_KEY: key.privatePem } });
  });
  afterAll(() => server?.stop());

  test("passes config check with the key from AOT_JWT__PRIVATE_KEY (multi-line) or GATEHOUSE_JWT__PRIVATE_KEY", () => {
    const path = writeConfig(CONFIG_040);
    for (const variable of ["AOT_JWT__PRIVATE_KEY", "GATEHOUSE_JWT__PRIVATE_KEY"]) {
      const checked = gatehouseCli(["config", "check", path], { [variable]: key.privatePem });
      expect(checked.stderr).toBe("");
      expect(checked.stdout).toContain("ok (1 providers, 0 augmenters)");
      expect(checked.code).toBe(0);
    }
  });

  test("a JWT from /authenticate verifies with the configured public key, pinned to RS256, under the configured kid", async () => {
    const response = await fetch(`${server.url}/authenticate`, { headers: { authorization: basic("alice", "alicepass123") } });
    expect(response.status).toBe(200);
    const token = response.headers.get("authorization")!.slice("Bearer ".length);
    expect(decodeProtectedHeader(token)).toEqual({ alg: "RS256", typ: "JWT", kid: "key-2026-01" });
    const { payload } = await jwtVerify(token, await importSPKI(key.publicPem, "RS256"), {
      algorithms: ["RS256"],
      issuer: "auth-o-tron.example.com",
      audience: "my-application",
    });
    expect(payload).toMatchObject({ sub: "internal-alice", username: "alice", realm: "internal", roles: ["admin", "developer"] });
    expect(payload.exp! - payload.iat!).toBe(3600);
    // Another RSA key with the same kid does not verify it: the key, not the header, decides.
    await expect(jwtVerify(token, await importSPKI(rsa().publicPem, "RS256"), { algorithms: ["RS256"] })).rejects.toThrow();
  });

  test("the public half is published at /.well-known/jwks.json under the kid; nothing private", async () => {
    const jwks: any = await (await fetch(`${server.url}/.well-known/jwks.json`)).json();
    expect(jwks.keys).toHaveLength(1);
    const [published] = jwks.keys;
    expect(published).toMatchObject({ kty: "RSA", kid: "key-2026-01", alg: "RS256", use: "sig", e: "AQAB" });
    expect(Object.keys(published).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
    const expected = await crypto.subtle.exportKey("jwk", await importSPKI(key.publicPem, "RS256", { extractable: true }));
    expect(published.n).toBe(expected.n);
  });

  test("logs are auth-o-tron's JSON lines (logging.level INFO)", () => {
    const started = server.logs.map((line) => JSON.parse(line)).find((line) => line.body === "server.started");
    expect(started).toMatchObject({ severityText: "INFO", severityNumber: 9, attributes: { "event.name": "server.started" } });
  });

  test("weak or malformed keys and an empty kid are refused at check and at start-up, naming the field, never showing the key", () => {
    const path = writeConfig(CONFIG_040);
    const cases: [Record<string, string>, string][] = [
      [{ AOT_JWT__PRIVATE_KEY: rsa(1024).privatePem }, "jwt.private_key: an RSA key of 1024 bits is too weak; at least 2048"],
      [{ AOT_JWT__PRIVATE_KEY: "not a key" }, "jwt.private_key: is not a PEM private key"],
      [
        { AOT_JWT__PRIVATE_KEY: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }) as string },
        "jwt.private_key: is a ec key; RS256 needs an RSA key",
      ],
      [{ AOT_JWT__PRIVATE_KEY: key.privatePem, AOT_JWT__KID: "" }, "jwt.kid: must not be empty"],
    ];
    for (const [env, message] of cases) {
      for (const command of [["config", "check", path], ["serve", "--config", path]]) {
        const result = gatehouseCli(command, env);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(message);
        expect(result.stderr).not.toContain("PRIVATE KEY");
      }
    }
  });

  test("the key may also come from private_key_file, or as one line with \\n escapes", async () => {
    const dir = temporaryDirectory();
    writeFileSync(join(dir, "jwt-private.pem"), key.privatePem);
    const fromFile = CONFIG_040.replace("private_key: set-via-AOT_JWT__PRIVATE_KEY", `private_key_file: ${join(dir, "jwt-private.pem")}`);
    expect(gatehouseCli(["config", "check", writeConfig(fromFile)]).code).toBe(0);
    const oneLine = key.privatePem.trim().replace(/\n/g, "\\n");
    expect(gatehouseCli(["config", "check", writeConfig(CONFIG_040)], { AOT_JWT__PRIVATE_KEY: oneLine }).code).toBe(0);
  });
});

describe("staged rotation with jwt.additional_public_keys", () => {
  const oldKey = rsa();
  const newKey = rsa();
  const config = (signing: { privatePem: string }, kid: string, additional: { kid: string; public_key: string }[]) => ({
    providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "u", password: "p" }] }],
    store: { enabled: false },
    jwt: { iss: "issuer", aud: "aud", exp: 600, kid, private_key: signing.privatePem, additional_public_keys: additional },
  });

  test("step 2: the next key is published (and verifies) before it signs; step 3: it signs and the old one still verifies", async () => {
    const before = await startApp(config(oldKey, "key-old", [{ kid: "key-new", public_key: newKey.publicPem }]));
    const after = await startApp(config(newKey, "key-new", [{ kid: "key-old", public_key: oldKey.publicPem }]));
    try {
      const kids = async (app: typeof before) => ((await (await fetch(`${app.url}/.well-known/jwks.json`)).json()) as any).keys.map((k: any) => k.kid);
      expect(await kids(before)).toEqual(["key-old", "key-new"]);
      expect(await kids(after)).toEqual(["key-new", "key-old"]);
      const signedBy = async (app: typeof before) =>
        (await fetch(`${app.url}/authenticate`, { headers: { authorization: basic("u", "p") } })).headers.get("authorization")!.slice(7);
      const oldToken = await signedBy(before);
      const newToken = await signedBy(after);
      expect(decodeProtectedHeader(oldToken).kid).toBe("key-old");
      expect(decodeProtectedHeader(newToken).kid).toBe("key-new");
      // Gatehouse's own verification (session access tokens) follows the same key set.
      const expected = { issuer: "issuer", audience: "aud" };
      expect(await verifyOwnJwt(oldToken, after.gatehouse.keys.keySet, expected)).toMatchObject({ ok: true, kid: "key-old" });
      expect(await verifyOwnJwt(newToken, before.gatehouse.keys.keySet, expected)).toMatchObject({ ok: true, kid: "key-new" });
    } finally {
      await before.stop();
      await after.stop();
    }
  });

  test("a token with no kid, an unknown kid, or another key's signature under a known kid is refused", async () => {
    const keySet = await configuredKeySet({ kid: "key-new", privateKeyPem: newKey.privatePem, additionalPublicKeys: [] });
    const sign = async (privatePem: string, header: Record<string, string>) =>
      new SignJWT({}).setProtectedHeader({ alg: "RS256", ...header }).setIssuer("issuer").setExpirationTime("5m").sign(await importPKCS8(privatePem, "RS256"));
    const expected = { issuer: "issuer" };
    expect(await verifyOwnJwt(await sign(newKey.privatePem, { kid: "key-new" }), keySet, expected)).toMatchObject({ ok: true });
    expect(await verifyOwnJwt(await sign(newKey.privatePem, {}), keySet, expected)).toEqual({ ok: false, reason: "invalid" });
    expect(await verifyOwnJwt(await sign(newKey.privatePem, { kid: "key-other" }), keySet, expected)).toEqual({ ok: false, reason: "invalid" });
    expect(await verifyOwnJwt(await sign(oldKey.privatePem, { kid: "key-new" }), keySet, expected)).toEqual({ ok: false, reason: "invalid" });
  });

  test("a reused kid, an empty one, or a weak additional key is refused", () => {
    const cases: [string, string][] = [
      [JSON.stringify([{ kid: "key-2026-01", public_key: newKey.publicPem }]), 'jwt.additional_public_keys[0].kid: "key-2026-01" is used twice'],
      [JSON.stringify([{ kid: "", public_key: newKey.publicPem }]), "jwt.additional_public_keys[0].kid: must not be empty"],
      [JSON.stringify([{ kid: "k2", public_key: rsa(1024).publicPem }]), "jwt.additional_public_keys[0].public_key: an RSA key of 1024 bits is too weak"],
    ];
    for (const [extra, message] of cases) {
      const result = gatehouseCli(["config", "check", writeConfig(CONFIG_040)], {
        AOT_JWT__PRIVATE_KEY: oldKey.privatePem,
        GATEHOUSE_JWT__ADDITIONAL_PUBLIC_KEYS: extra,
      });
      expect(result.stderr).toContain(message);
      expect(result.code).toBe(1);
    }
  });
});

describe("auth-o-tron 0.3.7's HS256 config", () => {
  test("passes config check and serves, signing HS256 with the shared secret", async () => {
    expect(gatehouseCli(["config", "check", writeConfig(CONFIG_037)]).code).toBe(0);
    const server = await spawnGatehouse({ config: CONFIG_037 });
    try {
      const response = await fetch(`${server.url}/authenticate`, { headers: { authorization: basic("admin", "admin-password") } });
      expect(response.status).toBe(200);
      const token = response.headers.get("authorization")!.slice(7);
      const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode("a-shared-secret-of-more-than-32-bytes"), {
        algorithms: ["HS256"],
        issuer: "auth-o-tron",
        audience: "my-application",
      });
      expect(protectedHeader.kid).toBeUndefined();
      expect(payload.username).toBe("admin");
      expect(((await fetch(`${server.url}/.well-known/jwks.json`).then((r) => r.json())) as any).keys).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
