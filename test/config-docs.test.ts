// Issue 27 § 2: the configuration reference, docs/configuration.md, is generated
// from the schema (scripts/config-docs.ts) and fails here when stale; what it
// says is what Gatehouse does: each environment variable it names sets its
// key, the defaults it gives are those filled in, every key of the examples
// and fixtures is in it, every key has a description, and every variable
// Gatehouse reads is on a reference page.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { CONFIG_DOCS_FILE, configRows, renderConfigReference } from "../scripts/config-docs.ts";
import { CLI_DOCS_FILE } from "../scripts/cli-docs.ts";
import { applyEnvOverrides, SECRET_FILE_KEYS } from "../src/config/environment.ts";
import { buildConfig } from "../src/config/load.ts";
import { ConfigSchema } from "../src/config/schema.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";
import { runGatehouse } from "./helpers/cli.ts";

const rows = configRows();
const page = readFileSync(CONFIG_DOCS_FILE, "utf8");

/** The value at a.b.0.c. */
const valueAt = (root: unknown, path: string) =>
  path.split(".").reduce<unknown>((node, key) => (node !== null && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined), root);

/** The example configs and the fixtures (the seed's, upstream's, Tiled's). */
const configFiles = () => [
  ...readdirSync(join(projectRoot, "examples"), { recursive: true, encoding: "utf8" }).filter((name) => /(^|\/)config[^/]*\.ya?ml$/.test(name)).map((name) => join(projectRoot, "examples", name)),
  ...readdirSync(join(projectRoot, "test/fixtures"), { recursive: true, encoding: "utf8" }).filter((name) => /\.ya?ml$/.test(name)).map((name) => join(projectRoot, "test/fixtures", name)),
];

/** A row's path with every list index 0: providers.0.users.0.username. */
const firstItems = (path: string) => path.replace(/\[\]/g, ".0");

test("docs/configuration.md is what scripts/config-docs.ts writes (npm run docs:config)", () => {
  if (page !== renderConfigReference()) throw new Error("docs/configuration.md is stale: run npm run docs:config and commit it");
  // Each section, provider and augmenter has its table.
  for (const heading of ["## `server`", "## `jwt`", "## `access`", "## `services`", "### `trusted-header`", "### `plain_advanced`"]) expect(page).toContain(heading);
});

describe("the page says what Gatehouse does", () => {
  test("every environment variable in the tables sets its own key, a _FILE one from the file it names", () => {
    const topLevelKeys = new Set(Object.keys(ConfigSchema.properties));
    const dir = temporaryDirectory("gatehouse-config-docs-");
    const withVariable = rows.filter((row) => row.variable);
    expect(withVariable.length).toBeGreaterThan(200);
    const wrong: string[] = [];
    for (const row of withVariable) {
      const name = row.variable!.replace(/<[A-Z]>/g, "0");
      const path = firstItems(row.path);
      const secretFile = path.endsWith("_file") && SECRET_FILE_KEYS.includes(path.split(".").at(-1)!.slice(0, -"_file".length));
      let value = `value-of-${name}`;
      if (secretFile) writeFileSync((value = join(dir, name)), `content-of-${name}\n`);
      const root: Parameters<typeof applyEnvOverrides>[0] = {};
      const problems: string[] = [];
      applyEnvOverrides(root, { [name]: value }, topLevelKeys, problems);
      const landed = secretFile ? valueAt(root, path.slice(0, -"_file".length)) : valueAt(root, path);
      if (problems.length > 0 || landed !== (secretFile ? `content-of-${name}` : value)) wrong.push(`${name} → ${row.path}: got ${JSON.stringify(root)} ${problems.join("; ")}`);
    }
    expect(wrong).toEqual([]);
  });

  test("Tiled's names for the session lifetimes set them, as the page says", () => {
    const lifetimes = rows.filter((row) => row.aliases.length > 0);
    expect(lifetimes.map((row) => row.path)).toEqual(["authentication.access_token_max_age", "authentication.refresh_token_max_age", "authentication.session_max_age"]);
    for (const row of lifetimes) {
      for (const [index, alias] of row.aliases.entries()) {
        const { config } = buildConfig({ jwt: { iss: "docs", secret: "s".repeat(32) }, store: { enabled: false } }, "docs", { [alias]: String(100 + index) });
        expect({ alias, value: valueAt(config, row.path) }).toEqual({ alias, value: 100 + index });
      }
    }
  });

  test("the variables work as printed on the real command: config check names the key a bad value set", () => {
    const dir = temporaryDirectory("gatehouse-config-docs-");
    const file = join(dir, "config.yaml");
    writeFileSync(file, "jwt:\n  iss: docs\n  secret: a-shared-secret-of-more-than-32-bytes\nstore:\n  enabled: false\n");
    expect(runGatehouse(["config", "check", file], { cwd: dir }).code).toBe(0);
    // auth-o-tron's prefix, which the page gives for every key once, then each variable as its table prints it.
    for (const [variable, key, printed] of [
      ["AOT_SERVER__PORT", "server.port", "`AOT_SERVER__PORT`"],
      ["GATEHOUSE_REGULATION__BAN_TIME", "regulation.ban_time", "| `regulation.ban_time` | integer ≥ 1 | `300` | `GATEHOUSE_REGULATION__BAN_TIME` |"],
      ["TILED_ACCESS_TOKEN_MAX_AGE", "authentication.access_token_max_age", "<br>`TILED_ACCESS_TOKEN_MAX_AGE` |"],
    ]) {
      expect(page).toContain(printed!);
      const result = runGatehouse(["config", "check", file], { cwd: dir, env: { [variable]: "-5" } });
      expect({ variable, code: result.code }).toEqual({ variable, code: 1 });
      expect(result.stderr).toContain(key);
    }
  });

  test("the defaults in the tables are those Gatehouse fills in", () => {
    const { config } = buildConfig({ jwt: { iss: "docs", secret: "s".repeat(32) } }, "docs", {});
    // services: Gatehouse adds its own API's service (the `gatehouse` scopes) to the list.
    const filledAfterwards = new Set(["services"]);
    const checked: string[] = [];
    const wrong: string[] = [];
    for (const row of rows) {
      if (row.default === undefined || row.entryType || row.path.includes("[]") || filledAfterwards.has(row.path)) continue;
      const parent = row.path.split(".").slice(0, -1).join(".");
      if (parent && valueAt(config, parent) === undefined) continue; // an optional section the file leaves out (tls, sso…)
      checked.push(row.path);
      const actual = valueAt(config, row.path);
      if (JSON.stringify(actual) !== row.default) wrong.push(`${row.path}: the page says ${row.default}, Gatehouse fills in ${JSON.stringify(actual)}`);
    }
    expect(wrong).toEqual([]);
    expect(checked.length).toBeGreaterThan(45);
  });

  test("the defaults in the providers' and augmenters' tables are those Gatehouse fills in each entry of the fixtures", () => {
    const checked = new Set<string>();
    const wrong: string[] = [];
    for (const file of configFiles()) {
      const raw = parse(readFileSync(file, "utf8")) as Record<string, any>;
      // Upstream's examples have no jwt section (test/examples.test.ts adds one the same way).
      raw.jwt ??= { iss: "docs", secret: "s".repeat(32) };
      let config: Record<string, any>;
      try {
        config = buildConfig(raw, file, {}).config;
      } catch {
        continue; // one that needs its environment (secret files, variables): its keys are checked above
      }
      for (const list of ["providers", "augmenters"] as const) {
        for (const [index, entry] of (config[list] as Record<string, unknown>[]).entries()) {
          const prefix = `${list}[].`;
          for (const row of rows.filter((each) => each.entryType === entry.type && each.path.startsWith(prefix) && each.default !== undefined && !each.path.slice(prefix.length).includes("[]"))) {
            const key = row.path.slice(prefix.length);
            if (valueAt(raw[list][index], key) !== undefined) continue; // given in the file
            checked.add(`${entry.type}: ${key}`);
            if (JSON.stringify(valueAt(entry, key)) !== row.default) wrong.push(`${entry.type} ${key}: the page says ${row.default}, Gatehouse fills in ${JSON.stringify(valueAt(entry, key))}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(checked.size).toBeGreaterThan(10);
  });

  test("every key has a description (a key without one says nothing on the page)", () => {
    expect(rows.filter((row) => row.description.trim().length < 3).map((row) => (row.entryType ? `${row.entryType}: ${row.path}` : row.path))).toEqual([]);
  });

  test("every key of the examples and the fixtures (the seed's, upstream's, Tiled's) is on the page, under its provider's or augmenter's type", () => {
    const files = configFiles();
    expect(files.length).toBeGreaterThan(12);
    const missing: string[] = [];
    // A key's row; for a section (or a list of entries), the rows of the keys in it.
    const find = (path: string, entryType?: string) =>
      rows.find((row) => row.path === path && row.entryType === entryType) ??
      (rows.some((row) => (row.entryType === entryType || path === row.path.split("[]")[0]) && (row.path.startsWith(`${path}.`) || row.path.startsWith(`${path}[].`)))
        ? { type: "section" }
        : undefined);
    const walk = (value: unknown, path: string, entryType: string | undefined, file: string) => {
      if (Array.isArray(value)) {
        for (const item of value) walk(item, `${path}[]`, entryType ?? (/^(providers|augmenters)$/.test(path) ? (item as { type?: string }).type : undefined), file);
        return;
      }
      if (value === null || typeof value !== "object") return;
      for (const [key, item] of Object.entries(value)) {
        const keyPath = path ? `${path}.${key}` : key;
        const row = find(keyPath, entryType);
        if (!row) missing.push(`${file.slice(projectRoot.length + 1)}: ${entryType ? `${entryType} ` : ""}${keyPath}`);
        else if (!row.type.startsWith("map of") && row.type !== "ignored") walk(item, keyPath, entryType, file);
      }
    };
    for (const file of files) walk(parse(readFileSync(file, "utf8")), "", undefined, file);
    expect(missing).toEqual([]);
  });
});

test("every environment variable Gatehouse reads is on a reference page (this one, or the command line's)", () => {
  const pages = `${page}\n${readFileSync(CLI_DOCS_FILE, "utf8")}`;
  // The system's, and the one the supervisor sets for its own workers.
  const notOptions = new Set(["HOME", "USER", "LOGNAME", "GATEHOUSE_WORKER"]);
  const read = new Set<string>();
  for (const name of readdirSync(join(projectRoot, "src"), { recursive: true, encoding: "utf8" }).filter((each) => each.endsWith(".ts"))) {
    const text = readFileSync(join(projectRoot, "src", name), "utf8");
    for (const [, variable] of text.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)) read.add(variable!);
  }
  expect([...read]).toContain("GATEHOUSE_MASTER_KEY");
  expect([...read].filter((variable) => !notOptions.has(variable) && !pages.includes(`\`${variable}\``))).toEqual([]);
});
