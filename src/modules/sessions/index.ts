// Sessions over HTTP, compatible with Tiled's handshake and client:
//
//   GET    /api/v1/                                 discovery: providers that take a login, and the links
//   POST   /api/v1/auth/provider/{name}/token       login (OAuth2 password form, or JSON) → tokens;
//                                                   with the device-code grant, a command line's poll (modules/device)
//   POST   /api/v1/auth/session/refresh             {refresh_token} → a new pair (rotation)
//   POST   /api/v1/auth/session/revoke              {refresh_token} → 204 (Tiled's client logout)
//   DELETE /api/v1/auth/session/revoke/{session_id} own session (admins: any) → 204
//   GET    /api/v1/auth/sessions                    own sessions (admins: ?user=&realm=)
//   GET    /api/v1/auth/whoami                      identity, sessions, API keys; null without a credential
//   POST   /api/v1/auth/logout                      revokes the session of the access token used
//   POST   /api/v1/auth/logout/all                  revokes every own session ("sign out everywhere")
//   POST|GET|DELETE /api/v1/auth/apikey             Tiled's API keys, on Gatehouse's API tokens
//   POST   /api/v1/auth/users/end                   admins: end a user's sessions and tokens {username, realm}
//
// Errors carry their message under `detail`, as Tiled clients read it (this
// module's error handler, modules/errors.ts). The caller comes from the
// caller plugin; the rules live in sessions/service.ts and tokens/service.ts,
// which refuse with a Refusal; this file translates.
import { banRefusal } from "../../regulation/index.ts";
import { Elysia, t } from "elysia";
import { basicCredential, bearerCredential } from "../../identity/credentials.ts";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import { httpRequestContext, type PeerLookup } from "../../identity/request.ts";
import type { User } from "../../identity/user.ts";
import type { Provider } from "../../providers/provider.ts";
import { DEVICE_CODE_GRANT_TYPE } from "../../sign-in/device.ts";
import type { Logger } from "../../log.ts";
import { Refusal } from "../../refusal.ts";
import type { LoginTokens, SessionService, SessionView } from "../../sessions/service.ts";
import type { TokenService, TokenView } from "../../tokens/service.ts";
import { VERSION } from "../../version.ts";
import type { callerPlugin } from "../caller.ts";
import { answerErrors, parseFormOrJsonObject, parseJsonObject } from "../errors.ts";
import { jsonAnswer, noContent } from "../http.ts";
import type { PublicUrl } from "../public-url.ts";
import {
  ApiKeyBody,
  ApiKeyModel,
  ApiKeyWithSecretModel,
  DetailModel,
  DeviceGrantErrorModel,
  DiscoveryModel,
  EndedModel,
  EndUserBody,
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
import { holdsGatehouseScope } from "../../tokens/scopes.ts";
import { loginMode, scopesFromList, scopesToList, wantsPasswordMode } from "./tiled.ts";

export interface SessionsDeps {
  pipeline: IdentityPipeline;
  caller: ReturnType<typeof callerPlugin>;
  /** Stand-ins that refuse with 503 when the store is disabled. */
  sessions: SessionService;
  tokens: TokenService;
  /** False when the store is disabled: discovery then answers 503 too. */
  storeEnabled: boolean;
  publicUrl: PublicUrl;
  logger: Logger;
  /** The device-code grant's polls on the login route (modules/device); absent: that grant type is refused. */
  deviceGrant?: DeviceGrant;
}

/** A command line's poll (RFC 8628 §3.4) for a session of `provider`: the login answer, or its refusal as an answer. */
export type DeviceGrant = (provider: Provider, deviceCode: string | undefined, request: Request, server: PeerLookup | null) => Promise<LoginAnswer | Response>;

/** A login's answer, Tiled's: the tokens, who logged in and with which provider. */
export type LoginAnswer = LoginTokens & { identity: { id: string; provider: string }; principal: string };

export const loginAnswer = (tokens: LoginTokens, user: User, provider: string): LoginAnswer => ({
  ...tokens,
  identity: { id: user.username, provider },
  principal: principalOf(user),
});

const INCORRECT = "Incorrect username or password";
const errors = { 400: DetailModel, 401: DetailModel, 403: DetailModel, 404: DetailModel, 503: DetailModel };
const userAgentOf = (request: Request) => request.headers.get("user-agent")?.slice(0, 256) ?? null;
const principalOf = (user: { username: string; realm: string }) => `${user.realm}-${user.username}`;
/** Every route's answer without the store (its stand-ins' too: ./wiring.ts). */
export const UNAVAILABLE = "Sessions need the store, which is disabled (store.enabled: false)";

export function sessionsModule(deps: SessionsDeps) {
  return new Elysia({ name: "sessions" })
    .use(deps.caller)
    .onError(answerErrors("detail", deps.logger))
    .onAfterHandle(({ set }) => {
      set.headers["cache-control"] = "no-store";
    })
    .use(loginRoutes(deps))
    .use(sessionRoutes(deps))
    .use(apiKeyRoutes(deps));
}

/** The providers that take a login (Tiled's discovery), by name. */
function loginProviders(pipeline: IdentityPipeline) {
  return new Map(
    pipeline.providers.flatMap((provider) => {
      const mode = loginMode(provider);
      return mode ? [[provider.name, { provider, mode }] as const] : [];
    }),
  );
}

/** Tiled's handshake, its login (and a command line's poll) and what a refresh token does. */
function loginRoutes(deps: SessionsDeps) {
  const { pipeline, sessions, storeEnabled } = deps;
  const providers = loginProviders(pipeline);
  return new Elysia({ name: "sessions-login" })
    .get(
      "/api/v1/",
      ({ request, server }) => {
        if (!storeEnabled) throw new Refusal(503, UNAVAILABLE);
        const base = deps.publicUrl.base(request, server);
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
            providers: [...providers.values()].map(({ provider, mode }) => ({
              provider: provider.name,
              mode: mode === "internal" && olderClient ? ("password" as const) : mode,
              // An identity provider's sign-in starts in the browser (Tiled's external mode); the others take a password or key here.
              links: { auth_endpoint: `${auth}/provider/${encodeURIComponent(provider.name)}/${mode === "external" ? "authorize" : "token"}` },
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
        if (!storeEnabled) throw new Refusal(503, UNAVAILABLE);
        const login = providers.get(params.name);
        if (!login) throw new Refusal(404, `No provider "${params.name}" takes a login here`);
        // A poll's refusal is a Response in RFC 8628's shape, sent as it is.
        if (body.grant_type === DEVICE_CODE_GRANT_TYPE && deps.deviceGrant) return (await deps.deviceGrant(login.provider, body.device_code, request, server)) as never;
        if (body.grant_type !== undefined && body.grant_type !== "password") {
          throw new Refusal(400, `grant_type: "password"${deps.deviceGrant ? ` or "${DEVICE_CODE_GRANT_TYPE}"` : ""}`);
        }
        const { provider, mode } = login;
        if (mode === "external") {
          throw new Refusal(400, `"${provider.name}" signs in through the browser: start at /api/v1/auth/provider/${provider.name}/authorize`);
        }
        const secret = mode === "internal" ? body.password : (body.password ?? body.token ?? body.api_key);
        if (secret === undefined || (mode === "internal" && body.username === undefined)) {
          throw new Refusal(400, mode === "internal" ? "username and password are required" : "The API key is required, as password");
        }
        const credential = mode === "internal" ? basicCredential(body.username!, secret) : bearerCredential(secret);
        const context = httpRequestContext("login", request, server);
        const result = typeof credential === "string" ? null : await pipeline.authenticateWith(provider, credential, context);
        if (result && !result.ok && result.ban) throw banRefusal(result.ban);
        if (!result?.ok) {
          const username = typeof credential === "object" && credential.scheme === "basic" ? credential.username : null;
          await sessions.recordFailedLogin(provider, username, context.client);
          throw new Refusal(401, INCORRECT, { "www-authenticate": "Bearer" });
        }
        return loginAnswer(await sessions.login(result.user, provider, context.client, userAgentOf(request)), result.user, provider.name);
      },
      {
        parse: parseFormOrJsonObject,
        body: LoginBody,
        response: { 200: LoginModel, ...errors },
        detail: {
          summary: "Log in: an access token and a refresh token",
          description: `With grant_type ${DEVICE_CODE_GRANT_TYPE}, a command line's poll for the sign-in it started (RFC 8628): its refusals are RFC 8628's (authorization_pending, slow_down, access_denied, expired_token).`,
          responses: {
            400: {
              description: "An invalid request; a device-code poll that gets no session yet says why in RFC 8628's shape",
              // A copy of DetailModel: Elysia writes into the models it validates with, and this one is only described.
              content: { "application/json": { schema: t.Union([t.Object({ detail: t.String() }), DeviceGrantErrorModel]) } },
            },
            401: { description: "Incorrect username or password (or API key)", headers: { "WWW-Authenticate": { schema: { type: "string" } } } },
            404: { description: "No provider of this name takes a login" },
            429: { description: "Too many failed attempts (regulation)", headers: { "Retry-After": { schema: { type: "integer" } } } },
          },
        },
      },
    )
    .post(
      "/api/v1/auth/session/refresh",
      ({ body, request, server }) => sessions.refresh(body.refresh_token, httpRequestContext("api", request, server).client),
      {
        parse: parseJsonObject,
        body: RefreshTokenBody,
        response: { 200: TokensModel, ...errors },
        detail: { summary: "A new pair for a refresh token (used once)" },
      },
    )
    .post(
      "/api/v1/auth/session/revoke",
      async ({ body, request, server }) => {
        await sessions.revokeByRefreshToken(body.refresh_token, httpRequestContext("api", request, server).client);
        return noContent();
      },
      {
        parse: parseJsonObject,
        body: RefreshTokenBody,
        detail: {
          summary: "End the session of a refresh token (always 204, RFC 7009)",
          responses: { 204: { description: "Ended, or there was none" }, 503: { description: "The store is disabled" } },
        },
      },
    );
}

/** The sessions of whoever calls: list, end one or all, whoami; and an administrator's ending of a user's. */
function sessionRoutes(deps: SessionsDeps) {
  const { caller, sessions, tokens } = deps;
  return new Elysia({ name: "sessions-own" })
    .use(caller)
    .delete(
      "/api/v1/auth/session/revoke/:session_id",
      async ({ params, actor }) => {
        await sessions.revoke(actor, params.session_id);
        return noContent();
      },
      {
        caller: "sessions",
        detail: {
          summary: "Revoke a session: your own, or any for an admin",
          responses: {
            204: { description: "Revoked" },
            404: { description: "No such live session, or another user's" },
            503: { description: "The store is disabled" },
          },
        },
      },
    )
    .get(
      "/api/v1/auth/sessions",
      async ({ query, actor }) => ({
        sessions: sessionViews(
          actor.sessionId,
          await sessions.list(actor, { username: query.user, realm: query.realm, includeInactive: query.include_inactive }),
        ),
      }),
      { caller: "sessions", query: SessionListQuery, response: { 200: SessionListModel, ...errors }, detail: { summary: "Sessions" } },
    )
    .get(
      "/api/v1/auth/whoami",
      async ({ caller }) => {
        // Tiled answers null to a request without a credential.
        if (!caller) return jsonAnswer(200, null) as never;
        const { user, actor } = caller;
        // A scoped token sees its own tokens and sessions only with the gatehouse scopes for them.
        const ownSessions = holdsGatehouseScope(user.scopes, "sessions") ? await sessions.list(actor) : [];
        const loginProvider = ownSessions.find((session) => session.id === actor.sessionId)?.provider ?? caller.provider.name;
        return {
          type: "user" as const,
          principal: principalOf(user),
          username: user.username,
          realm: user.realm,
          roles: user.roles,
          attributes: user.attributes,
          scopes: user.scopes ?? null,
          identities: [{ id: user.username, provider: loginProvider }],
          api_keys: holdsGatehouseScope(user.scopes, "tokens") ? await apiKeyViews(tokens, await tokens.list(actor)) : [],
          sessions: sessionViews(actor.sessionId, ownSessions),
        };
      },
      {
        identified: true,
        response: { 200: WhoamiModel, ...errors },
        detail: { summary: "Who is calling, with their sessions and API keys (never secrets)" },
      },
    )
    .post(
      "/api/v1/auth/logout",
      async ({ actor }) => {
        await sessions.logout(actor);
        return noContent();
      },
      {
        caller: "sessions",
        detail: {
          summary: "End the session of the access token used",
          responses: {
            204: { description: "Ended" },
            400: { description: "Not called with a session's access token" },
            404: { description: "The session has ended already" },
            503: { description: "The store is disabled" },
          },
        },
      },
    )
    .post("/api/v1/auth/logout/all", async ({ actor }) => ({ revoked: await sessions.revokeAllOwn(actor) }), {
      caller: "sessions",
      response: { 200: RevokedCountModel, ...errors },
      detail: { summary: "Sign out everywhere: end every own session" },
    })
    .post("/api/v1/auth/users/end", ({ body, actor }) => sessions.endEverything(actor, body), {
      admin: true,
      parse: parseJsonObject,
      body: EndUserBody,
      response: { 200: EndedModel, ...errors },
      detail: { summary: "Admins: end every session of a user and revoke every API token of theirs, in one action" },
    });
}

/** The sessions, the one the request came with marked `current`. */
const sessionViews = (currentId: string | undefined, views: SessionView[]) => views.map((view) => ({ ...view, current: view.id === currentId }));

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

async function apiKeyViews(service: TokenService, views: TokenView[]) {
  const firstEights = await service.firstEights(views.map((view) => view.id));
  return views.map((view) => apiKeyView(view, firstEights.get(view.id)));
}

/** Tiled's API keys, on Gatehouse's API tokens. */
function apiKeyRoutes({ caller, tokens }: SessionsDeps) {
  return new Elysia({ name: "sessions-apikeys" })
    .use(caller)
    .post(
      "/api/v1/auth/apikey",
      async ({ body, actor }) => {
        const scopes = scopesFromList(body.scopes);
        if (typeof scopes === "string") throw new Refusal(400, scopes);
        const { secret, token } = await tokens.create(actor, actor.user!, { note: body.note ?? undefined, expiresIn: body.expires_in, scopes });
        const lifetime = token.lifetime_note ? { lifetime_note: token.lifetime_note } : {};
        return { ...apiKeyView(token, (await tokens.firstEights([token.id])).get(token.id)), secret, ...lifetime };
      },
      {
        caller: "tokens",
        parse: parseJsonObject,
        body: ApiKeyBody,
        response: { 200: ApiKeyWithSecretModel, ...errors },
        detail: { summary: "Create an API key (Tiled)" },
      },
    )
    .get(
      "/api/v1/auth/apikey",
      async ({ actor }) => {
        return (await apiKeyViews(tokens, [await tokens.used(actor)]))[0];
      },
      { caller: true, response: { 200: ApiKeyModel, ...errors }, detail: { summary: "The API key this request used (Tiled)" } },
    )
    .delete(
      "/api/v1/auth/apikey",
      async ({ query, actor }) => {
        await tokens.revokeOwnByFirstEight(actor, query.first_eight);
        return noContent();
      },
      {
        caller: "tokens",
        query: FirstEightQuery,
        detail: {
          summary: "Revoke one of your API keys by its first_eight (Tiled)",
          responses: { 204: { description: "Revoked" }, 404: { description: "You have no such API key" }, 503: { description: "The store is disabled" } },
        },
      },
    );
}
