// Signing keys over HTTP: the public JWKS and a minimal OpenID discovery
// document for backends, and the admin routes to see and rotate keys.
import { Elysia, t } from "elysia";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { KeySet } from "../../keys/keyset.ts";
import type { ManagedKeySet } from "../../keys/managed.ts";
import { authenticateCaller, type Caller } from "../caller.ts";
import { ErrorModel, jsonError } from "../http.ts";
import { publicBaseUrl } from "../public-url.ts";
import { isoDate } from "../../dates.ts";

export interface KeysDeps {
  keySet: KeySet;
  /** null in shared-secret mode. */
  managed: ManagedKeySet | null;
  pipeline: IdentityPipeline;
  adminRole: string;
  issuer: string;
  publishAheadSeconds: number;
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


export function keysModule(deps: KeysDeps) {
  const { keySet, managed, pipeline, adminRole } = deps;
  // Backends re-read the JWKS at least twice within publish_ahead, so they
  // hold a new key before it signs anything.
  const jwksMaxAge = Math.max(0, Math.min(3600, Math.floor(deps.publishAheadSeconds / 2)));

  /**
   * Runs `work` for an admin, else answers 401/403. Elysia sends a Response as
   * it is whatever the route's response schema; its types accept one or the
   * other, hence the cast of refusals.
   */
  async function asAdmin<T>(request: Request, server: Parameters<typeof authenticateCaller>[2], work: (caller: Caller) => T | Promise<T>): Promise<T> {
    const caller = await authenticateCaller(pipeline, request, server);
    if (caller instanceof Response) return caller as T;
    if (!caller.user.roles.includes(adminRole)) return jsonError(403, `This needs the ${adminRole} role`) as T;
    return work(caller);
  }

  const listing = () => ({
    mode: keySet.mode,
    keys: (managed?.list() ?? []).map((row) => ({
      kid: row.kid,
      alg: row.alg,
      state: row.state as "next" | "current" | "previous" | "retired",
      created_at: isoDate(row.createdAt)!,
      activates_at: isoDate(row.activatesAt),
      activated_at: isoDate(row.activatedAt),
      deactivated_at: isoDate(row.deactivatedAt),
      retires_at: isoDate(row.retiresAt),
      retired_at: isoDate(row.retiredAt),
    })),
  });

  return new Elysia({ name: "keys" })
    .get(
      "/.well-known/jwks.json",
      ({ set }) => {
        set.headers["cache-control"] = `public, max-age=${jwksMaxAge}`;
        return keySet.jwks();
      },
      { response: JwksModel },
    )
    .get("/.well-known/openid-configuration", ({ request, set }) => {
      set.headers["cache-control"] = `public, max-age=${jwksMaxAge}`;
      const base = publicBaseUrl(request);
      return {
        issuer: deps.issuer,
        jwks_uri: `${base}/.well-known/jwks.json`,
        id_token_signing_alg_values_supported: [...new Set(keySet.verificationKeys().map((key) => key.alg))],
        response_types_supported: [],
        subject_types_supported: ["public"],
      };
    })
    .get(
      "/api/v1/keys",
      ({ request, server }) => asAdmin(request, server, listing),
      { response: { 200: KeyListModel, 401: ErrorModel, 403: ErrorModel } },
    )
    .post(
      "/api/v1/keys/rotate",
      ({ request, server, set }) =>
        asAdmin(request, server, async (caller) => {
          if (!managed) {
            return jsonError(409, "Keys are shared secrets (jwt.secret): rotate them by editing jwt.secrets") as never;
          }
          const actor = { username: caller.user.username, realm: caller.user.realm, address: caller.client.socket ?? undefined };
          const kid = await managed.rotate(actor);
          set.status = 202;
          return { rotating_to: kid, ...listing() };
        }),
      { response: { 202: t.Object({ rotating_to: t.String(), ...KeyListModel.properties }), 401: ErrorModel, 403: ErrorModel, 409: ErrorModel } },
    );
}
