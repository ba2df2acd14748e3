// The ecmwf-api provider against a loopback server playing who-am-i.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeJwt } from "jose";
import { startApp, type TestApp } from "./helpers/app.ts";
import { startWhoAmI, type WhoAmI } from "./helpers/who-am-i.ts";
import { IdentityPipeline } from "../src/identity/pipeline.ts";
import { createProviders } from "../src/providers/registry.ts";
import { silentLogger } from "../src/log.ts";
import { httpRequestContext } from "../src/identity/request.ts";
import { bearerCredential, type Credential } from "../src/identity/credentials.ts";

let whoAmI: WhoAmI;
let app: TestApp;
let downApp: TestApp;

const config = (uri: string) => ({
  version: "2.0.0",
  auth: { timeout_in_ms: 400 },
  providers: [{ type: "ecmwf-api", name: "ecmwf", realm: "ecmwf", uri }],
  jwt: { iss: "test", exp: 600, secret: "a-test-secret-that-is-long-enough" },
  include_legacy_headers: true,
  store: { enabled: false },
});

beforeAll(async () => {
  whoAmI = startWhoAmI();
  whoAmI.users.set("good-key", { uid: "jdoe", email: "jdoe@example.int" });
  whoAmI.users.set("no-email-key", { uid: "nomail" });
  whoAmI.slow.set("slow-key", 1500);
  whoAmI.broken.add("broken-key");
  app = await startApp(config(whoAmI.url));
  // A port nothing listens on: the service is down.
  const closed = Bun.serve({ port: 0, fetch: () => new Response() });
  const downUrl = `http://127.0.0.1:${closed.port}/v1`;
  closed.stop(true);
  downApp = await startApp(config(downUrl));
});
afterAll(async () => {
  await app.stop();
  await downApp.stop();
  whoAmI.stop();
});

const bearer = (target: TestApp, key: string) =>
  fetch(`${target.url}/authenticate`, { headers: { authorization: `Bearer ${key}` } });
const hits = (key: string) => whoAmI.seen.filter((seen) => seen === key).length;

describe("ecmwf-api provider", () => {
  test("a valid key: the user is uid, with the ecmwf-email attribute, and the key itself stays out of the JWT", async () => {
    const response = await bearer(app, "good-key");
    expect(response.status).toBe(200);
    expect(response.headers.get("x-auth-username")).toBe("jdoe");
    expect(response.headers.get("x-auth-realm")).toBe("ecmwf");
    const claims = decodeJwt(response.headers.get("authorization")!.slice(7));
    expect(claims.sub).toBe("ecmwf-jdoe");
    expect(claims.attributes).toEqual({ "ecmwf-email": "jdoe@example.int" });
    expect(JSON.stringify(claims)).not.toContain("good-key");
  });

  test("an answer without email gives no attribute", async () => {
    const claims = decodeJwt((await bearer(app, "no-email-key")).headers.get("authorization")!.slice(7));
    expect(claims.attributes).toEqual({});
  });

  test("successful answers are cached: the service is asked once", async () => {
    const before = hits("good-key");
    for (let i = 0; i < 5; i++) expect((await bearer(app, "good-key")).status).toBe(200);
    expect(hits("good-key")).toBe(before); // the first test already asked
  });

  test("an invalid key (403) is refused, and refusals are not cached", async () => {
    expect((await bearer(app, "wrong-key")).status).toBe(401);
    expect((await bearer(app, "wrong-key")).status).toBe(401);
    expect(hits("wrong-key")).toBe(2);
    // The key becomes valid upstream: the very next request succeeds.
    whoAmI.users.set("wrong-key", { uid: "late" });
    expect((await bearer(app, "wrong-key")).status).toBe(200);
  });

  test("a slow service is cut off at auth.timeout_in_ms", async () => {
    const started = performance.now();
    expect((await bearer(app, "slow-key")).status).toBe(401);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(elapsed).toBeLessThan(1400);
  });

  test("a broken service (500) and a service that is down are a 401, never a 5xx", async () => {
    expect((await bearer(app, "broken-key")).status).toBe(401);
    expect((await bearer(downApp, "any-key")).status).toBe(401);
    expect(app.logs.some((line) => line.includes("auth.provider.error") && line.includes("who-am-i: HTTP 500"))).toBe(true);
  });

  test("the URL, which carries the key, is never logged", () => {
    const logs = [...app.logs, ...downApp.logs].join("\n");
    expect(logs).toContain("auth.provider"); // something was logged
    for (const key of ["good-key", "wrong-key", "slow-key", "broken-key", "any-key", "token="]) expect(logs).not.toContain(key);
  });
});

describe("a UUID-shaped key while the store is asked whether it keeps it (PostgreSQL, not in memory)", () => {
  // The pipeline alone, with isKeptToken answering later, as the PostgreSQL store does on a miss.
  const kept = crypto.randomUUID();
  const remote = crypto.randomUUID();
  let whoAmI: WhoAmI;
  let pipeline: IdentityPipeline;
  beforeAll(() => {
    whoAmI = startWhoAmI();
    whoAmI.users.set(remote, { uid: "remote-user" });
    whoAmI.users.set(kept, { uid: "should-never-be-asked" });
    const providers = createProviders([{ type: "ecmwf-api", name: "ecmwf", realm: "ecmwf", uri: whoAmI.url }] as never, silentLogger);
    pipeline = new IdentityPipeline({
      providers,
      augmenters: [],
      timeoutMs: 2000,
      logger: silentLogger,
      ownTokenPrefixes: [],
      isKeptToken: (token) => Bun.sleep(5).then(() => token === kept),
    });
  });
  afterAll(() => whoAmI.stop());
  const context = (token: string) => httpRequestContext("login", new Request("http://gatehouse/", { headers: { authorization: `Bearer ${token}` } }), null);

  test("goes to the key service once the store says it is not one of its own, through /authenticate's path and a sign-in's", async () => {
    expect((await pipeline.authenticate(context(remote))).ok).toBe(true);
    const provider = pipeline.providers.find((candidate) => candidate.name === "ecmwf")!;
    const signIn = await pipeline.authenticateWith(provider, bearerCredential(remote) as Credential, context(remote));
    expect(signIn.ok && signIn.user.username).toBe("remote-user");
  });

  test("never leaves Gatehouse when the store keeps it", async () => {
    expect((await pipeline.authenticate(context(kept))).ok).toBe(false);
    expect(whoAmI.seen).not.toContain(kept);
  });
});
