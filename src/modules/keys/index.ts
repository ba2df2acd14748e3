// Signing keys over HTTP: the public JWKS and a minimal OpenID discovery
// document for backends, and the admin routes to see and rotate keys.
import { Elysia, t, type Static } from "elysia";
import type { KeySet } from "../../keys/keyset.ts";
import type { ManagedKeySet } from "../../keys/managed.ts";
import type { Logger } from "../../log.ts";
import { Refusal } from "../../refusal.ts";
import type { callerPlugin } from "../caller.ts";
import { answerErrors } from "../errors.ts";
import { ErrorModel } from "../http.ts";
import type { PublicUrl } from "../public-url.ts";
import { isoDate } from "../../dates.ts";

export interface KeysDeps {
  caller: ReturnType<typeof callerPlugin>;
  keySet: KeySet;
  /** null in shared-secret mode. */
  managed: ManagedKeySet | null;
  issuer: string;
  publishAheadSeconds: number;
  publicUrl: PublicUrl;
  logger: Logger;
}

const KeyModel = t.Object({
  kid: t.String(),
  alg: t.String(),
  state: t.Union([t.Literal("next"), t.Literal("current"), t.Literal("previous"), t.Literal("retired")]),
  created_at: t.String(),
  activates_at: t.Union([t.String(), t.Null()]),
  activated_at: t.Union([t.String(), t.Null()]),
  deactivated_at: t.Union([t.String(), t.Null()]),
  retires_at: t.Union([t.String(), t.Null()]),
  retired_at: t.Union([t.String(), t.Null()]),
});
const KeyListModel = t.Object({ mode: t.String(), keys: t.Array(KeyModel) });
const JwksModel = t.Object({ keys: t.Array(t.Record(t.String(), t.Unknown())) });
/** Documentation only: the discovery route's answer, as it is built. */
const DiscoveryModel = t.Object({
  issuer: t.String(),
  jwks_uri: t.String(),
  id_token_signing_alg_values_supported: t.Array(t.String()),
  response_types_supported: t.Array(t.String()),
  subject_types_supported: t.Array(t.String()),
});


export type KeyView = Static<typeof KeyModel>;

/** The managed keys as the API and the portal show them: states and dates, never private material. */
export async function keyViews(managed: ManagedKeySet | null): Promise<KeyView[]> {
  return ((await managed?.list()) ?? []).map((row) => ({
    kid: row.kid,
    alg: row.alg,
    state: row.state as KeyView["state"],
    created_at: isoDate(row.createdAt)!,
    activates_at: isoDate(row.activatesAt),
    activated_at: isoDate(row.activatedAt),
    deactivated_at: isoDate(row.deactivatedAt),
    retires_at: isoDate(row.retiresAt),
    retired_at: isoDate(row.retiredAt),
  }));
}

export function keysModule(deps: KeysDeps) {
  const { caller, keySet, managed, logger } = deps;
  // Backends re-read the JWKS at least twice within publish_ahead, so they
  // hold a new key before it signs anything.
  const jwksMaxAge = Math.max(0, Math.min(3600, Math.floor(deps.publishAheadSeconds / 2)));

  const listing = async () => ({ mode: keySet.mode, keys: await keyViews(managed) });

  return new Elysia({ name: "keys" })
    .use(caller)
    .onError(answerErrors("error", logger))
    .get(
      "/.well-known/jwks.json",
      ({ set }) => {
        set.headers["cache-control"] = `public, max-age=${jwksMaxAge}`;
        return keySet.jwks();
      },
      { response: JwksModel, detail: { summary: "The public keys that verify Gatehouse's JWTs (JWKS), the next one published ahead" } },
    )
    .get("/.well-known/openid-configuration", ({ request, server, set }) => {
      // Shared caches may keep it only when jwks_uri is the same for everyone (public_url): one
      // built from a request's headers must never be served to anyone else.
      set.headers["cache-control"] = deps.publicUrl.fixed ? `public, max-age=${jwksMaxAge}` : "no-store";
      const base = deps.publicUrl.base(request, server);
      return {
        issuer: deps.issuer,
        jwks_uri: `${base}/.well-known/jwks.json`,
        id_token_signing_alg_values_supported: [...new Set(keySet.verificationKeys().map((key) => key.alg))],
        response_types_supported: [],
        subject_types_supported: ["public"],
      };
    }, {
      detail: {
        summary: "A minimal OpenID discovery document for backends: the issuer and where its keys are",
        responses: { 200: { description: "The discovery document", content: { "application/json": { schema: DiscoveryModel } } } },
      },
    })
    .get("/api/v1/keys", listing, {
      admin: true,
      response: { 200: KeyListModel, 401: ErrorModel, 403: ErrorModel },
      detail: { summary: "The signing keys (administrators): states and dates, never private material" },
    })
    .post(
      "/api/v1/keys/rotate",
      async ({ actor, set }) => {
        if (!managed) throw new Refusal(409, "Keys are shared secrets (jwt.secret): rotate them by editing jwt.secrets");
        const kid = await managed.rotate(actor);
        set.status = 202;
        return { rotating_to: kid, ...(await listing()) };
      },
      {
        admin: true,
        response: { 202: t.Object({ rotating_to: t.String(), ...KeyListModel.properties }), 401: ErrorModel, 403: ErrorModel, 409: ErrorModel },
        detail: { summary: "Rotate the signing keys (administrators): a next key, published before it signs" },
      },
    );
}
