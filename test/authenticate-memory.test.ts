// What /authenticate remembers of a success (modules/authenticate): never
// past a revocation, even one made while the success was being answered. A
// token's first answer signs a JWT through WebCrypto (a promise), and on
// PostgreSQL its read is one too: a revocation committed meanwhile moves the
// provider's stamp before the success is remembered. The handler is driven
// directly, with an issuer whose timing the test controls, so that the
// revocation falls exactly in that window, and a provider that tells the stamp
// from before its read as API tokens do (VerdictLease.stamp, VerifiedToken's
// readAtStamp); test/tokens.test.ts has the real token's revocations.
import { describe, expect, test } from "bun:test";
import { createAuthenticateHandler } from "../src/modules/authenticate/index.ts";
import type { IdentityPipeline } from "../src/identity/pipeline.ts";
import type { JwtIssuer, SignedJwt } from "../src/keys/issuer.ts";
import type { Provider } from "../src/providers/provider.ts";
import type { RequestContext } from "../src/identity/request.ts";
import { createUser } from "../src/identity/user.ts";
import { silentLogger } from "../src/log.ts";

function setUp() {
  let stamp = 0;
  let checks = 0;
  let readAt = -1;
  const reuse = { stamp: () => stamp, lease: () => ({ stamp: readAt }) };
  const provider = { name: "tokens", type: "api-token", realm: "*", scheme: "bearer", reuse } as unknown as Provider;
  const user = createUser({ username: "alice", realm: "local" });
  const pipeline = {
    providers: [provider],
    challenge: "Bearer",
    authenticate: (_request: RequestContext) => {
      checks++;
      readAt = stamp; // the credential is read now
      return { ok: true as const, user, provider };
    },
  } as unknown as IdentityPipeline;
  let release: () => void = () => {};
  const issuer: JwtIssuer = {
    currentKid: () => "key-1",
    // Signing waits for the test: the window in which the revocation is made.
    issue: () => new Promise<SignedJwt>((resolve) => (release = () => resolve({ token: "header.payload.signature", exp: Math.floor(Date.now() / 1000) + 3600 } as SignedJwt))),
  };
  const handler = createAuthenticateHandler({ pipeline, issuer, logger: silentLogger, includeLegacyHeaders: false, reuseSeconds: 30 });
  const ask = () => handler(new Request("http://gatehouse/authenticate", { headers: { authorization: "Bearer gth_secret" } }), null);
  return { ask, revoke: () => stamp++, sign: () => release(), checks: () => checks };
}

describe("a success is never remembered past a revocation", () => {
  test("revoked while its JWT was being signed: the next request is checked again, not answered from memory", async () => {
    const { ask, revoke, sign, checks } = setUp();
    const first = ask();
    expect(first).toBeInstanceOf(Promise); // waiting for the signature
    revoke();
    sign();
    expect((await first).status).toBe(200); // checked before the revocation: its own answer stands
    await ask(); // the signed headers are reused; what matters is that the provider is asked again
    expect(checks()).toBe(2);
  });

  test("with no revocation meanwhile, the next request is answered from memory", async () => {
    const { ask, sign, checks } = setUp();
    const first = ask();
    sign();
    expect((await first).status).toBe(200);
    expect((await ask()).status).toBe(200);
    expect(checks()).toBe(1);
  });
});
