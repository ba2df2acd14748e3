// Regulation wired to the identity pipeline: the gate it consults before a
// password or API-key attempt (pipeline.ts, `regulation`), the observer that
// counts failures and successes, and the schedule that ends bans.
import { ignoreRemembered, type AttemptOutcome, type AuthObserver } from "../identity/observer.ts";
import type { Ban, RegulationGate } from "../identity/regulation-gate.ts";
import type { RequestContext } from "../identity/request.ts";
import type { Logger } from "../log.ts";
import type { Provider } from "../providers/provider.ts";
import { Refusal } from "../refusal.ts";
import { andThen, isPromise } from "../identity/maybe-promise.ts";
import type { StoreBackend } from "../store/backend.ts";
import { trustedProxyList } from "../identity/trusted-proxies.ts";
import { ForwardedAddresses, type ForwardedAddressProblem } from "../identity/forwarded-address.ts";
import { Regulator, regulatedName, usernameSubject, type RegulationPolicy } from "./regulator.ts";
import { Turns } from "./turns.ts";

export type { Ban } from "../identity/regulation-gate.ts";

/**
 * Passwords (every Basic provider) and upstream API keys (remote Bearer
 * providers) can be guessed. Gatehouse's own API tokens and session access
 * tokens cannot, and are never regulated (see regulator.ts).
 */
export const isGuessable = (provider: Provider) => provider.scheme === "basic" || provider.remote;

/**
 * Whether an attempt's outcome counts as a failed guess. A refusal always
 * does. A password check that ran out of time does too (issue 20, finding 1):
 * a flood of guesses faster than argon2 takes them made nearly every check
 * end after its deadline, and none was counted. A remote key service's
 * timeout (or error) is not: it says the service is slow, not that the key is
 * wrong, and counting it would ban every client's address while it lasts; its
 * keys are long random values, not guesses.
 */
const isFailedGuess = (provider: Provider, outcome: AttemptOutcome) =>
  (outcome === "refused" && isGuessable(provider)) || (outcome === "timeout" && provider.scheme === "basic");

/** The answer to a banned attempt on Gatehouse's API and login routes. */
export function banRefusal(ban: Ban): Refusal {
  return new Refusal(429, "Too many failed attempts; try again later", { "retry-after": String(ban.retryAfterSeconds) });
}

export interface Regulation {
  gate: RegulationGate;
  observer: AuthObserver;
  regulator: Regulator;
  /** The address a request is counted under: its peer, or what a trusted proxy names (null: none to count). */
  clientAddress(request: RequestContext): string | null;
  close(): void;
}

export interface RegulationCounters {
  /** An attempt refused unchecked because of a ban, by what was banned. */
  refused(kind: Ban["kind"]): void;
  timeQuery<T>(query: string, run: () => T): T;
  /** A trusted proxy's request that shows it passes clients' own X-Real-IP on (identity/forwarded-address.ts). */
  proxyRealIpProblem?(problem: ForwardedAddressProblem): void;
}

/** What regulation is given (config/policies.ts builds it from `regulation`). */
export interface RegulationSettings {
  policy: RegulationPolicy;
  /** regulation.trusted_proxies: peers whose X-Real-IP names the client. */
  trustedProxies: readonly string[];
}

/** The client's address as regulation would read it (`trustedProxies`: regulation.trusted_proxies), for a process with regulation off (API tokens' network limits). */
export function clientAddressReader(trustedProxies: readonly string[], logger: Logger): (request: RequestContext) => string | null {
  const trusted = trustedProxyList(trustedProxies);
  if (typeof trusted === "string") throw new Error(`regulation.trusted_proxies: ${trusted}`);
  const addresses = new ForwardedAddresses(trusted, logger);
  return (request) => addresses.clientAddress(request);
}

export function createRegulation(settings: RegulationSettings, store: StoreBackend, logger: Logger, counters: RegulationCounters | null): Regulation {
  const regulator = new Regulator(store, settings.policy, logger, counters ? (query, run) => counters.timeQuery(query, run) : undefined);
  const trusted = trustedProxyList(settings.trustedProxies);
  if (typeof trusted === "string") throw new Error(`regulation.trusted_proxies: ${trusted}`); // config check refuses it first
  /**
   * Per request, until its result is known: the username subjects of its
   * failed guesses (one per realm whose provider refused or ran out of time
   * on a password), whether any guess failed (the address counts once), and
   * the username a password succeeded with.
   */
  const attempts = new WeakMap<RequestContext, { failed: boolean; usernames: Set<string>; succeeded?: { realm: string; username: string } }>();
  const attemptsOf = (request: RequestContext) => {
    let seen = attempts.get(request);
    if (!seen) attempts.set(request, (seen = { failed: false, usernames: new Set() }));
    return seen;
  };
  const turns = new Turns();
  // The client's address: the peer, or what a trusted proxy names (and a proxy that passes clients' own on, found out).
  const addresses = new ForwardedAddresses(trusted, logger, counters?.proxyRealIpProblem);

  const gate: RegulationGate = {
    banFor(provider, credential, request) {
      if (!isGuessable(provider)) return null;
      const username = credential.scheme === "basic" ? usernameSubject(provider.realm, credential.username) : null;
      return andThen(regulator.banFor(username, addresses.clientAddress(request)), (ban) => {
        if (!ban) return null;
        counters?.refused(ban.kind);
        // A username's ban holds from any address: the refusal may be remembered for the header (see Ban.stillHolds).
        if (ban.kind === "username" && username !== null) {
          const key = regulator.usernameBanKey(username);
          ban.stillHolds = (now) => {
            const holds = regulator.usernameBanHolds(key, ban.endsAt, now);
            if (holds) counters?.refused("username");
            return holds;
          };
        }
        return ban;
      });
    },
    turnFor(candidates, timeoutMs) {
      // Password checks wait for their username's turn.
      const passwords: (typeof candidates)[number][] = [];
      const names: string[] = [];
      for (const candidate of candidates) {
        const [provider, credential] = candidate;
        if (provider.scheme !== "basic" || credential.scheme !== "basic") continue;
        passwords.push(candidate);
        names.push(regulatedName(credential.username));
      }
      if (passwords.length === 0) return null;
      return andThen(turns.take(names, timeoutMs), ({ inTime, end }) => ({ late: inTime ? [] : passwords, end }));
    },
  };

  // Written after the answer: a store that fails is logged, and the answer stands.
  const failed = (error: unknown) => logger.error("regulation.write_failed", { error: (error as Error)?.message });
  const observer: AuthObserver = {
    providerAttempt({ provider, credential, outcome, request }) {
      if (outcome === "success" && credential.scheme === "basic") {
        attemptsOf(request).succeeded ??= { realm: provider.realm, username: credential.username };
      }
      // A refusal counts, and a password check out of time; a provider's own error says nothing about the credential.
      if (!isFailedGuess(provider, outcome)) return;
      const seen = attemptsOf(request);
      seen.failed = true;
      if (credential.scheme === "basic") seen.usernames.add(usernameSubject(provider.realm, credential.username));
    },
    // An answer from memory is no new attempt: nothing to count, nothing to forgive.
    remembered: ignoreRemembered,
    authenticated({ result, request, remembered }) {
      if (remembered) return;
      const seen = attempts.get(request);
      attempts.delete(request);
      if (result.ok) {
        if (!isGuessable(result.provider)) return;
        const { realm, username } = seen?.succeeded ?? { realm: result.provider.realm, username: result.user.username };
        const forgotten = regulator.recordSuccess(usernameSubject(realm, username));
        if (isPromise(forgotten)) forgotten.catch(failed);
        return;
      }
      // One refused request is one failure, however many providers refused its credential (once per realm they serve).
      if (!seen?.failed) return;
      regulator.recordFailure([...seen.usernames], addresses.clientAddress(request)).catch(failed);
    },
  };

  // Ends bans whose time is over, audited once whichever instance sweeps first.
  const sweepEveryMs = Math.min(60_000, Math.max(1000, Math.floor(settings.policy.banTimeMs) / 10));
  const timer = setInterval(() => {
    regulator.sweep().catch((error) => logger.warn("regulation.sweep_failed", { error: (error as Error).message }));
  }, sweepEveryMs);
  timer.unref?.();

  return { gate, observer, regulator, clientAddress: (request) => addresses.clientAddress(request), close: () => clearInterval(timer) };
}
