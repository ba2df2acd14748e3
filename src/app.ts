// Assembles a Gatehouse from a validated config: providers, augmenters, the
// identity pipeline, the JWT issuer, and the Elysia controllers.
import { Elysia } from "elysia";
import type { GatehouseConfig } from "./config/schema.ts";
import { IdentityPipeline } from "./identity/pipeline.ts";
import type { RequestContext } from "./identity/request.ts";
import { combineObservers, type AuthObserver } from "./identity/observer.ts";
import { createJwtIssuer } from "./keys/issuer.ts";
import { openKeySet, openMasterKey } from "./keys/open.ts";
import { keySettings, masterKeySettings, purgePolicy, regulationSettings, sessionPolicy, tokenPolicy } from "./config/policies.ts";
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
import { TokenService } from "./tokens/service.ts";
import { GithubKeys } from "./tokens/leaks.ts";
import { WebhookNotifier } from "./notifications/webhook.ts";
import { createApiTokenProvider } from "./providers/api-token.ts";
import { createSessionAccessTokenProvider } from "./providers/session-access-token.ts";
import { SessionService, rereadFrom } from "./sessions/service.ts";
import { sessionsModule } from "./modules/sessions/index.ts";
import { REFRESH_TOKEN_PREFIX } from "./tokens/format.ts";
import { unavailable } from "./refusal.ts";
import { errorAnswer } from "./modules/errors.ts";
import { schedulePurge } from "./store/purge.ts";
import { Metrics, providerTypeLabel } from "./metrics/recorder.ts";
import { createReadinessCheck, type Readiness } from "./metrics/readiness.ts";
import { httpMetricsHook, unmatchedCounter } from "./modules/metrics/http.ts";
import { readyModule } from "./modules/metrics/index.ts";
import { auditModule } from "./modules/audit/index.ts";
import { clientAddressReader, createRegulation } from "./regulation/index.ts";
import { createAccessControl } from "./access/index.ts";
import { VERSION } from "./version.ts";
import { storeEventCounter } from "./metrics/store-events.ts";
import { tokenExpiryGauge } from "./metrics/token-expiry.ts";
import { storeQueryTimer } from "./metrics/store-query-timer.ts";
import { isWorker } from "./worker-role.ts";
import { portalModule } from "./modules/portal/index.ts";
import { createPortalCookie } from "./modules/portal/cookie.ts";
import { signInModule } from "./modules/sign-in/index.ts";
import { SignInFlows } from "./sign-in/flows.ts";
import type { Sealer } from "./providers/provider.ts";
import { decryptWithMasterKey, encryptWithMasterKey } from "./keys/master-key.ts";
import { ssoPolicy } from "./config/sso.ts";
import { signInRedirect } from "./sso/sign-in-redirect.ts";
import { createSsoCookieProvider } from "./providers/sso-cookie.ts";
import { DeviceAuthorizations, userCodeGuard } from "./sign-in/device.ts";
import { deviceGrant, deviceModule } from "./modules/device/index.ts";

export interface Gatehouse {
  app: Elysia<any, any, any, any, any, any, any>;
  pipeline: IdentityPipeline;
  /** The store, migrated; null when `store.enabled` is false. */
  store: StoreBackend | null;
  /** API tokens; null when the store is disabled. */
  tokens: TokenService | null;
  /** Sessions (access and refresh tokens); null when the store is disabled. */
  sessions: SessionService | null;
  /** Device-code sign-ins (RFC 8628); null without the store or the portal, where people approve them. */
  devices: DeviceAuthorizations | null;
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
  /** The webhook's first retry after this many ms (tests shorten the back-off). */
  webhookRetryBaseMs?: number;
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

/**
 * The sealer of identity providers that keep a refresh token (recheck_on_refresh), with the
 * master key opened at start-up (a store on PostgreSQL without a shared master key refuses to
 * start, saying so); null when no provider keeps one.
 */
async function masterKeySealer(config: GatehouseConfig, logger: Logger): Promise<Sealer | null> {
  if (!config.providers.some((entry) => entry.type === "oidc" && (entry as { recheck_on_refresh?: boolean }).recheck_on_refresh)) return null;
  if (!config.store.enabled) return null; // config check refuses oidc without the store
  const master = await openMasterKey(masterKeySettings(config), logger, "identity providers' refresh tokens (recheck_on_refresh)");
  return {
    seal: (text, id) => encryptWithMasterKey(master, text, id),
    unseal: (sealed, id) => decryptWithMasterKey(master, sealed, id),
  };
}

async function assemble(config: GatehouseConfig, logger: Logger, options: GatehouseOptions, store: StoreBackend | null): Promise<Gatehouse> {
  // The built-in providers of API tokens and session access tokens come after the configured ones.
  const sealer = await masterKeySealer(config, logger);
  const providers = createProviders(config.providers, logger, store, sealer);
  const augmenters = createAugmenters(config.augmenters, logger);
  const keys = await openKeySet(keySettings(config), store, logger);
  // A key rotated by another instance sharing the store is loaded at once, not at the next poll.
  const stopKeyReloads = store?.onChange?.((change) => {
    if (change.kind !== "keys.changed" && change.kind !== "flush") return;
    for (const keySet of new Set([keys.managed, keys.sessionKeySet])) {
      if (keySet instanceof ManagedKeySet) {
        keySet.refresh().catch((error) => logger.error("keys.refresh_failed", { error: (error as Error).message }));
      }
    }
  });
  const tokens = store ? new TokenService(store, tokenPolicy(config, providers), logger) : null;
  const purge = store ? schedulePurge(store, purgePolicy(config), logger, tokens) : null;
  const apiTokens = tokens ? createApiTokenProvider({ tokens, providers, logger }) : null;
  const accessTokens =
    store && keys.sessionKeySet
      ? createSessionAccessTokenProvider({
          keySet: keys.sessionKeySet,
          issuer: config.jwt.iss,
          sessionOwner: (id, now) => store.hot.sessionOwner(id, now),
        })
      : null;
  // Single sign-on: the domain's cookie names a browser session (sso/), checked against the store at each request.
  const sso = store ? ssoPolicy(config) : null;
  const ssoCookie = sso
    ? createSsoCookieProvider({
        session: (handle, now) => sessions!.browserSessionNow(handle, "sso", now),
        stamp: (now) => store!.changes.current(now),
        rememberMs: config.jwt.reuse_seconds * 1000,
      })
    : null;
  const builtIn = [...(apiTokens ? [apiTokens] : []), ...(accessTokens ? [accessTokens] : []), ...(ssoCookie ? [ssoCookie] : [])];
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
  if (metrics && store && !isWorker()) {
    metrics.onScrape(await storeEventCounter(metrics, store));
    metrics.onScrape(tokenExpiryGauge(metrics, store, config.tokens.remind_before));
  }
  // Regulation is shared through the store; without one, this process keeps its own counts in memory.
  const regulationStore = config.regulation.enabled ? (store ?? openSqliteBackend(":memory:")) : null;
  const regulation = regulationStore
    ? createRegulation(regulationSettings(config), regulationStore, logger, metrics && {
        refused: (kind) => metrics.events.regulationRefusals.labels(kind).inc(),
        proxyRealIpProblem: (problem) => metrics.events.proxyRealIpProblems.labels(problem).inc(),
        timeQuery: storeQueryTimer(metrics),
      })
    : null;
  const webhook = config.tokens.notifications.webhook;
  const notifier = tokens && webhook
    ? new WebhookNotifier({
        url: webhook.url,
        secret: webhook.secret,
        logger,
        delivered: metrics ? () => metrics.events.webhookDeliveries.inc() : undefined,
        failed: metrics ? () => metrics.events.webhookFailures.inc() : undefined,
        retryBaseMs: options.webhookRetryBaseMs,
        timeoutMs: config.auth.timeout_in_ms,
      })
    : null;
  if (tokens && notifier) tokens.notifier = notifier;
  // Tokens limited to networks are checked against the client's address as regulation reads it (behind a trusted
  // proxy, its X-Real-IP), also when regulation is off.
  if (tokens) tokens.clientAddress = regulation ? (request) => regulation.clientAddress(request) : clientAddressReader(config.regulation.trusted_proxies, logger);
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
  const devices = sessions && store && config.portal.enabled ? new DeviceAuthorizations(store, sessions, logger) : null;
  const deviceGuard = userCodeGuard(regulation);
  // The portal's session cookie is a credential of the caller plugin (with its CSRF check), for every route.
  const { portal } = config;
  const portalCookie = portal.enabled && sessions ? createPortalCookie({ sessions, publicUrl: portal.public_url, sso }) : null;
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
    .use(tokensModule({ caller, tokens: tokenService, leakKeys: new GithubKeys({ url: config.tokens.leaks.github_keys_url, file: config.tokens.leaks.github_keys_file }, logger, config.auth.timeout_in_ms), logger }))
    .use(
      sessionsModule({
        pipeline,
        caller,
        sessions: sessionService,
        tokens: tokens ?? unavailable<TokenService>(noSessions),
        storeEnabled: store !== null,
        publicUrl: links,
        logger,
        deviceGrant: devices ? deviceGrant(devices) : undefined,
      }),
    )
    .use(deviceModule({ pipeline, authorizations: devices, guard: deviceGuard, publicUrl: links, portalUrl: portal.public_url, logger }))
    .use(keysModule({ caller, keySet: keys.keySet, managed: keys.managed, issuer: config.jwt.iss, publishAheadSeconds: config.keys.publish_ahead, publicUrl: links, logger }))
    .use(
      portal.enabled
        ? portalModule({
            pipeline,
            caller,
            services: portalCookie && store && tokens && sessions ? { cookie: portalCookie, sessions, tokens, store } : null,
            device: devices && { authorizations: devices, guard: deviceGuard },
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
            sealer,
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
    signInRedirect: sso && ((request, challenge) => signInRedirect(sso, request, challenge)),
    access: createAccessControl(config.access, config.services, regulation ? (request) => regulation.clientAddress(request) : clientAddressReader(config.regulation.trusted_proxies, logger), logger),
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
    devices,
    keys,
    metrics,
    readiness,
    async close() {
      purge?.stop();
      notifier?.close();
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

