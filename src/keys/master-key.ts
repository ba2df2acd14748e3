// The key-encryption key (KEK) that protects signing keys at rest.
// Taken from GATEHOUSE_MASTER_KEY, else from keys.master_key_file, else from
// a file in the data folder created (mode 0600) on first start. Whatever its
// form, the bytes go through HKDF-SHA256, so a passphrase and a random key are
// both usable and the derived key is never the raw value.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { hkdfSync, randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { writeSecretFile } from "../secret-files.ts";

export interface MasterKeySource {
  env: string | undefined;
  file: string | undefined;
  /** Used (and created) when neither of the above is set. */
  defaultFile: string;
}

/** The master key made on first start, next to a SQLite store. */
export function defaultMasterKeyFile(storePath: string): string {
  return join(dirname(storePath), "master.key");
}

export interface MasterKey {
  key: CryptoKey;
  /** Where it came from, for logs: never the value. */
  origin: string;
}

export async function loadMasterKey(source: MasterKeySource): Promise<MasterKey> {
  let material: string;
  let origin: string;
  if (source.env) {
    material = source.env;
    origin = "GATEHOUSE_MASTER_KEY";
  } else if (source.file) {
    material = readFileSync(source.file, "utf8").trim();
    origin = source.file;
  } else {
    origin = source.defaultFile;
    if (!existsSync(source.defaultFile)) {
      mkdirSync(dirname(source.defaultFile), { recursive: true, mode: 0o700 });
      // "wx": never overwrite a key that appeared meanwhile (another instance).
      try {
        writeSecretFile(source.defaultFile, randomBytes(32).toString("base64url") + "\n", "wx");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    }
    material = readFileSync(source.defaultFile, "utf8").trim();
  }
  if (material.length < 16) throw new Error(`the master key from ${origin} is shorter than 16 characters`);
  const derived = hkdfSync("sha256", Buffer.from(material, "utf8"), "gatehouse", "signing-key-encryption", 32);
  const key = await crypto.subtle.importKey("raw", derived, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  return { key, origin };
}

/**
 * AES-256-GCM with a random 96-bit nonce. The key id is the additional
 * authenticated data, so a ciphertext moved to another row does not decrypt.
 */
export async function encryptWithMasterKey(master: MasterKey, plaintext: string, kid: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(kid) },
    master.key,
    new TextEncoder().encode(plaintext),
  );
  return `v1.${Buffer.from(iv).toString("base64url")}.${Buffer.from(sealed).toString("base64url")}`;
}

export async function decryptWithMasterKey(master: MasterKey, sealed: string, kid: string): Promise<string> {
  const [version, iv, data] = sealed.split(".");
  if (version !== "v1" || !iv || !data) throw new Error(`key ${kid}: unknown encryption format`);
  try {
    const plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: Buffer.from(iv, "base64url"), additionalData: new TextEncoder().encode(kid) },
      master.key,
      Buffer.from(data, "base64url"),
    );
    return new TextDecoder().decode(plaintext);
  } catch {
    throw new Error(`key ${kid}: cannot decrypt the private key; is this the master key it was encrypted with?`);
  }
}
