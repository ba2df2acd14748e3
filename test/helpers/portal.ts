// The configuration of the portal suites: two people (one an admin), two
// services with two scopes each, managed ES256 keys, a store in DIR.
import { join } from "node:path";

export function portalConfig(dir: string, extra: Record<string, unknown> = {}) {
  return {
    version: "2.0.0",
    providers: [
      {
        type: "plain",
        name: "local",
        realm: "local",
        users: [
          { username: "alice", password: "alice-pw" },
          { username: "root", password: "root-pw", roles: ["admin"] },
        ],
      },
    ],
    services: [
      { name: "ecflow", scopes: ["read", "write"] },
      { name: "tiled", scopes: ["read", "write"] },
    ],
    jwt: { iss: "gatehouse-portal-test", exp: 300, alg: "ES256", reuse_seconds: 0 },
    store: { enabled: true, path: join(dir, "gatehouse.db") },
    ...extra,
  };
}

/** Signs in through the portal's form (provider "local") and returns the session cookie as a request sends it ("name=value"). */
export async function portalCookie(url: string, username: string, password: string): Promise<string> {
  const signIn = await fetch(`${url}/portal/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: url },
    body: new URLSearchParams({ provider: "local", username, password }),
  });
  if (signIn.status !== 303) throw new Error(`portal sign-in of ${username}: ${signIn.status} ${await signIn.text()}`);
  return signIn.headers.get("set-cookie")!.split(";")[0];
}
