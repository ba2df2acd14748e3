// A session's access token: a short-lived JWT signed with the key that signs
// now (so a key rotation never logs anybody out: the previous key keeps
// verifying until the longest token it signed has expired, see keys/open.ts).
//
// Its header says `typ: at+jwt` (RFC 9068), unlike the `typ: JWT` answers
// /authenticate hands to backends: each verifier pins the type it expects,
// so neither kind is ever accepted as the other. Its claims are those of a
// backend's JWT (keys/issuer.ts), plus `sid`, the session it belongs to,
// except `aud`: always Gatehouse itself (ACCESS_TOKEN_AUDIENCE), never the
// backends' `jwt.aud`, so that a backend checking `aud` refuses it even if
// it forgets `typ`. With shared HS256 secrets it is signed by a key only
// Gatehouse holds, not the secret every backend has (keys/open.ts).
import { SignJWT } from "jose";
import { jwtClaims, jwtHeader } from "../keys/issuer.ts";
import type { KeySet } from "../keys/keyset.ts";
import type { User } from "../identity/user.ts";

export const ACCESS_TOKEN_TYPE = "at+jwt";
/** The audience of every access token: Gatehouse's own API (config check refuses it as a `jwt.aud`). */
export const ACCESS_TOKEN_AUDIENCE = "urn:gatehouse:access-token";

export interface AccessTokenSettings {
  keySet: KeySet;
  iss: string;
  /** Seconds (authentication.access_token_max_age). */
  maxAge: number;
}

/** Signs an access token for the session; it never outlives the session's absolute limit (ms since the epoch). */
export async function issueAccessToken(
  settings: AccessTokenSettings,
  user: User,
  sessionId: string,
  sessionExpiresAt: number,
  now = Date.now(),
): Promise<{ token: string; exp: number }> {
  const signer = settings.keySet.signer();
  const claims = jwtClaims(user, { iss: settings.iss, aud: ACCESS_TOKEN_AUDIENCE, exp: settings.maxAge }, Math.floor(now / 1000));
  const exp = Math.min(claims.exp as number, Math.floor(sessionExpiresAt / 1000));
  // `scopes: null` here, not the backends' `{}`: an access token of a direct login is unrestricted, not scoped to nothing.
  const token = await new SignJWT({ ...claims, exp, sid: sessionId, scopes: user.scopes ?? null })
    .setProtectedHeader(jwtHeader(signer, ACCESS_TOKEN_TYPE))
    .sign(signer.key);
  return { token, exp };
}
