// The three session lifetimes from the environment, by Gatehouse's names and
// Tiled's: GATEHOUSE_ACCESS_TOKEN_MAX_AGE (wins) or TILED_ACCESS_TOKEN_MAX_AGE,
// and the same for REFRESH_TOKEN_MAX_AGE and SESSION_MAX_AGE; the generic
// GATEHOUSE_AUTHENTICATION__KEY works too.
import { describe, expect, test } from "bun:test";
import { ConfigError, buildConfig } from "../src/config/load.ts";
import { spawnGatehouse } from "./helpers/gatehouse.ts";

const base = () => ({
  providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "alice", password: "alice-pw" }] }],
  jwt: { iss: "i", secret: "sessions-env-test-secret-0123456789" },
  store: { enabled: false },
});
const lifetimes = (env: Record<string, string>, raw: Record<string, unknown> = base()) => buildConfig(raw, "test", env).config.authentication;

describe("the lifetimes in the config", () => {
  test("Tiled's defaults: 15 minutes, one week, 365 days; 200 sessions per user; one day for what a remote key service vouched for", () => {
    expect(lifetimes({})).toEqual({ access_token_max_age: 900, refresh_token_max_age: 604800, session_max_age: 31536000, unverifiable_max_age: 86400, max_sessions_per_user: 200 });
  });

  test("Tiled's variables, Gatehouse's (which win over Tiled's), and the generic form (which names the field, and wins over both)", () => {
    expect(lifetimes({ TILED_ACCESS_TOKEN_MAX_AGE: "60", TILED_REFRESH_TOKEN_MAX_AGE: "120", TILED_SESSION_MAX_AGE: "300" })).toMatchObject({
      access_token_max_age: 60,
      refresh_token_max_age: 120,
      session_max_age: 300,
    });
    expect(lifetimes({ TILED_ACCESS_TOKEN_MAX_AGE: "60", GATEHOUSE_ACCESS_TOKEN_MAX_AGE: "61" }).access_token_max_age).toBe(61);
    expect(
      lifetimes({ GATEHOUSE_SESSION_MAX_AGE: "400", GATEHOUSE_AUTHENTICATION__SESSION_MAX_AGE: "500" }).session_max_age,
    ).toBe(500);
    // Over a value in the file, and beside the file's other values.
    const raw = { ...base(), authentication: { access_token_max_age: 30, max_sessions_per_user: 5 } };
    expect(lifetimes({ GATEHOUSE_REFRESH_TOKEN_MAX_AGE: "90" }, raw)).toMatchObject({
      access_token_max_age: 30,
      refresh_token_max_age: 90,
      max_sessions_per_user: 5,
    });
  });

  test("a value that is not a positive whole number is reported with its field", () => {
    const problems = (env: Record<string, string>) => {
      try {
        buildConfig(base(), "test", env);
      } catch (error) {
        if (error instanceof ConfigError) return error.problems.join("\n");
        throw error;
      }
      return "";
    };
    expect(problems({ GATEHOUSE_ACCESS_TOKEN_MAX_AGE: "soon" })).toContain("authentication.access_token_max_age");
    expect(problems({ TILED_SESSION_MAX_AGE: "0" })).toContain("authentication.session_max_age");
  });

  test("tokens.prefix may not be the refresh tokens' prefix", () => {
    expect(() => buildConfig({ ...base(), tokens: { prefix: "gtr_" } }, "test", {})).toThrow(/tokens.prefix: "gtr_" is the prefix of session refresh tokens/);
  });
});

describe("a real process", () => {
  test("takes the three lifetimes from its environment", async () => {
    const server = await spawnGatehouse({
      config: [
        "version: 2.0.0",
        "providers:",
        "  - {type: plain, name: local, realm: local, users: [{username: alice, password: alice-pw}]}",
        "jwt: {iss: gatehouse-test, secret: sessions-env-test-secret-0123456789}",
        "store: {path: ./gatehouse.db}",
      ].join("\n"),
      env: { GATEHOUSE_ACCESS_TOKEN_MAX_AGE: "61", TILED_REFRESH_TOKEN_MAX_AGE: "121", TILED_SESSION_MAX_AGE: "3601" },
    });
    try {
      const response = await fetch(`${server.url}/api/v1/auth/provider/local/token`, {
        method: "POST",
        body: new URLSearchParams({ username: "alice", password: "alice-pw" }),
      });
      expect(response.status).toBe(200);
      const tokens = (await response.json()) as { access_token: string; expires_in: number; refresh_token_expires_in: number };
      expect(tokens.expires_in).toBe(61);
      expect(tokens.refresh_token_expires_in).toBe(121);
      const listed = await fetch(`${server.url}/api/v1/auth/sessions`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      const [session] = ((await listed.json()) as { sessions: { created_at: string; expires_at: string; refresh_expires_at: string }[] }).sessions;
      expect(Date.parse(session.expires_at) - Date.parse(session.created_at)).toBe(3601_000);
      expect(Date.parse(session.refresh_expires_at) - Date.parse(session.created_at)).toBe(121_000);
    } finally {
      await server.stop();
    }
  });
});
