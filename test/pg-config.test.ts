// The PostgreSQL store's settings (store.url, url_file, GATEHOUSE_STORE__URL,
// pool_size, tls): checked with clear messages, and the URL's password never
// shown, in a problem, a warning or a refusal.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfigText } from "../src/config/load.ts";
import { redactSecrets, redactUrl, storeUrlProblems } from "../src/store/pg/url.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";

const PASSWORD = "s3cr3t-Pa55";
const URL_WITH_PASSWORD = `postgres://gatehouse:${PASSWORD}@db.example.org:5432/gatehouse`;

const base = (store: string) => `
version: "2.0.0"
providers:
  - {type: plain, name: local, realm: local, users: [{username: alice, password: pw}]}
jwt: {iss: issuer, secret: a-long-enough-secret-for-hs256-signing}
store: ${store}
`;

const MASTER_KEY = { GATEHOUSE_MASTER_KEY: "a-master-key-shared-by-every-instance" };
const MASTER_KEY_WARNING =
  "store.type: postgres with managed signing keys needs the same master key on every instance: set GATEHOUSE_MASTER_KEY or keys.master_key_file";

function load(yaml: string, env: Record<string, string> = MASTER_KEY) {
  try {
    return { loaded: loadConfigText(yaml, "test.yaml", env), problems: [] as string[] };
  } catch (error) {
    if (error instanceof ConfigError) return { loaded: null, problems: error.problems };
    throw error;
  }
}

describe("store.type: postgres settings", () => {
  test("a URL, with defaults for pool_size and no TLS section", () => {
    const { loaded, problems } = load(base(`{type: postgres, url: "${URL_WITH_PASSWORD}"}`));
    expect(problems).toEqual([]);
    expect(loaded!.config.store.url).toBe(URL_WITH_PASSWORD);
    expect(loaded!.config.store.pool_size).toBe(10);
    expect(loaded!.config.store.tls).toBeUndefined();
    expect(loaded!.warnings.join("\n")).not.toContain(PASSWORD);
  });

  test("managed signing keys need the master key from the environment or a file, the same on every instance", () => {
    expect(load(base(`{type: postgres, url: "${URL_WITH_PASSWORD}"}`), {}).loaded!.warnings).toContain(MASTER_KEY_WARNING);
    const withFile = load(base(`{type: postgres, url: "${URL_WITH_PASSWORD}"}`) + "keys: {master_key_file: /etc/gatehouse/master.key}\n", {});
    expect(withFile.loaded!.warnings).not.toContain(MASTER_KEY_WARNING);
  });

  test("the URL from GATEHOUSE_STORE__URL, from url_file, and from GATEHOUSE_STORE__URL_FILE", () => {
    const dir = temporaryDirectory();
    const file = join(dir, "store-url");
    writeFileSync(file, `${URL_WITH_PASSWORD}\n`);
    expect(load(base("{type: postgres}"), { ...MASTER_KEY, GATEHOUSE_STORE__URL: URL_WITH_PASSWORD }).loaded!.config.store.url).toBe(URL_WITH_PASSWORD);
    const fromFile = load(base(`{type: postgres, url_file: ${file}}`)).loaded!.config.store;
    expect(fromFile.url).toBe(URL_WITH_PASSWORD);
    expect((fromFile as Record<string, unknown>).url_file).toBeUndefined();
    expect(load(base("{type: postgres}"), { ...MASTER_KEY, GATEHOUSE_STORE__URL_FILE: file }).loaded!.config.store.url).toBe(URL_WITH_PASSWORD);
    expect(load(base(`{type: postgres, url_file: ${join(dir, "missing")}}`)).problems).toContain(
      `store.url_file: cannot read ${join(dir, "missing")}: ENOENT`,
    );
  });

  test("pool_size and tls are read and checked", () => {
    const dir = temporaryDirectory();
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const good = load(base(`{type: postgres, url: "${URL_WITH_PASSWORD}", pool_size: 4, tls: {ca_file: ${ca}}}`)).loaded!.config.store;
    expect(good.pool_size).toBe(4);
    expect(good.tls).toEqual({ ca_file: ca, reject_unauthorized: true });
    expect(load(base(`{type: postgres, url: "${URL_WITH_PASSWORD}", tls: {reject_unauthorized: false}}`)).loaded!.config.store.tls).toEqual({
      reject_unauthorized: false,
    });
    const { problems } = load(
      base(`{type: postgres, url: "${URL_WITH_PASSWORD}", pool_size: 0, tls: {ca_file: ${join(dir, "none.pem")}, reject_unauthorized: maybe}}`),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        "store.pool_size: expected integer to be greater or equal to 1, got 0",
        'store.tls.reject_unauthorized: expected boolean, got "maybe"',
      ]),
    );
    writeFileSync(join(dir, "not-a-cert.pem"), "hello");
    expect(load(base(`{type: postgres, url: "${URL_WITH_PASSWORD}", tls: {ca_file: ${join(dir, "none.pem")}}}`)).problems).toEqual([
      `store.tls.ca_file: ${join(dir, "none.pem")} does not exist`,
    ]);
    expect(load(base(`{type: postgres, url: "${URL_WITH_PASSWORD}", tls: {ca_file: ${join(dir, "not-a-cert.pem")}}}`)).problems).toEqual([
      `store.tls.ca_file: ${join(dir, "not-a-cert.pem")} holds no PEM certificate`,
    ]);
  });

  test("a missing or malformed URL is refused with a clear message that never shows the password", () => {
    expect(load(base("{type: postgres}")).problems).toEqual([
      "store.url: is required with store.type postgres (or store.url_file, or GATEHOUSE_STORE__URL)",
    ]);
    const cases: [string, string][] = [
      [`mysql://u:${PASSWORD}@h/db`, 'store.url: the scheme must be postgres:// or postgresql://, got "mysql://"'],
      [`postgres://u:${PASSWORD}@h:5432`, "store.url: names no database; expected postgres://USER:PASSWORD@HOST:5432/DATABASE"],
      [`postgres://u:${PASSWORD}@h/db?sslmode=sometimes`, 'store.url: sslmode "sometimes" is not supported'],
      [`u:${PASSWORD}@h/db`, "store.url: the scheme must be postgres://"],
      [`not a url ${PASSWORD}`, "store.url: is not a URL; expected postgres://USER:PASSWORD@HOST:5432/DATABASE"],
    ];
    for (const [url, message] of cases) {
      const { problems } = load(base(`{type: postgres, url: "${url}"}`));
      expect(problems.length).toBe(1);
      expect(problems[0]).toStartWith(message);
      expect(problems.join("\n")).not.toContain(PASSWORD);
    }
    // The wrong type: the schema's message does not quote the value either.
    const typed = load(base(`{type: postgres, url: ["${URL_WITH_PASSWORD}"]}`)).problems;
    expect(typed.join("\n")).toContain("store.url: expected string, got a value that is not shown");
    expect(typed.join("\n")).not.toContain(PASSWORD);
  });

  test("a URL with store.type sqlite is a warning (not used)", () => {
    const { loaded } = load(base(`{type: sqlite, url: "${URL_WITH_PASSWORD}"}`));
    expect(loaded!.warnings).toContain("store.url: not used, store.type is sqlite (store.path)");
  });

  test("redaction: the password and password parameters become ***, in the URL and in any text quoting it", () => {
    expect(redactUrl(URL_WITH_PASSWORD)).toBe("postgres://gatehouse:***@db.example.org:5432/gatehouse");
    expect(redactUrl("postgres://u@h/db?password=xyz&sslmode=require")).toBe("postgres://u@h/db?password=***&sslmode=require");
    expect(redactUrl("postgres://u@h/db")).toBe("postgres://u@h/db");
    expect(redactUrl(`garbage ${PASSWORD}`)).not.toContain(PASSWORD);
    const encoded = "postgres://u:p%40ss%2Fword@h/db";
    const message = redactSecrets(`failed to connect to ${encoded} with p@ss/word and p%40ss%2Fword`, encoded);
    expect(message).toBe("failed to connect to postgres://u:***@h/db with *** and ***");
    expect(storeUrlProblems("postgres://u@h/db")).toEqual([]);
    expect(storeUrlProblems("postgres:///db?host=/run/postgresql")).toEqual([]);
  });

  test("config check accepts it; serve and a store command with the database unreachable exit saying which store, never quoting the password", () => {
    const dir = temporaryDirectory();
    const path = join(dir, "pg.yaml");
    // A closed port on loopback: the connection is refused at once.
    writeFileSync(path, base(`{type: postgres, url: "postgres://gatehouse:${PASSWORD}@127.0.0.1:1/gatehouse"}`));
    const run = (args: string[]) => {
      const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
        cwd: dir,
        env: { ...process.env, ...MASTER_KEY, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "" },
        timeout: 30_000,
      });
      return { code: result.exitCode, output: result.stdout.toString() + result.stderr.toString() };
    };
    const check = run(["config", "check", path]);
    expect(check.code).toBe(0);
    const serve = run(["serve", "--config", path]);
    expect(serve.code).toBe(1);
    expect(serve.output).toContain("PostgreSQL store postgres://gatehouse:***@127.0.0.1:1/gatehouse: ");
    const tokens = run(["tokens", "list", "--config", path]);
    expect(tokens.code).toBe(1);
    expect(tokens.output).toContain("tokens: cannot open the store postgres://gatehouse:***@127.0.0.1:1/gatehouse: ");
    for (const output of [check.output, serve.output, tokens.output]) expect(output).not.toContain(PASSWORD);
  }, 60_000);
});
