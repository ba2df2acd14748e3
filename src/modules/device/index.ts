// Device-code sign-in for command lines over HTTP (RFC 8628, in Tiled's
// shape; the rules are sign-in/device.ts's):
//
//   POST /api/v1/auth/provider/{name}/authorize   → {authorization_uri, verification_uri, verification_uri_complete,
//                                                     interval, device_code, expires_in, user_code}
//   POST /api/v1/auth/provider/{name}/token       grant_type=urn:ietf:params:oauth:grant-type:device_code and device_code
//                                                 (form or JSON): the session once approved; the login route of
//                                                 modules/sessions, which hands such a poll to deviceGrant() below
//   GET  /api/v1/auth/provider/{name}/token       a browser sent to verification_uri: 303 to the portal's device page
//
// Offered for every provider a person can sign in with. The person approves
// at the portal's device page (modules/portal/device.ts).
// `authorization_uri`, which Tiled's Python client tells the person to open,
// is that page for the provider, where signing in comes first;
// `verification_uri_complete` has the code in it already (and the provider,
// so that a person signed out goes straight to the right sign-in).
// `verification_uri` is where Tiled's client polls (tiled/client/context.py,
// device_code_grant, POSTs to verification["verification_uri"]): the token
// route, as Tiled answers it; RFC 8628 has it shown to people as the page
// where the code is typed, so a browser's GET there is sent on to the device
// page. One URL serves both readings. The links are built from public_url
// (or portal.public_url), else from a trusted proxy's headers only.
//
// A poll that gets no session is answered 400 with RFC 8628's `error` at the
// top level, for standard clients, and also under `detail`, where Tiled's
// client reads it: {"detail": {"error": "authorization_pending", …}, "error": "authorization_pending", …}.
// An unknown or expired device code is `expired_token` (Tiled answers 404
// "No such device_code"): RFC 8628's clients stop polling on it and say the
// code expired, and Tiled's client stops on anything but
// authorization_pending alike; once purged, an expired code is unknown.
import { Elysia, t } from "elysia";
import { httpRequestContext, type PeerLookup } from "../../identity/request.ts";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { Logger } from "../../log.ts";
import type { Provider } from "../../providers/provider.ts";
import { Refusal } from "../../refusal.ts";
import { DeviceGrantRefusal, type DeviceAuthorizations, type UserCodeGuard } from "../../sign-in/device.ts";
import { answerErrors, parseFormOrJsonObject } from "../errors.ts";
import { jsonAnswer } from "../http.ts";
import type { PublicUrl } from "../public-url.ts";
import { DetailModel } from "../sessions/models.ts";
import { loginAnswer, type DeviceGrant } from "../sessions/index.ts";
import { loginMode } from "../sessions/tiled.ts";

export interface DeviceDeps {
  pipeline: IdentityPipeline;
  /** null without the store, or without the portal (where people approve): the route then answers 503. */
  authorizations: DeviceAuthorizations | null;
  guard: UserCodeGuard;
  publicUrl: PublicUrl;
  /** portal.public_url, when configured: the device page is under it. */
  portalUrl?: string;
  logger: Logger;
}

export const DeviceAuthorizationModel = t.Object({
  authorization_uri: t.String({ description: "Tiled: the page to open (the portal's device page for this provider)" }),
  verification_uri: t.String({ description: "Tiled: where its client polls (the token route); opened in a browser, the page where the user code is typed" }),
  verification_uri_complete: t.String({ description: "RFC 8628: the same page with the user code in it" }),
  interval: t.Integer({ description: "Seconds between polls" }),
  device_code: t.String({ description: "The command line's secret, to poll with" }),
  expires_in: t.Integer({ description: "Seconds" }),
  user_code: t.String({ description: "XXXX-XXXX: shown to the person, who types or compares it" }),
});

const userAgentOf = (request: Request) => request.headers.get("user-agent")?.slice(0, 256) ?? null;

/** The login route's handler of the device-code grant (modules/sessions: SessionsDeps.deviceGrant). */
export function deviceGrant(authorizations: DeviceAuthorizations): DeviceGrant {
  return async (provider, deviceCode, request, server) => {
    const { client } = httpRequestContext("login", request, server);
    try {
      const { tokens, user } = await authorizations.collect(deviceCode, provider, client, userAgentOf(request));
      return loginAnswer(tokens, user, provider.name);
    } catch (error) {
      if (!(error instanceof DeviceGrantRefusal)) throw error;
      const oauth = { error: error.error, error_description: error.message };
      return jsonAnswer(400, { detail: oauth, ...oauth });
    }
  };
}

export function deviceModule(deps: DeviceDeps) {
  const { authorizations, guard, logger } = deps;
  const providers = new Map(deps.pipeline.providers.filter((provider) => loginMode(provider) !== null).map((provider) => [provider.name, provider]));

  /** The portal's device page, as people reach it. */
  const devicePage = (request: Request, server: PeerLookup | null) =>
    `${(deps.portalUrl ?? `${deps.publicUrl.base(request, server)}/portal`).replace(/\/+$/, "")}/device`;

  return new Elysia({ name: "device" })
    .onError(answerErrors("detail", logger))
    .onAfterHandle(({ set }) => {
      set.headers["cache-control"] = "no-store";
    })
    .post(
      "/api/v1/auth/provider/:name/authorize",
      async ({ params, request, server }) => {
        const provider: Provider | undefined = providers.get(params.name);
        if (!provider) throw new Refusal(404, `No provider "${params.name}" takes a sign-in here`);
        if (!authorizations) throw new Refusal(503, "Signing in from a command line needs the store and the portal, where people approve it");
        const context = httpRequestContext("login", request, server);
        const started = await authorizations.start(provider.name, { address: guard.address(context), userAgent: userAgentOf(request) });
        const page = devicePage(request, server);
        return {
          authorization_uri: `${page}?${new URLSearchParams({ provider: provider.name })}`,
          verification_uri: `${deps.publicUrl.base(request, server)}/api/v1/auth/provider/${encodeURIComponent(provider.name)}/token`,
          verification_uri_complete: `${page}?${new URLSearchParams({ code: started.userCode, provider: provider.name })}`,
          interval: started.interval,
          device_code: started.deviceCode,
          expires_in: started.expiresIn,
          user_code: started.userCode,
        };
      },
      {
        // Tiled's client sends no body, RFC 8628's a form (client_id, scope): neither is needed.
        parse: parseFormOrJsonObject,
        response: { 200: DeviceAuthorizationModel, 404: DetailModel, 503: DetailModel },
        detail: { summary: "Start a command line's sign-in (RFC 8628 device authorization, Tiled's shape)" },
      },
    )
    .get(
      "/api/v1/auth/provider/:name/token",
      ({ params, request, server }) => {
        if (!providers.has(params.name)) throw new Refusal(404, `No provider "${params.name}" takes a sign-in here`);
        const location = `${devicePage(request, server)}?${new URLSearchParams({ provider: params.name })}`;
        return new Response(null, { status: 303, headers: { location, "cache-control": "no-store" } });
      },
      {
        detail: {
          summary: "verification_uri opened in a browser: to the portal's device page",
          responses: {
            303: { description: "To the portal's device page", headers: { Location: { schema: { type: "string" } } } },
            404: { description: "No provider of this name takes a sign-in" },
          },
        },
      },
    );
}
