// Issues the short-lived JWT handed to backends, with auth-o-tron's claims:
// sub = "{realm}-{username}", iss, iat, exp = min(now + jwt.exp, the user's
// `exp` attribute), username, realm, roles, scopes, attributes, and aud when
// configured.
import { SignJWT, type JWTHeaderParameters, type JWTPayload } from "jose";
import type { User } from "../identity/user.ts";

export interface Signer {
  readonly alg: string;
  readonly kid?: string;
  readonly key: CryptoKey | Uint8Array;
}

export interface IssuerOptions {
  iss: string;
  aud?: string;
  /** Lifetime in seconds. */
  exp: number;
  /** The signer in use now (changes when keys rotate). */
  currentSigner: () => Signer;
}

export interface SignedJwt {
  token: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** The key it was signed with: "" for the single shared secret. */
  kid: string;
}

export interface JwtIssuer {
  issue(user: User): Promise<SignedJwt>;
  /** Identifies the key that signs now; anything cached under another key must be signed anew. */
  currentKid(): string;
}

export function jwtClaims(user: User, options: Pick<IssuerOptions, "iss" | "aud" | "exp">, now: number): JWTPayload {
  let exp = now + options.exp;
  const attributeExp = Number(user.attributes.exp);
  if (user.attributes.exp !== undefined && Number.isFinite(attributeExp)) exp = Math.min(exp, Math.floor(attributeExp));
  return {
    sub: `${user.realm}-${user.username}`,
    iss: options.iss,
    ...(options.aud ? { aud: options.aud } : {}),
    iat: now,
    exp,
    username: user.username,
    realm: user.realm,
    roles: user.roles,
    // `{}` when the credential carries no scopes (a direct login): auth-o-tron's consumers (the
    // authotron-client crate) read a map, never null.
    scopes: user.scopes ?? {},
    attributes: user.attributes,
  };
}

/** The protected header of every JWT Gatehouse signs: the algorithm, the type, and the key's id when it has one. */
export function jwtHeader(signer: Signer, typ: string): JWTHeaderParameters {
  return { alg: signer.alg, typ, ...(signer.kid ? { kid: signer.kid } : {}) };
}

export function createJwtIssuer(options: IssuerOptions): JwtIssuer {
  return {
    async issue(user) {
      const signer = options.currentSigner();
      const now = Math.floor(Date.now() / 1000);
      const claims = jwtClaims(user, options, now);
      const token = await new SignJWT(claims)
        .setProtectedHeader(jwtHeader(signer, "JWT"))
        .sign(signer.key);
      return { token, exp: claims.exp as number, kid: signer.kid ?? "" };
    },
    currentKid: () => options.currentSigner().kid ?? "",
  };
}
