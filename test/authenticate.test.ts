// /authenticate and the descriptive routes, through HTTP, with the seed's config.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeJwt, jwtVerify } from "jose";
import argon2 from "argon2";
import { basic, json, rawRequest, seedConfig, startApp, type TestApp } from "./helpers/app.ts";
import { startWhoAmI, type WhoAmI } from "./helpers/who-am-i.ts";

const secret = new TextEncoder().encode("authotron-secret-key");
let app: TestApp;
let whoAmI: WhoAmI;
const hashedPassword = "a-password-kept-as-argon2id";
const bobExp = Math.floor(Date.now() / 1000) + 600;

beforeAll(async () => {
  whoAmI = startWhoAmI();
  whoAmI.users.set("valid-ecmwf-key", { uid: "ecmwf-user", email: "user@example.int" });
  whoAmI.slow.set("slow-key", 4000);
  const config = seedConfig();
  config.auth.timeout_in_ms = 600;
  config.providers[0].uri = whoAmI.url;
  config.providers[1].users.push(
    { username: "alice", password: await argon2.hash(hashedPassword, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 }), roles: ["reader"] },
    { username: "bob", password: "bob-pw", roles: ["staff"], attributes: { exp: String(bobExp), site: "reading" } },
    { username: "用户", password: "密码" },
  );
  config.augmenters = [
    { type: "plain", name: "roles", realm: "local", roles: { admin: ["someuser"], operator: ["someuser", "bob"] } },
    {
      type: "plain_advanced",
      name: "operators",
      realm: "local",
      match: { role: ["operator"] },
      augment: { roles: ["ecflow-write"], attributes: { team: "ops" } },
    },
    { type: "plain", name: "other-realm", realm: "ecmwf", roles: { never: ["someuser"] } },
  ];
  app = await startApp(config);
});
afterAll(async () => {
  await app.stop();
  whoAmI.stop();
});

const authenticate = (authorization?: string, headers: Record<string, string> = {}, method = "GET") =>
  fetch(`${app.url}/authenticate`, {
    method,
    headers: { ...(authorization ? { authorization } : {}), ...headers },
  });

async function jwtOf(response: Response) {
  const header = response.headers.get("authorization") ?? "";
  expect(header).toStartWith("Bearer ");
  const { payload, protectedHeader } = await jwtVerify(header.slice("Bearer ".length), secret, {
    issuer: "authotron-issuer",
    audience: "authotron-audience",
  });
  return { payload, protectedHeader };
}

describe("GET /authenticate", () => {
  test("a good Basic credential: 200, a JWT with auth-o-tron's claims, the legacy headers, no body, no-store", async () => {
    const response = await authenticate(basic("someuser", "somesecret"));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBe("0");
    expect(await response.text()).toBe("");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-auth-username")).toBe("someuser");
    expect(response.headers.get("x-auth-realm")).toBe("local");
    expect(response.headers.get("x-auth-roles")).toBe("admin,operator,ecflow-write");
    const { payload, protectedHeader } = await jwtOf(response);
    expect(protectedHeader.alg).toBe("HS256");
    expect(Object.keys(payload).sort()).toEqual(
      ["attributes", "aud", "exp", "iat", "iss", "realm", "roles", "scopes", "sub", "username"].sort(),
    );
    expect(payload).toMatchObject({
      sub: "local-someuser",
      iss: "authotron-issuer",
      aud: "authotron-audience",
      username: "someuser",
      realm: "local",
      roles: ["admin", "operator", "ecflow-write"],
      scopes: {},
      attributes: { team: "ops" },
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(10);
  });

  test("a wrong password, an unknown user, or no credential: 401 with one challenge per scheme and realm, no body", async () => {
    for (const authorization of [basic("someuser", "wrong"), basic("nobody", "somesecret"), undefined]) {
      const response = await authenticate(authorization);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="ecmwf", Basic realm="local"');
      expect(response.headers.get("content-length")).toBe("0");
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("authorization")).toBeNull();
      expect(await response.text()).toBe("");
    }
  });

  test("any method is accepted, as nginx subrequests keep the original one", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "HEAD"]) {
      const response = await authenticate(basic("someuser", "somesecret"), {}, method);
      expect(response.status).toBe(200);
    }
  });

  test("a password kept as an argon2id hash", async () => {
    expect((await authenticate(basic("alice", hashedPassword))).status).toBe(200);
    expect((await authenticate(basic("alice", hashedPassword))).status).toBe(200); // cached verification
    expect((await authenticate(basic("alice", "not-it"))).status).toBe(401);
  });

  test("the user's exp attribute shortens the JWT, and attributes travel in it", async () => {
    const { payload } = await jwtOf(await authenticate(basic("bob", "bob-pw")));
    expect(payload.exp).toBe(bobExp);
    expect(payload.attributes).toEqual({ exp: String(bobExp), site: "reading", team: "ops" });
    expect(payload.roles).toEqual(["staff", "operator", "ecflow-write"]);
  });

  test("a unicode username is sent as UTF-8 bytes in the legacy header and exactly in the JWT", async () => {
    const response = await authenticate(basic("用户", "密码"));
    expect(response.status).toBe(200);
    const raw = response.headers.get("x-auth-username")!;
    expect(Buffer.from(raw, "latin1").toString("utf8")).toBe("用户");
    expect((await jwtOf(response)).payload.username).toBe("用户");
  });

  test("several credentials at once: the good one wins whatever its position", async () => {
    expect((await authenticate(`Bearer unknown-key, ${basic("someuser", "somesecret")}`)).status).toBe(200);
    expect((await authenticate(`${basic("someuser", "somesecret")}, Bearer unknown-key`)).status).toBe(200);
    const response = await authenticate(`${basic("someuser", "wrong")}, Bearer valid-ecmwf-key`);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-auth-username")).toBe("ecmwf-user");
  });

  test("Authorization as auth-o-tron 0.4.0: an unknown scheme is skipped, a repeated scheme or an empty part refuses", async () => {
    expect((await authenticate(`Negotiate x, ${basic("someuser", "somesecret")}`)).status).toBe(200);
    expect((await authenticate(`${basic("someuser", "wrong")}, ${basic("someuser", "somesecret")}`)).status).toBe(401);
    expect((await authenticate(`${basic("someuser", "somesecret")}, Plain ${btoa("someuser:somesecret")}`)).status).toBe(401);
    expect((await authenticate(`${basic("someuser", "somesecret")},`)).status).toBe(401);
    expect((await authenticate(`${basic("someuser", "somesecret")}, , Bearer x`)).status).toBe(401);
  });

  test("X-Auth-Realm restricts the providers tried", async () => {
    expect((await authenticate(basic("someuser", "somesecret"), { "x-auth-realm": "local" })).status).toBe(200);
    expect((await authenticate(basic("someuser", "somesecret"), { "x-auth-realm": "ecmwf" })).status).toBe(401);
    expect((await authenticate(basic("someuser", "somesecret"), { "x-auth-realm": "nowhere" })).status).toBe(401);
  });

  test("a slow provider is cut off by the timeout while another succeeds at once", async () => {
    const started = performance.now();
    const response = await authenticate(`Bearer slow-key, ${basic("someuser", "somesecret")}`);
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(2000); // far below the slow provider's 4 s
    const alone = performance.now();
    expect((await authenticate("Bearer slow-key")).status).toBe(401);
    const elapsed = performance.now() - alone;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
  });

  test("Gatehouse's own tokens and JWTs are never sent to the remote key service", async () => {
    const before = whoAmI.seen.length;
    const jwt = (await authenticate(basic("someuser", "somesecret"))).headers.get("authorization")!.slice(7);
    expect((await authenticate(`Bearer ${jwt}`)).status).toBe(401);
    expect((await authenticate("Bearer gth_notarealtoken0000000000000000000000")).status).toBe(401);
    expect(whoAmI.seen.slice(before)).toEqual([]);
    expect((await authenticate("Bearer some-other-key")).status).toBe(401);
    expect(whoAmI.seen.slice(before)).toEqual(["some-other-key"]);
  });

  test("more than 100 malformed Authorization values: all 401, never 5xx", async () => {
    const values: string[] = [
      "Basic",
      "Basic ",
      "Basic ====",
      "Basic !!!!",
      "Basic YQ",
      "Basic YWJj",
      `Basic ${btoa("nocolon")}`,
      `Basic ${btoa(":")}`,
      `Basic ${btoa(":password")}`,
      "Bearer",
      "Bearer ",
      "Bearer a b c",
      "Bearer \"quoted\"",
      "Bearer <script>",
      "Negotiate abc",
      "Digest username=x",
      "AWS4-HMAC-SHA256 Credential=x",
      ",,,,",
      "Basic a,Basic b,Basic c,Basic d",
      "Bearer a,Bearer b,Bearer c,Bearer d",
      `Basic ${"A".repeat(20000)}`,
      `Bearer ${"x".repeat(8193)}`,
      "Basic %%%%",
      "Bearer =abc",
      "basic   ",
      "\tBasic abc",
      "Basic " + btoa("user:pass") + "extra",
      "Basic " + btoa("a:b").slice(0, -1),
    ];
    for (let i = 0; values.length < 110; i++) {
      const bytes = new Uint8Array(4 + (i % 40));
      crypto.getRandomValues(bytes);
      const junk = [...bytes].map((b) => String.fromCharCode(0x21 + (b % 94))).join("");
      values.push(i % 3 === 0 ? `Basic ${junk}` : i % 3 === 1 ? `Bearer ${junk.replace(/[A-Za-z0-9\-._~+/=]/g, "")}!` : junk);
    }
    for (const value of values) {
      const response = await authenticate(value);
      // Bun's HTTP parser answers 431 itself to headers over 16 KiB, before any handler runs.
      const expected = value.length > 16384 ? 431 : 401;
      expect(response.status, `for ${JSON.stringify(value.slice(0, 60))}`).toBe(expected);
    }
    // Bytes fetch() refuses to send: control characters, raw UTF-8, Latin-1, NUL.
    const rawValues = [
      Buffer.from("Basic \u00ff\u00fe", "latin1"),
      Buffer.from("Bearer 密码", "utf8"),
      Buffer.from([0x42, 0x61, 0x73, 0x69, 0x63, 0x20, 0x00, 0x41]),
      Buffer.from("Basic \x7f\x7f\x7f", "latin1"),
      Buffer.from("Bearer \x01\x02", "latin1"),
      Buffer.from(`Basic ${Buffer.from("用户:\u0000", "utf8").toString("base64")}`),
      Buffer.from(`Basic ${Buffer.from([0xc3, 0x28, 0x3a, 0x41]).toString("base64")}`),
    ];
    for (const bytes of rawValues) {
      const { status } = await rawRequest(app.url, bytes);
      expect(status === 400 || status === 401).toBe(true);
    }
  });

  test("no credential, password, key or token ever appears in the logs, even at trace level", async () => {
    const logs = app.logs.join("\n");
    expect(logs).toContain("auth.succeeded"); // the logs were captured at all
    for (const secretValue of ["somesecret", hashedPassword, "bob-pw", "valid-ecmwf-key", "slow-key", btoa("someuser:somesecret")]) {
      expect(logs).not.toContain(secretValue);
    }
    expect(logs).not.toContain("eyJ");
    expect(logs).not.toContain("who-am-i?token");
  });
});

describe("the descriptive routes", () => {
  test("GET /whoami: the identity as JSON, or 401 JSON with the challenges", async () => {
    const response = await fetch(`${app.url}/whoami`, { headers: { authorization: basic("someuser", "somesecret") } });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({
      version: 1,
      username: "someuser",
      realm: "local",
      roles: ["admin", "operator", "ecflow-write"],
      attributes: { team: "ops" },
      scopes: {},
    });
    const refused = await fetch(`${app.url}/whoami`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="ecmwf", Basic realm="local"');
    expect(await json(refused)).toEqual({ error: "Unauthorized access" });
  });

  test("GET /providers and /augmenters list names, types and realms, never secrets", async () => {
    const providers = await (await json(await fetch(`${app.url}/providers`)));
    expect(providers).toEqual({
      providers: [
        { name: "ecmwf-api-provider", type: "ecmwf-api", realm: "ecmwf", scheme: "Bearer" },
        { name: "plain-provider", type: "plain", realm: "local", scheme: "Basic" },
      ],
    });
    expect(JSON.stringify(providers)).not.toContain("somesecret");
    const augmenters = await (await json(await fetch(`${app.url}/augmenters`)));
    expect(augmenters.augmenters.map((a: { name: string }) => a.name)).toEqual(["roles", "operators", "other-realm"]);
  });

  test("GET /health and GET / answer; an unknown route is a JSON 404", async () => {
    const health = await fetch(`${app.url}/health`);
    expect(health.headers.get("content-type")).toStartWith("text/plain");
    expect(await health.text()).toBe("OK"); // auth-o-tron's answer, which its probes expect
    const home = await fetch(`${app.url}/`);
    expect(home.headers.get("content-type")).toContain("text/html");
    expect(await home.text()).toContain("Gatehouse");
    const missing = await fetch(`${app.url}/no-such-route`);
    expect(missing.status).toBe(404);
    expect(await json(missing)).toEqual({ error: "Not found" });
  });

  test("a reused answer carries the same JWT for the same identity, and a new one for another", async () => {
    const first = (await authenticate(basic("someuser", "somesecret"))).headers.get("authorization");
    const second = (await authenticate(basic("someuser", "somesecret"))).headers.get("authorization");
    const other = (await authenticate(basic("bob", "bob-pw"))).headers.get("authorization");
    expect(second).toBe(first);
    expect(decodeJwt(other!.slice(7)).username).toBe("bob");
  });
});
