// GET /authenticate: the nginx auth_request contract (auth-o-tron compatible).
// Every answer has an empty body: nginx keeps the upstream connection alive
// for auth_request only when the answer has no body (≈32,000 vs 12,000 req/s
// measured), and no intermediary may cache it.
import { Elysia } from "elysia";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { JwtIssuer } from "../../keys/issuer.ts";
import type { User } from "../../identity/user.ts";
import type { Logger } from "../../log.ts";
import { headerValue } from "../http.ts";

export interface AuthenticateDeps {
  pipeline: IdentityPipeline;
  issuer: JwtIssuer;
  logger: Logger;
  includeLegacyHeaders: boolean;
}

export function identityHeaders(user: User, jwt: string, includeLegacyHeaders: boolean): Record<string, string> {
  const headers: Record<string, string> = { authorization: `Bearer ${jwt}`, "cache-control": "no-store" };
  if (includeLegacyHeaders) {
    headers["x-auth-username"] = headerValue(user.username);
    headers["x-auth-realm"] = headerValue(user.realm);
    headers["x-auth-roles"] = headerValue(user.roles.join(","));
  }
  return headers;
}

/** The path of the original request, for logs: never its query string, which may carry a key. */
function originalPath(request: Request): string | undefined {
  const uri = request.headers.get("x-original-uri") ?? request.headers.get("x-forwarded-uri");
  return uri ? uri.split("?")[0].slice(0, 200) : undefined;
}

export function authenticateModule(deps: AuthenticateDeps) {
  const { pipeline, issuer, logger, includeLegacyHeaders } = deps;
  const unauthorized = { "www-authenticate": pipeline.challenge, "cache-control": "no-store" };

  return new Elysia({ name: "authenticate" }).all("/authenticate", async ({ request }) => {
    const result = await pipeline.authenticate(request.headers.get("authorization"), request.headers.get("x-auth-realm"));
    if (!result.ok) {
      if (logger.enabled("debug")) logger.debug("auth.refused", { reason: result.reason, path: originalPath(request) });
      return new Response(null, { status: 401, headers: unauthorized });
    }
    const jwt = await issuer.issue(result.user);
    if (logger.enabled("debug")) {
      logger.debug("auth.succeeded", {
        provider: result.provider.name,
        realm: result.user.realm,
        username: result.user.username,
        method: request.headers.get("x-original-method") ?? request.headers.get("x-forwarded-method") ?? undefined,
        path: originalPath(request),
      });
    }
    return new Response(null, { status: 200, headers: identityHeaders(result.user, jwt, includeLegacyHeaders) });
  });
}
