// A private OpenLDAP server on loopback for the LDAP suites: the config and
// LDIF of test/fixtures/ldap/, a temporary data folder, plain LDAP and LDAPS
// on free ports, and a CA and server certificate made for the occasion.
// Debian's slapd is installed by test/setup.sh when running as root; without
// it (and not root) the suites are skipped, loudly.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { temporaryDirectory } from "./gatehouse.ts";

const SLAPD = "/usr/sbin/slapd";
const SLAPADD = "/usr/sbin/slapadd";
const fixtures = join(import.meta.dir, "../fixtures/ldap");

export const slapdAvailable = existsSync(SLAPD) && existsSync(SLAPADD) && Bun.which("openssl") !== null;
if (!slapdAvailable) {
  const why = process.getuid?.() === 0 ? "test/setup.sh should have installed it" : "not root, so test/setup.sh could not install it";
  console.warn(`\n#### WARNING: slapd (Debian packages slapd, ldap-utils) or openssl is missing (${why}): the LDAP suites are SKIPPED ####\n`);
}

export interface Slapd {
  /** ldap://127.0.0.1:PORT */
  url: string;
  /** ldaps://127.0.0.1:PORT, with a certificate for 127.0.0.1 signed by caFile */
  ldapsUrl: string;
  caFile: string;
  /** With `logOperations`: slapd's stats lines so far (one per connection event and operation, e.g. `conn=1001 op=1 BIND dn="…" method=128`). */
  log: string[];
  stop(): Promise<void>;
}

/** A port nothing listens on at the moment. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

function run(command: string[], cwd: string): void {
  const result = Bun.spawnSync(command, { cwd, stderr: "pipe", stdout: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${command[0]} failed: ${result.stderr.toString()}`);
}

function makeCertificates(dir: string): void {
  run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Gatehouse test CA", "-keyout", "ca.key", "-out", "ca.pem"], dir);
  run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"], dir);
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem"], dir);
}

async function waitForPort(port: number, process: Subprocess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (process.exitCode !== null) throw new Error(`slapd exited with ${process.exitCode}`);
    const open = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (socket) => (socket.end(), true),
      () => false,
    );
    if (open) return;
    await Bun.sleep(25);
  }
  throw new Error("slapd did not start within 10 s");
}

async function collectLines(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
  }
}

export async function startSlapd(options: { logOperations?: boolean } = {}): Promise<Slapd> {
  const dir = temporaryDirectory();
  mkdirSync(join(dir, "data"));
  makeCertificates(dir);
  const tls = [`TLSCACertificateFile ${dir}/ca.pem`, `TLSCertificateFile ${dir}/server.pem`, `TLSCertificateKeyFile ${dir}/server.key`].join("\n");
  const config = readFileSync(join(fixtures, "slapd.conf"), "utf8").replaceAll("@DIR@", dir).replace("@TLS@", tls);
  writeFileSync(join(dir, "slapd.conf"), config);
  run([SLAPADD, "-f", join(dir, "slapd.conf"), "-l", join(fixtures, "directory.ldif")], dir);
  const [port, ldapsPort] = [freePort(), freePort()];
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
  // -d 256: the "stats" log level, every connection and operation, on stderr.
  const level = options.logOperations ? "256" : "0";
  const slapd = Bun.spawn([SLAPD, "-f", join(dir, "slapd.conf"), "-h", `${url}/ ${ldapsUrl}/`, "-d", level], { stdout: "ignore", stderr: "pipe" });
  const log: string[] = [];
  if (options.logOperations) void collectLines(slapd.stderr, log);
  await waitForPort(port, slapd);
  await waitForPort(ldapsPort, slapd);
  return {
    url,
    ldapsUrl,
    caFile: join(dir, "ca.pem"),
    log,
    async stop() {
      slapd.kill();
      await slapd.exited;
    },
  };
}
