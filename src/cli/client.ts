// `gatehouse client`: calls a Gatehouse server as a user would, with the
// credentials of an `.ecflowapirc` file, found and matched exactly as
// ecflow_client 5.19 does (ecflow/client/ClientEnvironment.cpp), so that one
// file behaves the same for both:
//
//   {"version": 1, "tokens": [
//     {"server": "<pattern>", "type": "bearer", "api": {"url": "…", "key": "<key>", "email": "…"}},
//     {"server": "<pattern>", "type": "basic",  "api": {"username": "…", "password": "…"}}]}
//
// - The file is --rc FILE, else $ECF_AUTHTOKENS, else ~/.ecflowapirc when it
//   exists, else ./.ecflowapirc (the real client reads the home file first,
//   whatever the ecFlow documentation says).
// - The first entry whose `server` regular expression matches the whole URL
//   `scheme://host:port` (the port always written) is used: bearer entries
//   send `Authorization: Bearer <key>`, basic entries Basic. Entries of
//   another type are skipped, as ecflow_client skips them.
// - ecflow_client refuses the whole file when a bearer entry lacks `api.url`
//   or `api.email` (even unused, even empty): Gatehouse uses such an entry
//   but warns, naming the fix.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { TokenView } from "../tokens/service.ts";
import { parseCommand, parseExpiresIn, parseScopeArguments, tokenTable } from "./common.ts";
import { exposedSecretFile } from "../secret-files.ts";

const USAGE = `usage: gatehouse client [--server URL] [--socket PATH] [--rc FILE] COMMAND
  whoami                       the identity the server sees
  token create [--note TEXT] [--expires-in SECONDS|30d|never] [--scope service:scope ...]
  token list [--json]
  token revoke ID
The server is --server, else $GATEHOUSE_SERVER, else http://127.0.0.1:8080.
The credentials file is --rc, else $ECF_AUTHTOKENS, else ~/.ecflowapirc, else ./.ecflowapirc.
Over HTTPS, --ca FILE (else $GATEHOUSE_CA_FILE) is a PEM file of the certificates to trust,
as ecFlow's client trusts server.crt; without it, the system's.
--socket PATH sends the requests over Gatehouse's Unix socket (server.socket); --server then
only picks the credentials file's entry.`;

const RC_NAME = ".ecflowapirc";

type Entry =
  | { server: string; type: "bearer"; api: { key: string; url?: string; email?: string } }
  | { server: string; type: "basic"; api: { username: string; password: string } };

export class ClientError extends Error {}

/**
 * The credentials file to use, in ecflow_client's order: --rc, $ECF_AUTHTOKENS, the home directory's if it exists, the
 * working directory's. With `orNew` (gatehouse login writing one), the home directory's when neither exists yet.
 */
export function findRcFile(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, orNew = false): string {
  if (explicit) return resolve(explicit);
  if (env.ECF_AUTHTOKENS) return resolve(env.ECF_AUTHTOKENS);
  const home = join(env.HOME ?? homedir(), RC_NAME);
  if (existsSync(home)) return home;
  const here = resolve(RC_NAME);
  if (existsSync(here)) return here;
  if (orNew) return home;
  throw new ClientError(`no credentials file: looked for ${home} and ${here} (or set ECF_AUTHTOKENS, or give --rc FILE)`);
}

/**
 * The usable entries of an .ecflowapirc file, with each problem named by its
 * place in the file; `warnings` gets what ecflow_client would do differently.
 */
export function readRcFile(path: string, warnings: string[] = []): Entry[] {
  let data: any;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ClientError(`${path}: ${(error as NodeJS.ErrnoException).code ?? "not valid JSON"}: ${(error as Error).message}`);
  }
  if (data?.version !== 1) throw new ClientError(`${path}: "version" must be 1`);
  if (!Array.isArray(data.tokens)) throw new ClientError(`${path}: "tokens" must be a list`);
  const entries: Entry[] = [];
  data.tokens.forEach((entry: any, index: number) => {
    const where = `${path}: tokens[${index}]`;
    if (entry?.type !== "bearer" && entry?.type !== "basic") {
      warnings.push(`${where} is skipped: its type is neither "bearer" nor "basic" (ecflow_client skips it too)`);
      return;
    }
    if (typeof entry.server !== "string") throw new ClientError(`${where}.server must be a string (a regular expression)`);
    if (entry.type === "bearer") {
      if (typeof entry.api?.key !== "string") throw new ClientError(`${where}.api.key must be a string`);
      const missing = ["url", "email"].filter((field) => typeof entry.api[field] !== "string");
      if (missing.length > 0) {
        const fix = missing.map((field) => `"${field}": ""`).join(" and ");
        warnings.push(
          `${where}: ecflow_client 5.19 refuses this whole file: a bearer entry needs api.${missing.join(" and api.")}; add ${fix} to the entry's "api" (any value, even empty)`,
        );
      }
    } else if (typeof entry.api?.username !== "string" || typeof entry.api?.password !== "string") {
      throw new ClientError(`${where}.api must have a username and a password`);
    }
    entries.push(entry as Entry);
  });
  return entries;
}

/** What ecflow_client matches the `server` patterns against: scheme://host:port, the port always written. */
export function matchedUrl(server: URL): string {
  const port = server.port || (server.protocol === "https:" ? "443" : "80");
  return `${server.protocol}//${server.hostname}:${port}`;
}

/** The Authorization header of the first entry whose pattern matches the whole URL, as std::regex_match does. */
export function authorizationFor(entries: Entry[], server: URL, path: string, warnings: string[] = []): string {
  const url = matchedUrl(server);
  const nearMisses: number[] = [];
  for (const [index, entry] of entries.entries()) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(`^(?:${entry.server})$`);
    } catch {
      throw new ClientError(`${path}: tokens[${index}].server is not a valid regular expression: ${entry.server}`);
    }
    if (!pattern.test(url)) {
      // Matching only the host name was Gatehouse's old rule and is a common mistake: say what ecflow_client compares.
      if (pattern.test(server.hostname) || pattern.test(`${server.hostname}:${url.split(":").at(-1)}`)) nearMisses.push(index);
      continue;
    }
    if (entry.type === "bearer") return `Bearer ${entry.api.key}`;
    return `Basic ${Buffer.from(`${entry.api.username}:${entry.api.password}`, "utf8").toString("base64")}`;
  }
  const hint = nearMisses.length
    ? `; tokens[${nearMisses.join("], tokens[")}] match the host name only: a pattern must match the whole URL, e.g. "${url.replace(/[.]/g, "\\.")}" or ".*${server.hostname.replace(/[.]/g, "\\.")}.*"`
    : "";
  throw new ClientError(`${path}: no entry's server pattern matches ${url}${hint}`);
}

const options = {
  server: { type: "string" },
  rc: { type: "string" },
  ca: { type: "string" },
  socket: { type: "string" },
  note: { type: "string" },
  "expires-in": { type: "string" },
  scope: { type: "string", multiple: true },
  json: { type: "boolean" },
} as const;

export async function clientCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(args, options, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const command = positionals.join(" ");
  const known = ["whoami", "token create", "token list"];
  if (!known.includes(command) && !(positionals[0] === "token" && positionals[1] === "revoke" && positionals.length === 3)) {
    console.error(USAGE);
    return 2;
  }
  try {
    let server: URL;
    try {
      server = new URL(values.server ?? process.env.GATEHOUSE_SERVER ?? "http://127.0.0.1:8080");
    } catch {
      throw new ClientError(`--server ${values.server}: not a URL`);
    }
    const rcPath = findRcFile(values.rc);
    // As ssh does for a private key: said, not refused, so that existing files keep working.
    const exposed = exposedSecretFile({ field: "credentials file", path: rcPath });
    const warnings: string[] = exposed ? [exposed] : [];
    let authorization: string;
    try {
      authorization = authorizationFor(readRcFile(rcPath, warnings), server, rcPath, warnings);
    } finally {
      for (const warning of warnings) console.error(`warning: ${warning}`);
    }
    const ca = trustedCertificates(values.ca ?? process.env.GATEHOUSE_CA_FILE);
    const call = (method: string, path: string, body?: unknown) =>
      request(new URL(path.replace(/^\//, ""), server.href.endsWith("/") ? server.href : `${server.href}/`), method, authorization, body, ca, values.socket);

    if (command === "whoami") {
      console.log(JSON.stringify(await call("GET", "/whoami"), null, 2));
    } else if (command === "token create") {
      const scopes = values.scope ? parseScopeArguments(values.scope) : undefined;
      const expiresIn = values["expires-in"] === undefined ? undefined : parseExpiresIn(values["expires-in"]);
      if (typeof scopes === "string" || typeof expiresIn === "string") throw new ClientError(String(typeof scopes === "string" ? scopes : expiresIn));
      const created = (await call("POST", "/api/v1/tokens", { note: values.note, expires_in: expiresIn, scopes })) as TokenView & { token: string };
      console.error(`created ${created.id}, expires ${created.expires_at ?? "never"}; the secret is shown this once:`);
      console.log(created.token);
    } else if (command === "token list") {
      const { tokens } = (await call("GET", "/api/v1/tokens")) as { tokens: TokenView[] };
      console.log(values.json ? JSON.stringify({ tokens }, null, 2) : tokenTable(tokens));
    } else {
      await call("DELETE", `/api/v1/tokens/${encodeURIComponent(positionals[2])}`);
      console.log(`revoked ${positionals[2]}`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    console.error(`client: ${error.message}`);
    return 1;
  }
}

/** The PEM certificates of --ca, read once; undefined: the system's. */
export function trustedCertificates(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    throw new ClientError(`--ca ${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!pem.includes("BEGIN CERTIFICATE")) throw new ClientError(`--ca ${path}: holds no PEM certificate`);
  return pem;
}

/** A request that got no answer (no server, a time-out, a certificate not trusted), in words. */
export function unreachable(method: string, url: URL, error: unknown): ClientError {
  const untrusted = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(String((error as NodeJS.ErrnoException).code));
  const hint = untrusted ? " (the server's certificate is not trusted: give --ca FILE)" : "";
  return new ClientError(`${method} ${url.origin}${url.pathname}: ${(error as Error).message}${hint}`);
}

/** One JSON call; a refusal becomes a ClientError with the server's message. */
async function request(url: URL, method: string, authorization: string, body?: unknown, ca?: string, socket?: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { authorization, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "error",
      signal: AbortSignal.timeout(30_000),
      // Only the given certificates are trusted; the credentials are never sent to a server they do not vouch for.
      ...(ca ? { tls: { ca } } : {}),
      ...(socket ? { unix: socket } : {}),
    });
  } catch (error) {
    throw unreachable(method, url, error);
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {}
    throw new ClientError(`${method} ${url.pathname}: ${response.status} ${message}`.trimEnd());
  }
  return text === "" ? null : JSON.parse(text);
}
