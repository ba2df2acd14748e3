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
