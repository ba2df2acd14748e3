// `gatehouse tls self-signed`: a development certificate set, named as
// ecFlow's server expects them in ~/.ecflowrc/ssl (server.crt, server.key,
// and with --passphrase a random server.passwd that encrypts the key; with
// --dhparams, dh2048.pem). Made by the machine's openssl.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { parseCommand } from "./common.ts";
import { writeSecretFile } from "../secret-files.ts";

const USAGE = `usage: gatehouse tls self-signed --host NAME --out DIR [--days N] [--passphrase] [--dhparams] [--force]
  --host NAME     the server's host name or IP address (the certificate's subject and alternative name)
  --out DIR       where to write server.crt and server.key (mode 0600), as tls.dir expects them
  --days N        validity in days (default 365)
  --passphrase    encrypt server.key with a random pass phrase, written to server.passwd (mode 0600)
  --dhparams      also write dh2048.pem (takes up to a minute)
  --force         overwrite existing files
Clients trust it by its certificate: gatehouse client --ca DIR/server.crt`;

const options = {
  host: { type: "string" },
  out: { type: "string" },
  days: { type: "string" },
  passphrase: { type: "boolean" },
  dhparams: { type: "boolean" },
  force: { type: "boolean" },
} as const;

export async function tlsCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(args, options, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.join(" ") !== "self-signed" || !values.host || !values.out) {
    console.error(USAGE);
    return 2;
  }
  // The name goes into an openssl argument: a plain host name or address only.
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(values.host)) {
    console.error(`tls self-signed: --host ${values.host}: not a host name or IP address`);
    return 2;
  }
  const days = values.days ?? "365";
  if (!/^\d{1,5}$/.test(days) || Number(days) === 0) {
    console.error(`tls self-signed: --days ${days}: expected a number of days`);
    return 2;
  }
  const openssl = Bun.which("openssl");
  if (!openssl) {
    console.error("tls self-signed: openssl is not installed (apt-get install openssl)");
    return 1;
  }
  const dir = resolve(values.out);
  const files = { cert: join(dir, "server.crt"), key: join(dir, "server.key"), passwd: join(dir, "server.passwd"), dh: join(dir, "dh2048.pem") };
  const written = [files.cert, files.key, ...(values.passphrase ? [files.passwd] : []), ...(values.dhparams ? [files.dh] : [])];
  const existing = written.filter((path) => existsSync(path));
  if (existing.length > 0 && !values.force) {
    console.error(`tls self-signed: ${existing.join(", ")} already exist (--force to overwrite)`);
    return 1;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const alternative = isIP(values.host) ? `IP:${values.host}` : `DNS:${values.host}`;
  const keyProtection = values.passphrase ? ["-passout", `file:${files.passwd}`] : ["-noenc"];
  // Owner-only before anything secret is in them, also over existing files (--force) of a wider mode.
  if (values.passphrase) writeSecretFile(files.passwd, `${randomBytes(24).toString("base64url")}\n`);
  writeSecretFile(files.key, "");
  const steps: string[][] = [
    [openssl, "req", "-x509", "-newkey", "rsa:2048", "-sha256", "-days", days, ...keyProtection, "-keyout", files.key, "-out", files.cert,
      "-subj", `/CN=${values.host}`, "-addext", `subjectAltName=${alternative}`],
    // Plain PKCS#3 parameters (the TLS library refuses -dsaparam's X9.42 ones); this can take a minute.
    ...(values.dhparams ? [[openssl, "dhparam", "-out", files.dh, "2048"]] : []),
  ];
  for (const step of steps) {
    const run = Bun.spawnSync(step, { stdout: "pipe", stderr: "pipe" });
    if (run.exitCode !== 0) {
      console.error(`tls self-signed: openssl ${step[1]} failed: ${run.stderr.toString().trim().split("\n").slice(-3).join(" ")}`);
      return 1;
    }
  }
  chmodSync(files.key, 0o600);
  console.log(`wrote ${written.join(", ")}
serve it with:  tls: { dir: ${dir} }
trust it with:  gatehouse client --ca ${files.cert} --server https://${alternative.startsWith("IP:") && values.host.includes(":") ? `[${values.host}]` : values.host}:PORT …`);
  return 0;
}
