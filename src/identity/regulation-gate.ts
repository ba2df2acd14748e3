// What the identity pipeline asks regulation before it checks a credential,
// and what a ban says. regulation/index.ts implements the gate; the interface
// is the pipeline's, kept here so that the pipeline does not import
// regulation, which observes the pipeline in turn.
import type { Provider } from "../providers/provider.ts";
import type { Credential } from "./credentials.ts";
import type { MaybePromise } from "./maybe-promise.ts";
import type { RequestContext } from "./request.ts";

export type BanKind = "username" | "address";

export interface Ban {
  kind: BanKind;
  /** Seconds until the ban ends (for Retry-After), at least 1. */
  retryAfterSeconds: number;
  /** When the ban ends (ms since the epoch). */
  endsAt: number;
  /**
   * A username's ban, which holds whatever the address: whether it is still in
   * force at `now` (the bans re-read first when the store has changed, so a ban
   * released or lifted elsewhere ends here too), counting the refusal it causes
   * as the gate counts one. /authenticate remembers such a refusal for its
   * Authorization header and asks this before each answer from memory.
   */
  stillHolds?(now: number): boolean;
}

/** What the pipeline asks before it checks a credential. */
export interface RegulationGate {
  /** The ban that forbids checking this credential now, or null. */
  banFor(provider: Provider, credential: Credential, request: RequestContext): MaybePromise<Ban | null>;
  /**
   * The turn of a request's password checks (one in flight per username, see
   * regulation/turns.ts), or null when it has none. The pipeline takes it before it looks
   * bans up, and ends it once the answer is reported (and so counted).
   */
  turnFor<C extends Candidate>(candidates: readonly C[], timeoutMs: number): MaybePromise<CandidatesTurn<C>> | null;
}

type Candidate = readonly [Provider, Credential];

export interface CandidatesTurn<C extends Candidate> {
  /** The passwords whose turn did not come within the time limit: not to be checked (a timeout, counted). */
  late: readonly C[];
  /** Hands the turn on; call it once the answer is reported. */
  end(): void;
}
