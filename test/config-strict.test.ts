// Issue 26 § 1: the config says what it did not understand. Unknown keys, at any
// depth (providers and augmenters too), are named with the key they may have
// meant by `config check` and in serve's start-up log; `--strict` and
// `config.strict: true` make them errors; the keys auth-o-tron reads and
// Gatehouse ignores are never reported. `config schema` admits no unknown key
// and marks only the keys without a default as required.
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { findUnknownKeys } from "../src/config/unknown-keys.ts";

const fixtures = join(import.meta.dir, "fixtures");
const dir = temporaryDirectory("gatehouse-config-strict-");

function gatehouse(args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: dir,
    env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", ...env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

// The file: every typo passed `config check` ("ok", exit 0) and the misspelt augmenter's admin role vanished.
const TYPOS = `version: "2.0.0"
server: {prot: 9000}
metrics: {enabeld: false}
jwt: {iss: typo-test, expp: 60, secret: a-shared-secret-of-more-than-32-bytes}
store: {enabled: false}
providers:
  - type: plain
    name: local
    realm: local
    verified_cache_secs: 5
    users:
      - {username: alice, password_hash: "$argon2id$v=19$m=19456,t=2,p=1$YXV0aG90cm9uLWRvYy0wNQ$bnM0TZfPrwI0Eb2pfBCK39sjwVCHBBUZYykFUnbwWfw", rolse: [dev]}
augmentors:
  - {type: plain, name: admins, realm: local, roles: {admin: [alice]}}
`;

const TYPO_MESSAGES = [
  "server.prot: unknown key; did you mean port?",
  "metrics.enabeld: unknown key; did you mean enabled?",
  "jwt.expp: unknown key; did you mean exp?",
  "augmentors: unknown key; did you mean augmenters?",
  "providers[0].verified_cache_secs: unknown key; did you mean verified_cache_seconds?",
  "providers[0].users[0].rolse: unknown key; did you mean roles?",
];

const running: RunningGatehouse[] = [];
afterAll(async () => {
  await Promise.all(running.map((server) => server.stop()));
});

describe("config check names every unknown key and the key it may have meant", () => {
  test("warnings by default (exit 0, as serve runs the file)", () => {
    const result = gatehouse(["config", "check", file("typos.yaml", TYPOS)]);
    expect(result.code).toBe(0);
    for (const message of TYPO_MESSAGES) expect(result.stdout).toContain(`warning: ${message}\n`);
    expect(result.stdout).toContain(`ok (1 providers, 0 augmenters; ${TYPO_MESSAGES.length} warning(s)`);
  });

  test("errors with --strict, or with config.strict: true in the file (exit 1)", () => {
    const strict = gatehouse(["config", "check", "--strict", join(dir, "typos.yaml")]);
    expect(strict.code).toBe(1);
    for (const message of TYPO_MESSAGES) expect(strict.stderr).toContain(`  - ${message}\n`);
    const inFile = gatehouse(["config", "check", file("strict.yaml", `${TYPOS}config: {strict: true}\n`)]);
    expect(inFile.code).toBe(1);
    expect(inFile.stderr).toContain("augmentors: unknown key; did you mean augmenters?");
    // From the environment too; GATEHOUSE_CONFIG itself still names the file, not the section.
    expect(gatehouse(["config", "check", join(dir, "typos.yaml")], { GATEHOUSE_CONFIG__STRICT: "true" }).code).toBe(1);
    expect(gatehouse(["config", "check"], { GATEHOUSE_CONFIG: join(dir, "typos.yaml") }).code).toBe(0);
    // A typo in the section itself is reported like any other.
    const typo = gatehouse(["config", "check", file("strcit.yaml", `${TYPOS}config: {strcit: true}\n`)]);
    expect(typo.stdout).toContain("warning: config.strcit: unknown key; did you mean strict?");
  });

  test("a key a closed section does not know is refused even without --strict (an access rule's `path` would open the path)", () => {
    const result = gatehouse(["config", "check", file("access.yaml", `${TYPOS}access: {rules: [{path: [/admin/], roles: [admin]}]}\n`)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("access.rules[0].path: unknown key; did you mean paths?");
  });

  test("keys auth-o-tron reads and Gatehouse ignores on purpose are not reported; its own example configs and the seed's stay quiet", () => {
    const ignored = file(
      "ignored.yaml",
      `version: "2.0.0"
server: {port: 8080}
jwt: {iss: i, exp: 3600, secret: a-shared-secret-of-more-than-32-bytes}
store: {enabled: false, database: tokens, uri: "mongodb://mongodb:27017"}
services: []
providers: [{type: ecmwf-api, name: api, realm: ecmwf, uri: "https://api.ecmwf.int/v1"}]
augmenters:
  - {type: ldap, name: l, realm: ecmwf, uri: "ldap://ldap.example.org", search_base: "dc=example", bind_dn: "cn=svc", ldap_password: pw, ldap_user: svc}
`,
    );
    const quiet = gatehouse(["config", "check", "--strict", ignored]);
    expect(quiet.stderr).toBe("");
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).not.toContain("unknown key");

    const seed = gatehouse(["config", "check", "--strict", join(fixtures, "seed-config.yaml")]);
    expect(seed.code).toBe(0);
    const jwt = "jwt: {iss: example, secret: a-shared-secret-of-more-than-32-bytes}\n";
    for (const name of readdirSync(join(fixtures, "upstream-examples")).filter((entry) => entry.endsWith(".yaml"))) {
      const example = file(`upstream-${name}`, readFileSync(join(fixtures, "upstream-examples", name), "utf8") + jwt);
      const result = gatehouse(["config", "check", "--strict", example]);
      expect({ name, code: result.code, text: result.stdout + result.stderr }).toMatchObject({ name, code: 0, text: expect.not.stringContaining("unknown key") });
    }
  }, 60_000);
});

test("config check --help describes --strict and --connect (exit 0); a stray argument is a usage error (exit 2)", () => {
  const help = gatehouse(["config", "check", "--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("--strict");
  expect(help.stdout).toContain("--connect");
  expect(gatehouse(["config", "check", "a.yaml", "b.yaml"]).code).toBe(2);
  expect(gatehouse(["config", "frobnicate"]).code).toBe(2);
});

describe("serve says the same", () => {
  test("serve starts and logs each unknown key as a config.warning", async () => {
    const server = await spawnGatehouse({ config: TYPOS });
    running.push(server);
    const warnings = server.logs.filter((line) => line.includes("config.warning")).join("\n");
    for (const message of TYPO_MESSAGES) expect(warnings).toContain(message);
  });

  test("with config.strict: true, serve refuses to start, naming each", async () => {
    const refusal = await spawnGatehouse({ config: `${TYPOS}config: {strict: true}\n` }).then(
      (server) => {
        running.push(server);
        throw new Error("the server started");
      },
      (error: Error) => error.message,
    );
    expect(refusal).toContain("exited with 1 before starting");
    for (const message of TYPO_MESSAGES) expect(refusal).toContain(message);
    expect(refusal).not.toContain("    at "); // a message, not a stack trace
  });
});

describe("config schema", () => {
  const printed = gatehouse(["config", "schema"]);
  const schema = JSON.parse(printed.stdout);

  test("admits no key Gatehouse does not know, at any depth, but the *_file secrets and auth-o-tron's ignored keys", () => {
    expect(printed.code).toBe(0);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.server.additionalProperties).toBe(false);
    for (const branch of schema.properties.providers.items.anyOf) expect(branch.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties.jwt.properties)).toEqual(expect.arrayContaining(["secret", "secret_file"]));
    expect(schema.properties.store.properties.uri.description).toStartWith("Read by auth-o-tron, ignored by Gatehouse");
    // Read as an editor would: the typos are flagged, the seed's and upstream's configs are not.
    expect(findUnknownKeys(schema, parse(TYPOS)).map((found) => found.message)).toEqual(expect.arrayContaining(TYPO_MESSAGES));
    expect(findUnknownKeys(schema, parse(readFileSync(join(fixtures, "seed-config.yaml"), "utf8")))).toEqual([]);
    for (const name of readdirSync(join(fixtures, "upstream-examples")).filter((entry) => entry.endsWith(".yaml"))) {
      expect({ name, unknown: findUnknownKeys(schema, parse(readFileSync(join(fixtures, "upstream-examples", name), "utf8"))) }).toEqual({ name, unknown: [] });
    }
  });

  test("marks as required only the keys without a default", () => {
    expect(schema.required).toEqual(["jwt"]);
    expect(schema.properties.jwt.required).toEqual(["iss"]);
    for (const section of ["server", "metrics", "store", "logging", "tokens", "keys"]) expect({ section, required: schema.properties[section].required }).toEqual({ section, required: undefined });
    const plain = schema.properties.providers.items.anyOf.find((branch: any) => branch.properties.type.const === "plain");
    expect(plain.required).toEqual(["type", "name", "realm"]);
  });
});
