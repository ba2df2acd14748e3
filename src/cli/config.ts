// `gatehouse config check` and `gatehouse config schema`. A check gives the
// verdict `serve` would: the file (every problem with its path, unknown keys
// with the key they may have meant), then what serve reads at start-up (TLS
// files and pass phrase, the master key) and, with --connect, the store.
// Errors are what serve refuses to start with (exit 1); warnings are what it
// runs with and logs, the same words.
import { ConfigError, loadConfigFile, resolveConfigPath } from "../config/load.ts";
import { documentedSchema } from "../config/schema.ts";
import { startupProblems, storeProblems } from "../config/startup-checks.ts";
import { exposedSecretFiles } from "../secret-files.ts";
import { parseCommand } from "./common.ts";

const USAGE = `usage: gatehouse config check [FILE] [--strict] [--connect]
       gatehouse config schema

config check    read the config as serve does and list every problem: errors (serve refuses
                to start: exit 1) and warnings (serve runs and logs them: exit 0)
  FILE          the config file; else --config, $GATEHOUSE_CONFIG, $AOT_CONFIG_PATH, ./config.yaml
  --strict      keys Gatehouse does not know are errors, not warnings (as config.strict: true)
  --connect     also open the store (SQLite file or PostgreSQL) and the signing keys in it
config schema   print the config's JSON Schema (for editors)`;

export async function configCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(
    args,
    { config: { type: "string", short: "c" }, strict: { type: "boolean" }, connect: { type: "boolean" } },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const [action, file, ...extra] = parsed.positionals;
  if (action === "schema" && file === undefined) {
    console.log(JSON.stringify(documentedSchema(), null, 2));
    return 0;
  }
  if (action !== "check" || extra.length > 0) {
    console.error(`config: expected check [FILE] or schema\n${USAGE}`);
    return 2;
  }
  const resolved = resolveConfigPath(file ?? parsed.values.config, process.env);
  if (!resolved) {
    console.error("config check: no config file given and ./config.yaml does not exist");
    return 2;
  }
  const loaded = loadConfigFile(resolved.path, process.env, { strict: parsed.values.strict });
  const warnings = [...loaded.warnings, ...exposedSecretFiles(loaded.secretFiles)];
  for (const warning of warnings) console.log(`warning: ${warning}`);
  const problems = await startupProblems(loaded.config);
  if (parsed.values.connect) {
    const store = await storeProblems(loaded.config);
    for (const note of store.notes) console.log(note);
    problems.push(...store.problems);
  }
  if (problems.length > 0) throw new ConfigError(resolved.path, problems);
  const { providers, augmenters } = loaded.config;
  const warned = warnings.length > 0 ? `; ${warnings.length} warning(s): serve runs with them and logs them` : "";
  console.log(`${resolved.path}: ok (${providers.length} providers, ${augmenters.length} augmenters${warned})`);
  return 0;
}
