// Assembles a Gatehouse from a validated config: providers, augmenters, the
// identity pipeline, the JWT issuer, and the Elysia controllers.
import { Elysia } from "elysia";
import type { GatehouseConfig, PluginEntry } from "./config/schema.ts";
import { IdentityPipeline } from "./identity/pipeline.ts";
import { createJwtIssuer } from "./keys/issuer.ts";
import { openKeySet } from "./keys/open.ts";
import type { KeySet } from "./keys/keyset.ts";
import type { ManagedKeySet } from "./keys/managed.ts";
import { keysModule } from "./modules/keys/index.ts";
import { createProviders } from "./providers/registry.ts";
import { findAugmenterType } from "./augmenters/registry.ts";
import type { Logger } from "./log.ts";
import { authenticateModule } from "./modules/authenticate/index.ts";
import { infoModule } from "./modules/info/index.ts";
import { healthModule } from "./modules/health/index.ts";
import { jsonError as plainJsonError } from "./modules/http.ts";
import { tokensModule } from "./modules/tokens/index.ts";
import { openStore, type Store } from "./store/database.ts";
import { TokenService, tokenPolicy } from "./tokens/service.ts";
import { createApiTokenProvider } from "./providers/api-token.ts";
import { createAccessTokenProvider } from "./providers/access-token.ts";
import { SessionService, rereadFrom, sessionPolicy } from "./sessions/service.ts";
import { prepareSessionLiveness } from "./store/sessions.ts";
import { detailError, sessionsModule, usesDetailErrors } from "./modules/sessions/index.ts";
import { REFRESH_TOKEN_PREFIX } from "./tokens/format.ts";
import { purgePolicy, schedulePurge } from "./store/purge.ts";
import { storeUnavailableReason } from "./store/unavailable.ts";

export interface Gatehouse {
  app: Elysia<any, any, any, any, any, any, any>;
  pipeline: IdentityPipeline;
  /** The SQLite store, migrated; null when `store.enabled` is false. */
  store: Store | null;
  /** API tokens; null when the store is disabled. */
  tokens: TokenService | null;
  /** Sessions (access and refresh tokens); null when the store is disabled. */
  sessions: SessionService | null;
  /** The signing keys; `managed` is null for shared secrets. */
  keys: { keySet: KeySet; managed: ManagedKeySet | null };
  close(): Promise<void>;
}

export async function createGatehouse(config: GatehouseConfig, logger: Logger): Promise<Gatehouse> {
  const providers = createProviders(config, logger);
  const augmenters = config.augmenters.map((entry) => {
    const plugin = findAugmenterType(entry.type)!;
    return plugin.create(entry as PluginEntry, { logger });
  });
  // The store (migrated at start-up) and the built-in providers of API tokens and session access
  // tokens, after the configured ones.
  const store = config.store.enabled ? openStore(config.store.path) : null;
  const keys = await openKeySet(config, store, logger);
  const purge = store ? schedulePurge(store, purgePolicy(config), logger) : null;
  const tokens = store ? new TokenService(store, tokenPolicy(config), logger) : null;
  const apiTokens = tokens ? createApiTokenProvider({ tokens, providers, logger }) : null;
  const accessTokens = store
    ? createAccessTokenProvider({ keySet: keys.keySet, issuer: config.jwt.iss, audience: config.jwt.aud, isLive: prepareSessionLiveness(store) })
    : null;
  const pipeline = new IdentityPipeline({
    providers: [...providers, ...(apiTokens ? [apiTokens] : []), ...(accessTokens ? [accessTokens] : [])],
    augmenters,
    timeoutMs: config.auth.timeout_in_ms,
    logger,
    ownTokenPrefixes: [config.tokens.prefix, REFRESH_TOKEN_PREFIX],
  });
  const sessions = store
    ? new SessionService(
        store,
        sessionPolicy(config),
        { keySet: keys.keySet, iss: config.jwt.iss, aud: config.jwt.aud },
        rereadFrom(pipeline, config.auth.timeout_in_ms),
        logger,
      )
    : null;
  const issuer = createJwtIssuer({
    iss: config.jwt.iss,
    aud: config.jwt.aud,
    exp: config.jwt.exp,
    currentSigner: () => keys.keySet.signer(),
  });

  const app = new Elysia({ name: "gatehouse" })
    .onRequest(({ request }) => (routable(request.url) ? undefined : plainJsonError(400, "The Host header is missing, invalid or too short")))
    .onError(({ code, error, request }) => errorResponse(code, error, request, logger))
    .use(healthModule())
    .use(infoModule(pipeline))
    .use(tokensModule({ pipeline, tokens, apiTokens, adminRole: config.admin_role }))
    .use(sessionsModule({ pipeline, sessions, tokens, accessTokens, apiTokens, adminRole: config.admin_role }))
    .use(
      keysModule({
        ...keys,
        pipeline,
        adminRole: config.admin_role,
        issuer: config.jwt.iss,
        publishAheadSeconds: config.keys.publish_ahead,
      }),
    )
    .use(
      authenticateModule({
        pipeline,
        issuer,
        logger,
        includeLegacyHeaders: config.include_legacy_headers,
        reuseSeconds: config.jwt.reuse_seconds,
      }),
    );

  return {
    app,
    pipeline,
    store,
    tokens,
    sessions,
    keys,
    async close() {
      purge?.stop();
      pipeline.close();
      keys.keySet.close?.();
      tokens?.close(); // writes the last uses not written yet
      store?.close();
    },
  };
}

/**
 * Every error becomes a JSON answer with a clear message; internals are
 * logged, never sent. Tiled-compatible routes put it under `detail`, where
 * Tiled clients read it; the others under `error`.
 */
function errorResponse(code: string | number, error: unknown, request: Request, logger: Logger): Response {
  const path = pathOf(request);
  const jsonError = usesDetailErrors(path) ? detailError : plainJsonError;
  switch (code) {
    case "NOT_FOUND":
      return jsonError(404, "Not found");
    case "PARSE":
      return jsonError(400, "The request body could not be parsed");
    case "VALIDATION":
      return jsonError(400, validationMessage(error));
    default: {
      if (typeof code === "number" && code >= 400 && code < 500) {
        // A `throw status(4xx, body)` from a hook carries its own body.
        const body = (error as { response?: unknown }).response;
        if (body && typeof body === "object") {
          return Response.json(body, { status: code, headers: { "cache-control": "no-store" } });
        }
        return jsonError(code, typeof body === "string" ? body : ((error as Error).message ?? "Bad request"));
      }
      const unavailable = storeUnavailableReason(error);
      if (unavailable) {
        logger.error("store.unavailable", { reason: unavailable, method: request.method, path, error: (error as Error)?.message });
        return jsonError(503, `The store is unavailable: ${unavailable}; try again later`, { "retry-after": "5" });
      }
      logger.error("http.internal_error", {
        method: request.method,
        path,
        error: (error as Error)?.message,
      });
      return jsonError(500, "Internal server error");
    }
  }
}

/**
 * Whether Elysia routes this URL to the path it names (both cases found by fuzzing).
 * Elysia finds the path by searching "/" from index 11, past "http://" and a host of at least
 * four characters: with `Host: a` it would route "/api/v1/tokens" as "/v1/tokens". And Bun gives
 * a request with an empty Host a relative URL ("/path"), which `new URL()` refuses everywhere after.
 */
function routable(url: string): boolean {
  return url.indexOf("/", url.indexOf("//") + 2) >= 11 && URL.canParse(url);
}

/** The request's path, even from a URL that does not parse (an error handler must not throw). */
function pathOf(request: Request): string {
  return URL.canParse(request.url) ? new URL(request.url).pathname : request.url.split("?")[0];
}

function validationMessage(error: unknown): string {
  // A schema's own `error` text (e.g. on a union, whose generated summary says little) is the clearest.
  const custom = (error as { customError?: unknown }).customError;
  if (typeof custom === "string") return `Invalid request: ${custom}`;
  const all = (error as { all?: { path?: string; summary?: string; message?: string }[] }).all;
  const first = all?.[0];
  if (!first) return "Invalid request";
  const field = first.path ? first.path.replace(/^\//, "").replace(/\//g, ".") : "";
  const detail = first.summary ?? first.message ?? "is invalid";
  return field ? `Invalid request: ${field}: ${detail}` : `Invalid request: ${detail}`;
}
