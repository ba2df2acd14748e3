// The development default: with no config file at all, Gatehouse still starts,
// on loopback only, with a SQLite store under ./data and one generated admin
// account whose password is printed once, when it is created.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { hashPassword } from "../identity/passwords.ts";
import { writeSecretFile } from "../secret-files.ts";

interface DevelopmentSecrets {
  jwt_secret: string;
  admin_password_hash: string;
}

export const DEVELOPMENT_DATA_DIR = "./data";

export async function developmentConfig(dataDir = DEVELOPMENT_DATA_DIR): Promise<Record<string, unknown>> {
  const secrets = await developmentSecrets(dataDir);
  return {
    version: "2.0.0",
    logging: { level: "info", format: "console" },
    server: { host: "127.0.0.1", port: 8080 },
    providers: [
      {
        type: "plain",
        name: "development",
        realm: "local",
        users: [{ username: "admin", password: secrets.admin_password_hash, roles: ["admin"] }],
      },
    ],
    jwt: { iss: "gatehouse-development", exp: 3600, secret: secrets.jwt_secret },
    include_legacy_headers: true,
    store: { enabled: true, type: "sqlite", path: join(dataDir, "gatehouse.db") },
    services: [],
  };
}

async function developmentSecrets(dataDir: string): Promise<DevelopmentSecrets> {
  const file = join(dataDir, "development-secrets.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as DevelopmentSecrets;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(18).toString("base64url");
  const secrets: DevelopmentSecrets = {
    jwt_secret: randomBytes(32).toString("base64url"),
    admin_password_hash: await hashPassword(password),
  };
  // Written before the password is shown, with owner-only permissions, and
  // holding only the hash of the password.
  writeSecretFile(file, JSON.stringify(secrets, null, 2) + "\n", "wx");
  process.stderr.write(
    [
      "",
      "  No config file found: running the development default (loopback only).",
      `  An admin account was created. Username: admin   Password: ${password}`,
      "  This password is shown once; only its hash is kept, in " + file + ".",
      "  For production, write a config file: see `gatehouse config schema` and docs/configuring.md.",
      "",
    ].join("\n") + "\n",
  );
  return secrets;
}
