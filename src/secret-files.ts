// Files that hold secrets: TLS private keys and their pass phrases, the
// master key, secrets read through `<key>_file` or `*_FILE` variables, and
// `.ecflowapirc` credentials. Gatehouse writes them owner-only, and warns
// about any it reads that group or others may read, as ssh warns about a
// private key; a warning, not a refusal, so that existing setups keep working.
import { closeSync, fchmodSync, openSync, statSync, writeSync } from "node:fs";

/**
 * Writes `text` owner-only (0600). The mode is set on the open file before the
 * secret is written: `writeFileSync`'s `mode` applies only when it creates the
 * file, so writing over an existing 0644 file left the new secret readable
 * (finding 9 of issue 20). `wx`: never over an existing file.
 */
export function writeSecretFile(path: string, text: string, flag: "w" | "wx" = "w"): void {
  const fd = openSync(path, flag, 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** A secret file and what it is (a config field or a variable), for the warning. */
export interface SecretFile {
  field: string;
  path: string;
}

/** Why this secret file is exposed (group or others may read it), or null; a file that cannot be read is reported elsewhere. */
export function exposedSecretFile({ field, path }: SecretFile): string | null {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return null;
  }
  if ((mode & 0o044) === 0) return null;
  const who = mode & 0o004 ? (mode & 0o040 ? "group and others" : "others") : "group";
  return `${field}: ${path} is readable by ${who} (mode ${mode.toString(8).padStart(4, "0")}); restrict it: chmod 600 ${path}`;
}

/** One warning per exposed file, each file once. */
export function exposedSecretFiles(files: readonly SecretFile[]): string[] {
  const seen = new Set<string>();
  return files.flatMap((file) => {
    if (seen.has(file.path)) return [];
    seen.add(file.path);
    const warning = exposedSecretFile(file);
    return warning ? [warning] : [];
  });
}
