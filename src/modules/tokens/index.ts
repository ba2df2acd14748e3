// API tokens over HTTP.
//
// auth-o-tron compatible:  GET /token (create, default expiry) → {"token": "…"},
//                          GET /tokens → {"tokens": […]} (no secrets),
//                          DELETE /token/{token} → 204 (owner or admin only).
// REST:                    POST /api/v1/tokens → 201 with the secret, once;
//                          GET /api/v1/tokens[?user=&realm=&all=&include_revoked=],
//                          GET|DELETE /api/v1/tokens/{id}.
// The caller is authenticated by the identity pipeline, as for /whoami; the
// rules live in tokens/service.ts. With `store.enabled: false` every route
// answers 503, as auth-o-tron does.
import { Elysia, t } from "elysia";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { ApiTokenProvider } from "../../providers/api-token.ts";
import { MAX_NOTE_LENGTH, TokenError, type Actor, type TokenService } from "../../tokens/service.ts";
import { authenticateCaller } from "../caller.ts";
import { ErrorModel, jsonError, noContent, refuseUnknownFields, type PeerLookup } from "../http.ts";

export interface TokensDeps {
  pipeline: IdentityPipeline;
  /** null when the store is disabled. */
  tokens: TokenService | null;
  apiTokens: ApiTokenProvider | null;
  adminRole: string;
}

const ScopesModel = t.Record(t.String({ minLength: 1 }), t.Array(t.String({ minLength: 1 })), {
  description: "service → scopes, from the configured services",
});
const nullable = <T extends Parameters<typeof t.Union>[0][number]>(schema: T) => t.Union([schema, t.Null()]);

const tokenFields = {
  id: t.String({ description: "Public identifier, used to show and revoke the token" }),
  username: t.String(),
  realm: t.String(),
  note: t.String(),
  scopes: nullable(ScopesModel),
  status: t.Union([t.Literal("active"), t.Literal("expired"), t.Literal("revoked")]),
  created_at: t.String(),
  expires_at: nullable(t.String()),
  last_used_at: nullable(t.String()),
  last_used_address: nullable(t.String()),
  last_used_reported_address: nullable(t.String()),
  revoked_at: nullable(t.String()),
};
export const TokenModel = t.Object(tokenFields, { description: "A token, without its secret" });
const TokenListModel = t.Object({ tokens: t.Array(TokenModel) });
const SecretModel = t.Object({ token: t.String({ description: "The secret: shown this once" }) });
const CreatedTokenModel = t.Object(
  { token: t.String({ description: "The secret: shown this once" }), ...tokenFields },
  { description: "The new token, with its secret" },
);
const SCOPES_ERROR = 'scopes: an object of service → list of scopes, e.g. {"ecflow": ["read"]}';
const CreateTokenBody = t.Object(
  {
    note: t.Optional(t.String({ maxLength: MAX_NOTE_LENGTH })),
    expires_in: t.Optional(
      t.Union([t.Integer({ minimum: 1 }), t.Null()], {
        description: "Seconds from now; null: never expires",
        error: "expires_in: a whole number of seconds (at least 1), or null for a token that never expires",
      }),
    ),
    expires_at: t.Optional(
      t.Union([t.String({ minLength: 1 }), t.Null()], {
        description: "An ISO 8601 date; null: never expires",
        error: "expires_at: an ISO 8601 date, or null for a token that never expires",
      }),
    ),
    scopes: t.Optional(
      t.Record(t.String({ minLength: 1 }), t.Array(t.String({ minLength: 1, error: SCOPES_ERROR }), { error: SCOPES_ERROR }), {
        error: SCOPES_ERROR,
      }),
    ),
  },
  { additionalProperties: false },
);
const ListQuery = t.Object({
  user: t.Optional(t.String({ minLength: 1, description: "Admins: this user's tokens" })),
  realm: t.Optional(t.String({ minLength: 1, description: "Admins: tokens of users of this realm" })),
  all: t.Optional(t.Boolean({ description: "Admins: every user's tokens" })),
  include_revoked: t.Optional(t.Boolean()),
});
const errors = { 400: ErrorModel, 401: ErrorModel, 403: ErrorModel, 404: ErrorModel, 503: ErrorModel };

export function tokensModule(deps: TokensDeps) {
  const { pipeline, tokens, apiTokens, adminRole } = deps;

  /** Authenticates the caller, then runs `work`; refusals become JSON errors. */
  async function asCaller<T>(
    request: Request,
    server: PeerLookup | null,
    work: (actor: Actor, tokens: TokenService) => T,
  ): Promise<T> {
    // Elysia sends a Response as it is, whatever the route's response schema;
    // its types only accept one or the other, hence the casts of refusals.
    if (!tokens) return jsonError(503, "Token store is disabled") as T;
    const caller = await authenticateCaller(pipeline, request, server);
    if (caller instanceof Response) return caller as T;
    const actor: Actor = {
      user: { username: caller.user.username, realm: caller.user.realm },
      admin: caller.user.roles.includes(adminRole),
      scopes: caller.user.scopes,
      token: apiTokens?.tokenOf(caller.user),
      client: caller.client,
    };
    try {
      return work(actor, tokens);
    } catch (error) {
      if (error instanceof TokenError) return jsonError(error.status, error.message) as T;
      throw error;
    }
  }

  return new Elysia({ name: "tokens" })
    .onAfterHandle(({ set }) => {
      set.headers["cache-control"] = "no-store";
    })
    .get(
      "/token",
      ({ request, server }) =>
        asCaller(request, server, (actor, service) => ({ token: service.create(actor, actor.user!, {}).secret })),
      { response: { 200: SecretModel, ...errors }, detail: { summary: "Create a token with the default expiry (auth-o-tron)" } },
    )
    .get(
      "/tokens",
      ({ request, server }) => asCaller(request, server, (actor, service) => ({ tokens: service.list(actor) })),
      { response: { 200: TokenListModel, ...errors }, detail: { summary: "The caller's tokens (auth-o-tron)" } },
    )
    .delete(
      "/token/:token",
      ({ request, server, params }) =>
        asCaller(request, server, (actor, service) => {
          service.revokeBySecret(actor, params.token);
          return noContent();
        }),
      { params: t.Object({ token: t.String() }), detail: { summary: "Revoke a token by its secret (auth-o-tron)" } },
    )
    .post(
      "/api/v1/tokens",
      ({ request, server, body, set }) =>
        asCaller(request, server, (actor, service) => {
          const { secret, token } = service.create(actor, actor.user!, {
            note: body.note,
            expiresIn: body.expires_in,
            expiresAt: body.expires_at,
            scopes: body.scopes,
          });
          set.status = 201;
          return { token: secret, ...token };
        }),
      {
        body: CreateTokenBody,
        // Elysia drops fields a model does not name; a misspelt `expire_in` would silently give a 30-day token.
        transform: refuseUnknownFields(CreateTokenBody),
        response: { 201: CreatedTokenModel, ...errors },
        detail: { summary: "Create a token" },
      },
    )
    .get(
      "/api/v1/tokens",
      ({ request, server, query }) =>
        asCaller(request, server, (actor, service) => ({
          tokens: service.list(actor, {
            username: query.user,
            realm: query.realm,
            all: query.all,
            includeRevoked: query.include_revoked,
          }),
        })),
      { query: ListQuery, response: { 200: TokenListModel, ...errors }, detail: { summary: "List tokens" } },
    )
    .get(
      "/api/v1/tokens/:id",
      ({ request, server, params }) => asCaller(request, server, (actor, service) => service.get(actor, params.id)),
      { params: t.Object({ id: t.String() }), response: { 200: TokenModel, ...errors }, detail: { summary: "One token" } },
    )
    .delete(
      "/api/v1/tokens/:id",
      ({ request, server, params }) =>
        asCaller(request, server, (actor, service) => {
          service.revoke(actor, params.id);
          return noContent();
        }),
      { params: t.Object({ id: t.String() }), detail: { summary: "Revoke a token" } },
    );
}
