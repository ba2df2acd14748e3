// `gatehouse config check [FILE]` and `gatehouse config schema`.
import { loadConfigFile, resolveConfigPath } from "../config/load.ts";
import { documentedSchema } from "../config/schema.ts";
import { exposedSecretFiles } from "../secret-files.ts";
import { CONFIG_FLAG, defineCommand } from "./help.ts";

export const configCommand = defineCommand(
  {
    name: "config",
    summary: "check a config file, or print its JSON Schema",
    flags: [],
    subcommands: [
      {
        name: "check",
        args: "[FILE]",
      operands: ["FILE?"],
        summary: "validate a config file and list every problem",
        description: "FILE is the config file; without it, --config FILE, else $GATEHOUSE_CONFIG, else $AOT_CONFIG_PATH, else ./config.yaml.",
        flags: [CONFIG_FLAG],
      },
      { name: "schema", summary: "print the config's JSON Schema (for editors)" },
    ],
  },
  async (parsed) => {
    return config(parsed.positionals, parsed.values.config);
  },
);

async function config([action, file]: string[], configPath: string | undefined): Promise<number> {
  if (action === "schema") {
    console.log(JSON.stringify(documentedSchema(), null, 2));
    return 0;
  }
  if (action !== "check") {
    console.error("usage: gatehouse config check [FILE] | gatehouse config schema");
    return 2;
  }
  const resolved = resolveConfigPath(file ?? configPath, process.env);
  if (!resolved) {
    console.error("config check: no config file given and ./config.yaml does not exist");
    return 2;
  }
  const loaded = loadConfigFile(resolved.path);
  if (loaded.weaknesses.length > 0) {
    // `serve` runs such a config (auth-o-tron's examples have short secrets); a check refuses it.
    console.error(`${resolved.path}: refused:\n${loaded.weaknesses.map((weakness) => `  - ${weakness}`).join("\n")}`);
    return 1;
  }
  for (const warning of [...loaded.warnings, ...exposedSecretFiles(loaded.secretFiles)]) console.log(`warning: ${warning}`);
  console.log(`${resolved.path}: ok (${loaded.config.providers.length} providers, ${loaded.config.augmenters.length} augmenters)`);
  return 0;
}
