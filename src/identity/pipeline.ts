// The identity pipeline: a request's Authorization header → candidate
// providers (by scheme and realm) run in parallel, each under
// `auth.timeout_in_ms` → the first success → augmenters. It answers
// synchronously when every step can (see maybe-promise.ts), and reports what
// it does to an observer (see observer.ts) when one is given.
import { CONTROL_CHARACTERS, HEADER_CREDENTIAL, looksLikeJwt, parseAuthorization, type Credential } from "./credentials.ts";
import { usernameProblem } from "./username.ts";
import { addToUser, type User } from "./user.ts";
import { andThen, isPromise, type MaybePromise } from "./maybe-promise.ts";
import { ANY_REALM, ProviderBusy, type Provider } from "../providers/provider.ts";
import type { AttemptOutcome, AuthObserver } from "./observer.ts";
import type { RequestContext } from "./request.ts";
import type { Additions, Augmenter } from "../augmenters/augmenter.ts";
import type { Logger } from "../log.ts";
import type { Ban, CandidatesTurn, RegulationGate } from "./regulation-gate.ts";
import type { AuthResult, ChallengeError } from "./result.ts";

type Winner = { user: User; provider: Provider } | null;

/** A provider that can tell why it refused a credential it was offered (asked only once every provider has refused). */
export interface ExplainsRefusal {
  explainRefusal(credential: Credential): ChallengeError | undefined;
}

export interface PipelineOptions {
  providers: Provider[];
  augmenters: Augmenter[];
  timeoutMs: number;
  logger: Logger;
  /** Prefixes of Gatehouse's own opaque tokens: API tokens ("gth_"), session refresh tokens. */
  ownTokenPrefixes: string[];
  /**
   * Whether a bearer value without one of those prefixes is nevertheless a
   * token Gatehouse keeps (an auth-o-tron token imported into the store).
   */
  isKeptToken?: (token: string) => MaybePromise<boolean>;
  /** The `iss` of the JWTs Gatehouse issues: such JWTs never go to a remote provider. */
  ownIssuer?: string;
  /** Told of every attempt, augmenter run and result; null: nothing is reported, or timed. */
  observer?: AuthObserver | null;
  /** Regulation of guessing (regulation/index.ts); null: every credential is checked. */
  regulation?: RegulationGate | null;
}

/**
 * The provider, asked only once `leaves` says the token may go to it (and
 * refusing it otherwise, unasked): for a remote provider and a value the store
 * may keep, while the store is being asked.
 */
function askedOnlyIf(leaves: Promise<boolean>, provider: Provider): Provider {
  return Object.create(provider, {
    authenticate: {
      value: (credential: Credential, signal: AbortSignal, request: RequestContext) =>
        leaves.then((allowed) => (allowed ? provider.authenticate(credential, signal, request) : null)),
    },
  }) as Provider;
}

const NEVER = new AbortController().signal;
/** Abort reason once another provider has already succeeded: not an error. */
const SUPERSEDED = new Error("another provider succeeded");
const TIMED_OUT = new Error("timeout");
const ALL_FAILED: AuthResult = { ok: false, reason: "all_failed" };
const DEFINITELY_REFUSED: AuthResult = { ok: false, reason: "all_failed", definite: true };
const NO_AUTH_HEADER: AuthResult = { ok: false, reason: "no_auth_header" };
const INVALID_HEADER: AuthResult = { ok: false, reason: "invalid_header", definite: true };

/**
 * One run of the providers: its time limit, and what it met besides answers:
 * whether a refusal may not hold (a provider failed or ran out of time, or one
 * whose "no" can change upstream refused, or a password was not checked for
 * want of its turn).
 */
interface Trial {
  uncertain: boolean;
  timeoutMs: number;
  /** When the run holds a turn: the providers' own answers still to come, which the turn waits for (a check outlives its deadline). */
  running?: Promise<unknown>[];
}

export class IdentityPipeline {
  /** The WWW-Authenticate value: one challenge per distinct (scheme, realm), in config order. */
  readonly challenge: string;
  private readonly parallelAugmenters: Augmenter[];
  private readonly afterAugmenters: Augmenter[];
  private readonly observer: AuthObserver | null;
  /** Providers of `header` credentials (a trusted proxy's headers); empty in most configs, and then never looked at. */
  private readonly headerProviders: Provider[];

  constructor(private readonly options: PipelineOptions) {
    const challenges = new Set<string>();
    this.headerProviders = options.providers.filter((provider) => provider.scheme === "header");
    for (const provider of options.providers) {
      if (provider.realm === ANY_REALM) continue; // Gatehouse's own tokens: no realm of their own to announce
      if (provider.scheme === "header") continue; // a client cannot answer with a proxy's headers
      if (provider.scheme === "external") continue; // signed in through the browser, never by a request's credential
      const scheme = provider.scheme === "basic" ? "Basic" : "Bearer";
      challenges.add(`${scheme} realm="${provider.realm.replace(/["\\]/g, "")}"`);
    }
    this.challenge = [...challenges].join(", ") || 'Basic realm="gatehouse"';
    this.parallelAugmenters = options.augmenters.filter((augmenter) => augmenter.phase === "parallel");
    this.afterAugmenters = options.augmenters.filter((augmenter) => augmenter.phase === "after");
    this.observer = options.observer ?? null;
  }

  get providers(): readonly Provider[] {
    return this.options.providers;
  }

  get augmenters(): readonly Augmenter[] {
    return this.options.augmenters;
  }

  /** Who the request's credentials say the caller is. */
  authenticate(request: RequestContext): MaybePromise<AuthResult> {
    this.observer?.started?.(request);
    const startedAt = this.observer ? performance.now() : 0;
    const parsed = parseAuthorization(request.authorization);
    let candidates: [Provider, Credential][];
    if (!parsed.ok) {
      // No Authorization at all may still be a trusted proxy's headers; a malformed one is refused whatever else came with it.
      const fromHeaders = parsed.reason === "no credentials" && this.headerProviders.length > 0 ? this.headerCandidates(request, []) : null;
      if (!fromHeaders?.length) {
        this.options.logger.debug("auth.header.refused", { reason: parsed.reason });
        // A malformed header is refused for its text alone, every time: definite, so /authenticate remembers it.
        const result: AuthResult = parsed.reason === "no credentials" ? NO_AUTH_HEADER : INVALID_HEADER;
        return this.observer ? this.reported(result, request, startedAt) : result;
      }
      candidates = fromHeaders;
    } else {
      // An explicit credential wins over a proxy's ambient headers (as the Authorization header wins
      // over the portal's cookie): a person the proxy vouches for who presents a token, or the portal
      // session opened for them, is who that credential names.
      candidates = this.candidates(parsed.credentials, request.realm);
    }
    return this.concludeInTurn(candidates, request, startedAt);
  }

  /**
   * One credential checked by one named provider (a login form), with the
   * same rules, time limits and augmenters as a request; Gatehouse's own
   * tokens are still never offered to a remote provider.
   */
  authenticateWith(provider: Provider, credential: Credential, request: RequestContext): MaybePromise<AuthResult> {
    this.observer?.started?.(request);
    const startedAt = this.observer ? performance.now() : 0;
    // A remote provider may come wrapped (askedOnlyIf): its prototype is the provider.
    const candidates = this.candidates([credential], null).filter(
      ([candidate]) => candidate === provider || Object.getPrototypeOf(candidate) === provider,
    );
    return this.concludeInTurn(candidates, request, startedAt);
  }

  /**
   * The answer, reported, within the turn of the request's passwords
   * (regulation/turns.ts: one check in flight per username). The turn is held
   * until the answer is reported, so that a failure is counted before the next
   * check of that username looks its ban up; a password whose turn did not
   * come within auth.timeout_in_ms is not checked, and is reported as timed
   * out (counted as a guess); the time waited comes off the checks' own limit.
   */
  private concludeInTurn(candidates: [Provider, Credential][], request: RequestContext, startedAt: number): MaybePromise<AuthResult> {
    const report = (result: AuthResult) => (this.observer ? this.reported(result, request, startedAt) : result);
    const { timeoutMs } = this.options;
    const turn = this.options.regulation?.turnFor(candidates, timeoutMs) ?? null;
    if (turn === null) return andThen(this.conclude(candidates, request, { uncertain: false, timeoutMs }), report);
    const inTurn = ({ late, end }: CandidatesTurn<[Provider, Credential]>, waitedMs: number) => {
      const trial: Trial = { uncertain: late.length > 0, timeoutMs: Math.max(1, timeoutMs - waitedMs), running: [] };
      let answered: MaybePromise<AuthResult>;
      try {
        const offered = late.length === 0 ? candidates : this.outOfTurn(candidates, late, request, waitedMs);
        answered = andThen(this.conclude(offered, request, trial), report);
      } catch (error) {
        end();
        throw error;
      }
      if (!isPromise(answered)) {
        end();
        return answered;
      }
      // The turn passes on once the answer is reported and the checks have really ended: an argon2 run
      // cannot be stopped at the deadline, and the next check of the name must not run beside it. A check
      // that never ends (a provider deaf to its signal) holds the name at most one more time limit.
      const handOn = () => void withinTime(Promise.allSettled(trial.running!), timeoutMs).then(end);
      answered.then(handOn, handOn);
      return answered;
    };
    if (!isPromise(turn)) return inTurn(turn, 0);
    const waitStarted = performance.now();
    return turn.then((taken) => inTurn(taken, performance.now() - waitStarted));
  }

  /** The candidates left once the passwords whose turn never came (`late`) are reported as timed out. */
  private outOfTurn(candidates: [Provider, Credential][], late: readonly [Provider, Credential][], request: RequestContext, waitedMs: number) {
    return candidates.filter((candidate) => {
      if (!late.includes(candidate)) return true;
      const [provider, credential] = candidate;
      this.options.logger.warn("auth.provider.timeout", { provider: provider.name, realm: provider.realm, waiting: true });
      this.observer?.providerAttempt?.({ provider, credential, outcome: "timeout", durationMs: waitedMs, request });
      return false;
    });
  }

  private reported(result: AuthResult, request: RequestContext, startedAt: number): AuthResult {
    this.observer!.authenticated?.({ result, request, durationMs: performance.now() - startedAt, remembered: false });
    return result;
  }

  /** Adds what the augmenters of the user's realm grant now (a session refresh re-reads roles this way). */
  augmentUser(user: User): MaybePromise<User> {
    return andThen(this.augment(user), () => user);
  }

  /** The WWW-Authenticate value for a refusal: every challenge, plus RFC 6750's error when a provider said why. */
  challengeFor(result: AuthResult): string {
    if (result.ok || !result.refusal) return this.challenge;
    const { error, description } = result.refusal;
    return `${this.challenge}, Bearer error="${error}", error_description="${description.replace(/["\\]/g, "")}"`;
  }

  private conclude(offered: [Provider, Credential][], request: RequestContext, trial: Trial): MaybePromise<AuthResult> {
    // Regulation of guessing: a password or upstream API key whose username or
    // client address is banned is not checked at all (no argon2 run, no remote
    // call). Only such candidates are dropped, so a valid Gatehouse token or
    // session sent alongside still succeeds; the refusal then carries the ban
    // (answered 429 with Retry-After).
    const gate = this.options.regulation;
    if (!gate) return this.tryCandidates(offered, request, undefined, trial);
    // The ban of each candidate: at once from memory, or after the store has counted a failure in flight (PostgreSQL).
    const bans = offered.map(([provider, credential]) => gate.banFor(provider, credential, request));
    const decide = (found: (Ban | null)[]) => {
      const lasting = lastingBan(found);
      return this.tryCandidates(
        offered.filter((_, index) => !found[index]),
        request,
        lasting ?? found.find((ban) => ban) ?? undefined,
        trial,
        lasting !== undefined,
      );
    };
    return bans.some(isPromise) ? Promise.all(bans).then(decide) : decide(bans as (Ban | null)[]);
  }

  /** `banLasts`: the ban refused every candidate and holds whatever the address (lastingBan). */
  private tryCandidates(candidates: [Provider, Credential][], request: RequestContext, ban: Ban | undefined, trial: Trial, banLasts = false): MaybePromise<AuthResult> {
    return andThen(this.firstSuccess(candidates, request, trial), (winner) => {
      // A provider of any realm (API tokens) answers with the owner's realm, which must be the one asked for.
      if (!winner || (request.realm !== null && winner.user.realm !== request.realm)) {
        // A ban that refused every candidate and holds whatever the address is a definite refusal (remembered by /authenticate);
        // one candidate refused by an address's ban makes the answer depend on the address, and it is not.
        if (ban) return banLasts ? { ok: false, reason: "all_failed", ban, definite: true } : { ok: false, reason: "all_failed", ban };
        return refusedBy(candidates, !trial.uncertain);
      }
      return andThen(this.augment(winner.user), (): AuthResult => {
        // Augmenters add roles from the config or a directory: checked again, as the provider's were.
        if (!this.isSafeIdentity(winner.user, winner.provider.name)) return ALL_FAILED;
        return { ok: true, ...winner };
      });
    });
  }

  /** Every (provider, credential) pair that may be tried. */
  candidates(credentials: Credential[], realm: string | null): [Provider, Credential][] {
    const pairs: [Provider, Credential][] = [];
    for (const credential of credentials) {
      // Whether the store keeps this value: asked once per credential, and only for a remote provider.
      let kept: MaybePromise<boolean> | undefined;
      for (const provider of this.options.providers) {
        if (provider.scheme !== credential.scheme) continue;
        if (realm !== null && provider.realm !== realm && provider.realm !== ANY_REALM) continue;
        if (provider.remote && credential.scheme === "bearer") {
          const { token } = credential;
          const leaves = this.mayLeaveGatehouse(token, provider, () => (kept ??= this.options.isKeptToken?.(token) ?? false));
          if (leaves === false) continue;
          if (leaves !== true) {
            pairs.push([askedOnlyIf(leaves, provider), credential]);
            continue;
          }
        }
        // Tiled's `Apikey` scheme carries Gatehouse's own API tokens: only Gatehouse's own providers see it.
        if (credential.scheme === "bearer" && credential.apikey && (provider.remote || provider.realm !== ANY_REALM)) continue;
        pairs.push([provider, credential]);
      }
    }
    return pairs;
  }

  /** Adds the `header` providers of the realm asked for whose headers this request carries (from a peer they trust). */
  private headerCandidates(request: RequestContext, pairs: [Provider, Credential][]): [Provider, Credential][] {
    const realm = request.realm;
    for (const provider of this.headerProviders) {
      // A provider of any realm (the single sign-on cookie) answers with the user's realm, checked once it succeeds.
      if (realm !== null && provider.realm !== realm && provider.realm !== ANY_REALM) continue;
      if (provider.presentIn?.(request)) pairs.push([provider, HEADER_CREDENTIAL]);
    }
    return pairs;
  }

  /**
   * Gatehouse's own tokens and JWTs are never offered to a remote key
   * service: auth-o-tron sends every Bearer value to every Bearer provider,
   * which hands local secrets to third parties.
   */
  private mayLeaveGatehouse(token: string, provider: Provider, keptByStore: () => MaybePromise<boolean>): MaybePromise<boolean> {
    if (this.options.ownTokenPrefixes.some((prefix) => token.startsWith(prefix))) return false;
    const kept = keptByStore();
    if (kept === true) return false;
    const leaves = this.mayLeaveAsShaped(token, provider);
    // The store has yet to say whether it keeps the token (PostgreSQL, not in memory): the provider waits for it.
    return leaves && isPromise(kept) ? kept.then((isKept) => !isKept, () => false) : leaves;
  }

  private mayLeaveAsShaped(token: string, provider: Provider): boolean {
    if (!looksLikeJwt(token)) return true;
    // A provider whose tokens are an identity provider's JWTs gets those, never Gatehouse's own.
    if (provider.takesJwts !== true) return false;
    const issuer = issuerOf(token);
    return issuer !== null && issuer !== this.options.ownIssuer;
  }

  private firstSuccess(candidates: [Provider, Credential][], request: RequestContext, trial: Trial): MaybePromise<Winner> {
    if (candidates.length === 0) return null;
    // The common case, local providers only (config users, Gatehouse's own
    // tokens): no timer, and no promise when they answer at once. Tried in
    // config order; the first immediate success ends it, so later candidates
    // (an argon2 check, say) are not run for nothing. Once one has to wait,
    // the rest are started too, the time limit applies to all (local ones
    // included: an argon2 queue can be long), and the first success wins.
    const controller = new AbortController();
    if (!candidates.some(([provider]) => provider.remote)) {
      const attempts: MaybePromise<User | null>[] = [];
      for (const [provider, credential] of candidates) {
        const attempt = this.attempt(provider, credential, controller.signal, request, trial);
        if (attempt && !isPromise(attempt) && !attempts.some(isPromise)) return { user: attempt, provider };
        attempts.push(attempt);
      }
      if (!attempts.some(isPromise)) return null;
      return this.raceWithin(candidates, attempts, controller, trial.timeoutMs);
    }
    const attempts = candidates.map(([provider, credential]) => this.attempt(provider, credential, controller.signal, request, trial));
    return this.raceWithin(candidates, attempts, controller, trial.timeoutMs);
  }

  /** The first attempt to succeed within `timeoutMs` (auth.timeout_in_ms; each attempt gives up when `controller` aborts). */
  private raceWithin(candidates: [Provider, Credential][], attempts: MaybePromise<User | null>[], controller: AbortController, timeoutMs: number): Promise<Winner> {
    const timer = setTimeout(() => controller.abort(TIMED_OUT), timeoutMs);
    return firstResolved(candidates, attempts).finally(() => {
      clearTimeout(timer);
      controller.abort(SUPERSEDED); // the losers' upstream calls are no longer needed
    });
  }

  private attempt(provider: Provider, credential: Credential, signal: AbortSignal, request: RequestContext, trial: Trial): MaybePromise<User | null> {
    const observer = this.observer?.providerAttempt ? this.observer : null;
    const startedAt = observer ? performance.now() : 0;
    const report = (outcome: AttemptOutcome) =>
      observer!.providerAttempt!({ provider, credential, outcome, durationMs: performance.now() - startedAt, request });
    const onError = (error: unknown) => {
      if (signal.reason === SUPERSEDED) return null;
      trial.uncertain = true;
      // A provider too busy to take the check (argon2's queue full) did not answer in time either.
      const timedOut = signal.reason === TIMED_OUT || error instanceof ProviderBusy;
      this.options.logger[timedOut ? "warn" : "error"](timedOut ? "auth.provider.timeout" : "auth.provider.error", {
        provider: provider.name,
        realm: provider.realm,
        error: signal.reason === TIMED_OUT ? undefined : (error as Error).message,
      });
      if (observer) report(timedOut ? "timeout" : "error");
      return null;
    };
    const onResult = (found: User | null) => {
      const user = found && this.isSafeIdentity(found, provider.name) ? found : null;
      if (!user && (found || !provider.lastingRefusals || provider.refusedForNow?.(request))) trial.uncertain = true;
      if (!user) this.options.logger.debug("auth.provider.refused", { provider: provider.name, realm: provider.realm });
      if (observer) report(user ? "success" : found ? "error" : "refused");
      return user;
    };
    try {
      const result = provider.authenticate(credential, signal, request);
      if (!isPromise(result)) return onResult(result);
      trial.running?.push(result);
      // A provider that ignores the abort signal is reported as timed out when the limit passes.
      return raceAbort(result, signal).then(onResult, onError);
    } catch (error) {
      return onError(error);
    }
  }

  /**
   * Identity values end up in response headers and logs: a control character there would allow header or log injection, whatever produced it;
   * and a username with an invisible or bidirectional character looks like another user's (identity/username.ts).
   */
  private isSafeIdentity(user: User, source: string): boolean {
    if (usernameProblem(user.username) === null && !CONTROL_CHARACTERS.test(user.realm) && !user.roles.some((role) => CONTROL_CHARACTERS.test(role))) {
      return true;
    }
    this.options.logger.error("auth.unsafe_identity", { source, realm: user.realm });
    return false;
  }

  /** Augmenters of the user's realm add roles and attributes; a failing augmenter adds nothing. */
  private augment(user: User): MaybePromise<void> {
    const parallel = this.parallelAugmenters.filter((augmenter) => augmenter.realm === user.realm);
    const after = this.afterAugmenters.filter((augmenter) => augmenter.realm === user.realm);
    if (parallel.length === 0 && after.length === 0) return;
    const additions = parallel.map((augmenter) => this.runAugmenter(augmenter, user));
    const applyAll = (ready: (Additions | null)[]) => {
      for (const addition of ready) if (addition) addToUser(user, addition);
      return this.augmentInTurn(user, after, 0);
    };
    return additions.some(isPromise) ? Promise.all(additions).then(applyAll) : applyAll(additions as (Additions | null)[]);
  }

  /** The "after" augmenters, one by one, each seeing what the previous ones added. */
  private augmentInTurn(user: User, augmenters: Augmenter[], from: number): MaybePromise<void> {
    for (let index = from; index < augmenters.length; index++) {
      const addition = this.runAugmenter(augmenters[index], user);
      if (isPromise(addition)) {
        return addition.then((ready) => {
          if (ready) addToUser(user, ready);
          return this.augmentInTurn(user, augmenters, index + 1);
        });
      }
      if (addition) addToUser(user, addition);
    }
  }

  private runAugmenter(augmenter: Augmenter, user: User): MaybePromise<Additions | null> {
    const observer = this.observer?.augmenterRun ? this.observer : null;
    const startedAt = observer ? performance.now() : 0;
    const report = (outcome: "success" | "error") =>
      observer!.augmenterRun!({ augmenter, user, outcome, durationMs: performance.now() - startedAt });
    const onError = (error: unknown) => {
      this.options.logger.warn("auth.augmenter.error", { augmenter: augmenter.name, error: (error as Error).message });
      if (observer) report("error");
      return null;
    };
    const onResult = (additions: Additions | null) => {
      if (observer) report("success");
      return additions;
    };
    try {
      const signal = augmenter.remote ? AbortSignal.timeout(this.options.timeoutMs) : NEVER;
      const result = augmenter.augment(user, signal);
      if (!isPromise(result)) return onResult(result);
      return (augmenter.remote ? raceAbort(result, signal) : result).then(onResult, onError);
    } catch (error) {
      return onError(error);
    }
  }

  close(): void {
    for (const plugin of [...this.options.providers, ...this.options.augmenters]) plugin.close?.();
  }
}

/** The first attempt that gives a user, or null once all have refused (or failed). */
function firstResolved(candidates: [Provider, Credential][], attempts: MaybePromise<User | null>[]): Promise<Winner> {
  return new Promise<Winner>((resolve) => {
    let pending = attempts.length;
    const settleOne = () => {
      if (--pending === 0) resolve(null);
    };
    attempts.forEach((attempt, index) => {
      Promise.resolve(attempt).then((user) => (user ? resolve({ user, provider: candidates[index][0] }) : settleOne()), settleOne);
    });
  });
}

/** The refusal, with the reason the first provider that can explain one gives. */
function refusedBy(candidates: [Provider, Credential][], definite: boolean): AuthResult {
  for (const [provider, credential] of candidates) {
    const refusal = (provider as Partial<ExplainsRefusal>).explainRefusal?.(credential);
    if (refusal) return definite ? { ok: false, reason: "all_failed", refusal, definite } : { ok: false, reason: "all_failed", refusal };
  }
  return definite ? DEFINITELY_REFUSED : ALL_FAILED;
}

/** The `iss` a JWT claims (unverified), or null when it cannot be read: then it is treated as Gatehouse's own. */
function issuerOf(token: string): string | null {
  try {
    const iss = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"))?.iss;
    return typeof iss === "string" ? iss : null;
  } catch {
    return null;
  }
}

/** `promise`, or nothing once `ms` have passed. */
function withinTime(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * When every candidate was refused by a ban that holds whatever the address
 * (a username's, Ban.stillHolds), the one ban standing for them all: it ends
 * with the first of them and holds while each does. Otherwise undefined.
 */
function lastingBan(found: (Ban | null)[]): Ban | undefined {
  if (found.length === 0 || !found.every((ban) => ban?.stillHolds)) return undefined;
  const bans = found as Ban[];
  if (bans.length === 1) return bans[0];
  const first = bans.reduce((soonest, ban) => (ban.endsAt < soonest.endsAt ? ban : soonest));
  return { ...first, stillHolds: (now) => bans.every((ban) => ban.stillHolds!(now)) };
}
