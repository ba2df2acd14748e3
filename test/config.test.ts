import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ConfigError, buildConfig, loadConfigFile, loadConfigText, resolveConfigPath } from "../src/config/load.ts";
import { seedConfig } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";

const fixture = join(import.meta.dir, "fixtures/seed-config.yaml");

function problemsOf(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    loadConfigText(yaml, "test.yaml", env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the config to be refused");
}

function problemsOfConfig(raw: Record<string, unknown>): string[] {
  try {
    buildConfig(raw, "test", {});
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the config to be refused");
}

const minimalV2 = `
version: "2.0.0"
providers:
  - {type: plain, name: local, realm: local, users: [{username: alice, password: pw}]}
server: {port: 3000}
jwt: {iss: issuer, exp: 600, secret: a-long-enough-secret}
logging: {level: info, format: json}
`;

describe("loading configs", () => {
  test("the seed's auth-o-tron 1.0.0 config.yaml loads unchanged", () => {
    const { config, warnings, weaknesses } = loadConfigFile(fixture, {});
    // Its example secret is short: it runs, with a warning, and `config check` refuses it.
    expect(weaknesses).toHaveLength(1);
    expect(weaknesses[0]).toStartWith("jwt.secret: shorter than 32 bytes");
    // And its clear-text password is deprecated, as in auth-o-tron 0.4.0.
    expect(warnings).toEqual([
      ...weaknesses,
      "providers[1].users: password in clear text is deprecated (as in auth-o-tron 0.4.0) for someuser; use password_hash (gatehouse hash-password)",
    ]);
    expect(config.version).toBe("1.0.0");
    expect(config.server).toMatchObject({ host: "0.0.0.0", port: 8080 });
    expect(config.auth.timeout_in_ms).toBe(3000);
    expect(config.providers.map((provider) => [provider.type, provider.name, provider.realm])).toEqual([
      ["ecmwf-api", "ecmwf-api-provider", "ecmwf"],
      ["plain", "plain-provider", "local"],
    ]);
    expect(config.jwt).toMatchObject({ exp: 3600, iss: "authotron-issuer", aud: "authotron-audience" });
    expect(config.include_legacy_headers).toBe(true);
    expect(config.store.enabled).toBe(false);
    expect(config.logging).toEqual({ level: "debug", format: "console", service_name: "gatehouse" });
  });

  test("an auth-o-tron 2.0.0 file with server and metrics loads, with auth-o-tron's defaults", () => {
    const { config, warnings } = loadConfigText(minimalV2, "v2.yaml", {});
    expect(config.server).toEqual({ host: "0.0.0.0", port: 3000, socket_mode: "0660", workers: 1 });
    expect(config.metrics).toEqual({ enabled: true, port: 9090, legacy_names: false });
    expect(warnings.filter((warning) => warning.startsWith("metrics"))).toEqual([]);
    // The metrics port must differ from the application's, as auth-o-tron refuses at start-up.
    expect(() => loadConfigText(`${minimalV2}metrics: {port: 3000}\n`, "v2.yaml", {})).toThrow(/metrics.port: 3000 is also server.port/);
    expect(loadConfigText(`${minimalV2}metrics: {port: 3000, enabled: false}\n`, "v2.yaml", {}).config.metrics.enabled).toBe(false);
    expect(config.auth.timeout_in_ms).toBe(5000);
    expect(config.augmenters).toEqual([]);
  });

  test("bind_address accepts host:port, [v6]:port and bare v6", () => {
    const base = seedConfig();
    const cases: [string, string, number][] = [
      ["127.0.0.1:9000", "127.0.0.1", 9000],
      ["[::1]:3000", "::1", 3000],
      ["::1:3000", "::1", 3000],
      ["localhost:0", "localhost", 0],
    ];
    for (const [address, host, port] of cases) {
      expect(buildConfig({ ...base, bind_address: address }, "t", {}).config.server).toMatchObject({ host, port });
    }
  });

  test("the config path comes from --config, then GATEHOUSE_CONFIG, then AOT_CONFIG_PATH", () => {
    expect(resolveConfigPath("a.yaml", { GATEHOUSE_CONFIG: "b.yaml", AOT_CONFIG_PATH: "c.yaml" })?.path).toBe("a.yaml");
    expect(resolveConfigPath(undefined, { GATEHOUSE_CONFIG: "b.yaml", AOT_CONFIG_PATH: "c.yaml" })?.path).toBe("b.yaml");
    expect(resolveConfigPath(undefined, { AOT_CONFIG_PATH: "c.yaml" })?.path).toBe("c.yaml");
  });
});

describe("environment", () => {
  test("GATEHOUSE_SECTION__KEY and AOT_SECTION__KEY override values, converted to the schema's types", () => {
    const { config } = loadConfigFile(fixture, {
      AOT_JWT__ISS: "from-aot",
      AOT_JWT__EXP: "120",
      GATEHOUSE_AUTH__TIMEOUT_IN_MS: "250",
      GATEHOUSE_INCLUDE_LEGACY_HEADERS: "false",
      GATEHOUSE_PROVIDERS__1__USERS__0__PASSWORD: "changed",
      GATEHOUSE_BIND_ADDRESS: "127.0.0.1:0",
    });
    expect(config.jwt.iss).toBe("from-aot");
    expect(config.jwt.exp).toBe(120);
    expect(config.auth.timeout_in_ms).toBe(250);
    expect(config.include_legacy_headers).toBe(false);
    expect((config.providers[1] as any).users[0].password).toBe("changed");
    expect(config.server).toMatchObject({ host: "127.0.0.1", port: 0 });
  });

  test("GATEHOUSE_ wins over AOT_, and variables that are not config keys are ignored", () => {
    const { config } = loadConfigFile(fixture, {
      AOT_JWT__ISS: "aot",
      GATEHOUSE_JWT__ISS: "gatehouse",
      GATEHOUSE_CONFIG: "/elsewhere.yaml",
      AOT_CONFIG_PATH: "/elsewhere.yaml",
    });
    expect(config.jwt.iss).toBe("gatehouse");
    expect((config as Record<string, unknown>).config).toBeUndefined();
  });

  test("${VAR} and ${VAR:-default} are substituted inside values; a missing variable is named", () => {
    const yaml = minimalV2.replace("a-long-enough-secret", '"${JWT_SECRET}"').replace("iss: issuer", 'iss: "${ISSUER:-fallback}"');
    const { config } = loadConfigText(yaml, "t", { JWT_SECRET: "from-env" });
    expect(config.jwt.secret).toBe("from-env");
    expect(config.jwt.iss).toBe("fallback");
    expect(problemsOf(yaml, {})).toEqual(["jwt.secret: environment variable JWT_SECRET is not set"]);
  });

  test("secrets can be read from files: secret_file in the YAML and *_FILE variables", () => {
    const dir = temporaryDirectory();
    writeFileSync(join(dir, "jwt"), "secret-in-a-file\n");
    writeFileSync(join(dir, "password"), "pw-in-a-file\n");
    const yaml = minimalV2.replace("secret: a-long-enough-secret", `secret_file: ${join(dir, "jwt")}`);
    const { config } = loadConfigText(yaml, "t", { GATEHOUSE_PROVIDERS__0__USERS__0__PASSWORD_FILE: join(dir, "password") });
    expect(config.jwt.secret).toBe("secret-in-a-file");
    expect((config.jwt as Record<string, unknown>).secret_file).toBeUndefined();
    expect((config.providers[0] as any).users[0].password).toBe("pw-in-a-file");
    expect(problemsOf(minimalV2.replace("secret: a-long-enough-secret", "secret_file: /nonexistent/jwt"))).toEqual([
      "jwt.secret_file: cannot read /nonexistent/jwt: ENOENT",
    ]);
  });
});

describe("bad configs get every problem with its path", () => {
  const cases: [string, string, string][] = [
    ["an unknown store type", "store: {type: mongo}", 'store.type: "mongo" is not supported; use sqlite or postgres'],
    ["an unknown provider type", "providers: [{type: magic, name: m, realm: r}]", 'providers[0].type: unknown provider type "magic"; supported: plain, ecmwf-api'],
    ["a trusted-header provider without trusted_proxies", "providers: [{type: trusted-header, name: m, realm: r}]", "providers[0].trusted_proxies: is required"],
    ["a regulation proxy that is not an address or block", "regulation: {trusted_proxies: [127.0.0.1, nginx.local]}", 'regulation.trusted_proxies[1]: "nginx.local" is not an IP address or CIDR block'],
    ["an unknown augmenter type", "augmenters: [{type: magic, name: m, realm: r}]", 'augmenters[0].type: unknown augmenter type "magic"'],
    ["a provider without realm", "providers: [{type: plain, name: m, users: []}]", "providers[0].realm: is required"],
    ["an ecmwf-api provider without uri", "providers: [{type: ecmwf-api, name: m, realm: r}]", "providers[0].uri: is required"],
    ["a user without password", "providers: [{type: plain, name: m, realm: r, users: [{username: u}]}]", "providers[0].users[0].password: is required (or password_hash)"],
    [
      "a user with both password and password_hash",
      "providers: [{type: plain, name: m, realm: r, users: [{username: u, password: p, password_hash: $argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA}]}]",
      "providers[0].users[0]: give password or password_hash, not both",
    ],
    ["a password_hash that is not argon2", "providers: [{type: plain, name: m, realm: r, users: [{username: u, password_hash: md5}]}]", "providers[0].users[0].password_hash: expected string to match"],
    ["duplicate provider names", "providers: [{type: plain, name: m, realm: r}, {type: plain, name: m, realm: s}]", 'providers[1].name: duplicate name "m"'],
    ["an unknown version", 'version: "3.0.0"', 'version: "3.0.0" is not supported; use 1.0.0 or 2.0.0'],
    ["a bad bind_address", "bind_address: localhost", 'bind_address: must be host:port, got "localhost"'],
    ["a port out of range", "server: {port: 70000}", "server.port: expected integer to be less or equal to 65535, got 70000"],
    ["a non-numeric timeout", "auth: {timeout_in_ms: soon}", 'auth.timeout_in_ms: expected integer, got "soon"'],
    ["an unknown log level", "logging: {level: loud}", 'logging.level: "loud" is not supported; use trace or debug or info or warn or error'],
    ["no jwt section", "jwt: null", "jwt: expected object, got null"],
    ["a postgres store without a URL", "store: {type: postgres}", "store.url: is required with store.type postgres"],
  ];
  for (const [what, yamlPatch, message] of cases) {
    test(what, () => {
      // The patch replaces whole top-level sections of a valid config.
      const problems = problemsOfConfig({ ...parse(minimalV2), ...parse(yamlPatch) });
      expect(problems.some((problem) => problem.startsWith(message))).toBe(true);
    });
  }

  test("several problems are reported together", () => {
    const problems = problemsOf(`version: "1.0.0"\nbind_address: nowhere\nproviders: [{type: magic}]\njwt: {exp: -1}\n`);
    expect(problems).toEqual(
      expect.arrayContaining([
        'bind_address: must be host:port, got "nowhere"',
        "jwt.iss: is required",
        "jwt.exp: expected integer to be greater or equal to 1, got -1",
        "providers[0].name: is required",
      ]),
    );
  });

  test("YAML syntax errors, an empty file, and a list at the top level are refused clearly", () => {
    expect(problemsOf("jwt: [unclosed")[0]).toStartWith("YAML:");
    expect(problemsOf("")).toEqual(["the file is empty"]);
    expect(problemsOf("- a\n- b\n")).toEqual(["the top level must be a mapping of sections"]);
  });

  test("a secret with the wrong type is reported without showing its value", () => {
    const problems = problemsOf(minimalV2.replace("secret: a-long-enough-secret", "secret: {nested: hunter2-value}"));
    expect(problems.join("\n")).toContain("jwt.secret");
    expect(problems.join("\n")).not.toContain("hunter2-value");
  });
});
