// The fuzzing harness shared by test/fuzz.test.ts (CI: a short run with a
// fixed seed) and scripts/fuzz.ts (`npm run fuzz`, the full run).
//
// A real Gatehouse process (plain users, an API token, sessions, an
// ecmwf-api provider pointing at a stub on loopback) receives requests that
// fast-check generates: every Authorization scheme, base64 or not, binary,
// huge, unicode, several credentials; X-Auth-Realm and forwarded headers;
// JSON and form bodies for every route that takes one (wrong types, deep
// nesting, prototype-named keys, huge strings); odd paths and methods.
// Properties checked on every answer:
//   - never a 5xx, never a crash (the process is still there),
//   - never a success on a protected route without a valid credential,
//   - every answer within a time bound;
// and over the run: RSS flat after warm-up.
// A failure prints fast-check's seed and path: `npm run fuzz -- --seed S --path P` replays it.
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";

export interface FuzzOptions {
  /** Number of generated requests (rounded up to whole batches). */
  count: number;
  seed: number;
  /** fast-check's replay path, printed with a failure. */
  path?: string;
  /** Requests sent concurrently in each property run. */
  batch?: number;
  /** Every answer must come within this many milliseconds. */
  timeBoundMs?: number;
  /** Fail when RSS grows more than this after warm-up (the full run; a short one is too noisy). */
  maxRssGrowthPercent?: number;
  /** Progress lines (none when absent). */
  progress?: (line: string) => void;
}

export interface FuzzReport {
  inputs: number;
  seed: number;
  seconds: number;
  statuses: Record<string, number>;
  slowestMs: number;
  /** The slowest request, described. */
  slowest: string;
  /** 5xx answers to requests matching a known open bug (KNOWN_BUGS), by bug. */
  knownBugs: Record<string, number>;
  rss: { warmMiB: number; finalMiB: number; peakMiB: number; growthPercent: number };
  failure?: string;
}

const PASSWORD = "alice-fuzz-password";
/** The host an access rule lets through without a credential: an answer naming it may succeed without one. */
const PUBLIC_HOST = "public.fuzz";
const ECMWF_KEY = "ecmwfvalidkey0123456789";

/** The configuration the fuzzed server runs. */
function fuzzConfig(ecmwfUrl: string): string {
  return `
version: "2.0.0"
logging: { level: info, format: json }
auth: { timeout_in_ms: 1000 }
providers:
  - type: plain
    name: local
    realm: local
    users:
      - { username: alice, password: ${PASSWORD} }
      - { username: admin, password: admin-fuzz-password }
  - { type: ecmwf-api, name: ecmwf, realm: ecmwf, uri: "${ecmwfUrl}", cache_seconds: 60 }
augmenters:
  - { type: plain, name: roles, realm: local, roles: { admin: [admin] } }
jwt: { iss: fuzz, secret: fuzz-secret-0123456789abcdef0123456789 }
store: { enabled: true, type: sqlite, path: ./data/gatehouse.db }
services: [{ name: ecflow, scopes: [read, write] }]
authentication: { access_token_max_age: 86400, max_sessions_per_user: 100000 }
portal: { public_url: "https://auth.fuzz.test/portal/" }
sso: { cookie_domain: fuzz.test }
access:
  rules:
    - { hosts: [${PUBLIC_HOST}], policy: bypass }
    - { hosts: [app.fuzz], paths: ["^/admin/", "/internal/"], roles: [admin] }
    - { hosts: [app.fuzz], methods: [POST, DELETE], scopes: { ecflow: [write] } }
    - { hosts: ["*.fuzz"], networks: [10.0.0.0/8], paths: ["^/(?i:metrics)$"], policy: deny }
    - { hosts: [deny.fuzz], policy: deny }
`;
}

/** A who-am-i service that knows one key, answers at once, and 403 otherwise. */
function startEcmwfStub() {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const token = new URL(request.url).searchParams.get("token");
      if (token === ECMWF_KEY) return Response.json({ uid: "ecmwf-user", email: "user@example.org" });
      return new Response("forbidden", { status: 403 });
    },
  });
}

/** The valid credentials of a running fuzz target, set up through its own API. */
interface Secrets {
  basic: string;
  apiToken: string;
  accessToken: string;
  ecmwfKey: string;
}

async function setUpSecrets(url: string): Promise<Secrets> {
  const basic = Buffer.from(`alice:${PASSWORD}`).toString("base64");
  const created = await fetch(`${url}/api/v1/tokens`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/json" },
    body: JSON.stringify({ note: "fuzz", scopes: { ecflow: ["read"] } }),
  });
  if (created.status !== 201) throw new Error(`token creation answered ${created.status}`);
  const login = await fetch(`${url}/api/v1/auth/provider/local/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: "alice", password: PASSWORD }),
  });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return {
    basic,
    apiToken: ((await created.json()) as { token: string }).token,
    accessToken: ((await login.json()) as { access_token: string }).access_token,
    ecmwfKey: ECMWF_KEY,
  };
}

// ---------------------------------------------------------------------------
// What is generated

/** A generated request. `valid` is true when it carries a valid secret anywhere. */
export interface FuzzRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body?: string;
  /** Send over a raw socket (bytes fetch() would refuse: control characters, odd methods and paths). */
  raw: boolean;
}

const PROTECTED_ROUTES = [
  "/authenticate",
  "/whoami",
  "/token",
  "/tokens",
  "/api/v1/tokens",
  "/api/v1/auth/sessions",
  "/api/v1/auth/logout",
  "/api/v1/auth/logout/all",
  "/api/v1/auth/apikey",
  "/api/v1/keys",
  "/api/v1/keys/rotate",
];

/** Routes whose 2xx needs a valid credential (in a header, or the body of a login). */
export function isProtected(path: string): boolean {
  const bare = path.split("?")[0];
  return (
    PROTECTED_ROUTES.includes(bare) ||
    bare.startsWith("/token/") ||
    bare.startsWith("/api/v1/tokens/") ||
    bare.startsWith("/api/v1/auth/session/revoke/") ||
    bare.startsWith("/api/v1/auth/provider/") ||
    bare === "/api/v1/auth/session/refresh"
  );
}

const text = (maxLength: number) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: "grapheme", maxLength }),
    fc.string({ unit: "binary", maxLength }),
    fc.constantFrom("", " ", "null", "undefined", "__proto__", "constructor", "prototype", "toString", "😀", "é", "\u0000", "%00", "..", "/"),
  );

/** Long values: around the header limit (8 KiB) and well past it; up to 256 KiB, or 64 Ki characters of multi-byte ones. */
const huge = fc.oneof(
  fc.tuple(fc.constantFrom(4096, 8192, 8193, 65536, 1 << 18), fc.constantFrom("a", "A", "=", " ", ",")),
  fc.tuple(fc.constantFrom(4096, 8193, 65536), fc.constantFrom("é", "😀")),
).map(([length, unit]) => unit.repeat(length));

const base64Of = (value: fc.Arbitrary<string>) => value.map((raw) => Buffer.from(raw, "utf8").toString("base64"));

/** One credential's value, valid-looking or not; `secrets` come first with a small weight. */
function credentialValue(secrets: Secrets) {
  return fc.oneof(
    { weight: 6, arbitrary: base64Of(fc.tuple(text(40), text(40)).map(([user, password]) => `${user}:${password}`)) },
    { weight: 2, arbitrary: base64Of(text(60)) },
    { weight: 4, arbitrary: text(80) },
    { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,120}=*$/) },
    { weight: 2, arbitrary: fc.stringMatching(/^gt[hr]_[A-Za-z0-9]{0,60}$/) },
    { weight: 1, arbitrary: fc.constantFrom(`${secrets.apiToken.slice(0, -1)}x`, `${secrets.accessToken}x`, secrets.accessToken.split(".").slice(0, 2).join(".") + ".", "e30.e30.", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.") },
    { weight: 1, arbitrary: huge },
    { weight: 1, arbitrary: fc.constantFrom(secrets.basic, secrets.apiToken, secrets.accessToken, secrets.ecmwfKey) },
  );
}

const scheme = fc.constantFrom("Basic", "basic", "BASIC", "Plain", "Bearer", "bearer", "Apikey", "ApiKey", "Token", "Digest", "Negotiate", "", "Basic\t", "Bearer  ");

function authorization(secrets: Secrets) {
  const one = fc.tuple(scheme, credentialValue(secrets)).map(([name, value]) => (name ? `${name} ${value}` : value));
  return fc.oneof(
    { weight: 5, arbitrary: one },
    { weight: 3, arbitrary: fc.array(one, { minLength: 2, maxLength: 6 }).chain((parts) => fc.constantFrom(", ", ",", " , ", ",,").map((sep) => parts.join(sep))) },
    { weight: 1, arbitrary: text(200) },
    { weight: 1, arbitrary: huge },
  );
}

const realmHeader = fc.oneof(fc.constantFrom("local", "ecmwf", "LOCAL", "", "local,ecmwf", "nope", "gatehouse"), text(40));

const forwardedHeaders = fc.array(
  fc.tuple(
    fc.constantFrom("x-original-uri", "x-original-method", "x-forwarded-uri", "x-forwarded-method", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-for", "x-real-ip", "x-forwarded-prefix", "host", "content-type", "user-agent", "accept",
      // Single sign-on: the domain's cookie, and what makes a request a browser's navigation (a sign-in redirect).
      "x-original-url", "cookie", "sec-fetch-mode", "sec-fetch-dest", "x-requested-with"),
    fc.oneof(
      text(100),
      fc.constantFrom("/", "//evil", "GET", "DELETE", "http://x", "::1", "999.1.1.1", "a, b, c", "application/json", "application/x-www-form-urlencoded"),
      fc.constantFrom("text/html", "text/html;q=0", "navigate", "document", "https://app.fuzz.test/a?b=1", "javascript:x", "https://[::1", "__Secure-gatehouse_sso=gbs_000000000000000000000000000000000000", "__Secure-gatehouse_sso="),
      // What the access rules read: their hosts, paths spelt every way, URLs.
      fc.constantFrom("app.fuzz", "APP.fuzz.", "deny.fuzz", PUBLIC_HOST, "x.fuzz:8443", "10.1.2.3", "/admin/x", "/a/../admin/", "/%61dmin/", "//admin/", "/admin%2F", "/internal/%2e%2e/", "/METRICS", "/%ff", "/a;b/..;/admin/", "text/html"),
      fc.tuple(fc.constantFrom("https://app.fuzz", "http://APP.FUZZ:80", `https://${PUBLIC_HOST}`, "https://deny.fuzz", "https://x.fuzz"), fc.constantFrom("/admin/x", "/%2e%2e/admin/", "/internal/", "/metrics", "/x?y=/admin/", "", "#/admin/")).map(([origin, path]) => origin + path),
    ),
  ),
  { maxLength: 6 },
);

/** JSON with hostile shapes: prototype keys, deep nesting, wrong types, huge strings. */
function hostileJson(fields: string[]): fc.Arbitrary<string> {
  const value = fc.oneof(
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: huge },
    { weight: 1, arbitrary: fc.constantFrom(-1, 0, 1e308, -1e308, 2 ** 53, 1.5, true, null, [], {}, [[]], "1d", "2099-01-01T00:00:00Z", "tomorrow") },
  );
  const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...fields) }, { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "prototype", "__defineGetter__", "hasOwnProperty") }, { weight: 1, arbitrary: text(20) });
  const object = fc.dictionary(key, value, { maxKeys: 6 }).map((dict) => JSON.stringify(dict));
  const protoPolluting = fc.constantFrom(
    '{"__proto__":{"admin":true,"roles":["admin"]},"note":"x"}',
    '{"constructor":{"prototype":{"admin":true}},"note":"x"}',
    '{"scopes":{"__proto__":["read"]}}',
    '{"scopes":{"constructor":["read"],"ecflow":["read"]}}',
  );
  const deep = fc.integer({ min: 10, max: 100_000 }).chain((depth) =>
    fc.constantFrom(`${"[".repeat(depth)}${"]".repeat(depth)}`, `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`, '{"note":' + "[".repeat(depth)),
  );
  return fc.oneof(
    { weight: 6, arbitrary: object },
    { weight: 2, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: protoPolluting },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: text(200) },
  );
}

function formBody(fields: string[], secrets: Secrets): fc.Arbitrary<string> {
  const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...fields) }, { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "__proto__[admin]", "a[b][c]") }, { weight: 1, arbitrary: text(20) });
  const value = fc.oneof({ weight: 5, arbitrary: text(60) }, { weight: 1, arbitrary: huge }, { weight: 1, arbitrary: fc.constantFrom("alice", PASSWORD, secrets.apiToken, "password") });
  return fc.oneof(
    fc.array(fc.tuple(key, value), { maxLength: 6 }).map((pairs) => new URLSearchParams(pairs).toString()),
    fc.array(fc.tuple(key, value), { maxLength: 6 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join("&")),
    text(200),
  );
}

interface BodyRoute {
  method: string;
  path: fc.Arbitrary<string>;
  fields: string[];
}

const BODY_ROUTES: BodyRoute[] = [
  { method: "POST", path: fc.constant("/api/v1/tokens"), fields: ["note", "expires_in", "expires_at", "scopes"] },
  { method: "POST", path: fc.constantFrom("/api/v1/auth/provider/local/token", "/api/v1/auth/provider/ecmwf/token", "/api/v1/auth/provider/nope/token", "/api/v1/auth/provider/%2e%2e/token"), fields: ["username", "password", "grant_type", "token", "api_key", "scope", "client_id"] },
  { method: "POST", path: fc.constant("/api/v1/auth/session/refresh"), fields: ["refresh_token"] },
  { method: "POST", path: fc.constant("/api/v1/auth/session/revoke"), fields: ["refresh_token"] },
  { method: "POST", path: fc.constant("/api/v1/auth/apikey"), fields: ["note", "expires_in", "scopes", "access_tags"] },
  { method: "POST", path: fc.constant("/api/v1/keys/rotate"), fields: ["alg", "kid"] },
];

const ROUTE_PATHS = fc.oneof(
  fc.constantFrom(...PROTECTED_ROUTES, "/", "/health", "/providers", "/augmenters", "/api/v1/", "/api/v1/auth/whoami", "/.well-known/jwks.json", "/.well-known/openid-configuration"),
  text(20).map((id) => `/api/v1/tokens/${encodeURIComponent(id)}`),
  text(40).map((secret) => `/token/${encodeURIComponent(secret)}`),
  text(20).map((id) => `/api/v1/auth/session/revoke/${encodeURIComponent(id)}`),
  fc.tuple(fc.constantFrom("/api/v1/tokens", "/api/v1/auth/sessions", "/api/v1/auth/apikey"), fc.array(fc.tuple(fc.constantFrom("user", "realm", "all", "include_revoked", "include_inactive", "first_eight", "__proto__"), text(20)), { maxLength: 3 })).map(
    ([path, query]) => (query.length ? `${path}?${new URLSearchParams(query)}` : path),
  ),
);

const ODD_PATHS = fc.oneof(
  fc.constantFrom("//authenticate", "/authenticate/", "/AUTHENTICATE", "/authenticate/../token", "/%2e%2e/token", "/api/v1/tokens/%ff", "/api/v1/tokens/%", "/%00", "/api//v1/tokens", "/api/v1/tokens/..%2f..%2ftoken", "*", "/?" + "a=".repeat(1000), "/" + "x".repeat(10000)),
  fc.webPath(),
  text(60).map((value) => `/${encodeURIComponent(value)}`),
);

const METHOD = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS");
const ODD_METHOD = fc.constantFrom("get", "FOO", "PROPFIND", "TRACE", "M-SEARCH", "G E T");

/** Any byte a header value may hold on the wire, control characters included. */
const rawHeaderValue = fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes.filter((byte) => byte !== 13 && byte !== 10)).toString("latin1"));

export function fuzzRequest(secrets: Secrets): fc.Arbitrary<FuzzRequest> {
  const common = fc.record({
    authorization: fc.option(authorization(secrets), { freq: 5 }),
    realm: fc.option(realmHeader, { freq: 3 }),
    forwarded: forwardedHeaders,
  });
  const headersOf = (parts: { authorization: string | null; realm: string | null; forwarded: [string, string][] }): [string, string][] => [
    ...(parts.authorization !== null ? [["authorization", parts.authorization] as [string, string]] : []),
    ...(parts.realm !== null ? [["x-auth-realm", parts.realm] as [string, string]] : []),
    ...parts.forwarded,
  ];
  const toHeaderSafe = (headers: [string, string][]) => headers.map(([name, value]) => [name, Buffer.from(value, "utf8").toString("latin1")] as [string, string]);

  const authenticate = fc.tuple(METHOD, common).map(([method, parts]) => ({ method, path: "/authenticate", headers: toHeaderSafe(headersOf(parts)), raw: false }));
  const routes = fc.tuple(METHOD, ROUTE_PATHS, common).map(([method, path, parts]) => ({ method, path, headers: toHeaderSafe(headersOf(parts)), raw: false }));
  const bodies = fc
    .tuple(fc.constantFrom(...BODY_ROUTES), common, fc.boolean(), fc.constantFrom("application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data", "application/json; charset=latin1", ""))
    .chain(([route, parts, asForm, contentType]) =>
      fc.tuple(route.path, asForm ? formBody(route.fields, secrets) : hostileJson(route.fields)).map(([path, body]) => ({
        method: route.method,
        path,
        headers: toHeaderSafe([...headersOf(parts), ...(contentType ? [["content-type", asForm && contentType === "application/json" ? "application/x-www-form-urlencoded" : contentType] as [string, string]] : [])]),
        body,
        raw: false,
      })),
    );
  const odd = fc.tuple(fc.oneof(METHOD, ODD_METHOD), ODD_PATHS, common).map(([method, path, parts]) => ({ method, path, headers: toHeaderSafe(headersOf(parts)), raw: true }));
  const binary = fc
    .tuple(METHOD, fc.constantFrom("/authenticate", "/whoami", "/api/v1/tokens"), fc.constantFrom("Basic ", "Bearer ", "", "Basic\u0000", "Bearer \u0000"), rawHeaderValue, fc.option(rawHeaderValue))
    .map(([method, path, prefix, value, realm]) => ({
      method,
      path,
      headers: [["authorization", prefix + value], ...(realm !== null ? [["x-auth-realm", realm]] : [])] as [string, string][],
      raw: true,
    }));
  return fc.oneof({ weight: 8, arbitrary: authenticate }, { weight: 5, arbitrary: routes }, { weight: 5, arbitrary: bodies }, { weight: 1, arbitrary: odd }, { weight: 2, arbitrary: binary });
}

/** The path the server sees: fetch() resolves dot segments ("/token/.." is "/"); a raw request is sent as it is. */
function effectivePath(request: FuzzRequest): string {
  if (request.raw || !URL.canParse(request.path, "http://x")) return request.path;
  const url = new URL(request.path, "http://x");
  return url.pathname + url.search;
}

/** True when the request may be describing a request to the host an access rule lets through (/authenticate answers 200 then). */
function namesPublicHost(request: FuzzRequest): boolean {
  return effectivePath(request).split("?")[0] === "/authenticate" && request.headers.some(([, value]) => value.toLowerCase().includes(PUBLIC_HOST));
}

/** True when the request carries one of the valid secrets, anywhere. */
export function carriesSecret(request: FuzzRequest, secrets: Secrets): boolean {
  const everything = `${request.path}\n${request.headers.map(([, value]) => value).join("\n")}\n${request.body ?? ""}`;
  return [secrets.basic, secrets.apiToken, secrets.accessToken, secrets.ecmwfKey, PASSWORD].some((secret) => everything.includes(secret));
}

// ---------------------------------------------------------------------------
// Known open bugs: a 5xx from a request that matches one is counted under its name
// instead of failing the run, until its fix lands (each has a test.todo in
// test/fuzz-findings.test.ts). Remove an entry once its test passes.

export const KNOWN_BUGS: { name: string; matches(request: FuzzRequest): boolean }[] = [];

// ---------------------------------------------------------------------------
// Sending

const CONTROL_IN_HEADER = /[\u0000-\u0008\u000a-\u001f\u007f]/;

export async function send(url: string, request: FuzzRequest, timeoutMs: number): Promise<number> {
  // fetch() refuses control characters in header values: those go over a raw socket too.
  if (request.raw || request.headers.some(([, value]) => CONTROL_IN_HEADER.test(value))) return sendRaw(url, request, timeoutMs);
  const response = await fetch(url + request.path, {
    method: request.method,
    headers: request.headers,
    body: request.method === "GET" || request.method === "HEAD" ? undefined : request.body,
    signal: AbortSignal.timeout(timeoutMs),
    redirect: "manual",
  });
  await response.arrayBuffer();
  return response.status;
}

/** Writes the request's bytes as they are; the status line's code, or 0 when the server closed without one. */
function sendRaw(url: string, request: FuzzRequest, timeoutMs: number): Promise<number> {
  const { hostname, port } = new URL(url);
  const body = request.body ? Buffer.from(request.body, "utf8") : Buffer.alloc(0);
  const head =
    `${request.method} ${request.path.startsWith("/") || request.path === "*" ? request.path : `/${request.path}`} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n` +
    request.headers.map(([name, value]) => `${name}: ${value.replace(/[\r\n]/g, "")}\r\n`).join("") +
    (body.length ? `Content-Length: ${body.length}\r\n` : "") +
    "\r\n";
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open(socket) {
          socket.write(Buffer.concat([Buffer.from(head, "latin1"), body]));
        },
        data(_socket, data) {
          chunks.push(Buffer.from(data));
        },
        close() {
          clearTimeout(timer);
          const statusLine = Buffer.concat(chunks).subarray(0, 64).toString("latin1");
          resolve(Number(statusLine.match(/^HTTP\/1\.[01] (\d{3})/)?.[1] ?? 0));
        },
        error(_socket, error) {
          clearTimeout(timer);
          reject(error);
        },
      },
    }).catch((error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** The resident memory of a process, in MiB (0 once it is gone). */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
  } catch {
    return 0;
  }
}

export function describe(request: FuzzRequest): string {
  const clip = (value: string) => (value.length > 300 ? `${JSON.stringify(value.slice(0, 300))}…(${value.length} chars)` : JSON.stringify(value));
  return `${request.method} ${clip(request.path)}${request.raw ? " (raw)" : ""}\n${request.headers.map(([name, value]) => `  ${name}: ${clip(value)}`).join("\n")}${request.body !== undefined ? `\n  body: ${clip(request.body)}` : ""}`;
}

// ---------------------------------------------------------------------------
// The run

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const batch = options.batch ?? 8;
  const timeBoundMs = options.timeBoundMs ?? 5000;
  const runs = Math.ceil(options.count / batch);
  const stub = startEcmwfStub();
  const dir = temporaryDirectory("gatehouse-fuzz-");
  let server: RunningGatehouse | undefined;
  const statuses: Record<string, number> = {};
  let slowestMs = 0;
  let slowest = "";
  const knownBugs: Record<string, number> = {};
  let sent = 0;
  let peakMiB = 0;
  let warmMiB = 0;
  const started = performance.now();
  try {
    server = await spawnGatehouse({ config: fuzzConfig(`http://127.0.0.1:${stub.port}`), cwd: dir });
    const target = server;
    const secrets = await setUpSecrets(target.url);
    // RSS is compared between the end of the first tenth of the run and the end.
    const warmUpAt = Math.max(1, Math.floor(runs * 0.1));
    let run = 0;

    const property = fc.asyncProperty(fc.array(fuzzRequest(secrets), { minLength: batch, maxLength: batch }), async (requests) => {
      await Promise.all(
        requests.map(async (request) => {
          const began = performance.now();
          let status: number;
          try {
            status = await send(target.url, request, timeBoundMs + 1000);
          } catch (error) {
            await Bun.sleep(100);
            if (target.process.exitCode !== null || target.process.signalCode) {
              throw new Error(`the server died (exit ${target.process.exitCode ?? target.process.signalCode}):\n${target.logs.slice(-20).join("\n")}\nafter:\n${describe(request)}`);
            }
            throw new Error(`request failed: ${(error as Error).message}\n${describe(request)}\n${target.logs.slice(-5).join("\n")}`);
          }
          const elapsed = performance.now() - began;
          if (elapsed > slowestMs) {
            slowestMs = elapsed;
            slowest = `${Math.round(elapsed)} ms: ${describe(request).slice(0, 400)}`;
          }
          statuses[status] = (statuses[status] ?? 0) + 1;
          sent++;
          // 0: the server closed a raw connection without an answer (a request it could not parse): fine, not a 5xx.
          const known = status >= 500 ? KNOWN_BUGS.find((bug) => bug.matches(request)) : undefined;
          if (known) {
            knownBugs[known.name] = (knownBugs[known.name] ?? 0) + 1;
            return;
          }
          if (status >= 500) throw new Error(`answered ${status}:\n${describe(request)}\n${target.logs.slice(-5).join("\n")}`);
          if (status >= 200 && status < 300 && isProtected(effectivePath(request)) && !carriesSecret(request, secrets) && !namesPublicHost(request)) {
            throw new Error(`answered ${status} without a valid credential:\n${describe(request)}`);
          }
          if (elapsed > timeBoundMs) throw new Error(`answered after ${Math.round(elapsed)} ms (bound ${timeBoundMs} ms):\n${describe(request)}`);
        }),
      );
      run++;
      if (run === warmUpAt) warmMiB = rssMiB(target.process.pid);
      if (run % 250 === 0) {
        peakMiB = Math.max(peakMiB, rssMiB(target.process.pid));
        if (run % 1250 === 0) options.progress?.(`${sent} inputs, ${Math.round((performance.now() - started) / 1000)} s, RSS ${peakMiB.toFixed(0)} MiB peak`);
      }
    });

    let failure: string | undefined;
    const details = await fc.check(property, { numRuns: runs, seed: options.seed, path: options.path, endOnFailure: true, verbose: 0, markInterruptAsFailure: true });
    if (details.failed) {
      failure = `${(details.errorInstance as Error | undefined)?.message ?? String(details.errorInstance)}\nreplay: npm run fuzz -- --seed ${details.seed} --path "${details.counterexamplePath}" --count ${batch}`;
    }
    const finalMiB = rssMiB(target.process.pid);
    peakMiB = Math.max(peakMiB, finalMiB);
    if (!warmMiB) warmMiB = finalMiB;
    const growthPercent = ((finalMiB - warmMiB) / warmMiB) * 100;
    if (!failure && options.maxRssGrowthPercent !== undefined && growthPercent > options.maxRssGrowthPercent) {
      failure = `RSS grew by ${growthPercent.toFixed(1)} % after warm-up (${warmMiB.toFixed(1)} → ${finalMiB.toFixed(1)} MiB), above ${options.maxRssGrowthPercent} %`;
    }
    return {
      inputs: sent,
      seed: options.seed,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      statuses,
      slowestMs: Math.round(slowestMs),
      slowest,
      knownBugs,
      rss: { warmMiB: round(warmMiB), finalMiB: round(finalMiB), peakMiB: round(peakMiB), growthPercent: round(growthPercent) },
      failure,
    };
  } finally {
    await server?.stop();
    stub.stop(true);
  }
}

const round = (value: number) => Math.round(value * 10) / 10;
