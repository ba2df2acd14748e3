// `gatehouse login` and `gatehouse logout`: a person signs a terminal in
// without typing a password into it. login runs the device-code flow
// (RFC 8628, modules/device): it prints a URL and a code, the person approves
// in a browser (signing in there as they usually do, single sign-on
// included), and login collects a session. With that session it creates an
// API token, scoped and expiring as asked, ends the session (the token
// outlives its owner's own sign-out: sessions/service.ts), and writes the
// token into the `.ecflowapirc` that `gatehouse client` and ecflow_client
// read (the same search order, src/cli/client.ts), or prints it. So what
// stays on the machine is a token limited to what it is for, never a
// password or a session. logout revokes that token (with itself: a token may
// always revoke itself, whatever its scopes) and removes its entry.
//
// The file: an entry for the server, matched as ecflow_client matches
// (`scheme://host:port`, as an anchored regular expression), put first so
// that it is the one used; an entry of an earlier login for the same server
// is replaced and its token revoked; every other entry is left as it was.
// Written whole to a temporary file beside it, made 0600, then renamed over
// it: never half-written, never readable by others.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { VERSION } from "../version.ts";
import { ClientError, findRcFile, matchedUrl, trustedCertificates, unreachable } from "./client.ts";
import { parseExpiresIn, parseScopeArguments } from "./common.ts";
import { defineCommand, usageError } from "./help.ts";

const DENIED = 3;
const EXPIRED = 4;
const DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code";
const POLL_NETWORK_RETRIES = 3;

class LoginError extends ClientError {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The server, its CA certificates and how to call it. */
interface Server {
  url: URL;
  ca: string | undefined;
}

interface Answer {
  status: number;
  body: any;
}

const userAgent = () => `gatehouse-login/${VERSION} (${hostname()}; ${process.platform})`;

/** One call to the server: its status and JSON body (null when none); no answer at all is a LoginError. */
async function call(server: Server, method: string, path: string, options: { bearer?: string; json?: unknown; form?: Record<string, string> } = {}): Promise<Answer> {
  const url = new URL(path, server.url.href.endsWith("/") ? server.url.href : `${server.url.href}/`);
  const headers: Record<string, string> = { accept: "application/json", "user-agent": userAgent() };
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  let body: string | undefined;
  if (options.json !== undefined) [headers["content-type"], body] = ["application/json", JSON.stringify(options.json)];
  if (options.form !== undefined) [headers["content-type"], body] = ["application/x-www-form-urlencoded", new URLSearchParams(options.form).toString()];
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body, redirect: "error", signal: AbortSignal.timeout(30_000), ...(server.ca ? { tls: { ca: server.ca } } : {}) });
  } catch (error) {
    let message = (await unreachable(method, url, error, server.ca)).message;
    // auth-o-tron's revocation route names the token in its path (DELETE token/<secret>): never printed.
    if (options.bearer) message = message.replaceAll(encodeURIComponent(options.bearer), "<token>").replaceAll(options.bearer, "<token>");
    throw new LoginError(`cannot reach the server: ${message}`);
  }
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    parsed = { detail: text.slice(0, 200) };
  }
  return { status: response.status, body: parsed };
}

/** The server's words for a refusal: Tiled's `detail`, Gatehouse's `error`, RFC 6749's `error_description`. */
function reason(answer: Answer): string {
  const { body } = answer;
  const text = body?.error_description ?? (typeof body?.detail === "string" ? body.detail : undefined) ?? body?.error ?? "";
  return `${answer.status}${text ? ` ${text}` : ""}`;
}

function serverFrom(values: { server?: string; ca?: string }, command: string): Server | number {
  const given = values.server ?? process.env.GATEHOUSE_SERVER;
  if (!given) return usageError(command, "--server URL is required");
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    return usageError(command, `--server ${given}: not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return usageError(command, `--server ${given}: not an http or https URL`);
  return { url, ca: trustedCertificates(values.ca ?? process.env.GATEHOUSE_CA_FILE) };
}

/** The anchored regular expression ecflow_client matches against `scheme://host:port`, for exactly this server. */
export const serverPattern = (url: URL) => matchedUrl(url).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const CA_FLAG = { name: "ca", type: "string", value: "FILE", description: "over HTTPS, a PEM file of the certificates to trust (else $GATEHOUSE_CA_FILE, else the system's)" } as const;
const RC_FLAG = { name: "rc", type: "string", value: "FILE", description: "the credentials file (else $ECF_AUTHTOKENS, else ~/.ecflowapirc if it exists, else ./.ecflowapirc if it exists, else ~/.ecflowapirc, made 0600)" } as const;
const SERVER_FLAG = { name: "server", type: "string", value: "URL", description: "the Gatehouse server (else $GATEHOUSE_SERVER)" } as const;

export const loginCommand = defineCommand(
  {
    name: "login",
    summary: "sign this terminal in through a browser (device code); keeps a scoped API token",
    description: "Prints a URL and a code to approve in a browser, then keeps an API token made for this terminal in the credentials file.",
    flags: [
      SERVER_FLAG,
      { name: "provider", type: "string", value: "NAME", description: "the provider to sign in with (needed when the server has several)" },
      { name: "scopes", type: "string", value: "LIST", description: "the token's scopes, service:scope separated by commas (default: all of yours)" },
      { name: "expires-in", type: "string", value: "DURATION|never", description: "the token's lifetime: 3600s, 90m, 12h, 30d, or never (default: the server's)" },
      { name: "note", type: "string", value: "TEXT", description: 'the token\'s note (default: "gatehouse login on <this host>")' },
      { name: "open", type: "boolean", description: "open the URL in a browser (xdg-open)" },
      { name: "print", type: "boolean", description: "print the token on standard output instead of writing it to the file" },
      RC_FLAG,
      CA_FLAG,
    ],
    exitCodes: [
      { code: 3, meaning: "the sign-in was denied" },
      { code: 4, meaning: "it expired before it was approved" },
    ],
  },
  async ({ values }) => {
    const scopes = values.scopes === undefined ? undefined : parseScopeArguments(values.scopes.split(",").map((scope) => scope.trim()).filter(Boolean));
    const expiresIn = values["expires-in"] === undefined ? undefined : parseExpiresIn(values["expires-in"]);
    for (const problem of [scopes, expiresIn]) {
      if (typeof problem === "string") return usageError("login", problem.replace(/^--scope /, "--scopes "));
    }
    try {
      const server = serverFrom(values, "login");
      if (typeof server === "number") return server;
      const provider = await chooseProvider(server, values.provider);
      if (typeof provider === "number") return provider;
      const session = await signIn(server, provider, values.open ?? false);
      const note = values.note ?? `gatehouse login on ${hostname()}`;
      let created: Answer;
      try {
        created = await call(server, "POST", "api/v1/tokens", { bearer: session.access_token, json: { note, expires_in: expiresIn, scopes } });
      } finally {
        // The session was only the way to the token: it ends either way (the token outlives it).
        const ended = await call(server, "POST", "api/v1/auth/logout", { bearer: session.access_token }).catch((error: Error) => ({ status: 0, body: { detail: error.message } }));
        if (ended.status !== 204) console.error(`warning: the session could not be ended (${reason(ended)}); it expires by itself`);
      }
      if (created.status !== 201) throw new LoginError(`the token could not be created: ${reason(created)}`);
      const token = created.body as { token: string; id: string; expires_at: string | null; scopes: Record<string, string[]> | null };
      const who = `${session.identity.id} (provider ${session.identity.provider})`;
      const lifetime = `expires ${token.expires_at ?? "never"}${token.scopes ? `, scopes ${describe(token.scopes)}` : ", all your scopes"}`;
      if (values.print) {
        console.error(`Signed in as ${who}: token ${token.id}, ${lifetime}.`);
        console.log(token.token);
        return 0;
      }
      const path = findRcFile(values.rc, process.env, true);
      const replaced = writeEntry(path, server.url, token.token);
      console.error(`Signed in as ${who}: token ${token.id}, ${lifetime}; written to ${path}.`);
      if (replaced !== null) await revokeReplaced(server, replaced);
      return 0;
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      console.error(`login: ${error.message}`);
      return error instanceof LoginError ? error.exitCode : 1;
    }
  },
);

const describe = (scopes: Record<string, string[]>) =>
  Object.entries(scopes)
    .map(([service, names]) => (names.length ? names.map((name) => `${service}:${name}`).join(",") : service))
    .join(",") || "none";

/** The provider to sign in with: the one asked for, or the server's only one; several and none asked: list them (exit 2). */
async function chooseProvider(server: Server, asked: string | undefined): Promise<string | number> {
  const discovery = await call(server, "GET", "api/v1/");
  const listed = discovery.body?.authentication?.providers;
  if (discovery.status !== 200 || !Array.isArray(listed)) {
    throw new LoginError(`${server.url.href} does not answer as a Gatehouse or Tiled server (GET /api/v1/: ${reason(discovery)})`);
  }
  const names: string[] = listed.map((entry: { provider?: unknown }) => String(entry?.provider));
  if (asked !== undefined) {
    if (names.includes(asked)) return asked;
    console.error(`login: no provider "${asked}" takes a sign-in at ${server.url.href}; choose one of: ${names.join(", ") || "(none)"}`);
    return 2;
  }
  if (names.length === 1) return names[0];
  if (names.length === 0) throw new LoginError(`no provider takes a sign-in at ${server.url.href}`);
  console.error(`login: ${server.url.href} has several providers; choose one with --provider NAME:\n${names.map((name) => `  ${name}`).join("\n")}`);
  return 2;
}

interface DeviceAuthorization {
  authorization_uri?: string;
  verification_uri: string;
  verification_uri_complete?: string;
  device_code: string;
  user_code: string;
  interval: number;
  expires_in: number;
}

interface SessionTokens {
  access_token: string;
  identity: { id: string; provider: string };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The device flow: the URL and code shown, then polls as the server asks (interval, slow_down) until approved, denied or expired. */
async function signIn(server: Server, provider: string, open: boolean): Promise<SessionTokens> {
  const base = `api/v1/auth/provider/${encodeURIComponent(provider)}`;
  const started = await call(server, "POST", `${base}/authorize`);
  if (started.status !== 200) throw new LoginError(`the sign-in could not be started: ${reason(started)}`);
  const authorization = started.body as DeviceAuthorization;
  const link = authorization.verification_uri_complete ?? authorization.authorization_uri ?? authorization.verification_uri;
  // Gatehouse's authorization_uri is the device page for the provider, where the code can be typed.
  const typeItAt = authorization.authorization_uri ?? authorization.verification_uri;
  console.error(
    `To sign in, open this page in a browser:\n\n  ${link}\n\nand check that it shows the code ${authorization.user_code}` +
      ` (or open ${typeItAt} and type it).\nWaiting for your approval (${Math.round(authorization.expires_in / 60)} minutes at most)…`,
  );
  if (open) openBrowser(link);
  const deadline = Date.now() + authorization.expires_in * 1000;
  let interval = Math.max(1, authorization.interval);
  let networkFailures = 0;
  for (;;) {
    await sleep(interval * 1000);
    if (Date.now() >= deadline) throw new LoginError("the sign-in expired before it was approved: run gatehouse login again", EXPIRED);
    let answer: Answer;
    try {
      answer = await call(server, "POST", `${base}/token`, { form: { grant_type: DEVICE_CODE_GRANT_TYPE, device_code: authorization.device_code } });
      networkFailures = 0;
    } catch (error) {
      // A moment without network while the person approves: try again at the next interval, a few times.
      if (++networkFailures > POLL_NETWORK_RETRIES) throw error;
      continue;
    }
    if (answer.status === 200) return answer.body as SessionTokens;
    const error = answer.body?.error ?? answer.body?.detail?.error;
    if (error === "authorization_pending") continue;
    if (error === "slow_down") {
      interval += 5;
      continue;
    }
    if (error === "access_denied") throw new LoginError("the sign-in was denied in the browser", DENIED);
    if (error === "expired_token") throw new LoginError("the sign-in expired before it was approved: run gatehouse login again", EXPIRED);
    throw new LoginError(`the sign-in failed: ${reason(answer)}`);
  }
}

function openBrowser(url: string): void {
  try {
    const child = spawn("xdg-open", [url], { stdio: "ignore", detached: true });
    child.on("error", () => console.error("(could not start a browser: open the page yourself)"));
    child.unref();
  } catch {
    console.error("(could not start a browser: open the page yourself)");
  }
}

/** The file as JSON, to be changed and written back: a new one when absent; refused (never overwritten) when it is not an .ecflowapirc. */
function readForChange(path: string, mustExist: boolean): { version: 1; tokens: any[] } {
  if (!existsSync(path)) {
    if (mustExist) throw new LoginError(`${path} does not exist`);
    return { version: 1, tokens: [] };
  }
  let data: any;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new LoginError(`${path}: ${(error as NodeJS.ErrnoException).code ?? "not valid JSON"}: ${(error as Error).message}; left unchanged`);
  }
  if (data?.version !== 1 || !Array.isArray(data.tokens)) throw new LoginError(`${path} is not an .ecflowapirc file ("version": 1 and a "tokens" list); left unchanged`);
  return data;
}

/** Written whole beside it, made 0600, then renamed over it. */
function writeWhole(path: string, data: unknown): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, path);
    chmodSync(path, 0o600);
  } catch (error) {
    throw new LoginError(`${path} could not be written: ${(error as Error).message}`);
  }
}

const isOurs = (entry: any, pattern: string) => entry?.type === "bearer" && entry?.server === pattern && typeof entry?.api?.key === "string";

/** Puts the server's entry first (replacing an earlier login's); answers the key it replaced, if any. */
function writeEntry(path: string, server: URL, key: string): string | null {
  const data = readForChange(path, false);
  const pattern = serverPattern(server);
  // ecflow_client refuses a bearer entry without api.url and api.email: both are given.
  const entry = { server: pattern, type: "bearer", api: { url: server.href.replace(/\/+$/, ""), key, email: "" } };
  const index = data.tokens.findIndex((candidate) => isOurs(candidate, pattern));
  const replaced = index >= 0 ? (data.tokens[index].api.key as string) : null;
  if (index >= 0) data.tokens.splice(index, 1);
  data.tokens.unshift(entry);
  writeWhole(path, data);
  return replaced;
}

/** An earlier login's token for the same server: revoked, so that no live token is left behind untracked (best effort). */
async function revokeReplaced(server: Server, key: string): Promise<void> {
  const answer = await call(server, "DELETE", `token/${encodeURIComponent(key)}`, { bearer: key }).catch(() => null);
  if (answer?.status === 204) console.error("The token of the earlier login for this server is revoked.");
}

export const logoutCommand = defineCommand(
  {
    name: "logout",
    summary: "revoke the token gatehouse login kept for a server and remove it from .ecflowapirc",
    flags: [SERVER_FLAG, RC_FLAG, CA_FLAG],
  },
  async (parsed) => {
    try {
      const server = serverFrom(parsed.values, "logout");
      if (typeof server === "number") return server;
      const path = findRcFile(parsed.values.rc);
      const data = readForChange(path, true);
      const pattern = serverPattern(server.url);
      const index = data.tokens.findIndex((candidate) => isOurs(candidate, pattern));
      if (index < 0) throw new LoginError(`${path} has no entry of gatehouse login for ${matchedUrl(server.url)}`);
      const key = data.tokens[index].api.key as string;
      // The token revokes itself: it needs no other scope for that.
      const answer = await call(server, "DELETE", `token/${encodeURIComponent(key)}`, { bearer: key });
      const gone = answer.status === 401 || answer.status === 404;
      if (answer.status !== 204 && !gone) throw new LoginError(`the token could not be revoked: ${reason(answer)}; ${path} left unchanged`);
      data.tokens.splice(index, 1);
      writeWhole(path, data);
      console.error(gone ? `The token was no longer valid; its entry is removed from ${path}.` : `Signed out: the token is revoked and its entry removed from ${path}.`);
      return 0;
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      console.error(`logout: ${error.message}`);
      return error instanceof LoginError ? error.exitCode : 1;
    }
  },
);
