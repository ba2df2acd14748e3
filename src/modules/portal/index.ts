// The web portal (DESIGN §2.7), server-rendered HTML at /portal/:
//
//   GET  /portal/                     who you are              GET  /portal/sign-in      the sign-in forms
//   GET  /portal/tokens               your tokens              POST /portal/sign-in      → a session, in the cookie
//   GET  /portal/tokens/new           the new-token form       POST /portal/sign-out     ends the session
//   POST /portal/tokens/new           → the secret, once       POST /portal/tokens/revoke
//   POST /portal/tokens/rotate        → the new secret, once
//   GET  /portal/sessions             your sessions            POST /portal/sessions/revoke, /sessions/revoke-others
//   GET  /portal/admin/users?user=    a user's tokens and sessions (admin)
//   GET  /portal/admin/keys           signing keys (admin)     POST /portal/admin/keys/rotate
//   GET  /portal/admin/audit          the audit log, filtered and paged (admin)
//   GET  /portal/admin/regulation     the bans in force (admin) POST /portal/admin/regulation/release
//   GET  /portal/device               approve a command line's sign-in (./device.ts)
//   GET  /portal/sign-out?rd=         an application's Sign out link: confirm (single sign-on, ./sign-out.ts)
//   GET  /portal/assets/{name}        the CSS and script, from public/ (embedded in the binary)
//
// With single sign-on (`sso`), a sign-in also sets the domain's cookie
// (./cookie.ts) and may end on an application's page (rd, ./return-to.ts).
//
// Who is calling comes from the caller plugin, which reads the portal's
// cookie (cookie.ts) and checks the CSRF token and Origin of every POST
// that came with it. The rules stay in the services; the pages render.
// This file puts the portal together: what every page shares (./pages.ts:
// the headers, the error pages) and each family of pages, in this order:
// ./device.ts, ./sign-in.ts, ./home.ts, ./tokens.ts, ./sessions.ts, ./admin.ts, ./bans.ts.
import { Elysia } from "elysia";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { Logger } from "../../log.ts";
import type { KeySet } from "../../keys/keyset.ts";
import type { ManagedKeySet } from "../../keys/managed.ts";
import type { SessionService } from "../../sessions/service.ts";
import type { TokenPolicy, TokenService } from "../../tokens/service.ts";
import { externalSignIn } from "../../providers/oidc.ts";
import type { StoreBackend } from "../../store/backend.ts";
import type { Regulator } from "../../regulation/regulator.ts";
import type { callerPlugin } from "../caller.ts";
import { ASSETS } from "./assets.ts";
import type { PortalCookie } from "./cookie.ts";
import { formActionSources } from "../../sso/policy.ts";
import { devicePages } from "./device.ts";
import type { DeviceAuthorizations, UserCodeGuard } from "../../sign-in/device.ts";
import { portalPages } from "./pages.ts";
import { signInPages } from "./sign-in.ts";
import { homePage } from "./home.ts";
import { tokenPages } from "./tokens.ts";
import { sessionPages } from "./sessions.ts";
import { adminPages } from "./admin.ts";
import { banPages } from "./bans.ts";
import { errorView } from "./views.ts";

export interface PortalDeps {
  pipeline: IdentityPipeline;
  caller: ReturnType<typeof callerPlugin>;
  /** null when the store is disabled: the portal then explains it cannot work. */
  services: { cookie: PortalCookie; sessions: SessionService; tokens: TokenService; store: StoreBackend } | null;
  /** The device page (./device.ts); null without the store. */
  device?: { authorizations: DeviceAuthorizations; guard: UserCodeGuard } | null;
  tokenPolicy: TokenPolicy;
  keys: { keySet: KeySet; managed: ManagedKeySet | null };
  publicUrl?: string;
  logger: Logger;
  /** Regulation's bans, for the admin page; null when regulation is off. */
  regulator?: Regulator | null;
}

export function portalModule(deps: PortalDeps) {
  const { pipeline, caller, services, device, tokenPolicy, keys, publicUrl, logger } = deps;
  const logoutOrigins = pipeline.providers.flatMap((provider) => externalSignIn(provider)?.logoutOrigins ?? []);
  // With single sign-on, the sign-in and sign-out forms may end on an application's page (rd): form-action covers redirects.
  const sso = services?.cookie.sso ?? null;
  const formOrigins = [...new Set([...logoutOrigins, ...(sso ? formActionSources(sso) : [])])];
  const pages = portalPages({ cookie: services?.cookie ?? null, formOrigins, publicUrl, logger });
  const assetRoutes = new Elysia({ name: "portal-assets" }).get("/portal/assets/:name", ({ params }) => {
    const asset = ASSETS.get(params.name);
    if (!asset) return new Response("Not found", { status: 404 });
    return new Response(Bun.file(asset.path), {
      headers: { "content-type": asset.type, "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" },
    });
  });

  if (!services) {
    return new Elysia({ name: "portal" }).use(assetRoutes).get("/portal/*", ({ request }) =>
      pages.answer(request, 503, "Portal unavailable", errorView("The portal needs the store, which is disabled here (store.enabled: false).", false)),
    );
  }
  const { cookie, sessions, tokens, store } = services;

  return new Elysia({ name: "portal" })
    .use(assetRoutes)
    .use(caller)
    .onError(pages.error)
    .use(device ? devicePages({ caller, providers: pipeline.providers, ...device, pages }) : new Elysia({ name: "portal-device-off" }))
    .use(signInPages({ pipeline, caller, cookie, sessions, pages }))
    .use(homePage({ caller, tokens, pages }))
    .use(tokenPages({ caller, tokens, tokenPolicy, pages }))
    .use(sessionPages({ caller, cookie, sessions, pages }))
    .use(adminPages({ caller, tokens, sessions, store, tokenPolicy, keys, pages }))
    .use(banPages({ caller, regulator: deps.regulator ?? null, pages }));
}
