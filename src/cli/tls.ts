// `gatehouse tls self-signed`: a development certificate set, named as
// ecFlow's server expects them in ~/.ecflowrc/ssl (server.crt, server.key,
// and with --passphrase a random server.passwd that encrypts the key; with
// --dhparams, dh2048.pem). Made by the machine's openssl.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { progress } from "./common.ts";
import { defineCommand, usageError } from "./help.ts";
import { writeSecretFile } from "../secret-files.ts";

export const tlsCommand = defineCommand(
  {
    name: "tls",
    summary: "a development certificate set (openssl), as ecFlow's server expects it",
    flags: [],
    subcommands: [
      {
        name: "self-signed",
        args: "--host NAME --out DIR [options]",
        summary: "write server.crt and server.key (0600) for NAME into DIR",
        description: "Clients trust it by its certificate: gatehouse client --ca DIR/server.crt",
        flags: [
          { name: "host", type: "string", value: "NAME", description: "the server's host name or IP address (the certificate's subject and alternative name)" },
          { name: "out", type: "string", value: "DIR", description: "where to write server.crt and server.key (mode 0600), as tls.dir expects them" },
          { name: "days", type: "string", value: "N", description: "validity in days (default 365)" },
          { name: "passphrase", type: "boolean", description: "encrypt server.key with a random pass phrase, written to server.passwd (mode 0600)" },
          { name: "dhparams", type: "boolean", description: "also write dh2048.pem (takes up to a minute; progress shown on a terminal)" },
          { name: "force", type: "boolean", description: "overwrite existing files" },
        ],
      },
    ],
  },
  async ({ values }) => {
    if (!values.host || !values.out) return usageError("tls", "self-signed needs --host NAME and --out DIR");
    // The name goes into an openssl argument: a plain host name or address only.
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(values.host)) {
      return usageError("tls", `--host ${values.host}: not a host name or IP address`);
    }
    const days = values.days ?? "365";
    if (!/^\d{1,5}$/.test(days) || Number(days) === 0) {
      return usageError("tls", `--days ${days}: expected a number of days`);
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
      const run = Bun.spawn(step, { stdout: "ignore", stderr: "pipe" });
      // dhparam takes seconds to a minute: on a terminal, the time spent so far.
      const shown = progress(`tls self-signed: openssl ${step[1]}: working`);
      shown.update("", true);
    const ticking = setInterval(() => shown.update(), 250);
      const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]).finally(() => {
        clearInterval(ticking);
        shown.end();
      });
      if (exitCode !== 0) {
        console.error(`tls self-signed: openssl ${step[1]} failed: ${stderr.trim().split("\n").slice(-3).join(" ")}`);
        return 1;
      }
    }
    chmodSync(files.key, 0o600);
    console.log(`wrote ${written.join(", ")}
  serve it with:  tls: { dir: ${dir} }
  trust it with:  gatehouse client --ca ${files.cert} --server https://${alternative.startsWith("IP:") && values.host.includes(":") ? `[${values.host}]` : values.host}:PORT …`);
    return 0;
  },
);
