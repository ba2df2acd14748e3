// The identity pipeline: Authorization header → candidate providers (by
// scheme and realm) run in parallel → the first success → augmenters.
import { looksLikeJwt, parseAuthorization, type Credential } from "./credentials.ts";
import { addToUser, type User } from "./user.ts";
import type { Provider } from "../providers/provider.ts";
import type { Augmenter } from "../augmenters/augmenter.ts";
import type { Logger } from "../log.ts";

export type AuthFailure = "no_auth_header" | "invalid_header" | "all_failed";
export type AuthResult = { ok: true; user: User; provider: Provider } | { ok: false; reason: AuthFailure };

export interface PipelineOptions {
  providers: Provider[];
  augmenters: Augmenter[];
  timeoutMs: number;
  logger: Logger;
  /** Prefix of Gatehouse's own API tokens, e.g. "gth_". */
  ownTokenPrefix: string;
}

const NEVER = new AbortController().signal;
/** Abort reason once another provider has already succeeded: not an error. */
const SUPERSEDED = new Error("another provider succeeded");
const TIMED_OUT = new Error("timeout");

export class IdentityPipeline {
  /** The WWW-Authenticate value: one challenge per distinct (scheme, realm), in config order. */
  readonly challenge: string;
  private readonly parallelAugmenters: Augmenter[];
  private readonly afterAugmenters: Augmenter[];

  constructor(private readonly options: PipelineOptions) {
    const challenges = new Set<string>();
    for (const provider of options.providers) {
      const scheme = provider.scheme === "basic" ? "Basic" : "Bearer";
      challenges.add(`${scheme} realm="${provider.realm.replace(/["\\]/g, "")}"`);
    }
    this.challenge = [...challenges].join(", ") || 'Basic realm="gatehouse"';
    this.parallelAugmenters = options.augmenters.filter((augmenter) => augmenter.phase === "parallel");
    this.afterAugmenters = options.augmenters.filter((augmenter) => augmenter.phase === "after");
  }

  get providers(): readonly Provider[] {
    return this.options.providers;
  }

  get augmenters(): readonly Augmenter[] {
    return this.options.augmenters;
  }

  async authenticate(authorization: string | null, realm: string | null): Promise<AuthResult> {
    const parsed = parseAuthorization(authorization);
    if (!parsed.ok) {
      const reason = parsed.reason === "no credentials" ? "no_auth_header" : "invalid_header";
      this.options.logger.debug("auth.header.refused", { reason: parsed.reason });
      return { ok: false, reason };
    }
    const candidates = this.candidates(parsed.credentials, realm);
    const winner = await this.firstSuccess(candidates);
    if (!winner) return { ok: false, reason: "all_failed" };
    await this.augment(winner.user);
    return { ok: true, user: winner.user, provider: winner.provider };
  }

  /** Every (provider, credential) pair that may be tried. */
  candidates(credentials: Credential[], realm: string | null): [Provider, Credential][] {
    const pairs: [Provider, Credential][] = [];
    for (const credential of credentials) {
      for (const provider of this.options.providers) {
        if (provider.scheme !== credential.scheme) continue;
        if (realm !== null && provider.realm !== realm) continue;
        if (provider.remote && credential.scheme === "bearer" && !this.mayLeaveGatehouse(credential.token)) continue;
        pairs.push([provider, credential]);
      }
    }
    return pairs;
  }

  /**
   * Gatehouse's own tokens and JWTs are never offered to a remote key
   * service: auth-o-tron sends every Bearer value to every Bearer provider,
   * which hands local secrets to third parties.
   */
  private mayLeaveGatehouse(token: string): boolean {
    return !token.startsWith(this.options.ownTokenPrefix) && !looksLikeJwt(token);
  }

  private async firstSuccess(candidates: [Provider, Credential][]): Promise<{ user: User; provider: Provider } | null> {
    if (candidates.length === 0) return null;
    const [[onlyProvider, onlyCredential]] = candidates;
    // Fast path for the common case: one local provider, no timer needed.
    if (candidates.length === 1 && !onlyProvider.remote) {
      const user = await this.attempt(onlyProvider, onlyCredential, NEVER);
      return user ? { user, provider: onlyProvider } : null;
    }
    const controller = new AbortController();
    const hasRemote = candidates.some(([provider]) => provider.remote);
    const timer = hasRemote ? setTimeout(() => controller.abort(TIMED_OUT), this.options.timeoutMs) : undefined;
    try {
      return await new Promise((resolve) => {
        let pending = candidates.length;
        const settleOne = () => {
          if (--pending === 0) resolve(null);
        };
        for (const [provider, credential] of candidates) {
          const attempt = this.attempt(provider, credential, controller.signal);
          // A remote provider that ignores the abort signal is still cut off here.
          const bounded = provider.remote ? raceAbort(attempt, controller.signal) : attempt;
          bounded.then((user) => {
            if (user) resolve({ user, provider });
            else settleOne();
          }, settleOne);
        }
      });
    } finally {
      clearTimeout(timer);
      controller.abort(SUPERSEDED); // the losers' upstream calls are no longer needed
    }
  }

  private async attempt(provider: Provider, credential: Credential, signal: AbortSignal): Promise<User | null> {
    try {
      const user = await provider.authenticate(credential, signal);
      if (!user) this.options.logger.debug("auth.provider.refused", { provider: provider.name, realm: provider.realm });
      return user;
    } catch (error) {
      if (signal.reason === SUPERSEDED) return null;
      const timedOut = signal.reason === TIMED_OUT;
      this.options.logger[timedOut ? "warn" : "error"](timedOut ? "auth.provider.timeout" : "auth.provider.error", {
        provider: provider.name,
        realm: provider.realm,
        error: timedOut ? undefined : (error as Error).message,
      });
      return null;
    }
  }

  /** Augmenters of the user's realm add roles and attributes; a failing augmenter adds nothing. */
  private async augment(user: User): Promise<void> {
    const parallel = this.parallelAugmenters.filter((augmenter) => augmenter.realm === user.realm);
    const after = this.afterAugmenters.filter((augmenter) => augmenter.realm === user.realm);
    if (parallel.length === 0 && after.length === 0) return;
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    const additions = await Promise.all(parallel.map((augmenter) => this.runAugmenter(augmenter, user, signal)));
    for (const addition of additions) if (addition) addToUser(user, addition);
    for (const augmenter of after) {
      const addition = await this.runAugmenter(augmenter, user, signal);
      if (addition) addToUser(user, addition);
    }
  }

  private async runAugmenter(augmenter: Augmenter, user: User, signal: AbortSignal) {
    try {
      return await raceAbort(Promise.resolve(augmenter.augment(user, signal)), signal);
    } catch (error) {
      this.options.logger.warn("auth.augmenter.error", { augmenter: augmenter.name, error: (error as Error).message });
      return null;
    }
  }

  close(): void {
    for (const plugin of [...this.options.providers, ...this.options.augmenters]) plugin.close?.();
  }
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
