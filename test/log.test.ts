// Log lines: auth-o-tron's OpenTelemetry JSON shape, control characters
// escaped, secrets redacted, the logging section read as auth-o-tron reads
// it, and a server whose stdout is not being read that keeps answering.
import { describe, expect, test } from "bun:test";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, type LogFormat } from "../src/log.ts";
import { buildConfig } from "../src/config/load.ts";
import { VERSION } from "../src/version.ts";
import { basic, seedConfig } from "./helpers/app.ts";

function capture(format: LogFormat, level: "debug" | "info" = "debug", service: { serviceName?: string; serviceVersion?: string } = {}) {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level, format, write: (line) => lines.push(line), ...service }) };
}

describe("JSON lines in auth-o-tron's OpenTelemetry shape", () => {
  test("timestamp, severityText, severityNumber, body, resource and attributes with event.name", () => {
    const { lines, logger } = capture("json");
    logger.info("server.started", { url: "http://127.0.0.1:8080", providers: 2 });
    logger.warn("config.warning", { message: "metrics: not available" });
    logger.debug("auth.succeeded", { username: "alice", skipped: undefined });
    logger.error("keys.refresh_failed", { error: new Error("disk full") });
    const [started, warning, succeeded, failed] = lines.map((line) => JSON.parse(line));
    expect(Object.keys(started)).toEqual(["timestamp", "severityText", "severityNumber", "body", "resource", "attributes"]);
    expect(started.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(started.timestamp) - Date.now())).toBeLessThan(60_000);
    expect(started).toMatchObject({
      severityText: "INFO",
      severityNumber: 9,
      body: "server.started",
      resource: { "service.name": "gatehouse", "service.version": VERSION },
      attributes: { "event.name": "server.started", "event.domain": "server", url: "http://127.0.0.1:8080", providers: 2 },
    });
    expect(warning).toMatchObject({ severityText: "WARN", severityNumber: 13, body: "metrics: not available" });
    expect(warning.attributes).toEqual({ "event.name": "config.warning", "event.domain": "config" });
    expect(succeeded).toMatchObject({ severityText: "DEBUG", severityNumber: 5, attributes: { username: "alice" } });
    expect("skipped" in succeeded.attributes).toBe(false);
    expect(failed).toMatchObject({ severityText: "ERROR", severityNumber: 17, attributes: { error: "disk full" } });
  });

  test("logging.service_name and service_version name the resource, as auth-o-tron's", () => {
    const { lines, logger } = capture("json", "info", { serviceName: "auth-o-tron-prod", serviceVersion: "1.2.0" });
    logger.info("x.y");
    expect(JSON.parse(lines[0]).resource).toEqual({ "service.name": "auth-o-tron-prod", "service.version": "1.2.0" });
  });

  test("the level filters lines; trace is below debug", () => {
    const { lines, logger } = capture("json", "info");
    logger.debug("hidden");
    logger.trace("hidden");
    logger.info("shown");
    expect(lines).toHaveLength(1);
    expect(logger.enabled("debug")).toBe(false);
  });
});

describe("values that could forge a line or a terminal sequence, and secrets", () => {
  const nasty = "a\nb\r\u001b[31m\u0085\u009b2J\u2028end";
  test("JSON: C0, DEL, C1 and line separators are escaped; the value survives a parse", () => {
    const { lines, logger } = capture("json");
    logger.info("auth.refused", { username: nasty, [`k${"\u009b"}`]: 1 });
    expect(lines[0]).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(lines[0]).toContain("\\u009b");
    expect(JSON.parse(lines[0]).attributes.username).toBe(nasty);
  });

  test("console: such a value is quoted and escaped, on one line", () => {
    const { lines, logger } = capture("console");
    logger.info("auth.refused", { username: nasty, plain: "alice", spaced: "a b" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(lines[0]).toContain("plain=alice");
    expect(lines[0]).toContain('spaced="a b"');
    expect(lines[0]).toMatch(/^\S+ INFO  auth\.refused username="a\\nb\\r\\u001b\[31m\\u0085\\u009b2J\\u2028end"/);
  });

  test("fields named like secrets are redacted in both formats; booleans stay", () => {
    for (const format of ["json", "console"] as const) {
      const { lines, logger } = capture(format);
      logger.info("x.y", { password: "hunter2", api_key: "k-123", token: "gth_abc", privateKey: "-----BEGIN", has_token: true });
      expect(lines[0]).not.toContain("hunter2");
      expect(lines[0]).not.toContain("k-123");
      expect(lines[0]).not.toContain("gth_abc");
      expect(lines[0]).not.toContain("BEGIN");
      expect(lines[0]).toContain("[redacted]");
      expect(lines[0]).toContain("true");
    }
  });

  test("a count under a plural name is shown (tokens=2, issue 26 § 3); a number under a singular one is not", () => {
    for (const format of ["json", "console"] as const) {
      const { lines, logger } = capture(format);
      logger.warn("sessions.user_ended", { sessions: 1, tokens: 2, password: 123456, secrets: ["s3cr3t"] });
      expect(lines[0]).toContain(format === "json" ? '"tokens":2' : "tokens=2");
      expect(lines[0]).not.toContain("123456");
      expect(lines[0]).not.toContain("s3cr3t");
    }
  });
});

describe("the logging section, read as auth-o-tron reads it", () => {
  const load = (logging: Record<string, unknown>) => buildConfig({ ...seedConfig(), logging }, "test", {}).config.logging;
  test("the level in any case; any format but json is console", () => {
    expect(load({ level: "INFO", format: "JSON" })).toMatchObject({ level: "info", format: "json" });
    expect(load({ level: " Debug ", format: "pretty" })).toMatchObject({ level: "debug", format: "console" });
    expect(load({ level: "warn", format: "console" })).toMatchObject({ level: "warn", format: "console" });
    expect(load({ level: "warn" })).toMatchObject({ level: "warn", format: "console" });
    expect(() => load({ level: "LOUD" })).toThrow('logging.level: "loud" is not supported');
  });

  test("service_name and service_version are accepted, from the file or the environment", () => {
    expect(load({ level: "info", format: "json", service_name: "aot", service_version: "1.2.0" })).toMatchObject({
      service_name: "aot",
      service_version: "1.2.0",
    });
    const fromEnv = buildConfig(seedConfig(), "test", { AOT_LOGGING__LEVEL: "ERROR", AOT_LOGGING__FORMAT: "Json" }).config.logging;
    expect(fromEnv).toMatchObject({ level: "error", format: "json" });
  });
});

describe("debug logging never blocks the server", () => {
  test("with its stdout not read at all, /authenticate keeps answering at debug level; every line arrives, the last on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-log-"));
    const fifo = join(dir, "stdout.fifo");
    Bun.spawnSync(["mkfifo", fifo]);
    const probe = Bun.serve({ port: 0, fetch: () => new Response() });
    const port = probe.port!;
    probe.stop(true);
    const config = seedConfig();
    config.logging = { level: "debug", format: "json" };
    config.bind_address = `127.0.0.1:${port}`;
    writeFileSync(join(dir, "config.yaml"), JSON.stringify(config));
    // Opened read-write, so the child can write to it while nobody reads: the pipe fills (64 KiB) and stays full.
    const pipe = openSync(fifo, "r+");
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "../src/main.ts"), "serve", "--config", join(dir, "config.yaml")], {
      stdin: "ignore",
      stdout: pipe,
      stderr: "pipe",
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      for (let attempt = 0; ; attempt++) {
        const up = await fetch(`${url}/health`).then((response) => response.ok, () => false);
        if (up) break;
        if (attempt > 150) throw new Error("the server did not start");
        await Bun.sleep(100);
      }
      // Each request logs a line of about 300 bytes: 600 of them are three times what the pipe holds.
      const requests = 600;
      for (let batch = 0; batch < requests; batch += 50) {
        const answers = await Promise.all(
          Array.from({ length: 50 }, (_, index) =>
            fetch(`${url}/authenticate`, {
              headers: { authorization: basic("someuser", "somesecret"), "x-original-uri": `/r/${batch + index}` },
              signal: AbortSignal.timeout(20_000),
            }).then((response) => response.status),
          ),
        );
        expect(answers.every((status) => status === 200)).toBe(true);
      }
      // Now read: the lines held back arrive, in order, none lost; then the last ones, flushed at the stop.
      const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      let text = "";
      const drain = () => {
        const buffer = Buffer.alloc(1 << 16);
        for (;;) {
          try {
            const read = readSync(reader, buffer);
            if (read <= 0) return;
            text += buffer.toString("utf8", 0, read);
          } catch {
            return; // EAGAIN: nothing more for now
          }
        }
      };
      const paths = () => [...text.matchAll(/"path":"\/r\/(\d+)"/g)].map((match) => Number(match[1]));
      for (let attempt = 0; paths().length < requests && attempt < 200; attempt++) {
        drain();
        await Bun.sleep(50);
      }
      expect(new Set(paths()).size).toBe(requests);
      child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
      drain();
      const lines = text.trim().split("\n").map((line) => JSON.parse(line));
      expect(lines.at(-1).attributes["event.name"]).toBe("server.stopped");
      closeSync(reader);
    } finally {
      child.kill();
      closeSync(pipe);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("the last lines before a crash are not lost", () => {
  // A process that logs a burst and then dies: by an uncaught exception, by SIGTERM with nobody handling it, or by process.exit.
  const script = (ending: string) => `
    import { createLogger } from ${JSON.stringify(join(import.meta.dir, "../src/log.ts"))};
    const logger = createLogger({ level: "debug", format: "json" });
    for (let index = 0; index < 5000; index++) logger.debug("burst.line", { index, filler: "x".repeat(200) });
    ${ending}
  `;
  for (const [name, ending, exitCode] of [
    ["an uncaught exception", `setTimeout(() => { logger.error("crash.coming"); throw new Error("boom"); }, 0);`, 1],
    ["SIGTERM", `logger.info("signal.coming"); process.kill(process.pid, "SIGTERM"); setTimeout(() => {}, 5000);`, 143],
    ["process.exit", `logger.info("exit.coming"); process.exit(3);`, 3],
  ] as const) {
    test(`${name}: every line buffered before it is written`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "gatehouse-log-"));
      try {
        writeFileSync(join(dir, "crash.ts"), script(ending));
        const child = Bun.spawn([process.execPath, join(dir, "crash.ts")], { stdout: "pipe", stderr: "pipe" });
        const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
        expect(code).toBe(exitCode);
        const lines = stdout.trim().split("\n").map((line) => JSON.parse(line));
        expect(lines.filter((line) => line.body === "burst.line")).toHaveLength(5000);
        expect(lines.at(-1).body).toMatch(/\.coming$/);
        if (exitCode === 1) expect(stderr).toContain("boom");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 30_000);
  }
});
