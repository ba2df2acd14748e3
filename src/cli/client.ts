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
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { connect as connectTls } from "node:tls";
import type { TokenView } from "../tokens/service.ts";
import { parseExpiresIn, parseScopeArguments, tokenTable } from "./common.ts";
import { JSON_FLAG, defineCommand, usageError } from "./help.ts";
import { exposedSecretFile } from "../secret-files.ts";

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
  const matches: number[] = [];
  for (const [index, entry] of entries.entries()) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(`^(?:${entry.server})$`);
    } catch {
      throw new ClientError(`${path}: tokens[${index}].server is not a valid regular expression: ${entry.server}`);
    }
    if (pattern.test(url)) matches.push(index);
    // Matching only the host name was Gatehouse's old rule and is a common mistake: say what ecflow_client compares.
    else if (pattern.test(server.hostname) || pattern.test(`${server.hostname}:${url.split(":").at(-1)}`)) nearMisses.push(index);
  }
  const used = matches[0];
  if (used !== undefined) {
    if (matches.length > 1) {
      const others = matches.slice(1).map((index) => `tokens[${index}] ("${entries[index].server}")`).join(", ");
      warnings.push(`${path}: several entries match ${url}: tokens[${used}] ("${entries[used].server}", ${entries[used].type}) is used, the first, as ecflow_client does; ${others} also match`);
    }
    const entry = entries[used];
    if (entry.type === "bearer") {
      // A key outside visible ASCII cannot go in a header (Bun refuses it with a message naming no entry): say which
      // entry holds it; usually examples/ecflowapirc's placeholder, never replaced by the token.
      if (!/^[\x21-\x7e]+$/.test(entry.api.key)) {
        throw new ClientError(`${path}: tokens[${used}].api.key cannot be sent in an Authorization header (empty, or characters outside visible ASCII): is it a placeholder? Put the API token there`);
      }
      return `Bearer ${entry.api.key}`;
    }
    return `Basic ${Buffer.from(`${entry.api.username}:${entry.api.password}`, "utf8").toString("base64")}`;
  }
  const hint = nearMisses.length
    ? `; tokens[${nearMisses.join("], tokens[")}] match the host name only: a pattern must match the whole URL, e.g. "${url.replace(/[.]/g, "\\.")}" or ".*${server.hostname.replace(/[.]/g, "\\.")}.*"`
    : "";
  throw new ClientError(`${path}: no entry's server pattern matches ${url}${hint}`);
}

export const clientCommand = defineCommand(
  {
    name: "client",
    summary: "call a server with the credentials of an .ecflowapirc file, as ecflow_client does",
    description:
      "The server is --server, else $GATEHOUSE_SERVER, else http://127.0.0.1:8080.\n" +
      "The credentials file is --rc, else $ECF_AUTHTOKENS, else ~/.ecflowapirc, else ./.ecflowapirc; the first entry\n" +
      "whose server pattern matches scheme://host:port is used (said on stderr when several match).",
    flags: [
      { name: "server", type: "string", value: "URL", description: "the Gatehouse server" },
      { name: "rc", type: "string", value: "FILE", description: "the credentials file (.ecflowapirc)" },
      { name: "ca", type: "string", value: "FILE", description: "over HTTPS, a PEM file of the certificates to trust (else $GATEHOUSE_CA_FILE, else the system's)" },
      { name: "socket", type: "string", value: "PATH", description: "send the requests over Gatehouse's Unix socket (server.socket); --server then only picks the entry" },
    ],
    subcommands: [
      { name: "whoami", summary: "the identity the server sees" },
      {
        name: "token create",
        args: "[options]",
        summary: "make an API token for yourself; its secret alone on stdout",
        flags: [
          { name: "note", type: "string", value: "TEXT", description: "what the token is for" },
          { name: "expires-in", type: "string", value: "DURATION|never", description: "its lifetime: 3600s, 90m, 12h, 30d, or never (default: the server's)" },
          { name: "scope", type: "string", multiple: true, value: "service:scope", description: "limit it to these scopes (repeat the flag)" },
        ],
      },
      { name: "token list", summary: "your tokens", flags: [JSON_FLAG] },
      { name: "token revoke", args: "ID", operands: ["ID"], summary: "revoke one of your tokens" },
    ],
  },
  async ({ values, positionals }) => {
    const command = positionals.slice(0, 2).join(" ");
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
        if (typeof scopes === "string" || typeof expiresIn === "string") return usageError("client", String(typeof scopes === "string" ? scopes : expiresIn));
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
  },
);

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

/**
 * A request that got no answer (no server, a time-out, a certificate not
 * trusted), in words. A certificate that is trusted but does not name the
 * host asked for is told apart, with the names it has (read from the server).
 */
export async function unreachable(method: string, url: URL, error: unknown, ca?: string): Promise<ClientError> {
  const code = String((error as NodeJS.ErrnoException).code);
  const where = `${method} ${url.origin}${url.pathname}`;
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    const names = await certificateNames(url);
    return new ClientError(
      `${where}: the server's certificate does not name ${url.hostname}${names ? `: its names are ${names}` : ""}; ` +
        `ask for the server by one of its names (--server), or give it a certificate that names ${url.hostname}` +
        (ca ? " (--ca vouches for the certificate itself)" : ""),
    );
  }
  const untrusted = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code);
  const hint = untrusted ? (ca ? " (the server's certificate is not trusted by the certificates of --ca)" : " (the server's certificate is not trusted: give --ca FILE)") : "";
  return new ClientError(`${where}: ${(error as Error).message}${hint}`);
}

/** The names in the server's certificate ("DNS:a, IP:127.0.0.1"), read without trusting it; null when it cannot be read. */
async function certificateNames(url: URL): Promise<string | null> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    const socket = connectTls({ host, port: Number(url.port || 443), servername: isIP(host) ? undefined : host, rejectUnauthorized: false }, () => {
      const certificate = socket.getPeerCertificate();
      socket.end();
      const alternative = certificate.subjectaltname?.replace(/IP Address:/g, "IP:");
      resolve(alternative || (certificate.subject?.CN ? `CN=${certificate.subject.CN}` : null));
    });
    socket.setTimeout(3000, () => socket.destroy());
    socket.on("error", () => resolve(null));
    socket.on("close", () => resolve(null));
  });
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
    throw await unreachable(method, url, error, ca);
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
