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
import { CONFIG_FLAG, defineCommand } from "./help.ts";

export const configCommand = defineCommand(
  {
    name: "config",
    summary: "check a config file as serve would, or print its JSON Schema",
    flags: [],
    subcommands: [
      {
        name: "check",
        args: "[FILE]",
        operands: ["FILE?"],
        summary: "read the config as serve does and list every problem: errors (serve refuses to start: exit 1) and warnings (serve runs and logs them: exit 0)",
        description: "FILE is the config file; without it, --config FILE, else $GATEHOUSE_CONFIG, else $AOT_CONFIG_PATH, else ./config.yaml.",
        flags: [
          CONFIG_FLAG,
          { name: "strict", type: "boolean", description: "keys Gatehouse does not know are errors, not warnings (as config.strict: true)" },
          { name: "connect", type: "boolean", description: "also open the store (SQLite file or PostgreSQL) and the signing keys in it" },
        ],
      },
      { name: "schema", summary: "print the config's JSON Schema (for editors)" },
    ],
  },
  async (parsed) => {
    const [action, file] = parsed.positionals;
    if (action === "schema") {
      console.log(JSON.stringify(documentedSchema(), null, 2));
      return 0;
    }
    return check(file ?? parsed.values.config, { strict: parsed.values.strict === true, connect: parsed.values.connect === true });
  },
);

async function check(path: string | undefined, options: { strict: boolean; connect: boolean }): Promise<number> {
  const resolved = resolveConfigPath(path, process.env);
  if (!resolved) {
    console.error("config check: no config file given and ./config.yaml does not exist");
    return 2;
  }
  const loaded = loadConfigFile(resolved.path, process.env, { strict: options.strict });
  const warnings = [...loaded.warnings, ...exposedSecretFiles(loaded.secretFiles)];
  for (const warning of warnings) console.log(`warning: ${warning}`);
  const problems = await startupProblems(loaded.config);
  if (options.connect) {
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
