// Gatehouse's own session access tokens (Bearer JWTs, `typ: at+jwt`, see
// sessions/access-tokens.ts). Built in, not configured: app.ts adds it when
// the store is enabled. The user is the one the token names, in their realm,
// with the roles the token carries (a refresh re-reads them).
//
// A token is accepted when its signature verifies with a key of the key set,
// its type, issuer, audience (Gatehouse's own) and expiry are right, and its
// session is still live in the store and belongs to the user the token
// names: a token signed by someone who got hold of a key cannot borrow a
// live session to speak for another user. The session is read on every use (one primary-key
// read), so a revoked session's access tokens stop at the next request.
//
// Signature checks cost ≈7,000/s with ES256 (jose, one core), so successful
// ones are remembered, under the SHA-256 of the token, until the token's own
// expiry (bounded in number). That remembers only what the signature proved,
// never that the session is live; and an entry whose key has left the key
// set (a key retired early) is verified afresh, so it fails.
import type { Credential } from "../identity/credentials.ts";
import { looksLikeJwt } from "../identity/credentials.ts";
import type { ExplainsRefusal } from "../identity/pipeline.ts";
import type { ChallengeError } from "../identity/result.ts";
import { sha256Hex } from "../identity/secrets.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { isPromise, type MaybePromise } from "../identity/maybe-promise.ts";
import { createUser, type Scopes, type User } from "../identity/user.ts";
import { verifyOwnJwt, type KeySet } from "../keys/keyset.ts";
import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_TYPE } from "../sessions/access-tokens.ts";
import { ANY_REALM, type Provider } from "./provider.ts";
import type { JWTPayload } from "jose";

/** Tiled's words: the client should use its refresh token. */
export const ACCESS_TOKEN_EXPIRED: ChallengeError = { error: "invalid_token", description: "Access token has expired. Refresh token." };

export interface SessionAccessTokenProvider extends Provider, ExplainsRefusal {
  /** The session a user returned by this provider authenticated with. */
  sessionOf(user: User): string | undefined;
}

/** What a verified token says: all a later use needs besides the session check. */
interface Verified {
  kid: string;
  sid: string;
  username: string;
  realm: string;
  roles: string[];
  attributes: Record<string, string>;
  scopes: Scopes | null;
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === "string");
const isRecordOf = <T>(value: unknown, check: (item: unknown) => item is T): value is Record<string, T> =>
  !!value && typeof value === "object" && !Array.isArray(value) && Object.values(value).every(check);
const isString = (value: unknown): value is string => typeof value === "string";

/** The claims as this provider needs them, or null when the token is not a session's access token. */
function readClaims(payload: JWTPayload, kid: string): Verified | null {
  const { sid, username, realm, roles, attributes, scopes } = payload as Record<string, unknown>;
  if (typeof payload.exp !== "number") return null; // it bounds how long the verification is remembered
  if (!isString(sid) || !isString(username) || !isString(realm) || !isStringArray(roles) || !isRecordOf(attributes, isString)) return null;
  if (scopes !== null && !isRecordOf(scopes, isStringArray)) return null;
  return { kid, sid, username, realm, roles, attributes, scopes };
}

export function createSessionAccessTokenProvider(options: {
  keySet: KeySet;
  issuer: string;
  /** The owner of the session when it is neither revoked nor expired, else null (one indexed read). */
  sessionOwner: (sessionId: string, now: number) => MaybePromise<{ username: string; realm: string } | null>;
  /** How many verified tokens are remembered. */
  cacheSize?: number;
}): SessionAccessTokenProvider {
  const { keySet, sessionOwner } = options;
  // Each entry is given its own time to live: until its token expires.
  const verified = new TtlCache<Verified>(1, options.cacheSize ?? 10_000);
  const sessions = new WeakMap<User, string>();
  const refusals = new WeakMap<Credential, ChallengeError>();
  const expected = { issuer: options.issuer, audience: ACCESS_TOKEN_AUDIENCE, typ: ACCESS_TOKEN_TYPE };

  // No promise when the store answers at once (SQLite): this runs on every request.
  const userOf = (entry: Verified): MaybePromise<User | null> => {
    const owner = sessionOwner(entry.sid, Date.now());
    return isPromise(owner) ? owner.then((found) => userOfOwner(entry, found)) : userOfOwner(entry, owner);
  };
  const userOfOwner = (entry: Verified, owner: { username: string; realm: string } | null): User | null => {
    if (!owner || owner.username !== entry.username || owner.realm !== entry.realm) return null;
    const user = createUser({ ...entry, scopes: entry.scopes ?? undefined });
    sessions.set(user, entry.sid);
    return user;
  };
  const stillVerifies = (kid: string) => keySet.verificationKeys().some((key) => key.kid === kid);

  return {
    name: "access-tokens",
    type: "access-token",
    realm: ANY_REALM,
    scheme: "bearer",
    remote: false,
    lastingRefusals: true,
    authenticate(credential) {
      // `Authorization: Apikey …` carries API tokens, never access tokens.
      if (credential.scheme !== "bearer" || credential.apikey || !looksLikeJwt(credential.token)) return null;
      const key = sha256Hex(credential.token);
      const cached = verified.get(key);
      if (cached && stillVerifies(cached.kid)) return userOf(cached);
      return verifyOwnJwt(credential.token, keySet, expected).then((result) => {
        if (!result.ok) {
          if (result.reason === "expired") refusals.set(credential, ACCESS_TOKEN_EXPIRED);
          return null;
        }
        const entry = readClaims(result.payload, result.kid);
        if (!entry) return null;
        const now = Date.now();
        verified.set(key, entry, now, (result.payload.exp as number) * 1000 - now);
        return userOf(entry);
      });
    },
    explainRefusal: (credential) => refusals.get(credential),
    sessionOf: (user) => sessions.get(user),
  };
}
