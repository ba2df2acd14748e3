// Regulation wired to the identity pipeline: the gate it consults before a
// password or API-key attempt (pipeline.ts, `regulation`), the observer that
// counts failures and successes, and the schedule that ends bans.
import type { GatehouseConfig } from "../config/schema.ts";
import type { Credential } from "../identity/credentials.ts";
import type { AuthObserver } from "../identity/observer.ts";
import type { RequestContext } from "../identity/request.ts";
import type { Logger } from "../log.ts";
import type { Provider } from "../providers/provider.ts";
import { Refusal } from "../refusal.ts";
import { andThen, isPromise, type MaybePromise } from "../identity/maybe-promise.ts";
import type { StoreBackend } from "../store/backend.ts";
import type { BlockList } from "node:net";
import { isTrustedPeer, trustedProxyList } from "../identity/trusted-proxies.ts";
import { Regulator, type Ban } from "./regulator.ts";

export type { Ban } from "./regulator.ts";

/** What the pipeline asks before it checks a credential. */
export interface RegulationGate {
  /** The ban that forbids checking this credential now, or null. */
  banFor(provider: Provider, credential: Credential, request: RequestContext): MaybePromise<Ban | null>;
}

/**
 * Passwords (every Basic provider) and upstream API keys (remote Bearer
 * providers) can be guessed. Gatehouse's own API tokens and session access
 * tokens cannot, and are never regulated (see regulator.ts).
 */
export const isGuessable = (provider: Provider) => provider.scheme === "basic" || provider.remote;

const IP_LIKE = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * The client's address for regulation: the peer, unless the peer is a trusted
 * proxy, whose X-Real-IP names the client. Never X-Forwarded-For: nginx's
 * auth_request subrequest passes the client's own headers on, and its first
 * entry is whatever the client wrote. A trusted proxy that sends no X-Real-IP
 * gives no address (null): counting every client as the proxy would let one
 * guesser ban everyone.
 */
export function clientAddressFor(request: RequestContext, trustedProxies: BlockList): string | null {
  const peer = request.client.socket;
  if (peer === null) return null;
  // Addresses and CIDR blocks alike (identity/trusted-proxies.ts, as the other trusted_proxies lists):
  // a proxy named by its block and not matched would be regulated as one client, and banned for everyone.
  if (!isTrustedPeer(trustedProxies, peer)) return peer;
  const real = request.headers.get("x-real-ip")?.trim();
  return real && IP_LIKE.test(real) ? real : null;
}

/** The answer to a banned attempt on Gatehouse's API and login routes. */
export function banRefusal(ban: Ban): Refusal {
  return new Refusal(429, "Too many failed attempts; try again later", { "retry-after": String(ban.retryAfterSeconds) });
}

export interface Regulation {
  gate: RegulationGate;
  observer: AuthObserver;
  regulator: Regulator;
  /** The client's address as regulation reads it (the access rules' `networks` read the same). */
  clientAddress(request: RequestContext): string | null;
  close(): void;
}

export interface RegulationCounters {
  /** An attempt refused unchecked because of a ban, by what was banned. */
  refused(kind: Ban["kind"]): void;
  timeQuery<T>(query: string, run: () => T): T;
}

export function createRegulation(config: GatehouseConfig, store: StoreBackend, logger: Logger, counters: RegulationCounters | null): Regulation {
  const settings = config.regulation;
  const regulator = new Regulator(
    store,
    {
      maxRetries: settings.max_retries,
      addressMaxRetries: settings.address_max_retries,
      findTimeMs: settings.find_time * 1000,
      banTimeMs: settings.ban_time * 1000,
    },
    logger,
    counters ? (query, run) => counters.timeQuery(query, run) : undefined,
  );
  const trusted = trustedProxyList(settings.trusted_proxies);
  if (typeof trusted === "string") throw new Error(`regulation.trusted_proxies: ${trusted}`); // config check refuses it first
  /** Per request: the username of a refused password (or null for an API key), until the result is known. */
  const refusedGuesses = new WeakMap<RequestContext, { username: string | null }>();

  const gate: RegulationGate = {
    banFor(provider, credential, request) {
      if (!isGuessable(provider)) return null;
      const username = credential.scheme === "basic" ? credential.username : null;
      return andThen(regulator.banFor(username, clientAddressFor(request, trusted)), (ban) => {
        if (ban) counters?.refused(ban.kind);
        return ban;
      });
    },
  };

  // Written after the answer: a store that fails is logged, and the answer stands.
  const failed = (error: unknown) => logger.error("regulation.write_failed", { error: (error as Error)?.message });
  const observer: AuthObserver = {
    providerAttempt({ provider, credential, outcome, request }) {
      // A refusal counts; a provider's own failure (an error, a timeout) says nothing about the credential.
      if (outcome !== "refused" || !isGuessable(provider)) return;
      const seen = refusedGuesses.get(request);
      const username = credential.scheme === "basic" ? credential.username : null;
      if (!seen) refusedGuesses.set(request, { username });
      else if (seen.username === null) seen.username = username;
    },
    authenticated({ result, request, remembered }) {
      if (remembered) return;
      if (result.ok) {
        if (!isGuessable(result.provider)) return;
        const forgotten = regulator.recordSuccess(result.user.username);
        if (isPromise(forgotten)) forgotten.catch(failed);
        return;
      }
      // One refused request is one failure, however many providers refused its credential.
      const guess = refusedGuesses.get(request);
      if (!guess || result.ban) return;
      refusedGuesses.delete(request);
      regulator.recordFailure(guess.username, clientAddressFor(request, trusted)).catch(failed);
    },
  };

  // Ends bans whose time is over, audited once whichever instance sweeps first.
  const sweepEveryMs = Math.min(60_000, Math.max(1000, Math.floor(settings.ban_time * 1000) / 10));
  const timer = setInterval(() => {
    regulator.sweep().catch((error) => logger.warn("regulation.sweep_failed", { error: (error as Error).message }));
  }, sweepEveryMs);
  timer.unref?.();

  return { gate, observer, regulator, clientAddress: (request) => clientAddressFor(request, trusted), close: () => clearInterval(timer) };
}
