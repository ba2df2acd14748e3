// Configured keys, as auth-o-tron 0.4.0: one RSA private key in PEM from the
// config (`jwt.private_key`, usually from AOT_JWT__PRIVATE_KEY or a file)
// signs RS256 under `jwt.kid`. Its public half, and any
// `jwt.additional_public_keys`, verify and are published at
// /.well-known/jwks.json: upstream's staged rotation publishes the next key
// there first, then switches the signer to it, then removes the old key once
// every token it signed has expired (docs/signing-keys.md has the steps).
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { exportJWK, type JWK } from "jose";
import type { KeySet, VerificationKey } from "./keyset.ts";
import type { Signer } from "./issuer.ts";

/** auth-o-tron 0.4.0 refuses smaller RSA keys (NIST SP 800-131A); 3072 bits is recommended for new keys. */
export const MIN_RSA_BITS = 2048;
const ALG = "RS256";

export interface ConfiguredKeys {
  kid: string;
  privateKeyPem: string;
  additionalPublicKeys: { kid: string; publicKeyPem: string }[];
}

/** The problems of a configured key set, each with its config path; none means it opens. Messages never show key material. */
export function configuredKeyProblems(keys: ConfiguredKeys): string[] {
  const problems: string[] = [];
  if (keys.kid.trim() === "") problems.push("jwt.kid: must not be empty: it names the signing key in every JWT header");
  const privateKey = parseKey(keys.privateKeyPem, "private");
  if (typeof privateKey === "string") problems.push(`jwt.private_key: ${privateKey}`);
  const kids = new Set([keys.kid]);
  keys.additionalPublicKeys.forEach(({ kid, publicKeyPem }, index) => {
    const path = `jwt.additional_public_keys[${index}]`;
    if (kid.trim() === "") problems.push(`${path}.kid: must not be empty`);
    else if (kids.has(kid)) problems.push(`${path}.kid: "${kid}" is used twice; never reuse a kid for different key material`);
    kids.add(kid);
    const publicKey = parseKey(publicKeyPem, "public");
    if (typeof publicKey === "string") problems.push(`${path}.public_key: ${publicKey}`);
  });
  return problems;
}

function parseKey(pem: string, kind: "private" | "public"): KeyObject | string {
  let key: KeyObject;
  try {
    key = kind === "private" ? createPrivateKey({ key: pem, format: "pem" }) : createPublicKey({ key: pem, format: "pem" });
  } catch {
    return kind === "private"
      ? "is not a PEM private key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072)"
      : "is not a PEM public key (openssl pkey -in private.pem -pubout)";
  }
  if (key.asymmetricKeyType !== "rsa") return `is a ${key.asymmetricKeyType} key; RS256 needs an RSA key`;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return `an RSA key of ${bits} bits is too weak; at least ${MIN_RSA_BITS} (3072 recommended)`;
  return key;
}

export async function configuredKeySet(keys: ConfiguredKeys): Promise<KeySet> {
  const problems = configuredKeyProblems(keys);
  if (problems.length > 0) throw new Error(problems.join("; "));
  const privateKey = parseKey(keys.privateKeyPem, "private") as KeyObject;
  const publicJwk = (jwk: JWK, kid: string): JWK => ({ kty: jwk.kty, n: jwk.n, e: jwk.e, kid, alg: ALG, use: "sig" });
  const signingPublic = createPublicKey(privateKey);
  const published: JWK[] = [publicJwk(await exportJWK(signingPublic), keys.kid)];
  const verification: VerificationKey[] = [{ kid: keys.kid, alg: ALG, key: await toCryptoKey(signingPublic) }];
  for (const { kid, publicKeyPem } of keys.additionalPublicKeys) {
    const key = parseKey(publicKeyPem, "public") as KeyObject;
    published.push(publicJwk(await exportJWK(key), kid));
    verification.push({ kid, alg: ALG, key: await toCryptoKey(key) });
  }
  const signer: Signer = { alg: ALG, kid: keys.kid, key: await toCryptoKey(privateKey) };
  const jwks = { keys: published };
  return { mode: "configured", signer: () => signer, verificationKeys: () => verification, jwks: () => jwks };
}

/** The key as a non-extractable WebCrypto key, the form the other key sets give jose. */
async function toCryptoKey(key: KeyObject): Promise<CryptoKey> {
  const usage = key.type === "private" ? "sign" : "verify";
  const format = key.type === "private" ? "pkcs8" : "spki";
  const der = new Uint8Array(key.export({ format: "der", type: format }));
  return crypto.subtle.importKey(format, der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, [usage]);
}
