// Sessions across signing-key changes: a rotation in the middle of a session
// never logs the user out, with managed keys (ES256, a JWKS) and with
// Tiled-style shared secrets (the first signs, all verify).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { decodeProtectedHeader } from "jose";
import { basic, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";

const ROOT = basic("root", "root-pw");

function config(dir: string, jwt: Record<string, unknown>) {
  return {
    version: "2.0.0",
    providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "root", password: "root-pw", roles: ["admin"] }] }],
    jwt: { iss: "gatehouse-test", exp: 60, reuse_seconds: 0, ...jwt },
    keys: { publish_ahead: 0, poll_interval: 1, retire_margin: 1 },
    store: { enabled: true, path: join(dir, "gatehouse.db") },
  };
}

async function loginAsRoot(app: TestApp) {
  const response = await fetch(`${app.url}/api/v1/auth/provider/local/token`, {
    method: "POST",
    body: new URLSearchParams({ username: "root", password: "root-pw" }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { access_token: string; refresh_token: string };
}

async function refresh(app: TestApp, refreshToken: string) {
  const response = await fetch(`${app.url}/api/v1/auth/session/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: refreshToken }),
  });
  return { status: response.status, json: (await response.json()) as { access_token: string; refresh_token: string } };
}

const authenticate = (app: TestApp, token: string) => fetch(`${app.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });
const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid;

describe("managed keys (ES256), keys.publish_ahead 0", () => {
  let dir: string;
  let app: TestApp;
  beforeAll(async () => {
    dir = temporaryDirectory("gatehouse-sessions-keys-");
    app = await startApp(config(dir, { alg: "ES256" }));
  });
  afterAll(() => app.stop());

  test("a key rotation mid-session does not log the user out; a key retired early only costs a refresh", async () => {
    const first = await loginAsRoot(app);
    const firstKid = kidOf(first.access_token)!;
    expect(firstKid).toBeString();
    expect((await authenticate(app, first.access_token)).status).toBe(200);

    const rotation = await fetch(`${app.url}/api/v1/keys/rotate`, { method: "POST", headers: { authorization: ROOT } });
    expect(rotation.status).toBe(202);
    const { rotating_to: secondKid } = (await rotation.json()) as { rotating_to: string };
    const states = (await app.gatehouse.keys.managed!.list()).map((key) => [key.kid, key.state]);
    expect(states).toEqual([
      [firstKid, "previous"],
      [secondKid, "current"],
    ]);

    // The access token signed before the rotation still works, here and on an instance that never saw it.
    expect((await authenticate(app, first.access_token)).status).toBe(200);
    const whoami = await fetch(`${app.url}/api/v1/auth/whoami`, { headers: { authorization: `Bearer ${first.access_token}` } });
    expect(((await whoami.json()) as { username: string }).username).toBe("root");
    const other = await startApp(config(dir, { alg: "ES256" }));
    try {
      expect((await authenticate(other, first.access_token)).status).toBe(200);
    } finally {
      await other.stop();
    }
    // The previous key is kept for the longest token it may have signed: an access token (900 s by default) or a backend's JWT.
    const previous = (await app.gatehouse.keys.managed!.list()).find((key) => key.kid === firstKid)!;
    expect(previous.retiresAt! - previous.deactivatedAt!).toBe((900 + 1) * 1000);

    // The refresh gives a token signed with the new key.
    const second = await refresh(app, first.refresh_token);
    expect(second.status).toBe(200);
    expect(kidOf(second.json.access_token)).toBe(secondKid);
    const answer = await authenticate(app, second.json.access_token);
    expect(answer.status).toBe(200);
    expect(kidOf(answer.headers.get("authorization")!.slice(7))).toBe(secondKid);

    // An admin retires the previous key early: its access tokens stop at once (remembered verifications included),
    // but the session lives on: its refresh token is not signed by any key.
    const again = await loginAsRoot(app);
    await app.gatehouse.keys.managed!.rotate();
    const thirdKid = (await app.gatehouse.keys.managed!.list()).find((key) => key.state === "current")!.kid;
    expect((await authenticate(app, again.access_token)).status).toBe(200);
    expect(await app.gatehouse.keys.managed!.retire(secondKid)).toBe("retired");
    expect((await authenticate(app, again.access_token)).status).toBe(401);
    const renewed = await refresh(app, again.refresh_token);
    expect(renewed.status).toBe(200);
    expect(kidOf(renewed.json.access_token)).toBe(thirdKid);
    expect((await authenticate(app, renewed.json.access_token)).status).toBe(200);
  });
});

describe("shared secrets (HS256), rotated as Tiled's secret_keys", () => {
  test("a session continues across a rotation of the shared secrets: its access tokens are not signed with them", async () => {
    const dir = temporaryDirectory("gatehouse-sessions-secrets-");
    const oldSecret = "the-old-secret-which-is-32-bytes-long!";
    const newSecret = "the-new-secret-which-is-also-32-bytes-long";
    const before = await startApp(config(dir, { secret: oldSecret }));
    const tokens = await loginAsRoot(before);
    await before.stop();
    const after = await startApp(config(dir, { secrets: [newSecret, oldSecret] }));
    let latest: string;
    try {
      expect((await authenticate(after, tokens.access_token)).status).toBe(200);
      const refreshed = await refresh(after, tokens.refresh_token);
      expect(refreshed.status).toBe(200);
      expect((await authenticate(after, refreshed.json.access_token)).status).toBe(200);
      latest = refreshed.json.refresh_token;
    } finally {
      await after.stop();
    }
    // Once the old secret is dropped, the session and its access tokens go on: Gatehouse's own key signs them.
    const dropped = await startApp(config(dir, { secret: newSecret }));
    try {
      expect((await authenticate(dropped, tokens.access_token)).status).toBe(200);
      const renewed = await refresh(dropped, latest);
      expect(renewed.status).toBe(200);
      expect((await authenticate(dropped, renewed.json.access_token)).status).toBe(200);
    } finally {
      await dropped.stop();
    }
  });
});
