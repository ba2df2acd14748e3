// Issue 27 § 2: the command-line reference, docs/cli.md, is generated from the
// commands' own definitions (scripts/cli-docs.ts) and fails here when stale;
// and it holds what the commands really print: every command of `gatehouse
// help`, and every subcommand and option of each one's --help.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { CLI_DOCS_FILE, renderCliReference } from "../scripts/cli-docs.ts";
import { helpData } from "../src/cli/registry.ts";
import { renderHelp } from "../src/cli/help.ts";
import { runGatehouse } from "./helpers/cli.ts";

const page = readFileSync(CLI_DOCS_FILE, "utf8");
const data = await helpData();

/** The page's section of a command, its subcommands' included. */
const sectionOf = (name: string) => page.split("\n## `gatehouse ").find((chunk) => chunk.startsWith(`${name}\``)) ?? "";

/** The left column of a help's "Commands:" and "Options:" lines: `create --user U --realm R [options]`, `-c, --config FILE`. */
function listed(help: string): string[] {
  const items: string[] = [];
  let inList = false;
  for (const line of help.split("\n")) {
    if (/^(Commands|Options|Options of every command):$/.test(line)) inList = true;
    else if (!line.startsWith("  ")) inList = false;
    else if (inList) items.push(line.trim().split(/ {2,}/)[0]!);
  }
  return items;
}

test("docs/cli.md is what scripts/cli-docs.ts writes (npm run docs:cli)", async () => {
  if (page !== (await renderCliReference())) throw new Error("docs/cli.md is stale: run npm run docs:cli and commit it");
});

describe("the page holds what the commands print", () => {
  test("every command of `gatehouse help` has its section", () => {
    const overview = runGatehouse(["help"]);
    expect(overview.code).toBe(0);
    const names = overview.stdout.split("Commands:\n")[1]!.split("\n\n")[0]!.split("\n").map((line) => line.trim().split(" ")[0]!);
    expect(names.length).toBeGreaterThan(15);
    expect(names.filter((name) => !page.includes(`<a id="${name}"></a>\n\n## \`gatehouse ${name}\``))).toEqual([]);
  });

  test("every subcommand and option in each command's --help is in its section", () => {
    const missing: string[] = [];
    for (const command of data.commands) {
      const result = runGatehouse([command.name, "--help"]);
      expect({ command: command.name, code: result.code }).toEqual({ command: command.name, code: 0 });
      const section = sectionOf(command.name);
      // Each subcommand's own help, as `gatehouse COMMAND SUBCOMMAND --help` prints it (test/cli-help.test.ts runs a sample of them).
      const helps = [result.stdout, ...(command.subcommands ?? []).map((sub) => renderHelp(command, sub))];
      for (const item of helps.flatMap(listed)) if (!section.includes(`\`${item.replace(/\|/g, "\\|")}\``)) missing.push(`${command.name}: ${item}`);
      for (const sub of command.subcommands ?? []) if (!section.includes(`### \`gatehouse ${command.name} ${sub.name}\``)) missing.push(`${command.name} ${sub.name}`);
    }
    expect(missing).toEqual([]);
    expect(sectionOf("tokens")).toContain("| `--expires-in DURATION\\|never` |");
  }, 120_000);
});
