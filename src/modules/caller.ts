// "Who is calling?", answered in one place for every route but /authenticate
// (which stays hand-written: it is the hot path). A route declares what it
// needs and receives the caller in its context:
//
//   .get("/api/v1/tokens", ({ actor }) => …, { caller: true })    // any authenticated user, else 401
//   .post("/api/v1/keys/rotate", ({ actor }) => …, { admin: true }) // the admin role, else 403
//   .get("/api/v1/auth/whoami", ({ caller }) => …, { identified: true }) // caller or null (Tiled's whoami)
//   .get("/api/v1/tokens", …, { caller: "tokens" })          // and, for a scoped token, the scope gatehouse:tokens
//   .get("/token", …, { caller: { scope: "tokens", changesState: true } }) // a GET that creates something
//
// What a credential may do on Gatehouse itself is the `gatehouse` service's
// scopes (tokens/scopes.ts): a credential without scopes (a password, a
// session) may do anything its owner may; a scoped API token only what its
// `gatehouse` scopes name, and the admin role counts only with
// `gatehouse:admin`. A state-changing request that a browser marks as
// cross-site is refused before anything else (see refuseCrossSite).
//
// The plugin runs the identity pipeline once on the request, as nginx's
// /authenticate would, and refuses itself, by throwing a Refusal that the
// route's module answers in its own shape (modules/errors.ts): 401 with the
// WWW-Authenticate challenge (and RFC 6750's error when an access token has
// expired), 403 without the admin role. A service that is switched off
// (the store) refuses with 503 from its stand-in (refusal.ts).
//
// The portal's browser session is read here too (`cookie`, made by
// modules/portal/cookie.ts): a request without Authorization but with the
// portal's session cookie is authenticated by the session its handle names,
// and every state-changing request that came with the
// cookie must carry the session's CSRF token from our own origin: the
// browser sends a cookie on cross-site requests too, an Authorization header
// never. Model: Elysia's "request dependent service as Elysia instance" (a
// named plugin whose macro `resolve`s the caller), and auth-o-tron's `User`
// extractor.
import { Elysia } from "elysia";
import type { Actor } from "../identity/actor.ts";
import type { ClientAddress } from "../identity/client.ts";
import type { IdentityPipeline } from "../identity/pipeline.ts";
import { httpRequestContext, type PeerLookup } from "../identity/request.ts";
import type { User } from "../identity/user.ts";
import type { Provider } from "../providers/provider.ts";
import type { ApiTokenProvider } from "../providers/api-token.ts";
import type { SessionAccessTokenProvider } from "../providers/session-access-token.ts";
import type { VerifiedToken } from "../tokens/service.ts";
import type { BrowserSession } from "../sessions/service.ts";
import { Refusal } from "../refusal.ts";
import { holdsGatehouseScope, type GatehouseScope } from "../tokens/scopes.ts";
import { banRefusal } from "../regulation/index.ts";
import { adminDetail, callerDetail, identifiedDetail } from "./openapi/security.ts";

/** The credential Gatehouse issued that the request came with, if any. */
export type Via = { kind: "api-token"; token: VerifiedToken } | { kind: "session"; sessionId: string };

// A type, not an interface: a macro's `resolve` must return a Record, and an interface has no index signature.
export type Caller = {
  /** The identity, as /authenticate would vouch for it (roles and attributes augmented). */
  user: User;
  /** The same caller as services see it: who, admin or not, within which scopes, from where. */
  actor: Actor;
  client: ClientAddress;
  via: Via | null;
  /** The provider that accepted the credential. */
  provider: Provider;
};

export interface CallerDeps {
  pipeline: IdentityPipeline;
  adminRole: string;
  /** Gatehouse's own credentials, to tell which one a caller came with; null when the store is disabled. */
  apiTokens: ApiTokenProvider | null;
  accessTokens: SessionAccessTokenProvider | null;
  /** The portal's session cookie; absent when the portal is off. */
  cookie?: CookieCredential | null;
  /** The host (and port) clients reach Gatehouse at, from `public_url`, when configured: an Origin naming it is our own. */
  publicHost?: string | null;
}

/** The portal's cookie as a credential (implemented in modules/portal/cookie.ts). */
export interface CookieCredential {
  /** Whether the request came with the cookie, live or not. */
  present(request: Request): boolean;
  /** The live session the request's cookie names, with its user as last read; null for none. */
  session(request: Request): Promise<BrowserSession | null>;
  /** Throws a 403 Refusal unless the request carries the session's CSRF token and comes from our own origin. */
  checkForgery(request: Request, body: unknown, sessionId: string): void;
}

/** Methods that change nothing: no CSRF or cross-site check. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** What a route needs of its caller beyond a credential. */
export interface CallerNeeds {
  /** The `gatehouse` scope a scoped token must hold. */
  scope?: GatehouseScope;
  /** The route changes something although its method is safe (auth-o-tron's GET /token creates a token). */
  changesState?: boolean;
}
type CallerOption = true | GatehouseScope | CallerNeeds;
const needsOf = (option: CallerOption): CallerNeeds => (option === true ? {} : typeof option === "string" ? { scope: option } : option);

/**
 * Refuses a state-changing request that a browser marks as coming from
 * another site: browsers send remembered Basic credentials (which
 * /authenticate's challenge makes them keep) with any request a page on
 * another site makes, so such a request may act for the user without their
 * knowing. `Sec-Fetch-Site` (every current browser) says so directly;
 * `same-site` is refused too (a sibling sub-domain is another application).
 * Without it, an `Origin` that is not ours says the same. Clients that are
 * not browsers send neither, and are not concerned.
 */
export function refuseCrossSite(request: Request, changesState: boolean, publicHost: string | null = null): void {
  if (!changesState && SAFE_METHODS.has(request.method)) return;
  const site = request.headers.get("sec-fetch-site");
  if (site === "cross-site" || site === "same-site") throw new Refusal(403, CROSS_SITE);
  if (site !== null) return; // same-origin, or none (typed by the user)
  const origin = request.headers.get("origin");
  if (origin === null) return;
  let host: string | null = null;
  try {
    host = origin === "null" ? null : new URL(origin).host;
  } catch {}
  if (host === null || (host !== request.headers.get("host") && host !== publicHost)) throw new Refusal(403, CROSS_SITE);
}
const CROSS_SITE = "Cross-site requests may not change anything here";

let instances = 0;
/**
 * auth-o-tron's words for every refusal, a missing credential or a wrong one
 * alike: the caller learns nothing about which. Only an expired access token
 * is named, so that the client knows to refresh it (RFC 6750 §3.1).
 */
export const UNAUTHORIZED = "Unauthorized access";

export function callerPlugin(deps: CallerDeps) {
  const { pipeline, adminRole, apiTokens, accessTokens, cookie } = deps;
  const publicHost = deps.publicHost ?? null;

  /** The caller, or null when the request carries no credential; a refused credential throws 401. */
  async function identify(request: Request, server: PeerLookup | null, body: unknown): Promise<Caller | null> {
    // The cookie only when no Authorization header: an explicit credential wins.
    if (cookie && !request.headers.has("authorization") && cookie.present(request)) return fromCookie(request, server, body);
    const context = httpRequestContext("api", request, server);
    const result = await pipeline.authenticate(context);
    if (!result.ok) {
      if (result.reason === "no_auth_header") return null;
      if (result.ban) throw banRefusal(result.ban);
      throw new Refusal(401, result.refusal?.description ?? UNAUTHORIZED, { "www-authenticate": pipeline.challengeFor(result) });
    }
    const { user, provider } = result;
    const token = apiTokens?.tokenOf(user);
    const sessionId = accessTokens?.sessionOf(user);
    const via: Via | null = token ? { kind: "api-token", token } : sessionId ? { kind: "session", sessionId } : null;
    return { user, actor: actorOf(user, context.client, token, sessionId), client: context.client, via, provider };
  }

  /**
   * The portal's browser session: the cookie's handle names a live session,
   * whose user is as the store last recorded them (re-read from the provider
   * when that is too old). A dead or unknown handle is no credential at all.
   */
  async function fromCookie(request: Request, server: PeerLookup | null, body: unknown): Promise<Caller | null> {
    const browser = await cookie!.session(request);
    if (!browser) return null;
    const { user, session } = browser;
    // The provider the person signed in with (a provider no longer configured ends its sessions at start-up).
    const provider = pipeline.providers.find((candidate) => candidate.name === session.provider && candidate.realm === session.realm);
    if (!provider) return null;
    // Every state-changing request that came with the cookie: the session's CSRF token, from our own origin.
    if (!SAFE_METHODS.has(request.method)) cookie!.checkForgery(request, body, session.id);
    const { client } = httpRequestContext("api", request, server);
    return { user, actor: actorOf(user, client, undefined, session.id), client, via: { kind: "session", sessionId: session.id }, provider };
  }

  function actorOf(user: User, client: ClientAddress, token: VerifiedToken | undefined, sessionId: string | undefined): Actor {
    return {
      user: { username: user.username, realm: user.realm },
      // A token scoped without gatehouse:admin does not carry its owner's admin powers.
      admin: user.roles.includes(adminRole) && holdsGatehouseScope(user.scopes, "admin"),
      scopes: user.scopes,
      token,
      sessionId,
      client,
    };
  }

  async function authenticated(request: Request, server: PeerLookup | null, body: unknown, needs: CallerNeeds): Promise<Caller> {
    // With the portal's cookie, a state-changing request meets the portal's stricter check (CSRF token and origin) in identify().
    const portalChecks = cookie && !SAFE_METHODS.has(request.method) && !request.headers.has("authorization") && cookie.present(request);
    if (!portalChecks) refuseCrossSite(request, needs.changesState ?? false, publicHost);
    const caller = await identify(request, server, body);
    if (!caller) throw new Refusal(401, UNAUTHORIZED, { "www-authenticate": pipeline.challenge });
    if (needs.scope && !holdsGatehouseScope(caller.user.scopes, needs.scope)) {
      throw new Refusal(403, `This credential's scopes do not include gatehouse:${needs.scope}`);
    }
    return caller;
  }

  // Named, so that the modules using it share one copy; the seed keeps two
  // Gatehouses in one process (tests) from sharing theirs.
  // Each macro also describes the route for the OpenAPI document (modules/openapi/security.ts): who may call it, and its refusals.
  return new Elysia({ name: "caller", seed: ++instances }).macro({
    caller: (option: CallerOption) => ({
      detail: callerDetail(needsOf(option).scope, needsOf(option).changesState ?? false),
      resolve({ request, server, body }) {
        return authenticated(request, server, body, needsOf(option));
      },
    }),
    admin: {
      detail: adminDetail(adminRole),
      async resolve({ request, server, body }) {
        const caller = await authenticated(request, server, body, { scope: "admin" });
        if (!caller.actor.admin) throw new Refusal(403, `This needs the ${adminRole} role`);
        return caller;
      },
    },
    identified: {
      detail: identifiedDetail(),
      async resolve({ request, server, body }) {
        return { caller: await identify(request, server, body) };
      },
    },
  });
}
