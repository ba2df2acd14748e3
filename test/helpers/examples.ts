// The files of examples/ as a test uses them: read as they are, their
// placeholders (listen ports, upstream and backend addresses, certificate
// paths) filled for a private run on loopback, and the commands that check
// them (nginx -t, caddy validate, systemd-analyze verify, gatehouse …) run as
// processes.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { projectRoot, temporaryDirectory } from "./gatehouse.ts";
import { nginxBinary, writeNginxConfig } from "./nginx.ts";

export const examplesDir = join(projectRoot, "examples");

/** Every file under examples/ whose path (relative to examples/) the test accepts, sorted. */
export function exampleFiles(accept: (path: string) => boolean): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (accept(relative(examplesDir, path))) found.push(relative(examplesDir, path));
    }
  };
  walk(examplesDir);
  return found.sort();
}

export function readExample(path: string): string {
  return readFileSync(join(examplesDir, path), "utf8");
}

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; `input` is written to its standard input. */
export async function run(command: string[], options: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {}): Promise<ProcessResult> {
  const child = Bun.spawn(command, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdin: options.input === undefined ? "ignore" : new TextEncoder().encode(options.input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, stdout, stderr };
}

/** `gatehouse ARGS…` from source, as a process. */
export function gatehouseCommand(args: string[], options: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {}) {
  return run([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], options);
}

/** A self-signed certificate and its key (PEM files in dir), made by openssl. */
export function selfSignedCertificate(dir: string, commonName: string): { certificate: string; key: string } {
  const certificate = join(dir, "certificate.pem");
  const key = join(dir, "private-key.pem");
  const openssl = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", key, "-out", certificate, "-days", "2", "-subj", `/CN=${commonName}`,
      "-addext", `subjectAltName=DNS:${commonName},IP:127.0.0.1`],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (openssl.exitCode !== 0) throw new Error(`openssl failed: ${openssl.stderr.toString()}`);
  return { certificate, key };
}

/** A certificate authority in dir (ca.pem, ca.key) and a client certificate it signed for `subject` (client.pem, client.key). */
export function clientCertificate(dir: string, subject: string): { ca: string; certificate: string; key: string } {
  const openssl = (...args: string[]) => {
    const result = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    if (result.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr.toString()}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=People test CA");
  openssl("req", ...ec, "-keyout", "client.key", "-out", "client.csr", "-subj", subject);
  openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "client.pem");
  return { ca: join(dir, "ca.pem"), certificate: join(dir, "client.pem"), key: join(dir, "client.key") };
}

export interface NginxPlaceholders {
  /** Gatehouse's TCP port (for `server 127.0.0.1:8080;` in `upstream gatehouse`). */
  gatehouse: number;
  /** Port for `listen 443 ssl;`. */
  https: number;
  /** Port for `listen 80;`. */
  http: number;
  /** Port of the backend (ecFlow's 127.0.0.1:8888, an application's 127.0.0.1:3000). */
  backend: number;
  certificate: string;
  key: string;
  /** The CA for `ssl_client_certificate` (default: the certificate itself). */
  clientCa?: string;
}

/**
 * An nginx site of examples/ with its placeholders filled: listen ports on
 * 127.0.0.1 (the IPv6 listens dropped: containers may lack IPv6), Gatehouse's
 * and the backend's addresses, the certificate files. Throws when one of the
 * replaced forms is missing from a site that should have it, so that an
 * example drifting away from these forms is noticed rather than run half-filled.
 */
export function fillNginxSite(text: string, values: NginxPlaceholders): string {
  const filled = text
    .replace(/^(\s*)listen 443 ssl;/gm, `$1listen 127.0.0.1:${values.https} ssl;`)
    .replace(/^(\s*)listen \[::\]:443 ssl;/gm, "$1# (IPv6 listen dropped by the test)")
    .replace(/^(\s*)listen 80;/gm, `$1listen 127.0.0.1:${values.http};`)
    .replace(/^(\s*)listen \[::\]:80;/gm, "$1# (IPv6 listen dropped by the test)")
    .replace(/^(\s*)server 127\.0\.0\.1:8080;/gm, `$1server 127.0.0.1:${values.gatehouse};`)
    .replace(/http:\/\/127\.0\.0\.1:(?:8888|3000)\b/g, `http://127.0.0.1:${values.backend}`)
    .replace(/ssl_client_certificate(\s+)\/etc\/ssl\/certs\/\S+?;/g, `ssl_client_certificate$1${values.clientCa ?? values.certificate};`)
    .replace(/ssl_certificate(\s+)\/etc\/ssl\/certs\/\S+?;/g, `ssl_certificate$1${values.certificate};`)
    .replace(/ssl_certificate_key(\s+)\/etc\/ssl\/private\/\S+?;/g, `ssl_certificate_key$1${values.key};`);
  const directives = filled.replace(/#.*$/gm, "");
  const left = directives.match(/\/etc\/ssl\/\S+|listen (?:443|80|\[::\])\S*|127\.0\.0\.1:(?:8080|8888|3000)\b/);
  if (left) throw new Error(`a placeholder the test does not fill: ${left[0]}`);
  return filled;
}

/** `nginx -t` on a minimal nginx.conf around the given http block, in a private prefix directory. */
export async function nginxSyntaxCheck(http: string): Promise<ProcessResult> {
  const binary = nginxBinary();
  if (!binary) throw new Error("nginx with the auth_request module is not installed");
  const dir = temporaryDirectory("gatehouse-examples-nginx-");
  const { configPath, errorLogPath } = writeNginxConfig(dir, http);
  return run([binary, "-t", "-p", `${dir}/`, "-c", configPath, "-e", errorLogPath], { cwd: dir });
}

/** Writes text to a fresh file and returns its path. */
export function writeTemporary(name: string, text: string, dir = temporaryDirectory("gatehouse-examples-")): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** What the stand-in backend saw of a request that nginx let through. */
export interface Echo {
  path: string;
  headers: Record<string, string>;
}

/** A stand-in backend (ecFlow, an application) on loopback that answers each request with what it received, as JSON. */
export function echoBackend() {
  let hits = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      hits++;
      return Response.json({ path: new URL(request.url).pathname, headers: request.headers.toJSON() } satisfies Echo);
    },
  });
  return { port: server.port!, hits: () => hits, stop: () => server.stop(true) };
}
