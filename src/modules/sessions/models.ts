// Request and response shapes of the Tiled-compatible routes (see ./index.ts).
import { t } from "elysia";

const nullable = <T extends Parameters<typeof t.Union>[0][number]>(schema: T) => t.Union([schema, t.Null()]);

/** Tiled clients read an error's message from `detail`. */
export const DetailModel = t.Object({ detail: t.String() }, { description: "Every failure on these routes" });

/** A device-code poll that gets no session (RFC 8628 §3.5), at the top level for standard clients and under `detail` for Tiled's. */
const DeviceGrantError = t.Object({
  error: t.String({ description: "authorization_pending, slow_down, access_denied or expired_token" }),
  error_description: t.String(),
});
export const DeviceGrantErrorModel = t.Object({ ...DeviceGrantError.properties, detail: DeviceGrantError }, { description: "RFC 8628's refusal of a poll" });

export const DiscoveryModel = t.Object({
  api_version: t.Integer(),
  library_version: t.String(),
  formats: t.Record(t.String(), t.Unknown()),
  aliases: t.Record(t.String(), t.Unknown()),
  queries: t.Array(t.String()),
  authentication: t.Object({
    required: t.Boolean(),
    providers: t.Array(
      t.Object({
        provider: t.String(),
        mode: t.Union([t.Literal("internal"), t.Literal("password"), t.Literal("token"), t.Literal("external")]),
        links: t.Object({ auth_endpoint: t.String() }),
        confirmation_message: t.Null(),
      }),
    ),
    links: t.Object({
      whoami: t.String(),
      apikey: t.String(),
      refresh_session: t.String(),
      revoke_session: t.String({ description: "With the literal {session_id} to fill in" }),
      logout: t.String(),
    }),
  }),
  links: t.Object({ self: t.String() }),
  meta: t.Record(t.String(), t.Unknown()),
});

/**
 * The OAuth2 password form (RFC 6749 §4.3.2), as form fields or JSON. An API-key provider takes the key as `password` (or `token`, `api_key`).
 * With grant_type urn:ietf:params:oauth:grant-type:device_code, a command line's poll instead (RFC 8628 §3.4: `device_code`).
 */
export const LoginBody = t.Object({
  username: t.Optional(t.String({ maxLength: 256 })),
  password: t.Optional(t.String({ maxLength: 4096 })),
  grant_type: t.Optional(t.String({ maxLength: 64 })),
  token: t.Optional(t.String({ maxLength: 4096 })),
  api_key: t.Optional(t.String({ maxLength: 4096 })),
  device_code: t.Optional(t.String({ maxLength: 256 })),
});

export const TokensModel = t.Object({
  access_token: t.String(),
  expires_in: t.Integer({ description: "Seconds" }),
  refresh_token: t.String({ description: "Opaque; exchanged for a new pair at refresh_session, once" }),
  refresh_token_expires_in: t.Integer({ description: "Seconds until the session ends unless refreshed" }),
  token_type: t.Literal("bearer"),
});

const LifetimeNote = t.Optional(t.String({ description: "Present when it lives shorter than the usual maximum, saying why" }));

export const LoginModel = t.Object({
  ...TokensModel.properties,
  session_expires_in: t.Integer({ description: "Seconds until the session ends, however active (its absolute limit)" }),
  lifetime_note: LifetimeNote,
  identity: t.Object({ id: t.String(), provider: t.String() }),
  principal: t.String({ description: "{realm}-{username}, the `sub` of Gatehouse's JWTs" }),
});

export const RefreshTokenBody = t.Object({ refresh_token: t.String({ maxLength: 4096 }) });

export const SessionModel = t.Object({
  id: t.String(),
  username: t.String(),
  realm: t.String(),
  provider: t.String(),
  status: t.Union([t.Literal("active"), t.Literal("expired"), t.Literal("revoked")]),
  created_at: t.String(),
  refreshed_at: nullable(t.String()),
  expires_at: t.String({ description: "The absolute limit" }),
  refresh_expires_at: t.String({ description: "The session ends then unless refreshed" }),
  revoked_at: nullable(t.String()),
  revoked_reason: nullable(t.String()),
  address: nullable(t.String()),
  reported_address: nullable(t.String()),
  user_agent: nullable(t.String()),
  current: t.Boolean({ description: "The session of the access token this request used" }),
});

export const SessionListModel = t.Object({ sessions: t.Array(SessionModel) });

export const SessionListQuery = t.Object({
  user: t.Optional(t.String({ minLength: 1, description: "Admins: this user's sessions" })),
  realm: t.Optional(t.String({ minLength: 1, description: "Admins: sessions of users of this realm" })),
  include_inactive: t.Optional(t.Boolean({ description: "Also revoked and expired sessions" })),
});

export const RevokedCountModel = t.Object({ revoked: t.Integer() });

export const EndUserBody = t.Object({ username: t.String({ minLength: 1 }), realm: t.String({ minLength: 1 }) }, { additionalProperties: false });
export const EndedModel = t.Object({
  sessions: t.Integer({ description: "Sessions ended" }),
  tokens: t.Integer({ description: "API tokens revoked (besides the tokens made from them)" }),
});

const apiKeyFields = {
  id: t.String({ description: "Gatehouse's public id of the token" }),
  first_eight: nullable(t.String({ description: "The first 8 characters after the prefix" })),
  expiration_time: nullable(t.String()),
  note: nullable(t.String()),
  scopes: t.Array(t.String(), { description: '"service:scope"; ["inherit"] for every scope its owner holds' }),
  latest_activity: nullable(t.String()),
};
export const ApiKeyModel = t.Object(apiKeyFields);
export const ApiKeyWithSecretModel = t.Object({ ...apiKeyFields, secret: t.String({ description: "Shown this once" }), lifetime_note: LifetimeNote });

export const ApiKeyBody = t.Object({
  expires_in: t.Optional(nullable(t.Integer({ description: "Seconds; null: never (when allowed)" }))),
  scopes: t.Optional(nullable(t.Array(t.String({ maxLength: 200 }), { maxItems: 200 }))),
  note: t.Optional(nullable(t.String())),
});

export const FirstEightQuery = t.Object({ first_eight: t.String({ minLength: 1, maxLength: 64 }) });

export const WhoamiModel = nullable(
  t.Object({
    type: t.Literal("user"),
    principal: t.String(),
    username: t.String(),
    realm: t.String(),
    roles: t.Array(t.String()),
    attributes: t.Record(t.String(), t.String()),
    scopes: nullable(t.Record(t.String(), t.Array(t.String()))),
    identities: t.Array(t.Object({ id: t.String(), provider: t.String() })),
    api_keys: t.Array(ApiKeyModel),
    sessions: t.Array(SessionModel),
  }),
);
