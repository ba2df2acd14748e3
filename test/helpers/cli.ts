// The gatehouse command run as an operator runs it: a child process from
// source, in a folder of its own, with no config found through the environment
// unless the test gives one.
import { join } from "node:path";
import { projectRoot, temporaryDirectory } from "./gatehouse.ts";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runGatehouse(args: string[], options: { cwd?: string; env?: Record<string, string>; stdin?: string } = {}): CliResult {
  const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], {
    cwd: options.cwd ?? temporaryDirectory(),
    stdin: options.stdin !== undefined ? Buffer.from(options.stdin) : "ignore",
    env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "", USER: "operator", ...options.env },
    // A command that left a PostgreSQL pool or listener open would never exit: killed here, it fails its test.
    timeout: 60_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}
