// Assembles a Gatehouse from a validated config: providers, augmenters, the
// identity pipeline, and each feature (its services, background jobs and
// routes), in the order they depend on each other. Each feature's wiring is in
// its module folder (modules/<feature>/wiring.ts, the shape in
// modules/feature.ts); this file reads the config and hands each its settings.
import { Elysia } from "elysia";
import type { GatehouseConfig } from "./config/schema.ts";
import { IdentityPipeline } from "./identity/pipeline.ts";
import type { RequestContext } from "./identity/request.ts";
import { combineObservers, type AuthObserver } from "./identity/observer.ts";
import { openKeySet, openMasterKey } from "./keys/open.ts";
import { keySettings, masterKeySettings, purgePolicy, REFRESH_TOKENS_PURPOSE, regulationSettings, sealsRefreshTokens, sessionPolicy, tokenPolicy } from "./config/policies.ts";
import type { KeySet } from "./keys/keyset.ts";
import type { ManagedKeySet } from "./keys/managed.ts";
import { createProviders } from "./providers/registry.ts";
import { createAugmenters } from "./augmenters/registry.ts";
import type { Logger } from "./log.ts";
import { authenticateModule, createAuthenticateHandler, type AuthenticateHandler } from "./modules/authenticate/index.ts";
import { infoModule } from "./modules/info/index.ts";
import { healthModule } from "./modules/health/index.ts";
import { callerPlugin } from "./modules/caller.ts";
import { answerErrors, errorAnswer } from "./modules/errors.ts";
import { publicUrl } from "./modules/public-url.ts";
import { refuseMisroutedPath } from "./modules/path-guard.ts";
import { mountRoutes, type Feature } from "./modules/feature.ts";
import { keysFeature } from "./modules/keys/wiring.ts";
import { tokensFeature, type TokensFeature } from "./modules/tokens/wiring.ts";
import { accessTokenProvider, sessionsFeature, type SessionsFeature } from "./modules/sessions/wiring.ts";
import { metricsFeature, type MetricsFeature } from "./modules/metrics/wiring.ts";
import type { SessionAccessTokenProvider } from "./providers/session-access-token.ts";
import { auditFeature } from "./modules/audit/wiring.ts";
import { portalFeature } from "./modules/portal/wiring.ts";
import { signInFeature } from "./modules/sign-in/wiring.ts";
import type { StoreBackend } from "./store/backend.ts";
import { openBackend } from "./store/open.ts";
import type { TokenService } from "./tokens/service.ts";
import type { SessionService } from "./sessions/service.ts";
import { REFRESH_TOKEN_PREFIX } from "./tokens/format.ts";
import { schedulePurge } from "./store/purge.ts";
import type { Metrics } from "./metrics/recorder.ts";
import { createReadinessCheck, type Readiness } from "./metrics/readiness.ts";
import { readyModule } from "./modules/metrics/index.ts";
import { clientAddressReader } from "./regulation/index.ts";
import { regulationFeature } from "./modules/regulation/wiring.ts";
import { createAccessControl } from "./access/index.ts";
import { isWorker } from "./worker-role.ts";
import type { Sealer } from "./providers/provider.ts";
import { decryptWithMasterKey, encryptWithMasterKey } from "./keys/master-key.ts";
import { ssoPolicy } from "./config/sso.ts";
import type { SsoPolicy } from "./sso/policy.ts";
import { signInRedirect } from "./sso/sign-in-redirect.ts";
import { createSsoCookieProvider } from "./providers/sso-cookie.ts";
import { userCodeGuard, type DeviceAuthorizations } from "./sign-in/device.ts";
import { deviceModule } from "./modules/device/index.ts";
import { openApiModule } from "./modules/openapi/index.ts";

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
  if (!sealsRefreshTokens(config)) return null;
  if (!config.store.enabled) return null; // config check refuses oidc without the store
  const master = await openMasterKey(masterKeySettings(config), logger, REFRESH_TOKENS_PURPOSE);
  return {
    seal: (text, id) => encryptWithMasterKey(master, text, id),
    unseal: (sealed, id) => decryptWithMasterKey(master, sealed, id),
  };
}

async function assemble(config: GatehouseConfig, logger: Logger, options: GatehouseOptions, store: StoreBackend | null): Promise<Gatehouse> {
  // The built-in providers of API tokens, session access tokens and single sign-on's cookie come after the configured ones.
  const sealer = await masterKeySealer(config, logger);
  const providers = createProviders(config.providers, logger, store, sealer);
  const augmenters = createAugmenters(config.augmenters, logger);
  const timeoutMs = config.auth.timeout_in_ms;
  const keys = keysFeature({ keys: await openKeySet(keySettings(config), store, logger), store, jwt: config.jwt, publishAheadSeconds: config.keys.publish_ahead, logger });
  const { leaks } = config.tokens;
  const tokens = tokensFeature({ store, policy: tokenPolicy(config, providers), providers, leaks: { url: leaks.github_keys_url, file: leaks.github_keys_file }, timeoutMs, logger });
  // The store's purge of what has ended (store/purge.ts), on its schedule.
  const purge: Feature = store ? schedulePurge(store, purgePolicy(config), logger, tokens.service) : {};
  const accessTokens = accessTokenProvider(store, keys.opened.sessionKeySet, config.jwt.iss);
  // Single sign-on: the domain's cookie names a browser session (sso/), checked against the store at each request.
  const sso = store ? ssoPolicy(config) : null;
  const ssoCookie = sso
    ? createSsoCookieProvider({
        session: (handle, now) => sessions.service!.browserSessionNow(handle, "sso", now),
        stamp: (now) => store!.changes.current(now),
        rememberMs: config.jwt.reuse_seconds * 1000,
      })
    : null;
  const builtIn = [tokens.provider, accessTokens, ssoCookie].filter((provider) => provider !== null);
  const metrics = await metricsFeature({
    enabled: config.metrics.enabled,
    legacyNames: config.metrics.legacy_names,
    providers: [...providers, ...builtIn],
    augmenters,
    authenticateBanStatus: config.regulation.authenticate_status,
    countedStore: isWorker() ? null : store,
    remindBefore: config.tokens.remind_before,
  });
  const regulation = regulationFeature({
    settings: config.regulation.enabled ? regulationSettings(config) : null,
    store,
    logger,
    counters: metrics.regulationCounters,
  });
  // The client's address as regulation reads it (behind a trusted proxy, its X-Real-IP), also when regulation is off:
  // one reader for tokens' networks and access rules alike, so that both learn the same of a proxy that passes clients' own X-Real-IP on.
  const readClientAddress = regulation.service ? (request: RequestContext) => regulation.service!.clientAddress(request) : clientAddressReader(config.regulation.trusted_proxies, logger);
  const webhook = config.tokens.notifications.webhook;
  tokens.connect({
    webhook: webhook ? { url: webhook.url, secret: webhook.secret, ...metrics.webhookCounters, retryBaseMs: options.webhookRetryBaseMs } : null,
    readClientAddress,
  });
  const observers = [...[metrics, regulation].flatMap((feature) => (feature.observer ? [feature.observer] : [])), ...(options.observers ?? [])];
  const observer = combineObservers(observers, (error) => logger.error("observer.failed", { error: (error as Error)?.message }));
  const pipeline = new IdentityPipeline({
    providers: [...providers, ...builtIn],
    augmenters,
    timeoutMs,
    logger,
    ownTokenPrefixes: [config.tokens.prefix, REFRESH_TOKEN_PREFIX],
    isKeptToken: tokens.service ? (token) => tokens.service!.keepsImported(token) : undefined,
    ownIssuer: config.jwt.iss,
    observer,
    regulation: regulation.service?.gate,
  });
  const sessions = await sessionsFeature({
    store,
    policy: sessionPolicy(config),
    accessTokens: { keySet: keys.opened.sessionKeySet, iss: config.jwt.iss },
    pipeline,
    timeoutMs,
    tokens: tokens.service,
    deviceCodes: config.portal.enabled,
    logger,
  });
  return withRoutes(config, logger, store, { sealer, keys, tokens, purge, accessTokens, sso, metrics, regulation, readClientAddress, observer, pipeline, sessions });
}

/** What assemble has made before the routes: the identity pipeline, and each feature it needed or that needs it. */
interface Made {
  sealer: Sealer | null;
  keys: ReturnType<typeof keysFeature>;
  tokens: TokensFeature;
  purge: Feature;
  accessTokens: SessionAccessTokenProvider | null;
  sso: SsoPolicy | null;
  metrics: MetricsFeature;
  regulation: ReturnType<typeof regulationFeature>;
  readClientAddress: (request: RequestContext) => string | null;
  observer: AuthObserver | null;
  pipeline: IdentityPipeline;
  sessions: SessionsFeature;
}

/** The routes of every feature, in the order they are mounted, around /authenticate's handler; and how it all closes. */
function withRoutes(config: GatehouseConfig, logger: Logger, store: StoreBackend | null, made: Made): Gatehouse {
  const { keys, tokens, metrics, pipeline, sessions, sso } = made;
  const links = publicUrl({ publicUrl: config.public_url ?? null, trustedProxies: config.trusted_proxies });
  const devices = sessions.devices;
  const deviceGuard = userCodeGuard(made.regulation.service);
  const { portal: portalSettings } = config;
  const portal = portalFeature({
    enabled: portalSettings.enabled,
    publicUrl: portalSettings.public_url,
    sso,
    store,
    sessions: sessions.service,
    tokens: tokens.service,
    device: devices && { authorizations: devices, guard: deviceGuard },
    tokenPolicy: tokenPolicy(config),
    keys: keys.opened,
    regulator: made.regulation.service?.regulator ?? null,
  });
  const caller = callerPlugin({ pipeline, adminRole: config.admin_role, apiTokens: tokens.provider, accessTokens: made.accessTokens, cookie: portal.cookie, publicHost: links.host });
  const readiness = createReadinessCheck({ store, keySet: keys.opened.keySet, timeQuery: metrics.timeQuery });
  const audit = auditFeature({ store, retentionSeconds: config.audit.retention, purgeIntervalSeconds: config.audit.purge_interval, logger });
  const signIn = signInFeature({ store, sessions: sessions.service, cookie: portal.cookie, portalPublicUrl: portalSettings.public_url, sealer: made.sealer, timeoutMs: config.auth.timeout_in_ms });

  // Every feature, in the order its routes are mounted: the metrics hook first, over every route after it but
  // /authenticate, whose series come from the pipeline's observer (its handler stays free of request hooks).
  const features: Feature[] = [
    metrics,
    { routes: () => healthModule() },
    { routes: () => readyModule(readiness) },
    audit,
    { routes: (http) => infoModule(http) },
    { routes: (http) => openApiModule({ routes: () => app.routes, publicUrl: http.publicUrl }) },
    tokens,
    sessions,
    { routes: (http) => deviceModule({ ...http, authorizations: devices, guard: deviceGuard, portalUrl: portalSettings.public_url }) },
    keys,
    portal,
    signIn,
    made.purge,
    made.regulation,
  ];
  const authenticate = createAuthenticateHandler({
    pipeline,
    issuer: keys.issuer,
    logger,
    includeLegacyHeaders: config.include_legacy_headers,
    reuseSeconds: config.jwt.reuse_seconds,
    observer: made.observer,
    banStatus: config.regulation.authenticate_status,
    signInRedirect: sso && ((request, challenge) => signInRedirect(sso, request, challenge)),
    access: createAccessControl(config.access, config.services, made.readClientAddress, logger),
  });
  const app = new Elysia({ name: "gatehouse" })
    .onRequest(refuseMisroutedPath)
    // Bun gives a request with an empty Host a relative URL ("/path"), which `new URL()` refuses in every
    // handler after (a 500 with Bun's HTML error page; found by fuzzing).
    .onRequest(({ request }) => (URL.canParse(request.url) ? undefined : errorAnswer("error", 400, "The Host header is missing or invalid")))
    .use(mountRoutes(features, { pipeline, caller, publicUrl: links, logger }))
    .use(authenticateModule(authenticate))
    .onError(metrics.unmatched)
    // Last, so that each module's own error handler answers first: this one
    // answers what no module owns (an unknown path) in Gatehouse's shape.
    .onError(answerErrors("error", logger));

  return {
    app,
    authenticate,
    pipeline,
    store,
    tokens: tokens.service,
    sessions: sessions.service,
    devices,
    keys: keys.opened,
    metrics: metrics.recorder,
    readiness,
    async close() {
      // Every feature's jobs first (timers, listeners, webhook retries), so that none runs on what is released after;
      // the store last: the token service writes into it the last uses not written yet.
      for (const feature of features) feature.stop?.();
      pipeline.close();
      for (const feature of features) await feature.close?.();
      await store?.close();
    },
  };
}
