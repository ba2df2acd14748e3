// The command line's help as data: each command is one object (its summary,
// arguments, flags and subcommands, each described once) that both parses its
// arguments and renders its `--help`, so the printed help, the parser and a
// generated reference (helpData in registry.ts) cannot disagree.
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

export interface Flag {
  /** Without the dashes: "expires-in". */
  readonly name: string;
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly multiple?: boolean;
  /** The value's placeholder in the help: "FILE", "30d". */
  readonly value?: string;
  readonly description: string;
}

export interface Subcommand {
  readonly name: string;
  /** What follows the name in the usage line: "ID", "--user U --realm R". */
  readonly args?: string;
  readonly summary: string;
  /** Paragraphs shown by `COMMAND SUBCOMMAND --help` only. */
  readonly description?: string;
  /** The arguments it takes after its name, in order ("ID"; "FILE?" when optional); none when left out. */
  readonly operands?: readonly string[];
  /** Its own flags (the command's flags apply too). */
  readonly flags?: readonly Flag[];
}

export interface CommandHelp {
  readonly name: string;
  readonly summary: string;
  /** What follows the name in the usage line, for a command without subcommands. */
  readonly args?: string;
  readonly description?: string;
  /** For a command without subcommands: the arguments it takes, as Subcommand's. */
  readonly operands?: readonly string[];
  /** Flags every subcommand takes (--config, …). */
  readonly flags: readonly Flag[];
  readonly subcommands?: readonly Subcommand[];
  /** Exit codes beyond 0 (done), 1 (failed) and 2 (usage). */
  readonly exitCodes?: readonly { readonly code: number; readonly meaning: string }[];
}

/** A command: its help, and what it does with every argument but its name. */
export interface CliCommand extends CommandHelp {
  run(args: string[]): Promise<number>;
}

/** The parsed arguments of a command, its flags typed from its definition. */
export interface Parsed<H extends CommandHelp> {
  values: Values<H>;
  positionals: string[];
}

/**
 * A command from its help and what it does with its parsed arguments: a
 * mistake in them (an unknown flag, a missing value) is said in one line
 * with exit code 2 before `run` is called.
 */
export function defineCommand<const H extends CommandHelp>(help: H, run: (parsed: Parsed<H>) => Promise<number>): CliCommand & H {
  return {
    ...help,
    async run(args: string[]) {
      const parsed = parseFlags(args, help);
      if (typeof parsed === "number") return parsed;
      const sub = subcommandOf(help, parsed.positionals);
      if (help.subcommands?.length && !sub) {
        const names = help.subcommands.map((each) => each.name);
        const list = `${names.slice(0, -1).join(", ")}${names.length > 1 ? " or " : ""}${names.at(-1)}`;
        return usageError(help.name, parsed.positionals.length ? `unknown command "${parsed.positionals.join(" ")}"; one of: ${list}` : `say what to do: ${list}`);
      }
      const given = parsed.positionals.slice(sub ? sub.name.split(" ").length : 0);
      const wanted = (sub ?? help).operands ?? [];
      const required = wanted.filter((name) => !name.endsWith("?"));
      const what = sub ? `${sub.name} ` : "";
      if (given.length < required.length) return usageError(help.name, `${what}needs ${required.slice(given.length).join(" ")}`);
      if (given.length > wanted.length) return usageError(help.name, `${what}takes no ${wanted.length ? "further " : ""}argument: ${given[wanted.length]}`);
      return run(parsed);
    },
  };
}

export const CONFIG_FLAG = {
  name: "config",
  type: "string",
  short: "c",
  value: "FILE",
  description: "the config file (else $GATEHOUSE_CONFIG, else $AOT_CONFIG_PATH, else ./config.yaml)",
} as const satisfies Flag;

export const JSON_FLAG = { name: "json", type: "boolean", description: "print JSON instead of a table" } as const satisfies Flag;

type FlagsOf<S> = S extends { readonly flags: readonly (infer F)[] } ? F : never;
type AllFlags<C extends CommandHelp> = C["flags"][number] | (C["subcommands"] extends readonly (infer S)[] ? FlagsOf<S> : never);
type FlagValue<F extends Flag> = F["type"] extends "boolean" ? boolean : F extends { multiple: true } ? string[] : string;
/** The parsed flags of a command, typed from its definition. */
export type Values<C extends CommandHelp> = { [F in AllFlags<C> as F["name"]]?: FlagValue<F> };

export const EXIT_USAGE = 2;

/** The flags a command takes, as node:util's parseArgs wants them. */
export function parserOptions(command: CommandHelp): ParseArgsOptionsConfig {
  const options: ParseArgsOptionsConfig = { help: { type: "boolean", short: "h" } };
  for (const flag of [...command.flags, ...(command.subcommands ?? []).flatMap((sub) => sub.flags ?? [])]) {
    options[flag.name] = { type: flag.type, ...(flag.short ? { short: flag.short } : {}), ...(flag.multiple ? { multiple: true } : {}) };
  }
  return options;
}

/**
 * A command's arguments, parsed by its definition; or, for a mistake, the exit
 * code 2 having printed one line saying what is wrong.
 */
export function parseFlags<const C extends CommandHelp>(args: string[], command: C): Parsed<C> | number {
  try {
    const parsed = parseArgs({ args, options: parserOptions(command), allowPositionals: true });
    return { values: parsed.values as Values<C>, positionals: parsed.positionals };
  } catch (error) {
    // parseArgs's own messages quote unevenly and run on: said in one line instead.
    return usageError(command.name, explainParseError(error as Error & { code?: string }));
  }
}

function explainParseError(error: Error & { code?: string }): string {
  const option = /'(-{1,2}[^'\s]*)/.exec(error.message)?.[1] ?? "";
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing/.test(error.message) ? `${option} needs a value` : `${option} takes no value`;
    default:
      return error.message.split("\n")[0].replace(/['"]/g, "");
  }
}

/** Prints `gatehouse NAME: PROBLEM (gatehouse NAME --help)` and answers the usage exit code. */
export function usageError(name: string, problem: string): number {
  console.error(`gatehouse ${name}: ${problem} (see gatehouse ${name} --help)`);
  return EXIT_USAGE;
}

/** The usage line of a command or one of its subcommands. */
export function usageLine(command: CommandHelp, sub?: Subcommand): string {
  const args = sub ? [sub.name, sub.args] : [command.subcommands?.length ? "COMMAND" : undefined, command.args];
  return ["gatehouse", command.name, ...args].filter(Boolean).join(" ");
}

function flagLines(flags: readonly Flag[]): string[] {
  const left = flags.map((flag) => `${flag.short ? `-${flag.short}, ` : ""}--${flag.name}${flag.value ? ` ${flag.value}` : ""}${flag.multiple ? " …" : ""}`);
  const width = Math.max(...left.map((text) => text.length));
  return flags.map((flag, index) => `  ${left[index].padEnd(width)}  ${flag.description}`);
}

/** `gatehouse COMMAND --help`, or `gatehouse COMMAND SUBCOMMAND --help`. */
export function renderHelp(command: CommandHelp, sub?: Subcommand): string {
  const lines = [`usage: ${usageLine(command, sub)}`, "", sub ? sub.summary : command.summary];
  const description = sub ? sub.description : command.description;
  if (description) lines.push("", description);
  if (!sub && command.subcommands?.length) {
    const width = Math.max(...command.subcommands.map((each) => `${each.name} ${each.args ?? ""}`.trimEnd().length));
    lines.push("", "Commands:", ...command.subcommands.map((each) => `  ${`${each.name} ${each.args ?? ""}`.trimEnd().padEnd(width)}  ${each.summary}`));
    lines.push("", `gatehouse ${command.name} COMMAND --help: that command's options.`);
  }
  const flags = [...(sub?.flags ?? []), ...command.flags];
  if (!sub && command.subcommands?.length) {
    if (command.flags.length) lines.push("", "Options of every command:", ...flagLines(command.flags));
  } else if (flags.length) {
    lines.push("", "Options:", ...flagLines(flags));
  }
  const codes = [{ code: 0, meaning: "done" }, { code: 1, meaning: "failed (the reason on stderr)" }, { code: 2, meaning: "a usage mistake" }, ...(command.exitCodes ?? [])];
  lines.push("", `Exit status: ${codes.map(({ code, meaning }) => `${code} ${meaning}`).join("; ")}.`);
  return lines.join("\n");
}

/** The subcommand the positional arguments name ("create", or "token create" for two words), if any. */
export function subcommandOf(command: CommandHelp, args: string[]): Subcommand | undefined {
  const { positionals } = parseArgs({ args, options: parserOptions(command), allowPositionals: true, strict: false });
  const said = positionals.join(" ");
  return command.subcommands?.find((sub) => said === sub.name || said.startsWith(`${sub.name} `));
}
