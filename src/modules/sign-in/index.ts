// Signing in with an identity provider through the browser (DESIGN §2.9):
//
//   GET /portal/sign-in/{name}[?rd=]             the portal's "Sign in with …" button → 302 to the provider
//   GET /api/v1/auth/provider/{name}/authorize   Tiled's external mode → 302 to the provider
//   GET /api/v1/auth/provider/{name}/code        the redirect URI: the provider sends the browser back here
//
// A flow started from the portal ends signed in to the portal (its cookie,
// then the page the person started from); one started by a Tiled client ends
// as Tiled's does: a page that shows the refresh token once, or a redirect
// to the provider's `redirect_on_success` (tokens in the URL's fragment,
// which browsers never send to a server or put in a Referer).
//
// The redirect URI is built from `public_url` (or a trusted proxy's headers),
// never from an untrusted peer's: it is where the provider sends the code.
// Every refusal is a page that says what happened, 4xx for the person's side
// and the provider's refusals, 502/504 for a provider down or slow.
import { Elysia, t } from "elysia";
import type { PeerLookup } from "../../identity/request.ts";
import { httpRequestContext } from "../../identity/request.ts";
import { createUser } from "../../identity/user.ts";
import type { Logger } from "../../log.ts";
import type { Provider, Sealer } from "../../providers/provider.ts";
import { externalSignIn, SignInRefusal, type ExternalSignIn } from "../../providers/oidc.ts";
import type { SessionService } from "../../sessions/service.ts";
import { linkExternalAccount } from "../../sign-in/accounts.ts";
import { FLOW_TTL_MS, type FlowPurpose, type SignInFlows } from "../../sign-in/flows.ts";
import type { StoreBackend } from "../../store/backend.ts";
import type { PublicUrl } from "../public-url.ts";
import { locatePortal, type PortalCookie } from "../portal/cookie.ts";
import { layout, type Html } from "../portal/html.ts";
import { refreshTokenView, signInRefusedView } from "../portal/views.ts";

export interface SignInDeps {
  providers: readonly Provider[];
  flows: SignInFlows;
  sessions: SessionService;
  store: StoreBackend;
  /** The portal's cookie; null when the portal is off (then only Tiled's flows are served). */
  cookie: PortalCookie | null;
  links: PublicUrl;
  portalPublicUrl?: string;
  /** Seals an identity provider's refresh token (recheck_on_refresh); null when none keeps one. */
  sealer: Sealer | null;
  /** auth.timeout_in_ms: how long the provider may take to answer each request. */
  timeoutMs: number;
  logger: Logger;
}

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};
/** How these routes are described (OpenAPI): a person's browser is sent on, or shown a page saying what happened. */
const PAGE = { "text/html": { schema: t.String() } };
const LOCATION = { Location: { schema: { type: "string" as const } } };
const REFUSED_PAGES = {
  400: { description: "The sign-in cannot go on (a page says why: start again)", content: PAGE },
  403: { description: "The identity provider refused, or the account does not meet the requirements (a page)", content: PAGE },
  404: { description: "No identity provider of this name (a page)", content: PAGE },
  409: { description: "The username is already another account's in the realm (a page)", content: PAGE },
  502: { description: "The identity provider could not be reached or answered nonsense (a page)", content: PAGE },
  504: { description: "The identity provider did not answer in time (a page)", content: PAGE },
};
const FLOW_COOKIE = "gatehouse_flow";
const SECURE_FLOW_COOKIE = "__Secure-gatehouse_flow";

function cookieValue(request: Request, name: string): string | null {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

export function signInModule(deps: SignInDeps) {
  const { flows, sessions, store, cookie, links, logger } = deps;
  const byName = new Map<string, { provider: Provider; signIn: ExternalSignIn }>();
  for (const provider of deps.providers) {
    const signIn = externalSignIn(provider);
    if (signIn) byName.set(provider.name, { provider, signIn });
  }
  const portal = (request: Request) => locatePortal(request, deps.portalPublicUrl);
  const redirectUriOf = (request: Request, server: PeerLookup | null, name: string) =>
    `${links.base(request, server)}/api/v1/auth/provider/${encodeURIComponent(name)}/code`;

  /** The flow cookie: only to the redirect URI's path, for as long as a flow may take. */
  function flowCookie(request: Request, name: string, value: string, maxAge: number): string {
    const { secure, basePath } = portal(request);
    const path = `${basePath}api/v1/auth/provider/${encodeURIComponent(name)}/`;
    return `${secure ? SECURE_FLOW_COOKIE : FLOW_COOKIE}=${value}; Path=${path}; ${secure ? "Secure; " : ""}HttpOnly; SameSite=Lax; Max-Age=${maxAge}`;
  }

  function page(request: Request, status: number, title: string, main: Html, extraHeaders: [string, string][] = []): Response {
    const headers = new Headers(PAGE_HEADERS);
    for (const [name, value] of extraHeaders) headers.append(name, value);
    const body = layout({ title, portalPath: portal(request).portalPath, here: "", signedIn: undefined, section: undefined }, main);
    return new Response(body, { status, headers });
  }

  const refused = (request: Request, status: number, message: string, headers: [string, string][] = []) =>
    page(request, status, "Sign-in refused", signInRefusedView(message), headers);

  async function start(request: Request, server: PeerLookup | null, name: string, purpose: FlowPurpose, returnTo: string | null): Promise<Response> {
    const found = byName.get(name);
    if (!found) return refused(request, 404, `There is no identity provider "${name}" here.`);
    try {
      const started = await flows.start(
        { name, signIn: found.signIn },
        purpose,
        returnTo,
        redirectUriOf(request, server, name),
        AbortSignal.timeout(deps.timeoutMs),
      );
      return new Response(null, {
        status: 302,
        headers: { location: started.url.href, "set-cookie": flowCookie(request, name, started.secret, FLOW_TTL_MS / 1000), "cache-control": "no-store" },
      });
    } catch (error) {
      return refusal(request, name, error);
    }
  }

  function refusal(request: Request, name: string, error: unknown): Response {
    if (!(error instanceof SignInRefusal)) throw error;
    const level = error.status >= 500 ? "warn" : "info";
    logger[level]("sign_in.refused", { provider: name, status: error.status, reason: error.reason });
    return refused(request, error.status, error.message);
  }

  return new Elysia({ name: "sign-in" })
    .get("/portal/sign-in/:name", ({ request, server, params, query }) =>
      cookie
        ? start(request, server, params.name, "portal", cookie.returnTarget(query.rd))
        : refused(request, 404, "The portal is switched off here."),
    )
    .get("/api/v1/auth/provider/:name/authorize", ({ request, server, params }) => start(request, server, params.name, "tiled", null), {
      detail: {
        summary: "Tiled's external mode: sign in with an identity provider in the browser",
        responses: { 302: { description: "To the identity provider, with the flow's cookie", headers: LOCATION }, ...REFUSED_PAGES },
      },
    })
    .get("/api/v1/auth/provider/:name/code", async ({ request, server, params }) => {
      const name = params.name;
      const found = byName.get(name);
      if (!found) return refused(request, 404, `There is no identity provider "${name}" here.`);
      const { secure } = portal(request);
      const secret = cookieValue(request, secure ? SECURE_FLOW_COOKIE : FLOW_COOKIE);
      const clearFlow: [string, string] = ["set-cookie", flowCookie(request, name, "", 0)];
      const context = httpRequestContext("login", request, server);
      try {
        const finished = await flows.finish(
          { name, signIn: found.signIn },
          new URL(request.url),
          secret,
          redirectUriOf(request, server, name),
          AbortSignal.timeout(deps.timeoutMs),
        );
        const account = await linkExternalAccount(store, logger, found.provider, finished.identity, deps.sealer);
        const user = createUser({ ...account });
        const userAgent = request.headers.get("user-agent")?.slice(0, 256) ?? null;
        logger.info("sign_in.succeeded", { provider: name, username: user.username, realm: user.realm, purpose: finished.purpose });
        if (finished.purpose === "portal" && cookie) {
          // The portal's cookie (and with single sign-on the domain's), as every portal sign-in (portal/cookie.ts).
          const setCookies = await cookie.signIn(request, user, found.provider, context.client);
          const headers = new Headers({ location: cookie.returnLocation(request, finished.returnTo), "cache-control": "no-store" });
          headers.append(...clearFlow);
          for (const set of setCookies) headers.append("set-cookie", set);
          return new Response(null, { status: 303, headers });
        }
        const tokens = await sessions.login(user, found.provider, context.client, userAgent);
        if (found.signIn.redirectOnSuccess) {
          // Tiled's web front end takes the tokens from the URL it is sent to: here in the fragment, never the query.
          const fragment = new URLSearchParams({
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            "identity.id": user.username,
            "identity.provider": name,
            principal: `${user.realm}-${user.username}`,
          });
          return new Response(null, { status: 303, headers: [["location", `${found.signIn.redirectOnSuccess}#${fragment}`], clearFlow, ["cache-control", "no-store"]] });
        }
        return page(request, 200, "Signed in", refreshTokenView(found.signIn.displayName, user.username, tokens.refresh_token, tokens.refresh_token_expires_in), [clearFlow]);
      } catch (error) {
        if (!(error instanceof SignInRefusal)) {
          const status = (error as { status?: number })?.status;
          // A session refused (the cap of live sessions) says why, as the password sign-in does.
          if (typeof status === "number" && status >= 400 && status < 500) return refused(request, status, (error as Error).message, [clearFlow]);
          throw error;
        }
        const response = refusal(request, name, error);
        response.headers.append(...clearFlow);
        return response;
      }
    }, {
      detail: {
        summary: "The redirect URI: the identity provider sends the browser back here",
        responses: {
          200: { description: "Signed in: a page that shows the refresh token once", content: PAGE },
          303: { description: "Signed in: to the portal (its cookie set), or to the provider's redirect_on_success with the tokens in the fragment", headers: LOCATION },
          ...REFUSED_PAGES,
        },
      },
    });
}

