// Assembles a Gatehouse from a validated config: providers, augmenters, the
// identity pipeline, the JWT issuer, and the Elysia controllers.
import { Elysia } from "elysia";
import type { GatehouseConfig, PluginEntry } from "./config/schema.ts";
import { IdentityPipeline } from "./identity/pipeline.ts";
import { createJwtIssuer, hmacSigner } from "./keys/issuer.ts";
import { findProviderType } from "./providers/registry.ts";
import { findAugmenterType } from "./augmenters/registry.ts";
import type { Logger } from "./log.ts";
import { authenticateModule } from "./modules/authenticate/index.ts";
import { infoModule } from "./modules/info/index.ts";
import { healthModule } from "./modules/health/index.ts";
import { jsonError } from "./modules/http.ts";

export const OWN_TOKEN_PREFIX = "gth_";

export interface Gatehouse {
  app: Elysia<any, any, any, any, any, any, any>;
  pipeline: IdentityPipeline;
  close(): Promise<void>;
}

export async function createGatehouse(config: GatehouseConfig, logger: Logger): Promise<Gatehouse> {
  const providers = config.providers.map((entry) => {
    const plugin = findProviderType(entry.type)!; // the config loader has checked every type
    return plugin.create(entry as PluginEntry, { logger, config });
  });
  const augmenters = config.augmenters.map((entry) => {
    const plugin = findAugmenterType(entry.type)!;
    return plugin.create(entry as PluginEntry, { logger });
  });
  const pipeline = new IdentityPipeline({
    providers,
    augmenters,
    timeoutMs: config.auth.timeout_in_ms,
    logger,
    ownTokenPrefix: OWN_TOKEN_PREFIX,
  });
  const signer = await hmacSigner(config.jwt.secret!);
  const issuer = createJwtIssuer({
    iss: config.jwt.iss,
    aud: config.jwt.aud,
    exp: config.jwt.exp,
    reuseSeconds: config.jwt.reuse_seconds,
    currentSigner: () => signer,
  });

  const app = new Elysia({ name: "gatehouse" })
    .onError(({ code, error, request }) => errorResponse(code, error, request, logger))
    .use(healthModule())
    .use(infoModule(pipeline))
    .use(authenticateModule({ pipeline, issuer, logger, includeLegacyHeaders: config.include_legacy_headers }));

  return {
    app,
    pipeline,
    async close() {
      pipeline.close();
    },
  };
}

/** Every error becomes a JSON answer with a clear message; internals are logged, never sent. */
function errorResponse(code: string | number, error: unknown, request: Request, logger: Logger): Response {
  switch (code) {
    case "NOT_FOUND":
      return jsonError(404, "Not found");
    case "PARSE":
      return jsonError(400, "The request body could not be parsed");
    case "VALIDATION":
      return jsonError(400, validationMessage(error));
    default: {
      if (typeof code === "number" && code >= 400 && code < 500) return jsonError(code, (error as Error).message);
      logger.error("http.internal_error", {
        method: request.method,
        path: new URL(request.url).pathname,
        error: (error as Error)?.message,
      });
      return jsonError(500, "Internal server error");
    }
  }
}

function validationMessage(error: unknown): string {
  const all = (error as { all?: { path?: string; summary?: string; message?: string }[] }).all;
  const first = all?.[0];
  if (!first) return "Invalid request";
  const field = first.path ? first.path.replace(/^\//, "").replace(/\//g, ".") : "";
  const detail = first.summary ?? first.message ?? "is invalid";
  return field ? `Invalid request: ${field}: ${detail}` : `Invalid request: ${detail}`;
}
