// GET /authenticate: the nginx auth_request contract (auth-o-tron compatible).
// Every answer has an empty body: nginx keeps the upstream connection alive
// for auth_request only when the answer has no body (≈32,000 vs 12,000 req/s
// measured), and no intermediary may cache it.
import { Elysia, t, type DocumentDecoration } from "elysia";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { AuthResult } from "../../identity/result.ts";
import type { Ban } from "../../identity/regulation-gate.ts";
import { andThen, type MaybePromise } from "../../identity/maybe-promise.ts";
import type { JwtIssuer } from "../../keys/issuer.ts";
import type { User } from "../../identity/user.ts";
import { TtlCache } from "../../identity/ttl-cache.ts";
import { createHeaderKeyHasher } from "../../identity/secrets.ts";
import type { Logger } from "../../log.ts";
import type { Provider, VerdictLease, VerdictReuse } from "../../providers/provider.ts";
import { rememberedAnswers, type AuthObserver } from "../../identity/observer.ts";
import { httpRequestContext, type PeerLookup, type RequestContext } from "../../identity/request.ts";
import { headerValue } from "../http.ts";
import { admittedWithoutCredential, type AccessControl, type CompiledRule } from "../../access/index.ts";

export interface AuthenticateDeps {
  pipeline: IdentityPipeline;
  issuer: JwtIssuer;
  logger: Logger;
  includeLegacyHeaders: boolean;
  /** How long the answer signed for an identity is reused; 0 signs every time. */
  reuseSeconds: number;
  /** Told of answers given from memory (the pipeline reports the others itself): AuthObserver.remembered. */
  observer?: AuthObserver | null;
  /** The status of an attempt refused by regulation (regulation.authenticate_status). */
  banStatus?: 401 | 429;
  /**
   * With single sign-on (sso/sign-in-redirect.ts): the answer that sends a browser's page navigation,
   * not signed in, to sign in; null for any other request, which gets the usual 401.
   */
  signInRedirect?: ((request: Request, challenge: string) => Response | null) | null;
  /** Access rules (access/index.ts); null without an `access` section: any authenticated caller passes. */
  access?: AccessControl | null;
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

/** An answer: the headers of a success, and who it was for. */
interface Answer {
  headers: Headers;
  provider: Provider;
  user: User;
}

/**
 * A success remembered for an Authorization header, valid while its
 * provider's stamp is unchanged and the key that signed its JWT still signs.
 */
interface Verdict {
  answer: Answer;
  /** What observers are told of each answer given from it: made once, not on every request. */
  result: AuthResult & { ok: true };
  /** Its provider's reuse, and what each answer from it checks and records (VerdictReuse.lease). */
  reuse: VerdictReuse;
  lease: VerdictLease | undefined;
  stamp: number;
  kid: string;
}

/** A definite refusal remembered for an Authorization header: the answer's headers (a ban's are made at each answer), and the result for observers. */
interface Refused {
  headers: Headers | Record<string, string>;
  result: AuthResult & { ok: false };
}

/** The /authenticate handler, as a plain function of the request: the server may route to it directly. */
export type AuthenticateHandler = (request: Request, server: PeerLookup | null | undefined) => MaybePromise<Response>;

/** The Elysia controller of /authenticate, around the plain handler. */
export function authenticateModule(handler: AuthenticateHandler) {
  return new Elysia({ name: "authenticate" }).all("/authenticate", ({ request, server }) => handler(request, server), { detail: AUTHENTICATE_DETAIL });
}

const header = (description: string) => ({ description, schema: { type: "string" as const } });
/** No body: what the answer says is in its status and headers. */
const NO_BODY = {};
/**
 * How /authenticate is described (OpenAPI): the answers have no body (but an access rule's refusal, which
 * says why); with single sign-on, a browser is sent to sign in (nginx: 401 with Location; forward-auth: 302/303).
 */
const AUTHENTICATE_DETAIL: DocumentDecoration = {
  summary: "nginx's auth_request: is this request's caller known? (any method; the answer has no body)",
  description:
    "Runs the providers of every realm on the request's credential (Authorization, the single sign-on cookie, a trusted proxy's headers), " +
    "then the augmenters, and answers with the identity as a signed JWT. The access rules (`access`) apply first, with the original request " +
    "as nginx passes it (X-Original-URI, X-Original-Method). The answers have an empty body, so that nginx keeps the connection alive.",
  security: [{}, { basic: [] }, { bearer: [] }],
  responses: {
    200: {
      description: "Authenticated (or let through by a `bypass` rule)",
      content: NO_BODY,
      headers: {
        Authorization: header("Bearer and the JWT naming the identity, for the protected application"),
        "X-Auth-Username": header("With include_legacy_headers: the username"),
        "X-Auth-Realm": header("With include_legacy_headers: the realm"),
        "X-Auth-Roles": header("With include_legacy_headers: the roles, comma-separated"),
      },
    },
    302: { description: "With single sign-on behind a forward-auth proxy (Caddy, Traefik): a browser's page navigation is sent to sign in", headers: { Location: header("The sign-in page, returning to the page") } },
    303: { description: "As 302, for a navigation that is not a GET", headers: { Location: header("The sign-in page, returning to the page") } },
    401: {
      description: "No credential, or one that no provider accepts (with single sign-on, a browser's navigation also gets the sign-in page in Location, for nginx's error_page)",
      content: NO_BODY,
      headers: { "WWW-Authenticate": header("The challenges of the configured providers"), Location: header("With single sign-on, for a browser: the sign-in page") },
    },
    403: {
      description: "Refused by an access rule, saying why: a page for a browser's navigation",
      content: { "application/json": { schema: t.Object({ error: t.String() }) }, "text/html": { schema: t.String() } },
    },
    429: {
      description: "Too many failed attempts (regulation.authenticate_status: 429; 401 otherwise)",
      content: NO_BODY,
      headers: { "Retry-After": header("Seconds until the ban ends") },
    },
  },
};

export function createAuthenticateHandler(deps: AuthenticateDeps): AuthenticateHandler {
  const { pipeline, reuseSeconds, access = null } = deps;
  const remembered = rememberedAnswers(deps.observer);
  const toSignIn = deps.signInRedirect ?? null;
  const memory = createMemory(reuseSeconds);
  const { verdictKey, refusals } = memory;
  const { succeeded, refused, refusedForBan } = createResponses(deps);
  const answer = createAnswering(deps, memory, { succeeded, refused, refusedForBan });
  const recall = createRecall(deps, memory);

  // Synchronous whenever the pipeline and the caches are (see identity/maybe-promise.ts).
  // The request context works out each field only when read: only API tokens read the client address, to record their last use.
  // A remembered answer (the hot path) costs one hash, one clock read and two map lookups, and allocates only the context,
  // the cache key (one string and its digest) and the Response; what it checks and records for its token was found once,
  // when it was remembered (VerdictReuse.lease). The parts it calls are made once, above: none is made per request.
  return (request, server) => {
    const context = httpRequestContext("authenticate", request, server);
    const rule = access && access.check(request, context);
    if (rule instanceof Response) return rule;
    const authorization = context.authorization;
    if (reuseSeconds <= 0 || !authorization) {
      return andThen(pipeline.authenticate(context), (result) => (toSignIn && !authorization && !result.ok && toSignIn(request, pipeline.challenge)) || answer(context, result, "", rule));
    }
    // An absent X-Auth-Realm and an empty one are remembered apart.
    const credentialKey = verdictKey(authorization, context.realm);
    const now = Date.now();
    const verdict = recall(credentialKey, context, now);
    if (verdict) {
      if (remembered) remembered(verdict.result, context);
      return succeeded(context, verdict.answer, rule);
    }
    const refusal = refusals.get(credentialKey, now);
    if (refusal) {
      const ban = refusal.result.ban;
      // A remembered ban answers only while it holds (released, or ended, it is asked anew).
      if (!ban) {
        if (remembered) remembered(refusal.result, context);
        return refused(context, refusal.result.reason, 401, refusal.headers, true);
      }
      if (ban.stillHolds!(now)) {
        if (remembered) remembered(refusal.result, context);
        return refusedForBan(context, refusal.result.reason, ban, now, true);
      }
      refusals.delete(credentialKey);
    }
    return andThen(pipeline.authenticate(context), (result) => answer(context, result, credentialKey, rule));
  };
}

/** What /authenticate remembers between requests, each for `reuseSeconds`. */
interface Memory {
  /** Signed answers, by identity and signing key. */
  signed: TtlCache<Headers>;
  /** Successes, by Authorization header. */
  verdicts: TtlCache<Verdict>;
  /** The key of an Authorization header (and realm) in `verdicts` and `refusals`. */
  verdictKey: ReturnType<typeof createHeaderKeyHasher>;
  /** Definite refusals, by Authorization header. */
  refusals: TtlCache<Refused>;
}

function createMemory(reuseSeconds: number): Memory {
  return {
    // Signing runs through WebCrypto and caps throughput well below the
    // server's (≈22,000 HS256 and ≈12,000 ES256 signatures/s on one core of a
    // 2-core machine, measured with jose; WebCrypto is the ceiling). An identity that
    // authenticates again within a few seconds gets the answer already signed
    // for it. The key is the whole identity (roles, attributes, scopes) and the
    // signing key, so any change signs anew; the credential itself has been
    // checked again on this very request, so a revoked token never gets here.
    signed: new TtlCache<Headers>(reuseSeconds * 1000, 50_000),
    // For providers that allow it (config users, remote key services, API
    // tokens with their revocation stamp; see Provider.reuse), the same
    // Authorization header is answered from memory within the window, skipping
    // the pipeline. The key is a SHA-256 of the header under a per-process
    // random key, never the credential itself.
    verdicts: new TtlCache<Verdict>(reuseSeconds * 1000, 50_000),
    verdictKey: createHeaderKeyHasher(),
    // Refusals are remembered the same way, so that a refusal costs no more
    // than a success: a client repeating a revoked token, an unknown one or a
    // wrong password (a misconfigured job, a retry loop) would otherwise cost
    // a database read or an argon2 check (≈30 ms of CPU) each time. Only
    // definite refusals are kept (every provider said a "no" that lasts:
    // config users, Gatehouse's own tokens; none failed or ran out of time),
    // for the same short window. Guessing is unaffected: each new password is
    // a new header, checked (and counted by regulation) as before.
    refusals: new TtlCache<Refused>(reuseSeconds * 1000, 50_000),
  };
}

/** The answers themselves: a success (after the access rule) and a refusal, each logged at debug. */
interface Responses {
  succeeded(request: RequestContext, answer: Answer, rule: CompiledRule | null): Response;
  /** A 401 (or the ban's status), logged at debug with the original request, never its query string. */
  refused(request: RequestContext, reason: string, status: number, headers: Refused["headers"], remembered?: boolean): Response;
  /** Regulation's ban: its status (regulation.authenticate_status) with Retry-After, counted down from the ban's end. */
  refusedForBan(request: RequestContext, reason: string, ban: Ban, now: number, remembered?: boolean): Response;
}

function createResponses({ logger, access = null, pipeline, banStatus = 401 }: AuthenticateDeps): Responses {
  const succeeded = (request: RequestContext, answer: Answer, rule: CompiledRule | null): Response => {
    // The rule is decided for every request, a remembered identity's included.
    const refusal = rule && access!.refuse(rule, answer.user, request);
    if (refusal) return refusal;
    if (logger.enabled("debug")) {
      logger.debug("auth.succeeded", {
        provider: answer.provider.name,
        realm: answer.user.realm,
        username: answer.user.username,
        method: request.originalMethod,
        path: request.originalPath,
      });
    }
    // Response copies the Headers it is given, so a reused answer is never altered.
    return new Response(null, { status: 200, headers: answer.headers });
  };

  const refused = (request: RequestContext, reason: string, status: number, headers: Refused["headers"], remembered = false): Response => {
    if (logger.enabled("debug")) {
      logger.debug("auth.refused", { reason, remembered: remembered || undefined, method: request.originalMethod, path: request.originalPath });
    }
    return new Response(null, { status, headers });
  };
  // 401 by default, not 429: nginx's auth_request turns any status but 2xx, 401 and 403 into a 500 (regulation.authenticate_status).
  // The headers of the last Retry-After value answered: bans answered from memory within the same second share them
  // (Response copies the Headers it is given), rather than each answer making its own.
  let banRetryAfter = -1;
  let banHeaders = new Headers();
  const refusedForBan = (request: RequestContext, reason: string, ban: Ban, now: number, remembered = false): Response => {
    const retryAfter = Math.max(1, Math.ceil((ban.endsAt - now) / 1000));
    if (retryAfter !== banRetryAfter) {
      banRetryAfter = retryAfter;
      banHeaders = new Headers({ "www-authenticate": pipeline.challenge, "retry-after": String(retryAfter), "cache-control": "no-store" });
    }
    return refused(request, reason, banStatus, banHeaders, remembered);
  };
  return { succeeded, refused, refusedForBan };
}

/** The answer to the pipeline's result: signed (or the signed headers reused) and remembered, or refused and remembered when definite. */
function createAnswering(deps: AuthenticateDeps, memory: Memory, { succeeded, refused, refusedForBan }: Responses) {
  const { pipeline, issuer, includeLegacyHeaders, reuseSeconds } = deps;
  const { signed, verdicts, refusals } = memory;
  const unauthorized = new Headers({ "www-authenticate": pipeline.challenge, "cache-control": "no-store" });

  const signedAnswer = (result: AuthResult & { ok: true }): MaybePromise<Answer> => {
    const { user, provider } = result;
    const key = reuseSeconds > 0 ? `${issuer.currentKid()}\u0000${JSON.stringify(user)}` : "";
    const reusable = key ? signed.get(key) : undefined;
    // The answer is this request's (its user and provider), even when the signed headers are reused.
    if (reusable) return { headers: reusable, provider, user };
    return issuer.issue(user).then((jwt) => {
      const headers = identityHeaders(user, jwt.token, includeLegacyHeaders);
      // Never reuse an answer whose JWT would expire within twice the window.
      if (key && jwt.exp * 1000 - Date.now() > reuseSeconds * 2000) signed.set(key, headers);
      return { headers, provider, user };
    });
  };

  const remember = (credentialKey: string, answer: Answer, kid: string) => {
    const reuse = answer.provider.reuse;
    if (!credentialKey || !reuse) return;
    const now = Date.now();
    const lease = reuse.lease?.(answer.user);
    const ttlMs = Math.min(reuseSeconds * 1000, (lease?.until ?? Number.POSITIVE_INFINITY) - now);
    // Under the stamp from before the credential was read when the provider knows it (VerdictLease.stamp):
    // a revocation made while this answer was being made (its JWT signed, a PostgreSQL read) leaves it stale.
    verdicts.set(credentialKey, { answer, result: { ok: true, ...answer }, reuse, lease, stamp: lease?.stamp ?? reuse.stamp(now), kid }, now, ttlMs);
  };

  return (request: RequestContext, result: AuthResult, credentialKey: string, rule: CompiledRule | null): MaybePromise<Response> => {
    if (!result.ok) {
      // A bypass rule needs no credential; one that was sent and refused is refused as ever.
      if (rule?.policy === "bypass" && result.reason === "no_auth_header") return admittedWithoutCredential();
      // Regulation banned the username or address: Retry-After says when to try again. A username's ban that refused
      // every candidate is remembered for the header like any definite refusal, and asked whether it holds at each
      // answer from memory: a client repeating a banned password costs no more than a success (issue 24).
      if (result.ban) {
        const now = Date.now();
        if (credentialKey && result.definite) refusals.set(credentialKey, { headers: {}, result }, now, Math.min(reuseSeconds * 1000, result.ban.endsAt - now));
        return refusedForBan(request, result.reason, result.ban, now);
      }
      // A refusal a provider explained (an expired access token) adds RFC 6750's error to the challenges.
      const headers = result.refusal ? { "www-authenticate": pipeline.challengeFor(result), "cache-control": "no-store" } : unauthorized;
      if (credentialKey && result.definite) refusals.set(credentialKey, { headers, result });
      return refused(request, result.reason, 401, headers);
    }
    // The key is read before signing: should a rotation happen meanwhile, the remembered answer is never used.
    const kid = issuer.currentKid();
    return andThen(signedAnswer(result), (answer) => {
      remember(credentialKey, answer, kid);
      return succeeded(request, answer, rule);
    });
  };
}

/** The remembered success for this header, if its provider still vouches for it and its signing key still signs. */
function createRecall({ issuer }: AuthenticateDeps, { verdicts }: Memory) {
  return (credentialKey: string, request: RequestContext, now: number): Verdict | undefined => {
    const verdict = verdicts.get(credentialKey, now);
    if (!verdict) return undefined;
    const lease = verdict.lease;
    if (verdict.reuse.stamp(now) !== verdict.stamp || issuer.currentKid() !== verdict.kid || (lease?.holdsFor && !lease.holdsFor(request))) {
      verdicts.delete(credentialKey);
      return undefined;
    }
    lease?.reused?.(request.client, now);
    return verdict;
  };
}
