// Issue 26 § 2, help and exit codes: every command and subcommand answers
// --help from its own definition (exit 0), `gatehouse help COMMAND` works, and
// a usage mistake is one clear line with exit 2. The help is data (helpData),
// for a generated reference.
import { describe, expect, test } from "bun:test";
import { helpData } from "../src/cli/registry.ts";
import { runGatehouse } from "./helpers/cli.ts";

const data = await helpData();

describe("help", () => {
  test("helpData lists every command with its flags and subcommands, each described once", () => {
    const names = data.commands.map((command) => command.name);
    expect(names).toEqual(expect.arrayContaining(["serve", "config", "tokens", "keys", "users", "audit", "store", "client", "login", "logout", "tls", "healthcheck", "help"]));
    for (const command of data.commands) {
      expect(command.summary.length).toBeGreaterThan(5);
      const flags = [...command.flags, ...(command.subcommands ?? []).flatMap((sub) => sub.flags ?? [])];
      for (const flag of flags) expect(flag.description.length).toBeGreaterThan(5);
      expect(JSON.parse(JSON.stringify(command))).toEqual(command as never); // plain data, no functions
    }
    const create = data.commands.find((command) => command.name === "tokens")!.subcommands!.find((sub) => sub.name === "create")!;
    expect(create.flags!.map((flag) => flag.name)).toEqual(["user", "realm", "note", "expires-in", "scope", "network"]);
  });

  test("every command and subcommand has its own --help, exit 0; `gatehouse help COMMAND [SUB]` prints the same", () => {
    const asked: string[][] = [];
    for (const command of data.commands) {
      asked.push([command.name]);
      for (const sub of command.subcommands ?? []) asked.push([command.name, ...sub.name.split(" ")]);
    }
    // One process per form would take minutes: a sample of each kind, and every command's own.
    const sample = asked.filter((words, index) => words.length === 1 || index % 3 === 0 || ["serve", "config", "keys"].includes(words[0]));
    for (const words of sample) {
      const own = runGatehouse([...words, "--help"]);
      expect({ words, code: own.code, stderr: own.stderr }).toEqual({ words, code: 0, stderr: "" });
      expect(own.stdout).toStartWith(`usage: gatehouse ${words.join(" ")}`);
      if (words.length === 1) continue;
      const viaHelp = runGatehouse(["help", ...words]);
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.stdout).toBe(own.stdout);
    }
  }, 120_000);

  test("serve --help and config check --help are their own, not the overview; keys --help exits 0", () => {
    const serve = runGatehouse(["serve", "--help"]);
    expect(serve.stdout).toStartWith("usage: gatehouse serve\n");
    expect(serve.stdout).toContain("development default");
    const check = runGatehouse(["config", "check", "--help"]);
    expect(check.stdout).toStartWith("usage: gatehouse config check [FILE]\n");
    const keys = runGatehouse(["keys", "--help"]);
    expect(keys.code).toBe(0);
    expect(keys.stdout).toContain("retire KID");
    const overview = runGatehouse(["help"]);
    expect(overview.code).toBe(0);
    expect(overview.stdout).toContain("gatehouse help COMMAND");
    expect(runGatehouse(["--help"]).stdout).toBe(overview.stdout);
  });

  test("usage mistakes: exit 2 and one line, balanced quotes, pointing at the help", () => {
    const cases: [string[], string][] = [
      [["tokens", "--nope"], "gatehouse tokens: unknown option --nope (see gatehouse tokens --help)"],
      [["tokens", "create", "--user"], "gatehouse tokens: --user needs a value (see gatehouse tokens --help)"],
      [["tokens"], "gatehouse tokens: say what to do: create, list, rotate, revoke or import (see gatehouse tokens --help)"],
      [["tokens", "revoke"], "gatehouse tokens: revoke needs ID|SECRET (see gatehouse tokens --help)"],
      [["tokens", "list", "extra"], "gatehouse tokens: list takes no argument: extra (see gatehouse tokens --help)"],
      [["keys", "frob"], 'gatehouse keys: unknown command "frob"; one of: list, rotate or retire (see gatehouse keys --help)'],
      [["config", "check", "a.yaml", "b.yaml"], "gatehouse config: check takes no further argument: b.yaml (see gatehouse config --help)"],
      [["serve", "--verbose"], "gatehouse serve: unknown option --verbose (see gatehouse serve --help)"],
      [["help", "frob"], 'gatehouse: unknown command "frob" (gatehouse help lists the commands)'],
      [["frob"], 'gatehouse: unknown command "frob" (gatehouse help lists the commands)'],
    ];
    for (const [args, line] of cases) {
      const run = runGatehouse(args);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 2, stderr: `${line}\n` });
      expect(run.stderr.split("'").length % 2).toBe(1);
    }
  });
});
