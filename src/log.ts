// Structured logging: one line per event, console or JSON, with an event name
// on every line. Secrets must never be passed in; as a second line of defence
// any field whose name suggests a secret is replaced before it is written.

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";
export type LogFormat = "console" | "json";
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };
const SECRET_FIELD = /pass(word)?|secret|token|authorization|cookie|api_?key|credential|private/i;

export interface Logger {
  enabled(level: LogLevel): boolean;
  trace(event: string, fields?: LogFields): void;
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; stdout by default. Tests capture them here. */
  write?: (line: string) => void;
}

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = SECRET_FIELD.test(key) && value !== undefined && typeof value !== "boolean" ? "[redacted]" : value;
  }
  return out;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") return /[\s"=]/.test(value) || value === "" ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = LEVELS[options.level];
  const write = options.write ?? ((line: string) => process.stdout.write(line + "\n"));
  const emit = (level: LogLevel, event: string, fields: LogFields = {}) => {
    if (LEVELS[level] < threshold) return;
    const safe = redact(fields);
    if (options.format === "json") {
      const record: LogFields = { time: new Date().toISOString(), level, event };
      for (const [key, value] of Object.entries(safe)) {
        record[key] = value instanceof Error ? value.message : value;
      }
      write(JSON.stringify(record));
    } else {
      const parts = [new Date().toISOString(), level.toUpperCase().padEnd(5), event];
      for (const [key, value] of Object.entries(safe)) {
        if (value !== undefined) parts.push(`${key}=${formatValue(value)}`);
      }
      write(parts.join(" "));
    }
  };
  return {
    enabled: (level) => LEVELS[level] >= threshold,
    trace: (event, fields) => emit("trace", event, fields),
    debug: (event, fields) => emit("debug", event, fields),
    info: (event, fields) => emit("info", event, fields),
    warn: (event, fields) => emit("warn", event, fields),
    error: (event, fields) => emit("error", event, fields),
  };
}

/** A logger that drops everything (library use, unit tests). */
export const silentLogger: Logger = createLogger({ level: "error", format: "json", write: () => {} });
