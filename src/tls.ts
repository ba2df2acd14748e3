// HTTPS served by Gatehouse itself: the certificate files, found and checked
// at start-up so that a wrong pass phrase, a missing file or a key that does
// not belong to the certificate stops the server with a message naming the
// file, instead of a TLS handshake failing later for every client.
//
// Files are named in `tls` (cert, key, passphrase_file, dhparams, ca), or
// found in `tls.dir` as ecFlow's server finds them in ~/.ecflowrc/ssl:
// server.crt, server.key, server.passwd (optional: the key's pass phrase),
// dh2048.pem else dh1024.pem (optional); else the `<host>.<port>.crt`,
// `.key`, `.passwd`, `.pem` variants. The plain names are preferred, as
// ecFlow does with ECF_SSL=1; `tls.name: <host>.<port>` asks for one
// variant only (ECF_SSL=<host>.<port>).
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

/** The config's `tls` section (config/schema.ts describes each field). */
export interface TlsSettings {
  cert?: string;
  key?: string;
  passphrase_file?: string;
  dhparams?: string;
  ca?: string;
  dir?: string;
  name?: string;
  host?: string;
  port?: number;
}

/** What Bun.serve's `tls` option takes. */
export interface ServerTls {
  cert: string;
  key: string;
  passphrase?: string;
  dhParamsFile?: string;
  ca?: string;
}

export interface TlsSetup {
  options: ServerTls;
  /** The HTTPS port when HTTP stays on server.port; null: server.port itself serves HTTPS. */
  port: number | null;
  /** The files used, for the start-up log line. */
  files: { cert: string; key: string; passphrase?: string; dhparams?: string; ca?: string };
}

export class TlsError extends Error {}

export interface TlsPaths {
  cert: string;
  key: string;
  passphrase?: string;
  dhparams?: string;
  ca?: string;
}

/** ecFlow's file names in `dir`: the plain set first, then `<host>.<port>.*`. */
function lookUp(dir: string, variant: string | null, host: string, port: number): Omit<TlsPaths, "ca"> {
  const sets = variant ? [variant] : ["server", `${host}.${port}`];
  for (const base of sets) {
    const cert = join(dir, `${base}.crt`);
    if (!existsSync(cert)) continue;
    const optional = (name: string) => (existsSync(join(dir, name)) ? join(dir, name) : undefined);
    const dhparams = base === "server" ? (optional("dh2048.pem") ?? optional("dh1024.pem")) : optional(`${base}.pem`);
    return { cert, key: join(dir, `${base}.key`), passphrase: optional(`${base}.passwd`), dhparams };
  }
  throw new TlsError(`tls.dir: no certificate in ${dir}: looked for ${sets.map((base) => `${base}.crt`).join(" and ")}`);
}

function readText(path: string, field: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new TlsError(`${field}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The files named in `tls` or found in `tls.dir`, not read yet; throws a TlsError when there is none. */
export function tlsPaths(tls: TlsSettings, server: { port: number }): TlsPaths {
  const port = tls.port ?? server.port;
  const found = tls.dir ? lookUp(tls.dir, tls.name ?? null, tls.host ?? hostname(), port) : null;
  const paths: Partial<TlsPaths> = {
    cert: tls.cert ?? found?.cert,
    key: tls.key ?? found?.key,
    passphrase: tls.passphrase_file ?? found?.passphrase,
    dhparams: tls.dhparams ?? found?.dhparams,
    ca: tls.ca,
  };
  if (!paths.cert || !paths.key) throw new TlsError("tls: give cert and key, or dir (a folder holding server.crt and server.key)");
  return paths as TlsPaths;
}

/** The files to serve HTTPS with, read and checked; throws a TlsError naming the file at fault. */
export function loadTls(tls: TlsSettings, server: { port: number }): TlsSetup {
  const paths = tlsPaths(tls, server);

  const cert = readText(paths.cert, "tls.cert");
  const key = readText(paths.key, "tls.key");
  // The first line of the file: `echo secret > server.passwd` leaves a newline that is not part of the pass phrase.
  const passphrase = paths.passphrase ? readText(paths.passphrase, "tls.passphrase_file").split(/\r?\n/)[0] : undefined;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new TlsError(`tls.cert: ${paths.cert} is not a PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key, format: "pem", passphrase });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ERR_MISSING_PASSPHRASE") {
      throw new TlsError(`tls.key: ${paths.key} is encrypted and no pass phrase was given (tls.passphrase_file, or a .passwd file beside it)`);
    }
    if (passphrase !== undefined && /DECRYPT|decrypt|passphrase/.test(`${code} ${(error as Error).message}`)) {
      throw new TlsError(`tls.key: cannot decrypt ${paths.key} with the pass phrase in ${paths.passphrase}: wrong pass phrase`);
    }
    throw new TlsError(`tls.key: ${paths.key} is not a PEM private key`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new TlsError(`tls.key: ${paths.key} does not match the certificate ${paths.cert}`);
  }
  if (paths.dhparams && !readText(paths.dhparams, "tls.dhparams").includes("BEGIN DH PARAMETERS")) {
    throw new TlsError(`tls.dhparams: ${paths.dhparams} holds no DH PARAMETERS block`);
  }
  const ca = paths.ca ? readText(paths.ca, "tls.ca") : undefined;
  if (paths.ca && !ca!.includes("BEGIN CERTIFICATE")) throw new TlsError(`tls.ca: ${paths.ca} holds no PEM certificate`);

  return {
    options: {
      cert,
      key,
      ...(passphrase !== undefined ? { passphrase } : {}),
      ...(paths.dhparams ? { dhParamsFile: paths.dhparams } : {}),
      ...(ca ? { ca } : {}),
    },
    port: tls.port ?? null,
    files: { cert: paths.cert, key: paths.key, passphrase: paths.passphrase, dhparams: paths.dhparams, ca: paths.ca },
  };
}
