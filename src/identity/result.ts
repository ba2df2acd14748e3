// What the identity pipeline answers for a request (pipeline.ts), in a file
// of its own: its observers (observer.ts) and /authenticate read it too, and
// the pipeline imports the observer's types, so neither can hold it without
// the two importing each other.
import type { Provider } from "../providers/provider.ts";
import type { Ban } from "./regulation-gate.ts";
import type { User } from "./user.ts";

export type AuthFailure = "no_auth_header" | "invalid_header" | "all_failed";
/** Why a credential was refused, when the client can act on it (RFC 6750 §3.1): an expired access token is refreshed. */
export interface ChallengeError {
  error: "invalid_token";
  description: string;
}
export type AuthResult =
  | { ok: true; user: User; provider: Provider }
  /**
   * `ban`: a password or API key was not checked at all, its username or address being banned (regulation).
   * `definite`: every provider tried answered a clean "no" that lasts (Provider.lastingRefusals; none failed
   * or ran out of time), or the header itself is malformed (a pure function of its text), so the same
   * credential would be refused again: /authenticate may remember it briefly.
   */
  | { ok: false; reason: AuthFailure; refusal?: ChallengeError; ban?: Ban; definite?: true };
