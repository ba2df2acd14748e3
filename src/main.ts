#!/usr/bin/env bun
// The gatehouse command line: finds the command (cli/registry.ts), answers
// `--help` for it or its subcommand from its definition (cli/help.ts), and
// runs it with every argument but its name.
import { parseArgs } from "node:util";
import { ConfigError } from "./config/load.ts";
import { UsageError } from "./cli/common.ts";
import { renderHelp, subcommandOf, usageError } from "./cli/help.ts";
import { COMMANDS, overview, unknownCommand } from "./cli/registry.ts";

async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (error) {
    // An operator gets the reason in one line (a store that cannot be opened,
    // a master key that does not decrypt the keys…), not a stack trace;
    // GATEHOUSE_DEBUG=1 shows the trace for a bug report.
    if (error instanceof UsageError) {
      console.error(`gatehouse: ${error.message}`);
      return 2;
    }
    if (error instanceof ConfigError || !process.env.GATEHOUSE_DEBUG) {
      console.error(error instanceof ConfigError ? error.message : `gatehouse: ${(error as Error).message ?? error}`);
      return 1;
    }
    throw error;
  }
}

/** Before the command: only these (`gatehouse --config FILE tokens list` works as it always did). */
const globalOptions = {
  config: { type: "string", short: "c" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

async function dispatch(argv: string[]): Promise<number> {
  const { tokens } = parseArgs({ args: argv, options: globalOptions, allowPositionals: true, strict: false, tokens: true });
  const named = tokens.find((token) => token.kind === "positional" || token.kind === "option-terminator");
  const before = named ? argv.slice(0, named.index) : argv;
  const wants = (flag: string, short?: string) => before.includes(flag) || (short !== undefined && before.includes(short));
  if (named?.kind !== "positional") {
    const unknown = tokens.find((token) => token.kind === "option" && !Object.hasOwn(globalOptions, token.name));
    if (unknown?.kind === "option") return usageError("serve", `unknown option ${unknown.rawName}`);
    if (wants("--help", "-h")) {
      console.log(await overview());
      return 0;
    }
    if (wants("--version")) return (await COMMANDS.version()).run([]);
  }
  const name = named?.kind === "positional" ? named.value : "serve";
  if (!Object.hasOwn(COMMANDS, name)) return unknownCommand(name);
  const command = await COMMANDS[name]();
  const args = named?.kind === "positional" ? [...argv.slice(0, named.index), ...argv.slice(named.index + 1)] : argv;
  // Every command and subcommand answers --help from its definition, whatever else was given.
  const terminator = args.indexOf("--");
  const options = terminator < 0 ? args : args.slice(0, terminator);
  if (options.includes("--help") || options.includes("-h")) {
    console.log(renderHelp(command, subcommandOf(command, args)));
    return 0;
  }
  return command.run(args);
}

// No top-level await: the compiled binary is built with bytecode (faster start-up), which needs a module without one.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
