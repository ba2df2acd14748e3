// Assembles a Gatehouse from a validated config: providers, augmenters, the
// identity pipeline, the JWT issuer, and the Elysia controllers.
import { Elysia } from "elysia";
import type { GatehouseConfig } from "./config/schema.ts";
import { IdentityPipeline } from "./identity/pipeline.ts";
import type { RequestContext } from "./identity/request.ts";
import { combineObservers, type AuthObserver } from "./identity/observer.ts";
import { createJwtIssuer } from "./keys/issuer.ts";
import { openKeySet } from "./keys/open.ts";
import type { KeySet } from "./keys/keyset.ts";
import { ManagedKeySet } from "./keys/managed.ts";
import { keysModule } from "./modules/keys/index.ts";
import { createProviders } from "./providers/registry.ts";
import { createAugmenters } from "./augmenters/registry.ts";
import type { Logger } from "./log.ts";
import { authenticateModule, createAuthenticateHandler, type AuthenticateHandler } from "./modules/authenticate/index.ts";
import { infoModule } from "./modules/info/index.ts";
import { healthModule } from "./modules/health/index.ts";
import { callerPlugin } from "./modules/caller.ts";
import { answerErrors } from "./modules/errors.ts";
import { publicUrl } from "./modules/public-url.ts";
import { refuseMisroutedPath } from "./modules/path-guard.ts";
import { tokensModule } from "./modules/tokens/index.ts";
import type { StoreBackend } from "./store/backend.ts";
import { openSqliteBackend } from "./store/sqlite-backend.ts";
import { openBackend } from "./store/open.ts";
import { TokenService, tokenPolicy } from "./tokens/service.ts";
import { createApiTokenProvider } from "./providers/api-token.ts";
import { createSessionAccessTokenProvider } from "./providers/session-access-token.ts";
import { SessionService, rereadFrom, sessionPolicy } from "./sessions/service.ts";
import { sessionsModule } from "./modules/sessions/index.ts";
import { REFRESH_TOKEN_PREFIX } from "./tokens/format.ts";
import { unavailable } from "./refusal.ts";
import { errorAnswer } from "./modules/errors.ts";
import { purgePolicy, schedulePurge } from "./store/purge.ts";
import { Metrics, providerTypeLabel } from "./metrics/recorder.ts";
import { createReadinessCheck, type Readiness } from "./metrics/readiness.ts";
import { httpMetricsHook, unmatchedCounter } from "./modules/metrics/http.ts";
import { readyModule } from "./modules/metrics/index.ts";
import { auditModule } from "./modules/audit/index.ts";
import { clientAddressFor, createRegulation } from "./regulation/index.ts";
import { createAccessControl } from "./access/index.ts";
import { trustedProxyList } from "./identity/trusted-proxies.ts";
import { VERSION } from "./version.ts";
import { storeEventCounter } from "./metrics/store-events.ts";
import { storeQueryTimer } from "./metrics/store-query-timer.ts";
import { isWorker } from "./workers.ts";
import { portalModule } from "./modules/portal/index.ts";
import { createPortalCookie } from "./modules/portal/cookie.ts";
import { signInModule } from "./modules/sign-in/index.ts";
import { SignInFlows } from "./sign-in/flows.ts";

export interface Gatehouse {
  app: Elysia<any, any, any, any, any, any, any>;
  pipeline: IdentityPipeline;
  /** The store, migrated; null when `store.enabled` is false. */
  store: StoreBackend | null;
  /** API tokens; null when the store is disabled. */
  tokens: TokenService | null;
  /** Sessions (access and refresh tokens); null when the store is disabled. */
  sessions: SessionService | null;
  /** The signing keys; `managed` is null for shared secrets. */
  keys: { keySet: KeySet; managed: ManagedKeySet | null; sessionKeySet: KeySet | null };
  /** Prometheus metrics (auth-o-tron's families and Gatehouse's); null when `metrics.enabled` is false. */
  metrics: Metrics | null;
  /** GET /ready's check: the store answers and the signing keys are loaded. */
  readiness: () => Promise<Readiness>;
  /** The /authenticate handler itself, which the server routes to directly (the app serves it too). */
  authenticate: AuthenticateHandler;
  close(): Promise<void>;
}

export interface GatehouseOptions {
  /** Told of every provider attempt, augmenter run and result (metrics, regulation, audit). */
  observers?: AuthObserver[];
}

export async function createGatehouse(config: GatehouseConfig, logger: Logger, options: GatehouseOptions = {}): Promise<Gatehouse> {
  // The store first (migrated at start-up): some providers keep accounts in it.
  const store = config.store.enabled ? await openBackend(config.store, { logger }) : null;
  try {
    return await assemble(config, logger, options, store);
  } catch (error) {
    // A PostgreSQL pool and its listener would keep a process that failed to start alive.
    await store?.close().catch(() => {});
    throw error;
  }
}

async function assemble(config: GatehouseConfig, logger: Logger, options: GatehouseOptions, store: StoreBackend | null): Promise<Gatehouse> {
  // The built-in providers of API tokens and session access tokens come after the configured ones.
  const providers = createProviders(config.providers, logger, store);
  const augmenters = createAugmenters(config.augmenters, logger);
  const keys = await openKeySet(config, store, logger);
  // A key rotated by another instance sharing the store is loaded at once, not at the next poll.
  const stopKeyReloads = store?.onChange?.((change) => {
    if (change.kind !== "keys.changed" && change.kind !== "flush") return;
    for (const keySet of new Set([keys.managed, keys.sessionKeySet])) {
      if (keySet instanceof ManagedKeySet) {
        keySet.refresh().catch((error) => logger.error("keys.refresh_failed", { error: (error as Error).message }));
      }
    }
  });
  const purge = store ? schedulePurge(store, purgePolicy(config), logger) : null;
  const tokens = store ? new TokenService(store, tokenPolicy(config, providers), logger) : null;
  const apiTokens = tokens ? createApiTokenProvider({ tokens, providers, logger }) : null;
  const accessTokens =
    store && keys.sessionKeySet
      ? createSessionAccessTokenProvider({
          keySet: keys.sessionKeySet,
          issuer: config.jwt.iss,
          sessionOwner: (id, now) => store.hot.sessionOwner(id, now),
        })
      : null;
  const builtIn = [...(apiTokens ? [apiTokens] : []), ...(accessTokens ? [accessTokens] : [])];
  const metrics = config.metrics.enabled
    ? new Metrics({
        legacyNames: config.metrics.legacy_names,
        version: VERSION,
        providers: [...providers, ...builtIn].map((provider) => ({ name: provider.name, type: providerTypeLabel(provider.scheme), realm: provider.realm })),
        augmenters: augmenters.map((augmenter) => ({ name: augmenter.name, type: augmenter.type, realm: augmenter.realm })),
        authenticateBanStatus: config.regulation.authenticate_status,
      })
    : null;
  // Store-wide event counters come from the audit log, read when scraped (a worker's are read by its supervisor).
  if (metrics && store && !isWorker()) metrics.onScrape(await storeEventCounter(metrics, store));
  // Regulation is shared through the store; without one, this process keeps its own counts in memory.
  const regulationStore = config.regulation.enabled ? (store ?? openSqliteBackend(":memory:")) : null;
  const regulation = regulationStore
    ? createRegulation(config, regulationStore, logger, metrics && {
        refused: (kind) => metrics.events.regulationRefusals.labels(kind).inc(),
        timeQuery: storeQueryTimer(metrics),
      })
    : null;
  const observers = [...(metrics ? [metrics.observer] : []), ...(regulation ? [regulation.observer] : []), ...(options.observers ?? [])];
  const observer = combineObservers(observers, (error) =>
    logger.error("observer.failed", { error: (error as Error)?.message }),
  );
  const pipeline = new IdentityPipeline({
    providers: [...providers, ...builtIn],
    augmenters,
    timeoutMs: config.auth.timeout_in_ms,
    logger,
    ownTokenPrefixes: [config.tokens.prefix, REFRESH_TOKEN_PREFIX],
    isKeptToken: tokens ? (token) => tokens.keepsImported(token) : undefined,
    ownIssuer: config.jwt.iss,
    observer,
    regulation: regulation?.gate,
  });
  const sessions = store
    ? new SessionService(
        store,
        sessionPolicy(config),
        { keySet: keys.sessionKeySet!, iss: config.jwt.iss },
        rereadFrom(pipeline, config.auth.timeout_in_ms),
        logger,
        tokens,
      )
    : null;
  // Users removed from the config (or a directory) since the last start lose their sessions now.
  await sessions?.endSessionsOfUnknownUsers();
  const issuer = createJwtIssuer({
    iss: config.jwt.iss,
    aud: config.jwt.aud,
    exp: config.jwt.exp,
    currentSigner: () => keys.keySet.signer(),
  });

  const links = publicUrl({ publicUrl: config.public_url ?? null, trustedProxies: config.trusted_proxies });
  // The portal's session cookie is a credential of the caller plugin (with its CSRF check), for every route.
  const { portal } = config;
  const portalCookie = portal.enabled && sessions ? createPortalCookie({ sessions, publicUrl: portal.public_url }) : null;
  const caller = callerPlugin({ pipeline, adminRole: config.admin_role, apiTokens, accessTokens, cookie: portalCookie, publicHost: links.host });
  // Without a store, routes that need it answer 503 from these stand-ins: auth-o-tron's words on its token routes, ours on Tiled's.
  const tokenService = tokens ?? unavailable<TokenService>("Token store is disabled");
  const noSessions = "Sessions need the store, which is disabled (store.enabled: false)";
  const sessionService = sessions ?? unavailable<SessionService>(noSessions);
  const readiness = createReadinessCheck({
    store,
    keySet: keys.keySet,
    timeQuery: metrics ? storeQueryTimer(metrics) : undefined,
  });
  // The audit log keeps `audit.retention` seconds; every instance purges (a no-op when another just did).
  const purgeTimer =
    store && config.audit.retention > 0
      ? setInterval(() => {
          store.transaction(async (q) => q.purgeAudit(Date.now() - config.audit.retention * 1000)).then(
            (purged) => {
              if (purged > 0) logger.info("audit.purged", { events: purged, retention_seconds: config.audit.retention });
            },
            (error) => logger.warn("audit.purge_failed", { error: (error as Error).message }),
          );
        }, config.audit.purge_interval * 1000)
      : null;
  purgeTimer?.unref?.();

  // Every module but /authenticate, under the HTTP metrics hook (http_* families); /authenticate's
  // series come from the pipeline's observer, which keeps its handler free of request hooks.
  const modules = new Elysia({ name: "modules" })
    .use(metrics ? httpMetricsHook(metrics) : new Elysia({ name: "no-http-metrics" }))
    .use(healthModule())
    .use(readyModule(readiness))
    .use(auditModule({ caller, store, logger }))
    .use(infoModule({ pipeline, caller, logger }))
    .use(tokensModule({ caller, tokens: tokenService, logger }))
    .use(
      sessionsModule({
        pipeline,
        caller,
        sessions: sessionService,
        tokens: tokens ?? unavailable<TokenService>(noSessions),
        storeEnabled: store !== null,
        publicUrl: links,
        logger,
      }),
    )
    .use(keysModule({ caller, keySet: keys.keySet, managed: keys.managed, issuer: config.jwt.iss, publishAheadSeconds: config.keys.publish_ahead, publicUrl: links, logger }))
    .use(
      portal.enabled
        ? portalModule({
            pipeline,
            caller,
            services: portalCookie && store && tokens && sessions ? { cookie: portalCookie, sessions, tokens, store } : null,
            tokenPolicy: tokenPolicy(config),
            keys,
            publicUrl: portal.public_url,
            logger,
          })
        : new Elysia({ name: "portal-off" }),
    )
    .use(
      store && sessions && pipeline.providers.some((provider) => provider.scheme === "external")
        ? signInModule({
            providers: pipeline.providers,
            flows: new SignInFlows(store, logger),
            sessions,
            store,
            cookie: portalCookie,
            links,
            portalPublicUrl: portal.public_url,
            timeoutMs: config.auth.timeout_in_ms,
            logger,
          })
        : new Elysia({ name: "sign-in-off" }),
    );
  const authenticate = createAuthenticateHandler({
    pipeline,
    issuer,
    logger,
    includeLegacyHeaders: config.include_legacy_headers,
    reuseSeconds: config.jwt.reuse_seconds,
    observer,
    banStatus: config.regulation.authenticate_status,
    access: createAccessControl(config, regulation?.clientAddress ?? regulationAddresses(config), logger),
  });
  const app = new Elysia({ name: "gatehouse" })
    .onRequest(refuseMisroutedPath)
    // Bun gives a request with an empty Host a relative URL ("/path"), which `new URL()` refuses in every
    // handler after (a 500 with Bun's HTML error page; found by fuzzing).
    .onRequest(({ request }) => (URL.canParse(request.url) ? undefined : errorAnswer("error", 400, "The Host header is missing or invalid")))
    .use(modules)
    .use(authenticateModule(authenticate))
    .onError(metrics ? unmatchedCounter(metrics) : () => undefined)
    // Last, so that each module's own error handler answers first: this one
    // answers what no module owns (an unknown path) in Gatehouse's shape.
    .onError(answerErrors("error", logger));

  return {
    app,
    authenticate,
    pipeline,
    store,
    tokens,
    sessions,
    keys,
    metrics,
    readiness,
    async close() {
      purge?.stop();
      if (purgeTimer) clearInterval(purgeTimer);
      stopKeyReloads?.();
      regulation?.close();
      if (regulationStore && regulationStore !== store) await regulationStore.close();
      pipeline.close();
      keys.keySet.close?.();
      if (keys.sessionKeySet !== keys.keySet) keys.sessionKeySet?.close?.();
      await tokens?.close(); // writes the last uses not written yet
      await store?.close();
    },
  };
}

/** Without regulation, the access rules' `networks` still read the client's address as regulation would. */
function regulationAddresses(config: GatehouseConfig) {
  const trusted = trustedProxyList(config.regulation.trusted_proxies);
  if (typeof trusted === "string") throw new Error(`regulation.trusted_proxies: ${trusted}`); // config check refuses it first
  return (request: RequestContext) => clientAddressFor(request, trusted);
}
