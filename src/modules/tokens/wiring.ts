// How API tokens are wired into a Gatehouse (src/app.ts): the token service
// (null without the store), the built-in provider of API tokens, the webhook
// told of token events, and the routes (./index.ts), which answer 503 without
// the store.
import type { RequestContext } from "../../identity/request.ts";
import type { Logger } from "../../log.ts";
import { WebhookNotifier, type WebhookOptions } from "../../notifications/webhook.ts";
import { createApiTokenProvider, type ApiTokenProvider } from "../../providers/api-token.ts";
import type { Provider } from "../../providers/provider.ts";
import { unavailable } from "../../refusal.ts";
import type { StoreBackend } from "../../store/backend.ts";
import { GithubKeys, type GithubKeySource } from "../../tokens/leaks.ts";
import { TokenService, type TokenPolicy } from "../../tokens/service.ts";
import type { Feature } from "../feature.ts";
import { tokensModule } from "./index.ts";

export interface TokensWiring {
  store: StoreBackend | null;
  policy: TokenPolicy;
  /** The configured providers: those of a token owner's realm tell its roles and attributes. */
  providers: readonly Provider[];
  /** tokens.leaks: where the keys GitHub signs its leak reports with are read. */
  leaks: GithubKeySource;
  /** auth.timeout_in_ms: how long a remote service (GitHub's keys, the webhook) may take. */
  timeoutMs: number;
  logger: Logger;
}

/** What the token service is told once metrics and regulation exist. */
export interface TokensConnections {
  /** tokens.notifications.webhook, with its counters; null: no webhook. */
  webhook: Omit<WebhookOptions, "logger" | "timeoutMs"> | null;
  /** Reads a request's client address as regulation reads it. */
  readClientAddress: (request: RequestContext) => string | null;
}

export interface TokensFeature extends Feature {
  /** null when the store is disabled. */
  service: TokenService | null;
  /** The built-in provider of API tokens; null when the store is disabled. */
  provider: ApiTokenProvider | null;
  connect(connections: TokensConnections): void;
}

export function tokensFeature({ store, policy, providers, leaks, timeoutMs, logger }: TokensWiring): TokensFeature {
  const service = store ? new TokenService(store, policy, logger) : null;
  const provider = service ? createApiTokenProvider({ tokens: service, providers, logger }) : null;
  let notifier: WebhookNotifier | null = null;
  return {
    service,
    provider,
    connect({ webhook, readClientAddress }: TokensConnections) {
      if (!service) return;
      if (webhook) service.notifier = notifier = new WebhookNotifier({ ...webhook, logger, timeoutMs });
      // Tokens limited to networks are checked against the client's address as regulation reads it (behind a trusted
      // proxy, its X-Real-IP), also when regulation is off.
      service.clientAddress = readClientAddress;
    },
    routes: ({ caller }) =>
      tokensModule({
        caller,
        // Without a store, the routes answer 503 from this stand-in, in auth-o-tron's words.
        tokens: service ?? unavailable<TokenService>("Token store is disabled"),
        leakKeys: new GithubKeys(leaks, logger, timeoutMs),
        logger,
      }),
    stop: () => notifier?.close(),
    close: () => service?.close(), // writes the last uses not written yet
  };
}
