// The PostgreSQL store's URL (`store.url`): checked by `config check`, shown
// only with its password replaced. The URL usually holds the database
// password, so it never appears whole in a log line, a problem or an error
// message: `redactUrl` for what names the server, `redactSecrets` for an
// error text that might quote it (a driver message, a stack).
import { existsSync, readFileSync } from "node:fs";

const SCHEMES = new Set(["postgres:", "postgresql:"]);
/** libpq's sslmode values that Bun's client understands. */
const SSL_MODES = new Set(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]);
const EXAMPLE = "postgres://USER:PASSWORD@HOST:5432/DATABASE";

/** The URL with its password (and any password= parameter) replaced by `***`; a URL that does not parse is not shown at all. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "(a store URL that does not parse)";
  }
  if (parsed.password !== "") parsed.password = "***";
  for (const name of [...parsed.searchParams.keys()]) {
    if (/pass/i.test(name)) parsed.searchParams.set(name, "***");
  }
  return parsed.toString();
}

/** The secret parts of a store URL: its password (raw and decoded) and any password parameter. */
function secretsOf(url: string): string[] {
  const secrets = new Set<string>();
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") {
      secrets.add(parsed.password);
      try {
        secrets.add(decodeURIComponent(parsed.password));
      } catch {}
    }
    for (const [name, value] of parsed.searchParams) if (/pass/i.test(name) && value !== "") secrets.add(value);
  } catch {
    // A URL that does not parse: hide it whole.
  }
  return [...secrets].filter((secret) => secret.length > 0).sort((a, b) => b.length - a.length);
}

/** `text` with the URL replaced by its redacted form and every secret of it by `***` (for error messages from the driver). */
export function redactSecrets(text: string, url: string | undefined): string {
  if (!url) return text;
  let out = text.split(url).join(redactUrl(url));
  for (const secret of secretsOf(url)) out = out.split(secret).join("***");
  return out;
}

/** What is wrong with a store URL, each problem prefixed by `path`; the URL's password never appears. */
export function storeUrlProblems(url: string, path = "store.url"): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [`${path}: is not a URL; expected ${EXAMPLE}`];
  }
  if (!SCHEMES.has(parsed.protocol)) {
    return [`${path}: the scheme must be postgres:// or postgresql://, got "${parsed.protocol.replace(/:$/, "")}://"`];
  }
  const problems: string[] = [];
  const socket = parsed.searchParams.get("path") ?? parsed.searchParams.get("socket") ?? parsed.searchParams.get("host");
  if (parsed.hostname === "" && !socket) problems.push(`${path}: names no host; expected ${EXAMPLE}`);
  if (parsed.port !== "" && (Number(parsed.port) < 1 || Number(parsed.port) > 65535)) problems.push(`${path}: the port ${parsed.port} is out of range`);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (database === "" && !parsed.searchParams.get("dbname") && !parsed.searchParams.get("db")) {
    problems.push(`${path}: names no database; expected ${EXAMPLE}`);
  }
  const sslmode = parsed.searchParams.get("sslmode");
  if (sslmode !== null && !SSL_MODES.has(sslmode)) {
    problems.push(`${path}: sslmode "${sslmode.slice(0, 40)}" is not supported; use ${[...SSL_MODES].join(", ")}`);
  }
  return problems;
}

/** The store's PostgreSQL settings, as the config gives them (store.url, store.pool_size, store.tls). */
export interface PgStoreSettings {
  url?: string;
  pool_size: number;
  tls?: { ca_file?: string; reject_unauthorized: boolean };
}

/** Every problem of the PostgreSQL settings of a `store.type: postgres` config. */
export function pgStoreProblems(store: PgStoreSettings): string[] {
  const problems: string[] = [];
  if (store.url === undefined || store.url === "") {
    problems.push("store.url: is required with store.type postgres (or store.url_file, or GATEHOUSE_STORE__URL)");
  } else {
    problems.push(...storeUrlProblems(store.url));
  }
  const ca = store.tls?.ca_file;
  if (ca !== undefined) {
    if (!existsSync(ca)) problems.push(`store.tls.ca_file: ${ca} does not exist`);
    else {
      try {
        if (!readFileSync(ca, "utf8").includes("-----BEGIN CERTIFICATE-----")) problems.push(`store.tls.ca_file: ${ca} holds no PEM certificate`);
      } catch (error) {
        problems.push(`store.tls.ca_file: cannot read ${ca}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
      }
    }
  }
  return problems;
}
