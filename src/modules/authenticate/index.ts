// GET /authenticate: the nginx auth_request contract (auth-o-tron compatible).
// Every answer has an empty body: nginx keeps the upstream connection alive
// for auth_request only when the answer has no body (≈32,000 vs 12,000 req/s
// measured), and no intermediary may cache it.
import { Elysia } from "elysia";
import type { AuthResult, IdentityPipeline } from "../../identity/pipeline.ts";
import { andThen, type MaybePromise } from "../../identity/maybe-promise.ts";
import type { JwtIssuer } from "../../keys/issuer.ts";
import type { User } from "../../identity/user.ts";
import { TtlCache } from "../../identity/ttl-cache.ts";
import type { Logger } from "../../log.ts";
import { clientAddress, headerValue } from "../http.ts";

export interface AuthenticateDeps {
  pipeline: IdentityPipeline;
  issuer: JwtIssuer;
  logger: Logger;
  includeLegacyHeaders: boolean;
  /** How long the answer signed for an identity is reused; 0 signs every time. */
  reuseSeconds: number;
}

export function identityHeaders(user: User, jwt: string, includeLegacyHeaders: boolean): Headers {
  const headers = new Headers({ authorization: `Bearer ${jwt}`, "cache-control": "no-store" });
  if (includeLegacyHeaders) {
    headers.set("x-auth-username", headerValue(user.username));
    headers.set("x-auth-realm", headerValue(user.realm));
    headers.set("x-auth-roles", headerValue(user.roles.join(",")));
  }
  return headers;
}

/** The path of the original request, for logs: never its query string, which may carry a key. */
function originalPath(request: Request): string | undefined {
  const uri = request.headers.get("x-original-uri") ?? request.headers.get("x-forwarded-uri");
  return uri ? uri.split("?")[0].slice(0, 200) : undefined;
}

export function authenticateModule(deps: AuthenticateDeps) {
  const { pipeline, issuer, logger, includeLegacyHeaders, reuseSeconds } = deps;
  const unauthorized = new Headers({ "www-authenticate": pipeline.challenge, "cache-control": "no-store" });

  // Signing runs through WebCrypto and caps throughput well below the
  // server's (STACK-NOTES: ≈22,000 HS256 signatures/s). An identity that
  // authenticates again within a few seconds gets the answer already signed
  // for it. The key is the whole identity (roles, attributes, scopes) and the
  // signing key, so any change signs anew; the credential itself has been
  // checked again on this very request, so a revoked token never gets here.
  const answers = new TtlCache<Headers>(reuseSeconds * 1000, 50_000);

  const signedAnswer = (user: User): MaybePromise<Headers> => {
    const key = reuseSeconds > 0 ? `${issuer.currentKid()}\u0000${JSON.stringify(user)}` : "";
    const reusable = key ? answers.get(key) : undefined;
    if (reusable) return reusable;
    return issuer.issue(user).then((jwt) => {
      const headers = identityHeaders(user, jwt.token, includeLegacyHeaders);
      // Never reuse an answer whose JWT would expire within twice the window.
      const lifetimeMs = jwt.exp * 1000 - Date.now();
      if (key && lifetimeMs > reuseSeconds * 2000) answers.set(key, headers);
      return headers;
    });
  };

  const answer = (request: Request, result: AuthResult): MaybePromise<Response> => {
    if (!result.ok) {
      if (logger.enabled("debug")) logger.debug("auth.refused", { reason: result.reason, path: originalPath(request) });
      return new Response(null, { status: 401, headers: unauthorized });
    }
    if (logger.enabled("debug")) {
      logger.debug("auth.succeeded", {
        provider: result.provider.name,
        realm: result.user.realm,
        username: result.user.username,
        method: request.headers.get("x-original-method") ?? request.headers.get("x-forwarded-method") ?? undefined,
        path: originalPath(request),
      });
    }
    // Response copies the Headers it is given, so a reused answer is never altered.
    return andThen(signedAnswer(result.user), (headers) => new Response(null, { status: 200, headers }));
  };

  // Synchronous whenever the pipeline and the reuse cache are (see identity/maybe-promise.ts).
  // The client address is passed lazily: only API tokens read it, to record their last use.
  return new Elysia({ name: "authenticate" }).all("/authenticate", ({ request, server }) =>
    andThen(
      pipeline.authenticate(
        request.headers.get("authorization"),
        request.headers.get("x-auth-realm"),
        clientAddress(request, server),
      ),
      (result) => answer(request, result),
    ),
  );
}
