// API tokens over HTTP.
//
// auth-o-tron compatible:  GET /token (create, default expiry) → {"token": "…"},
//                          GET /tokens → {"tokens": […]} (no secrets),
//                          DELETE /token/{token} → 204 (owner or admin only; a token revoking itself needs no scope).
// REST:                    POST /api/v1/tokens → 201 with the secret, once;
//                          GET /api/v1/tokens[?user=&realm=&all=&include_revoked=],
//                          GET|DELETE /api/v1/tokens/{id},
//                          POST /api/v1/tokens/{id}/rotate → 201 with the new secret, once;
//                          POST /api/v1/tokens/report-leak (GitHub's signed reports, or an admin's list) → the labels.
// The caller comes from the caller plugin (modules/caller.ts); the rules live
// in tokens/service.ts, which refuses with a Refusal this module answers as
// `{"error": …}`. With `store.enabled: false` every route answers 503, as
// auth-o-tron does.
import { Elysia, t } from "elysia";
import type { Logger } from "../../log.ts";
import { MAX_NOTE_LENGTH, type TokenService } from "../../tokens/service.ts";
import { MAX_NETWORKS } from "../../tokens/networks.ts";
import type { callerPlugin } from "../caller.ts";
import { holdsGatehouseScope } from "../../tokens/scopes.ts";
import { answerErrors, parseJsonObject, parseRawText } from "../errors.ts";
import { MAX_LEAK_REPORTS, parseLeakReports, verifyGithubSignature, type GithubKeys } from "../../tokens/leaks.ts";
import { Refusal } from "../../refusal.ts";
import { UNAUTHORIZED } from "../caller.ts";
import { httpRequestContext } from "../../identity/request.ts";
import type { AuditActor } from "../../store/audit/model.ts";
import { ErrorModel, noContent, refuseUnknownFields } from "../http.ts";

export interface TokensDeps {
  caller: ReturnType<typeof callerPlugin>;
  /** A stand-in that refuses with 503 when the store is disabled. */
  tokens: TokenService;
  /** The keys GitHub signs its leak reports with (tokens.leaks). */
  leakKeys: GithubKeys;
  logger: Logger;
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
  status: t.Union([t.Literal("active"), t.Literal("expired"), t.Literal("revoked"), t.Literal("rotated")]),
  created_at: t.String(),
  expires_at: nullable(t.String()),
  last_used_at: nullable(t.String()),
  last_used_address: nullable(t.String()),
  last_used_reported_address: nullable(t.String()),
  revoked_at: nullable(t.String()),
  parent_id: nullable(t.String({ description: "The token it was created with: revoking that one revoked this one" })),
  session_id: nullable(t.String({ description: "The session it was made in" })),
  revoked_reason: nullable(t.String({ description: "Why it was revoked, when nobody chose to (reuse after rotation, unused)" })),
  family_id: t.String({ description: "Its rotation family: the id of the first token rotated (its own when it is the first)" }),
  rotated_from: nullable(t.String({ description: "The token it replaced by rotation" })),
  rotated_to: nullable(t.String({ description: "The token that replaced it by rotation" })),
  rotated_until: nullable(t.String({ description: "Rotated away: until when its secret works (the grace)" })),
  allowed_networks: nullable(t.Array(t.String(), { description: "CIDR blocks it may be used from; null: anywhere" })),
  expiring_soon: t.Boolean({ description: "Live and expiring within tokens.remind_before" }),
};
export const TokenModel = t.Object(tokenFields, { description: "A token, without its secret" });
const TokenListModel = t.Object({ tokens: t.Array(TokenModel) });
const SecretModel = t.Object({ token: t.String({ description: "The secret: shown this once" }) });
const CreatedTokenModel = t.Object(
  {
    token: t.String({ description: "The secret: shown this once" }),
    ...tokenFields,
    lifetime_note: t.Optional(t.String({ description: "Present when the token lives shorter than asked, saying why" })),
  },
  { description: "The new token, with its secret" },
);
const NETWORKS_ERROR = `allowed_networks: a list of at most ${MAX_NETWORKS} CIDR blocks, e.g. ["192.0.2.0/24", "2001:db8::/32"]`;
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
    allowed_networks: t.Optional(
      t.Array(t.String({ error: NETWORKS_ERROR }), {
        description: `CIDR blocks the token may be used from (at most ${MAX_NETWORKS}); omitted: anywhere`,
        error: NETWORKS_ERROR,
      }),
    ),
  },
  { additionalProperties: false },
);
const RotateTokenBody = t.Object(
  {
    grace_seconds: t.Optional(
      t.Integer({
        minimum: 0,
        maximum: 3600,
        description: "How long the old secret keeps working (at most tokens.max_rotation_grace); default 0: it stops at once",
        error: "grace_seconds: a whole number of seconds, 0 to tokens.max_rotation_grace (at most 3600)",
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

const LeakVerdictsModel = t.Array(
  t.Object({ token_hash: t.String({ description: "SHA-256 of the reported value (hex)" }), token_type: t.String(), label: t.Union([t.Literal("true_positive"), t.Literal("false_positive")]) }),
  { description: "GitHub's feedback format: one entry per report, never the secret" },
);

/** The body of a leak report, as parseLeakReports reads it (documentation only: the route reads the body as sent, to check its signature). */
const LeakReportsBody = t.Array(
  t.Object({
    token: t.String({ minLength: 1, description: "The value found" }),
    type: t.Optional(t.String({ description: "GitHub's name of the token type" })),
    url: t.Optional(t.String({ description: "Where it was found" })),
    source: t.Optional(t.String({ description: "e.g. content, commit, issue" })),
  }),
  { maxItems: MAX_LEAK_REPORTS, description: "GitHub's secret-scanning partner format" },
);

export function tokensModule({ caller, tokens, leakKeys, logger }: TokensDeps) {
  return new Elysia({ name: "tokens" })
    .use(caller)
    .onError(answerErrors("error", logger))
    .onAfterHandle(({ set }) => {
      set.headers["cache-control"] = "no-store";
    })
    .get("/token", async ({ actor }) => ({ token: (await tokens.create(actor, actor.user!, {})).secret }), {
      // A GET that creates a token: refused cross-site like a POST.
      caller: { scope: "tokens", changesState: true },
      response: { 200: SecretModel, ...errors },
      detail: { summary: "Create a token with the default expiry (auth-o-tron)" },
    })
    .get("/tokens", async ({ actor }) => ({ tokens: await tokens.list(actor) }), {
      caller: "tokens",
      response: { 200: TokenListModel, ...errors },
      detail: { summary: "The caller's tokens (auth-o-tron)" },
    })
    .delete(
      "/token/:token",
      async ({ actor, user, params }) => {
        // A token may always revoke itself, whatever its scopes (RFC 7009's spirit: giving a credential up grants nothing);
        // revoking any other needs gatehouse:tokens. `gatehouse logout` revokes an ecflow-scoped token so.
        await tokens.revokeBySecret(actor, params.token, { onlyItself: !holdsGatehouseScope(user.scopes, "tokens") });
        return noContent();
      },
      {
        caller: true,
        params: t.Object({ token: t.String() }),
        detail: {
          summary: "Revoke a token by its secret (auth-o-tron); a token may revoke itself",
          responses: {
            204: { description: "Revoked, with the tokens made with it" },
            403: { description: "Another token than the one used, by a credential scoped without gatehouse:tokens" },
            404: { description: "No such token, or another user's" },
            503: { description: "The store is disabled" },
          },
        },
      },
    )
    .post(
      "/api/v1/tokens",
      async ({ actor, body, set }) => {
        const { secret, token } = await tokens.create(actor, actor.user!, {
          note: body.note,
          expiresIn: body.expires_in,
          expiresAt: body.expires_at,
          scopes: body.scopes,
          allowedNetworks: body.allowed_networks,
        });
        set.status = 201;
        return { token: secret, ...token };
      },
      {
        caller: "tokens",
        parse: parseJsonObject,
        body: CreateTokenBody,
        // Elysia drops fields a model does not name; a misspelt `expire_in` would silently give a 30-day token.
        transform: refuseUnknownFields(CreateTokenBody),
        response: { 201: CreatedTokenModel, ...errors },
        detail: { summary: "Create a token (an empty body: every default)" },
      },
    )
    .get(
      "/api/v1/tokens",
      async ({ actor, query }) => ({
        tokens: await tokens.list(actor, { username: query.user, realm: query.realm, all: query.all, includeRevoked: query.include_revoked }),
      }),
      { caller: "tokens", query: ListQuery, response: { 200: TokenListModel, ...errors }, detail: { summary: "List tokens" } },
    )
    .get("/api/v1/tokens/:id", ({ actor, params }) => tokens.get(actor, params.id), {
      caller: "tokens",
      params: t.Object({ id: t.String() }),
      response: { 200: TokenModel, ...errors },
      detail: { summary: "One token" },
    })
    .post(
      "/api/v1/tokens/report-leak",
      async ({ request, server, body, caller: found }) => {
        const text = body as string;
        const signature = request.headers.get("github-public-key-signature");
        let by: AuditActor;
        if (signature !== null) {
          // GitHub's secret scanning: the signature is checked before anything in the body is read.
          if (!leakKeys.configured) throw new Refusal(401, "Signed leak reports are not accepted here: tokens.leaks.github_keys_url (or github_keys_file) is not set");
          const verified = await verifyGithubSignature(leakKeys, text, request.headers.get("github-public-key-identifier"), signature);
          if (!verified) throw new Refusal(401, "The report's signature does not verify with GitHub's published keys");
          by = { user: null, operator: "github-secret-scanning", client: httpRequestContext("api", request, server).client };
        } else {
          if (!found) throw new Refusal(401, UNAUTHORIZED);
          if (!found.actor.admin) throw new Refusal(403, "Reports without GitHub's signature are taken from administrators only");
          by = found.actor;
        }
        return tokens.reportLeaks(parseLeakReports(text), by);
      },
      {
        identified: true,
        parse: parseRawText,
        response: { 200: LeakVerdictsModel, ...errors },
        detail: {
          summary: "Report leaked tokens (GitHub's secret-scanning partner format, signed; or an admin's plain list): live ones are revoked at once",
          description:
            "Signed by GitHub (its public key identifier and signature headers, checked against tokens.leaks' keys) from anyone; unsigned, from an administrator only.",
          parameters: [
            { name: "Github-Public-Key-Identifier", in: "header", required: false, schema: { type: "string" }, description: "The key GitHub signed the body with" },
            { name: "Github-Public-Key-Signature", in: "header", required: false, schema: { type: "string" }, description: "GitHub's signature of the body, as sent (base64 ECDSA)" },
          ],
          requestBody: { required: true, content: { "application/json": { schema: LeakReportsBody } } },
        },
      },
    )
    .post(
      "/api/v1/tokens/:id/rotate",
      async ({ actor, params, body, set }) => {
        const { secret, token } = await tokens.rotate(actor, params.id, { graceSeconds: body.grace_seconds });
        set.status = 201;
        return { token: secret, ...token };
      },
      {
        caller: "tokens",
        params: t.Object({ id: t.String() }),
        // An empty body is every default (the old secret stops at once).
        parse: parseJsonObject,
        body: RotateTokenBody,
        transform: refuseUnknownFields(RotateTokenBody),
        response: { 201: CreatedTokenModel, ...errors, 409: ErrorModel },
        detail: { summary: "Rotate a token: a new secret with the same note, scopes and networks; the old one stops (after grace_seconds)" },
      },
    )
    .delete(
      "/api/v1/tokens/:id",
      async ({ actor, params }) => {
        await tokens.revoke(actor, params.id);
        return noContent();
      },
      {
        caller: "tokens",
        params: t.Object({ id: t.String() }),
        detail: {
          summary: "Revoke a token",
          responses: {
            204: { description: "Revoked, with the tokens made with it" },
            404: { description: "No such token, or another user's" },
            503: { description: "The store is disabled" },
          },
        },
      },
    );
}
