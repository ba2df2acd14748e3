// Sessions over HTTP, compatible with Tiled's handshake and client:
//
//   GET    /api/v1/                                 discovery: providers that take a login, and the links
//   POST   /api/v1/auth/provider/{name}/token       login (OAuth2 password form, or JSON) → tokens
//   POST   /api/v1/auth/session/refresh             {refresh_token} → a new pair (rotation)
//   POST   /api/v1/auth/session/revoke              {refresh_token} → 204 (Tiled's client logout)
//   DELETE /api/v1/auth/session/revoke/{session_id} own session (admins: any) → 204
//   GET    /api/v1/auth/sessions                    own sessions (admins: ?user=&realm=)
//   GET    /api/v1/auth/whoami                      identity, sessions, API keys; null without a credential
//   POST   /api/v1/auth/logout                      revokes the session of the access token used
//   POST   /api/v1/auth/logout/all                  revokes every own session ("sign out everywhere")
//   POST|GET|DELETE /api/v1/auth/apikey             Tiled's API keys, on Gatehouse's API tokens
//
// Errors carry their message under `detail`, as Tiled clients read it (the
// app's error handler asks usesDetailErrors). The rules live in
// sessions/service.ts and tokens/service.ts; this file translates.
import { Elysia } from "elysia";
import { basicCredential, bearerCredential } from "../../identity/credentials.ts";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { User } from "../../identity/user.ts";
import type { AccessTokenProvider } from "../../providers/access-token.ts";
import type { ApiTokenProvider } from "../../providers/api-token.ts";
import { SessionError, type SessionService, type SessionView } from "../../sessions/service.ts";
import { TokenError, type Actor, type TokenService, type TokenView } from "../../tokens/service.ts";
import { VERSION } from "../../version.ts";
import { clientAddress, jsonAnswer, noContent, type PeerLookup } from "../http.ts";
import { publicBaseUrl } from "../public-url.ts";
import {
  ApiKeyBody,
  ApiKeyModel,
  ApiKeyWithSecretModel,
  DetailModel,
  DiscoveryModel,
  FirstEightQuery,
  LoginBody,
  LoginModel,
  RefreshTokenBody,
  RevokedCountModel,
  SessionListModel,
  SessionListQuery,
  TokensModel,
  WhoamiModel,
} from "./models.ts";
import { loginMode, scopesFromList, scopesToList, wantsPasswordMode } from "./tiled.ts";

export interface SessionsDeps {
  pipeline: IdentityPipeline;
  /** The three are null when the store is disabled: every route then answers 503. */
  sessions: SessionService | null;
  tokens: TokenService | null;
  accessTokens: AccessTokenProvider | null;
  apiTokens: ApiTokenProvider | null;
  adminRole: string;
}

/** The paths whose errors take Tiled's shape, `{"detail": "…"}`. */
export function usesDetailErrors(pathname: string): boolean {
  return pathname === "/api/v1" || pathname === "/api/v1/" || pathname.startsWith("/api/v1/auth/");
}

/** Tiled's error shape, `{"detail": "…"}`. */
export function detailError(status: number, message: string, headers: Record<string, string> = {}): Response {
  return jsonAnswer(status, { detail: message }, headers);
}

const INCORRECT = "Incorrect username or password";
const errors = { 400: DetailModel, 401: DetailModel, 403: DetailModel, 404: DetailModel, 503: DetailModel };
const userAgentOf = (request: Request) => request.headers.get("user-agent")?.slice(0, 256) ?? null;
const principalOf = (user: { username: string; realm: string }) => `${user.realm}-${user.username}`;

interface Caller {
  user: User;
  provider: string;
  actor: Actor;
  /** The session of the access token used, if one was. */
  sessionId?: string;
}

export function sessionsModule(deps: SessionsDeps) {
  const { pipeline, sessions, tokens, accessTokens, apiTokens, adminRole } = deps;
  const loginProviders = new Map(
    pipeline.providers.flatMap((provider) => {
      const mode = loginMode(provider);
      return mode ? [[provider.name, { provider, mode }] as const] : [];
    }),
  );
  const unavailable = () => detailError(503, "Sessions need the store, which is disabled (store.enabled: false)");

  /**
   * The caller by the identity pipeline, as /authenticate sees them; null
   * when no credential was sent; a 401 Response when one was refused (with
   * Tiled's message when an access token has expired).
   */
  async function identify(request: Request, server: PeerLookup | null): Promise<Caller | Response | null> {
    const client = clientAddress(request, server);
    const result = await pipeline.authenticate(request.headers.get("authorization"), request.headers.get("x-auth-realm"), client);
    if (!result.ok) {
      if (result.reason === "no_auth_header") return null;
      return detailError(401, result.refusal?.description ?? "Invalid credentials", { "www-authenticate": pipeline.challengeFor(result) });
    }
    const { user } = result;
    const sessionId = accessTokens?.sessionOf(user);
    const actor: Actor = {
      user: { username: user.username, realm: user.realm },
      admin: user.roles.includes(adminRole),
      scopes: user.scopes,
      token: apiTokens?.tokenOf(user),
      client,
    };
    return { user, provider: result.provider.name, actor, sessionId };
  }

  /**
   * Runs `work` for an authenticated caller; refusals become `detail` errors.
   * Elysia sends a Response as it is, whatever the route's response schema;
   * its types accept one or the other, hence the casts of refusals.
   */
  async function asCaller<T>(
    request: Request,
    server: PeerLookup | null,
    work: (caller: Caller, sessions: SessionService, tokens: TokenService) => T | Promise<T>,
  ): Promise<T> {
    if (!sessions || !tokens) return unavailable() as T;
    const caller = await identify(request, server);
    if (caller === null) return detailError(401, "Not authenticated", { "www-authenticate": pipeline.challenge }) as T;
    if (caller instanceof Response) return caller as T;
    return answering(() => work(caller, sessions, tokens));
  }

  async function answering<T>(work: () => T | Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof SessionError || error instanceof TokenError) return detailError(error.status, error.message) as T;
      throw error;
    }
  }

  const sessionViews = (caller: Caller, views: SessionView[]) => views.map((view) => ({ ...view, current: view.id === caller.sessionId }));

  function apiKeyView(token: TokenView, firstEight: string | undefined) {
    return {
      id: token.id,
      first_eight: firstEight ?? null,
      expiration_time: token.expires_at,
      note: token.note,
      scopes: scopesToList(token.scopes),
      latest_activity: token.last_used_at,
    };
  }

  function apiKeyViews(service: TokenService, views: TokenView[]) {
    const firstEights = service.firstEights(views.map((view) => view.id));
    return views.map((view) => apiKeyView(view, firstEights.get(view.id)));
  }

  return new Elysia({ name: "sessions" })
    .onAfterHandle(({ set }) => {
      set.headers["cache-control"] = "no-store";
    })
    .get(
      "/api/v1/",
      ({ request }) => {
        if (!sessions) return unavailable() as never;
        const base = publicBaseUrl(request);
        const auth = `${base}/api/v1/auth`;
        const olderClient = wantsPasswordMode(request.headers.get("user-agent"));
        return {
          api_version: 0,
          library_version: VERSION,
          formats: {},
          aliases: {},
          queries: [],
          authentication: {
            required: true,
            providers: [...loginProviders.values()].map(({ provider, mode }) => ({
              provider: provider.name,
              mode: mode === "internal" && olderClient ? ("password" as const) : mode,
              links: { auth_endpoint: `${auth}/provider/${encodeURIComponent(provider.name)}/token` },
              confirmation_message: null,
            })),
            links: {
              whoami: `${auth}/whoami`,
              apikey: `${auth}/apikey`,
              refresh_session: `${auth}/session/refresh`,
              revoke_session: `${auth}/session/revoke/{session_id}`,
              logout: `${auth}/logout`,
            },
          },
          links: { self: `${base}/api/v1/` },
          meta: {},
        };
      },
      { response: { 200: DiscoveryModel, 503: DetailModel }, detail: { summary: "Tiled's handshake: how to log in here" } },
    )
    .post(
      "/api/v1/auth/provider/:name/token",
      async ({ params, body, request, server }) => {
        if (!sessions) return unavailable() as never;
        const login = loginProviders.get(params.name);
        if (!login) return detailError(404, `No provider "${params.name}" takes a login here`) as never;
        if (body.grant_type !== undefined && body.grant_type !== "password") {
          return detailError(400, 'grant_type: only "password" is supported') as never;
        }
        const { provider, mode } = login;
        const secret = mode === "internal" ? body.password : (body.password ?? body.token ?? body.api_key);
        if (secret === undefined || (mode === "internal" && body.username === undefined)) {
          return detailError(400, mode === "internal" ? "username and password are required" : "The API key is required, as password") as never;
        }
        const credential = mode === "internal" ? basicCredential(body.username!, secret) : bearerCredential(secret);
        const client = clientAddress(request, server);
        const result = typeof credential === "string" ? null : await pipeline.authenticateWith(provider, credential, client);
        if (!result?.ok) {
          const username = typeof credential === "object" && credential.scheme === "basic" ? credential.username : null;
          sessions.recordFailedLogin(provider, username, client);
          return detailError(401, INCORRECT, { "www-authenticate": "Bearer" }) as never;
        }
        return answering(async () => ({
          ...(await sessions.login(result.user, provider.name, client, userAgentOf(request))),
          identity: { id: result.user.username, provider: provider.name },
          principal: principalOf(result.user),
        }));
      },
      { body: LoginBody, response: { 200: LoginModel, ...errors }, detail: { summary: "Log in: an access token and a refresh token" } },
    )
    .post(
      "/api/v1/auth/session/refresh",
      ({ body, request, server }) => {
        if (!sessions) return unavailable() as never;
        return answering(() => sessions.refresh(body.refresh_token, clientAddress(request, server)));
      },
      { body: RefreshTokenBody, response: { 200: TokensModel, ...errors }, detail: { summary: "A new pair for a refresh token (used once)" } },
    )
    .post(
      "/api/v1/auth/session/revoke",
      ({ body, request, server }) => {
        if (!sessions) return unavailable();
        sessions.revokeByRefreshToken(body.refresh_token, clientAddress(request, server));
        return noContent();
      },
      { body: RefreshTokenBody, detail: { summary: "End the session of a refresh token (always 204, RFC 7009)" } },
    )
    .delete(
      "/api/v1/auth/session/revoke/:session_id",
      ({ params, request, server }) =>
        asCaller(request, server, (caller, service) => {
          service.revoke(caller.actor, params.session_id);
          return noContent();
        }),
      { detail: { summary: "Revoke a session: your own, or any for an admin" } },
    )
    .get(
      "/api/v1/auth/sessions",
      ({ query, request, server }) =>
        asCaller(request, server, (caller, service) => ({
          sessions: sessionViews(
            caller,
            service.list(caller.actor, { username: query.user, realm: query.realm, includeInactive: query.include_inactive }),
          ),
        })),
      { query: SessionListQuery, response: { 200: SessionListModel, ...errors }, detail: { summary: "Sessions" } },
    )
    .get(
      "/api/v1/auth/whoami",
      async ({ request, server }) => {
        if (!sessions || !tokens) return unavailable() as never;
        const caller = await identify(request, server);
        // Tiled answers null to a request without a credential.
        if (caller === null) return jsonAnswer(200, null) as never;
        if (caller instanceof Response) return caller as never;
        const { user, actor } = caller;
        const ownSessions = sessions.list(actor);
        const loginProvider = ownSessions.find((session) => session.id === caller.sessionId)?.provider ?? caller.provider;
        return {
          type: "user" as const,
          principal: principalOf(user),
          username: user.username,
          realm: user.realm,
          roles: user.roles,
          attributes: user.attributes,
          scopes: user.scopes ?? null,
          identities: [{ id: user.username, provider: loginProvider }],
          api_keys: apiKeyViews(tokens, tokens.list(actor)),
          sessions: sessionViews(caller, ownSessions),
        };
      },
      { response: { 200: WhoamiModel, ...errors }, detail: { summary: "Who is calling, with their sessions and API keys (never secrets)" } },
    )
    .post(
      "/api/v1/auth/logout",
      ({ request, server }) =>
        asCaller(request, server, (caller, service) => {
          if (!caller.sessionId) {
            return detailError(
              400,
              "Not authenticated with a session's access token: log out with it, or POST the refresh token to /api/v1/auth/session/revoke",
            );
          }
          service.revoke(caller.actor, caller.sessionId, "logout");
          return noContent();
        }),
      { detail: { summary: "End the session of the access token used" } },
    )
    .post(
      "/api/v1/auth/logout/all",
      ({ request, server }) => asCaller(request, server, (caller, service) => ({ revoked: service.revokeAllOwn(caller.actor) })),
      { response: { 200: RevokedCountModel, ...errors }, detail: { summary: "Sign out everywhere: end every own session" } },
    )
    .post(
      "/api/v1/auth/apikey",
      ({ body, request, server }) =>
        asCaller(request, server, (caller, _sessions, service) => {
          const scopes = scopesFromList(body.scopes);
          if (typeof scopes === "string") return detailError(400, scopes) as never;
          const { secret, token } = service.create(caller.actor, caller.actor.user!, {
            note: body.note ?? undefined,
            expiresIn: body.expires_in,
            scopes,
          });
          return { ...apiKeyView(token, service.firstEights([token.id]).get(token.id)), secret };
        }),
      { body: ApiKeyBody, response: { 200: ApiKeyWithSecretModel, ...errors }, detail: { summary: "Create an API key (Tiled)" } },
    )
    .get(
      "/api/v1/auth/apikey",
      ({ request, server }) =>
        asCaller(request, server, (caller, _sessions, service) => {
          const used = caller.actor.token;
          if (!used) return detailError(401, "No API key was provided with this request.") as never;
          return apiKeyViews(service, [service.get(caller.actor, used.id)])[0];
        }),
      { response: { 200: ApiKeyModel, ...errors }, detail: { summary: "The API key this request used (Tiled)" } },
    )
    .delete(
      "/api/v1/auth/apikey",
      ({ query, request, server }) =>
        asCaller(request, server, (caller, _sessions, service) => {
          service.revokeOwnByFirstEight(caller.actor, query.first_eight);
          return noContent();
        }),
      { query: FirstEightQuery, detail: { summary: "Revoke one of your API keys by its first_eight (Tiled)" } },
    );
}
