// Starts a real Gatehouse process (from source, or the compiled binary) on an
// ephemeral loopback port and waits for its `server.started` log line.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { yamlOnTestStore } from "./stored.ts";

export const projectRoot = resolve(import.meta.dir, "../..");

export interface RunningGatehouse {
  url: string;
  port: number;
  dir: string;
  configPath: string;
  process: Subprocess<"ignore", "pipe", "pipe">;
  /** Every line the process has written so far (stdout and stderr). */
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnOptions {
  /**
   * YAML text of the config file; without it the server starts on its
   * development default. The listen address is forced to 127.0.0.1:0 through
   * the environment override GATEHOUSE_BIND_ADDRESS.
   */
  config?: string;
  env?: Record<string, string>;
  /** Command to run instead of `bun run src/main.ts`, e.g. the compiled binary. */
  command?: string[];
  /** Working directory (defaults to a fresh temporary directory, which also holds the config). */
  cwd?: string;
  timeoutMs?: number;
}

export function temporaryDirectory(prefix = "gatehouse-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function spawnGatehouse(options: SpawnOptions): Promise<RunningGatehouse> {
  const dir = options.cwd ?? temporaryDirectory();
  const configPath = join(dir, "config.yaml");
  // Under GATEHOUSE_TEST_STORE=postgres the config's store is moved to PostgreSQL (test/helpers/stored.ts).
  if (options.config !== undefined) writeFileSync(configPath, await yamlOnTestStore(options.config, dir));
  const command = options.command ?? [process.execPath, "run", join(projectRoot, "src/main.ts")];
  const configArgs = options.config !== undefined ? ["--config", configPath] : [];
  const child = Bun.spawn([...command, "serve", ...configArgs], {
    cwd: dir,
    // An ephemeral metrics port: the default 9090 would be shared by every server a suite starts.
    env: { ...process.env, GATEHOUSE_BIND_ADDRESS: "127.0.0.1:0", GATEHOUSE_METRICS__PORT: "0", GATEHOUSE_LOGGING__FORMAT: "json", ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const logs: string[] = [];
  let resolveStarted: (url: string) => void;
  const started = new Promise<string>((r) => (resolveStarted = r));
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        logs.push(line);
        const match = line.includes("server.started") && line.match(/((?:https?:\/\/|unix:)[^\s"]+)/);
        if (match) resolveStarted(match[1].replace(/\/$/, ""));
      }
    }
  };
  void pump(child.stdout);
  void pump(child.stderr);
  const timeoutMs = options.timeoutMs ?? 15000;
  // Cleared once started: a timer left running killed every server 15 s after its start, mid-test.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const url = await Promise.race([
    started,
    child.exited.then((code) => {
      throw new Error(`gatehouse exited with ${code} before starting:\n${logs.join("\n")}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill();
        reject(new Error(`gatehouse did not start within ${timeoutMs} ms:\n${logs.join("\n")}`));
      }, timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  return {
    url,
    port: Number(new URL(url).port),
    dir,
    configPath,
    process: child,
    logs,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && !child.killed) child.kill(signal);
      await child.exited;
    },
  };
}
