// Issues the short-lived JWT handed to backends, with auth-o-tron's claims:
// sub = "{realm}-{username}", iss, iat, exp = min(now + jwt.exp, the user's
// `exp` attribute), username, realm, roles, scopes, attributes, and aud when
// configured.
import { SignJWT, type JWTPayload } from "jose";
import type { User } from "../identity/user.ts";
import { TtlCache } from "../identity/ttl-cache.ts";

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
  /** Reuse a JWT signed for an identical identity for this many seconds; 0 disables. */
  reuseSeconds: number;
  /** The signer in use now (changes when keys rotate). */
  currentSigner: () => Signer;
}

export interface JwtIssuer {
  issue(user: User): Promise<string>;
  /** Forget reusable JWTs, e.g. after a key rotation. */
  forget(): void;
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
    // null means "not restricted by a token", as auth-o-tron writes it.
    scopes: user.scopes ?? null,
    attributes: user.attributes,
  };
}

export function createJwtIssuer(options: IssuerOptions): JwtIssuer {
  // Signing runs through WebCrypto and caps throughput well below the server's
  // (see STACK-NOTES); an identity that authenticates again within a few
  // seconds gets the JWT already signed for it. The key is the whole
  // identity, so any change of roles, attributes or scopes signs anew, and
  // the credential has been checked again on this very request.
  const reusable = new TtlCache<string>(options.reuseSeconds * 1000, 50_000);

  return {
    async issue(user) {
      const signer = options.currentSigner();
      const identity = options.reuseSeconds > 0 ? `${signer.kid ?? ""}\u0000${JSON.stringify(user)}` : "";
      if (identity) {
        const cached = reusable.get(identity);
        if (cached) return cached;
      }
      const now = Math.floor(Date.now() / 1000);
      const claims = jwtClaims(user, options, now);
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: signer.alg, typ: "JWT", ...(signer.kid ? { kid: signer.kid } : {}) })
        .sign(signer.key);
      // Never hand out a reused JWT closer to its expiry than the reuse window.
      const lifetimeMs = ((claims.exp as number) - now) * 1000;
      if (identity && lifetimeMs > options.reuseSeconds * 2000) reusable.set(identity, token);
      return token;
    },
    forget: () => reusable.clear(),
  };
}

export async function hmacSigner(secret: string): Promise<Signer> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  return { alg: "HS256", key };
}
