// Every command of the command line, in the order the help lists them: adding
// a command is one entry here (its module exports a CliCommand, help.ts).
// Each module is loaded when its command runs: `serve`, the one that must
// start fast, does not load the others' (the PostgreSQL tools among them).
import { NAME, VERSION } from "../version.ts";
import { defineCommand, renderHelp, subcommandOf, usageError, type CliCommand, type CommandHelp } from "./help.ts";

export const COMMANDS: Record<string, () => Promise<CliCommand>> = {
  serve: async () => (await import("./serve.ts")).serveCommand,
  config: async () => (await import("./config.ts")).configCommand,
  "hash-password": async () => (await import("./hash-password.ts")).hashPasswordCommand,
  healthcheck: async () => (await import("./healthcheck.ts")).healthcheckCommand,
  migrate: async () => (await import("./migrate.ts")).migrateCommand,
  tokens: async () => (await import("./tokens.ts")).tokensCommand,
  users: async () => (await import("./users.ts")).usersCommand,
  keys: async () => (await import("./keys.ts")).keysCommand,
  audit: async () => (await import("./audit.ts")).auditCommand,
  regulation: async () => (await import("./regulation.ts")).regulationCommand,
  store: async () => (await import("./store.ts")).storeCommand,
  access: async () => (await import("./access.ts")).accessCommand,
  client: async () => (await import("./client.ts")).clientCommand,
  login: async () => (await import("./login.ts")).loginCommand,
  logout: async () => (await import("./login.ts")).logoutCommand,
  tls: async () => (await import("./tls.ts")).tlsCommand,
  version: async () => versionCommand,
  help: async () => helpCommand,
};

const versionCommand = defineCommand({ name: "version", summary: "print the version", flags: [] }, async () => {
  console.log(VERSION);
  return 0;
});

const helpCommand = defineCommand(
  {
    name: "help",
    summary: "this overview, or a command's help: gatehouse help tokens [create]",
    args: "[COMMAND [SUBCOMMAND]]",
    operands: ["COMMAND?", "SUBCOMMAND?", "WORD?"],
    flags: [],
  },
  async ({ positionals: [name, ...rest] }) => {
    if (name === undefined) {
      console.log(await overview());
      return 0;
    }
    if (!Object.hasOwn(COMMANDS, name)) return unknownCommand(name);
    const command = await COMMANDS[name]();
    const sub = subcommandOf(command, rest);
    if (rest.length > 0 && !sub) return usageError("help", `${name} has no command "${rest.join(" ")}"`);
    console.log(renderHelp(command, sub));
    return 0;
  },
);

export function unknownCommand(name: string): number {
  console.error(`gatehouse: unknown command "${name}" (gatehouse help lists the commands)`);
  return 2;
}

/** The whole command line's help as data (for a generated reference): every command, its flags and subcommands. */
export async function helpData(): Promise<{ name: string; version: string; commands: CommandHelp[] }> {
  const commands: CommandHelp[] = [];
  for (const load of Object.values(COMMANDS)) {
    const { run: _run, ...help } = await load();
    commands.push(help);
  }
  return { name: NAME, version: VERSION, commands };
}

/** `gatehouse --help`: every command with its summary. */
export async function overview(): Promise<string> {
  const { commands } = await helpData();
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    `${NAME} ${VERSION}`,
    "",
    "usage: gatehouse COMMAND [SUBCOMMAND] [options]    (no command: serve)",
    "",
    "Commands:",
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    "gatehouse help COMMAND (or gatehouse COMMAND --help): a command's options and subcommands.",
    "The config file is --config FILE, else $GATEHOUSE_CONFIG, else $AOT_CONFIG_PATH, else ./config.yaml.",
    "Without any, `serve` runs a development default on 127.0.0.1:8080 (made in ./data the first time);",
    "the other commands refuse to run without a config, but use that development default once serve made it.",
  ].join("\n");
}
