// Watching the identity pipeline without editing it: the pipeline and
// /authenticate report each provider attempt, each augmenter run and each
// final result to an observer. Metrics, guessing regulation and audit are
// observers. The default is none at all, and then nothing is even timed.
import type { Augmenter } from "../augmenters/augmenter.ts";
import type { Provider } from "../providers/provider.ts";
import type { Credential } from "./credentials.ts";
import type { AuthResult } from "./result.ts";
import type { RequestContext } from "./request.ts";
import type { User } from "./user.ts";

/** How one provider answered one credential: `refused` is a clean "no"; `error` and `timeout` are failures of the provider. */
export type AttemptOutcome = "success" | "refused" | "error" | "timeout";

export interface ProviderAttempt {
  provider: Provider;
  credential: Credential;
  outcome: AttemptOutcome;
  /** Milliseconds from the start of the attempt to its answer (for a timeout: to the cut-off). */
  durationMs: number;
  request: RequestContext;
}

export interface AugmenterRun {
  augmenter: Augmenter;
  user: User;
  outcome: "success" | "error";
  durationMs: number;
}

export interface AuthOutcome {
  result: AuthResult;
  /** Milliseconds from the start of the pipeline (0 for a remembered answer). */
  durationMs: number;
  request: RequestContext;
  /** Answered from /authenticate's memory of an earlier success, without running the pipeline. */
  remembered: boolean;
}

export interface AuthObserver {
  /** The pipeline starts on a request (not called for /authenticate's remembered answers). */
  started?(request: RequestContext): void;
  providerAttempt?(attempt: ProviderAttempt): void;
  augmenterRun?(run: AugmenterRun): void;
  authenticated?(outcome: AuthOutcome): void;
  /**
   * /authenticate answered from its memory of an earlier verdict (a success
   * or a definite refusal) without running the pipeline. Its hot path, so no
   * outcome object is made for it (≈ 50 ns of a ≈ 700 ns answer from memory,
   * bench/handler.ts). An observer without it hears of these answers through
   * `authenticated` (remembered: true, durationMs: 0): see rememberedAnswers.
   */
  remembered?(result: AuthResult, request: RequestContext): void;
}

type RememberedAnswer = (result: AuthResult, request: RequestContext) => void;

/** `remembered` for an observer with nothing to do on an answer from memory: it is then not called at all. */
export const ignoreRemembered: RememberedAnswer = () => {};

/** How this observer hears of an answer from memory: its own `remembered`, else `authenticated`, else not at all (null). */
export function rememberedAnswers(observer: AuthObserver | null | undefined): RememberedAnswer | null {
  if (observer?.remembered === ignoreRemembered) return null;
  if (observer?.remembered) return (result, request) => observer.remembered!(result, request);
  if (observer?.authenticated) return (result, request) => observer.authenticated!({ result, durationMs: 0, request, remembered: true });
  return null;
}

/**
 * One observer calling each of the given ones in turn, or null when there
 * are none. An observer that throws is reported once and never disturbs an
 * answer: observing must not change what is observed.
 */
export function combineObservers(observers: AuthObserver[], onError: (error: unknown) => void = () => {}): AuthObserver | null {
  if (observers.length === 0) return null;
  const each =
    <K extends keyof AuthObserver>(key: K) =>
    (event: Parameters<NonNullable<AuthObserver[K]>>[0]) => {
      for (const observer of observers) {
        try {
          (observer[key] as ((value: typeof event) => void) | undefined)?.(event);
        } catch (error) {
          onError(error);
        }
      }
    };
  const listeners = observers.map(rememberedAnswers).filter((listener) => listener !== null);
  const [only] = listeners;
  // One listener (metrics: the usual case) is called without the loop, on /authenticate's hot path.
  const remembered: RememberedAnswer =
    listeners.length === 1
      ? (result, request) => {
          try {
            only!(result, request);
          } catch (error) {
            onError(error);
          }
        }
      : (result, request) => {
          for (const listener of listeners) {
            try {
              listener(result, request);
            } catch (error) {
              onError(error);
            }
          }
        };
  return {
    started: each("started"),
    providerAttempt: each("providerAttempt"),
    augmenterRun: each("augmenterRun"),
    authenticated: each("authenticated"),
    // None listening: say so, so that answers from memory are not turned into outcomes for `authenticated`.
    remembered: listeners.length > 0 ? remembered : ignoreRemembered,
  };
}
