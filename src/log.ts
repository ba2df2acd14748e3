// Structured logging: one line per event, console or JSON, with an event name
// on every line. Secrets must never be passed in; as a second line of defence
// any field whose name suggests a secret is replaced before it is written.
//
// JSON lines have auth-o-tron's OpenTelemetry shape (its utils/logger.rs), so
// the log pipelines that parse auth-o-tron keep parsing Gatehouse:
//   {"timestamp","severityText","severityNumber","body",
//    "resource":{"service.name","service.version"},
//    "attributes":{"event.name","event.domain",…fields}}
//
// Lines are written through a buffer flushed once per turn of the event loop
// into a non-blocking sink (./log-writer.ts): at debug level, /authenticate
// writes several lines per request, and one write(2) per line cost a third of
// the throughput (see docs/performance.md).
import { createBufferedStdout } from "./log-writer.ts";
import { VERSION } from "./version.ts";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";
export type LogFormat = "console" | "json";
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };
/** OpenTelemetry severity numbers, as auth-o-tron writes them. */
const SEVERITY_NUMBERS: Record<LogLevel, number> = { trace: 1, debug: 5, info: 9, warn: 13, error: 17 };
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
  /** Where lines go; a buffered, non-blocking stdout by default. Tests capture them here. */
  write?: (line: string) => void;
  /** `resource` of JSON lines (auth-o-tron's logging.service_name / service_version). */
  serviceName?: string;
  serviceVersion?: string;
}

/** auth-o-tron accepts any case (`INFO`); anything but `json` is the console format. */
export function normaliseLogLevel(level: unknown): unknown {
  return typeof level === "string" ? level.trim().toLowerCase() : level;
}
export function normaliseLogFormat(format: unknown): LogFormat {
  return typeof format === "string" && format.trim().toLowerCase() === "json" ? "json" : "console";
}

/** Whether a field's value must be hidden; asked once per field name (names come from the code, a small set). */
const secretFieldNames = new Map<string, boolean>();
function isSecretField(key: string): boolean {
  let secret = secretFieldNames.get(key);
  if (secret === undefined) secretFieldNames.set(key, (secret = SECRET_FIELD.test(key)));
  return secret;
}

/**
 * A count under a plural name (`tokens: 2`, `sessions.user_ended`'s): a number, never a secret, and
 * hiding it only hid how many tokens were revoked. A number under a singular name stays hidden (a
 * PIN-like `password: 1234` read from YAML as a number).
 */
const isCount = (key: string, value: unknown) => typeof value === "number" && Number.isInteger(value) && key.endsWith("s");

/** The value as written: secrets replaced (booleans and counts say nothing and stay), errors by their message. */
function shownValue(key: string, value: unknown): unknown {
  if (isSecretField(key) && typeof value !== "boolean" && !isCount(key, value)) return "[redacted]";
  return value instanceof Error ? value.message : value;
}

// JSON.stringify escapes C0 controls but not DEL, the C1 controls (U+0080–U+009F: some
// terminals obey U+009B as an escape sequence) nor the Unicode line separators.
const UNESCAPED_CONTROL = /[\u007f-\u009f\u2028\u2029]/;
const UNESCAPED_CONTROLS = new RegExp(UNESCAPED_CONTROL.source, "g");
const escapeControl = (char: string) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
/** JSON text with every control character escaped: a logged value can never forge a line or a terminal sequence. */
export function safeJson(value: unknown): string {
  const text = JSON.stringify(value) ?? "null";
  return UNESCAPED_CONTROL.test(text) ? text.replace(UNESCAPED_CONTROLS, escapeControl) : text;
}

// Most values are plain ASCII without quotes or backslashes: written as they are, without JSON.stringify.
const PLAIN_ASCII = /^[\u0020\u0021\u0023-\u005b\u005d-\u007e]*$/;
const jsonString = (text: string) => (PLAIN_ASCII.test(text) ? `"${text}"` : safeJson(text));
function jsonValue(value: unknown): string {
  if (typeof value === "string") return jsonString(value);
  if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean") return String(value);
  return safeJson(value);
}
/** `"name":` per field or event name, serialised once (names come from the code, a small set). */
const serialised = new Map<string, string>();
const once = (text: string) => serialised.get(text) ?? (serialised.set(text, jsonString(text)), serialised.get(text)!);

const NEEDS_QUOTES = /[\s"=\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
function consoleValue(value: unknown): string {
  if (typeof value === "string") return NEEDS_QUOTES.test(value) || value === "" ? safeJson(value) : value;
  return safeJson(value);
}

/** ISO timestamps, formatted once per millisecond. */
let lastMillisecond = 0;
let lastTimestamp = "";
function timestamp(): string {
  const now = Date.now();
  if (now !== lastMillisecond) {
    lastMillisecond = now;
    lastTimestamp = new Date(now).toISOString();
  }
  return lastTimestamp;
}

const domainOf = (event: string) => once(event.split(".")[0]);

// Lines are built as text in one pass over the fields (no intermediate
// objects): at debug level /authenticate writes a line per request, and the
// first version, which copied the fields three times, cost 40 % of the
// request's CPU time.
export function createLogger(options: LoggerOptions): Logger {
  const threshold = LEVELS[options.level];
  const write = options.write ?? createBufferedStdout().write;
  // The parts of a JSON line that never change are serialised once.
  const resource = safeJson({ "service.name": options.serviceName ?? "gatehouse", "service.version": options.serviceVersion ?? VERSION });
  const severity = Object.fromEntries(
    (Object.keys(LEVELS) as LogLevel[]).map((level) => [level, `"severityText":"${level.toUpperCase()}","severityNumber":${SEVERITY_NUMBERS[level]}`]),
  ) as Record<LogLevel, string>;
  const consoleLevel = Object.fromEntries((Object.keys(LEVELS) as LogLevel[]).map((level) => [level, level.toUpperCase().padEnd(5)]));

  const jsonLine = (level: LogLevel, event: string, fields: LogFields) => {
    let body: string | undefined;
    let attributes = `{"event.name":${once(event)},"event.domain":${domainOf(event)}`;
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined) continue;
      // auth-o-tron's `message` field is the line's body.
      if (key === "message" && typeof value === "string") body = jsonString(value);
      else attributes += `,${once(key)}:${jsonValue(shownValue(key, value))}`;
    }
    return `{"timestamp":"${timestamp()}",${severity[level]},"body":${body ?? once(event)},"resource":${resource},"attributes":${attributes}}}`;
  };
  const consoleLine = (level: LogLevel, event: string, fields: LogFields) => {
    let line = `${timestamp()} ${consoleLevel[level]} ${event}`;
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined) line += ` ${key}=${consoleValue(shownValue(key, value))}`;
    }
    return line;
  };
  const format = options.format === "json" ? jsonLine : consoleLine;
  const emit = (level: LogLevel, event: string, fields: LogFields = {}) => {
    if (LEVELS[level] >= threshold) write(format(level, event, fields));
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
