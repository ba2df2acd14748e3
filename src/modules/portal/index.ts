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
//   GET  /portal/device               approve a command line's sign-in (./device.ts)
//   GET  /portal/sign-out?rd=         an application's Sign out link: confirm (single sign-on, ./sign-out.ts)
//   GET  /portal/assets/{name}        the CSS and script, from public/ (embedded in the binary)
//
// With single sign-on (`sso`), a sign-in also sets the domain's cookie
// (./cookie.ts) and may end on an application's page (rd, ./return-to.ts).
//
// Who is calling comes from the caller plugin, which reads the portal's
// cookie (cookie.ts) and checks the CSRF token and Origin of every POST
// that came with it. The rules stay in the services; this file renders.
// Every page: a strict CSP (no inline script or style, nothing from another
// host), no framing, no referrer, and no caching (pages show personal data;
// the new token's secret is the answer to its POST, never a reloadable GET).
import { Elysia } from "elysia";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { ClientAddress } from "../../identity/client.ts";
import type { User } from "../../identity/user.ts";
import type { Provider } from "../../providers/provider.ts";
import { basicCredential, bearerCredential } from "../../identity/credentials.ts";
import { httpRequestContext } from "../../identity/request.ts";
import type { Logger } from "../../log.ts";
import { Refusal } from "../../refusal.ts";
import type { KeySet } from "../../keys/keyset.ts";
import type { ManagedKeySet } from "../../keys/managed.ts";
import type { SessionService } from "../../sessions/service.ts";
import type { TokenPolicy, TokenService, CreateTokenRequest } from "../../tokens/service.ts";
import { allScopes } from "../../tokens/scopes.ts";
import { randomBase62 } from "../../tokens/format.ts";
import { externalSignIn } from "../../providers/oidc.ts";
import type { StoreBackend } from "../../store/backend.ts";
import type { callerPlugin, Caller } from "../caller.ts";
import { keyViews } from "../keys/index.ts";
import { loginMode, scopesFromList } from "../sessions/tiled.ts";
import { ASSETS } from "./assets.ts";
import { locatePortal, type PortalCookie } from "./cookie.ts";
import { html, layout, notice, type Html } from "./html.ts";
import { signOutView } from "./sign-out.ts";
import { NOT_RETURNED, portalReturnPath, returnTarget } from "./return-to.ts";
import { formActionSources, ssoReturnUrl } from "../../sso/policy.ts";
import { field, fields, FormBody, parseForm, type Form } from "./forms.ts";
import { devicePages } from "./device.ts";
import type { DeviceAuthorizations, UserCodeGuard } from "../../sign-in/device.ts";
import {
  auditView,
  createdTokenView,
  errorView,
  keysView,
  meView,
  newTokenView,
  sessionsView,
  signInPausedText,
  signInView,
  tokensView,
  usersView,
  type AuditQuery,
  type NewTokenForm,
  type SignInChoice,
} from "./views.ts";

/** Where a sign-in may send the browser afterwards (`rd`): ./return-to.ts. */
export { portalReturnPath } from "./return-to.ts";

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
}

/**
 * Every page's headers. `form-action` also names the identity providers whose
 * logout a sign-out sends the browser to (end_session): a browser applies it
 * to where a form's answer redirects, too.
 */
function securityHeaders(logoutOrigins: readonly string[]) {
  const formAction = ["'self'", ...logoutOrigins].join(" ");
  return {
    "content-security-policy": `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action ${formAction}; base-uri 'self'; frame-ancestors 'none'`,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
  };
}
const AUDIT_PAGE = 50;
const DAY_MS = 86_400_000;
/** How long sign-out waits for an identity provider's discovery document (end_session) before signing out here alone. */
const signOutTimeoutMs = 3000;
/** The new-token form's single-use nonce (finding 12): 22 base62 characters, ≈131 bits. */
const FORM_NONCE_LENGTH = 22;
const FORM_NONCE = /^[0-9A-Za-z]{22}$/;

/**
 * A page the person opened themselves: a top-level navigation, typed or
 * from one of our own pages (Fetch Metadata, sent by every current browser).
 * Clients that send no Fetch Metadata at all (scripts, older browsers) are
 * taken as direct navigations.
 */
function openedByThePerson(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  const mode = request.headers.get("sec-fetch-mode");
  const dest = request.headers.get("sec-fetch-dest");
  if (site === null && mode === null && dest === null) return true;
  return (site === "none" || site === "same-origin") && mode === "navigate" && (dest === null || dest === "document");
}
/** Where a revoke may send the browser back to: a portal page, never another site. */
const BACK = /^(tokens|sessions|admin\/users(\?[A-Za-z0-9%=&._+-]*)?)$/;

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function portalModule(deps: PortalDeps) {
  const { pipeline, caller, services, device, tokenPolicy, keys, publicUrl, logger } = deps;
  const where = (request: Request) => locatePortal(request, publicUrl);
  const logoutOrigins = pipeline.providers.flatMap((provider) => externalSignIn(provider)?.logoutOrigins ?? []);
  // With single sign-on, the sign-in and sign-out forms may end on an application's page (rd): form-action covers redirects.
  const sso = services?.cookie.sso ?? null;
  const SECURITY_HEADERS = securityHeaders([...new Set([...logoutOrigins, ...(sso ? formActionSources(sso) : [])])]);
  const assetRoutes = new Elysia({ name: "portal-assets" }).get("/portal/assets/:name", ({ params }) => {
    const asset = ASSETS.get(params.name);
    if (!asset) return new Response("Not found", { status: 404 });
    return new Response(Bun.file(asset.path), {
      headers: { "content-type": asset.type, "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" },
    });
  });

  /** The path of this page below the portal, with its query: "tokens/new". */
  const hereOf = (request: Request) => {
    const url = new URL(request.url);
    return `${url.pathname.replace(/^\/portal\/?/, "")}${url.search}`;
  };

  function pageAnswer(request: Request, status: number, title: string, main: Html, signedIn?: Parameters<typeof layout>[0]["signedIn"], section?: string): Response {
    const body = layout({ title, portalPath: where(request).portalPath, here: hereOf(request), signedIn, section }, main);
    const headers = new Headers({ "content-type": "text/html; charset=utf-8", ...SECURITY_HEADERS });
    return new Response(body, { status, headers });
  }

  function redirect(request: Request, to: string, setCookies: string[] = []): Response {
    const headers = new Headers({ location: `${where(request).portalPath}${to}`, ...SECURITY_HEADERS });
    for (const cookie of setCookies) headers.append("set-cookie", cookie);
    return new Response(null, { status: 303, headers });
  }

  /** Not signed in (or no longer): to a sign-in page, then back to the page asked for; dropping a cookie that no longer works. */
  function toSignIn(request: Request, signInPage = "sign-in"): Response {
    const back = request.method === "GET" ? portalReturnPath(hereOf(request)) : null;
    const sent = services?.cookie.sent(request) ? services.cookie.clear(request) : [];
    return redirect(request, back ? `${signInPage}?${new URLSearchParams({ rd: back })}` : signInPage, sent);
  }

  if (!services) {
    return new Elysia({ name: "portal" }).use(assetRoutes).get("/portal/*", ({ request }) =>
      pageAnswer(request, 503, "Portal unavailable", errorView("The portal needs the store, which is disabled here (store.enabled: false).", false)),
    );
  }
  const { cookie, sessions, tokens, store } = services;

  const hasHeaderProviders = pipeline.providers.some((provider) => provider.scheme === "header");
  const signInChoices: (SignInChoice & { provider: (typeof pipeline.providers)[number] })[] = pipeline.providers.flatMap((provider) => {
    const mode = loginMode(provider);
    return mode ? [{ name: provider.name, realm: provider.realm, mode, label: externalSignIn(provider)?.displayName, provider }] : [];
  });

  /** The signed-in person, through the portal's cookie only: a page acting on an Authorization header could be forged cross-site. */
  function person(request: Request, found: Caller) {
    if (request.headers.has("authorization") || found.via?.kind !== "session") {
      // A person a trusted front proxy vouches for gets a portal session of their own at the sign-in page.
      if (found.provider.scheme === "header") throw new Refusal(401, "Sign in");
      throw new Refusal(400, "The portal signs you in with its own form: this browser sent an Authorization header, which it does not use.");
    }
    const sessionId = found.via.sessionId;
    const csrf = cookie.csrfToken(request, sessionId);
    if (!csrf) throw new Refusal(401, "Sign in");
    return {
      ...found,
      sessionId,
      frame: { username: found.user.username, realm: found.user.realm, admin: found.actor.admin, csrf },
    };
  }

  /**
   * Opens a browser session for someone a provider has just authenticated (and, with single sign-on, the
   * domain's cookie), and sends them to `rd` (a portal page, or an application's with single sign-on) or the portal's home.
   */
  async function signIn(request: Request, user: User, provider: Provider, client: ClientAddress, rd?: string): Promise<Response> {
    return sendTo(request, cookie.returnLocation(request, rd), await cookie.signIn(request, user, provider, client));
  }

  /** A 303 to a URL (or a path) as it is, with the portal's headers. */
  function sendTo(request: Request, location: string, setCookies: string[] = []): Response {
    const headers = new Headers({ location, ...SECURITY_HEADERS });
    for (const set of setCookies) headers.append("set-cookie", set);
    return new Response(null, { status: 303, headers });
  }

  const message = (query: Record<string, string | undefined>, messages: Record<string, string>) => {
    const key = query.done;
    return key && Object.hasOwn(messages, key) ? messages[key] : undefined;
  };

  function newTokenForm(found: Caller, csrf: string, extra: Partial<NewTokenForm> = {}): NewTokenForm {
    const nonce = randomBase62(FORM_NONCE_LENGTH);
    const now = Date.now();
    const maxDays = Math.max(1, Math.floor(tokenPolicy.maxExpiresIn / 86400));
    return {
      grantable: found.actor.scopes ?? allScopes(tokenPolicy.services),
      maxDays,
      defaultDays: Math.max(1, Math.floor(tokenPolicy.defaultExpiresIn / 86400)),
      allowNonExpiring: tokenPolicy.allowNonExpiring && !found.actor.token,
      today: dayOf(now),
      latest: dayOf(now + tokenPolicy.maxExpiresIn * 1000),
      csrf,
      nonce,
      ...extra,
    };
  }

  /** The expiry asked for on the form, as the token service takes it. */
  function expiryOf(form: Form): Pick<CreateTokenRequest, "expiresIn" | "expiresAt"> {
    const choice = field(form, "expires");
    if (choice === "never") return { expiresIn: null };
    if (choice === "custom") {
      const day = field(form, "expires_on");
      if (!DATE.test(day)) throw new Refusal(400, "Choose the expiry date, or a number of days");
      return { expiresAt: `${day}T23:59:59Z` };
    }
    const days = Number(choice);
    if (!Number.isInteger(days) || days < 1) throw new Refusal(400, "Choose when the token expires");
    // The last preset may be the configured maximum itself: never ask for more than it.
    return { expiresIn: Math.min(days * 86400, tokenPolicy.maxExpiresIn) };
  }

  const tokenActions = { maxRotationGrace: tokenPolicy.maxRotationGrace ?? 0 };
  const usersPath = (user: string, realm: string) => `admin/users?${new URLSearchParams(realm ? { user, realm } : { user })}`;

  return new Elysia({ name: "portal" })
    .use(assetRoutes)
    .use(caller)
    .onError(({ error, request, code }) => {
      const refusal = error instanceof Refusal ? error : (error as { cause?: unknown })?.cause;
      if (refusal instanceof Refusal && refusal.status === 401) return toSignIn(request);
      if (refusal instanceof Refusal) return pageAnswer(request, refusal.status, "Refused", errorView(refusal.message, true));
      if (code === "NOT_FOUND") return pageAnswer(request, 404, "Not found", errorView("There is no such page in the portal.", true));
      if (code === "VALIDATION" || code === "PARSE") return pageAnswer(request, 400, "Invalid request", errorView("The form was not complete or not valid.", true));
      logger.error("portal.internal_error", { path: new URL(request.url).pathname, error: (error as Error)?.message });
      return pageAnswer(request, 500, "Error", errorView("Something went wrong on the server.", true));
    })
    .use(device ? devicePages({ caller, providers: pipeline.providers, ...device, pages: { answer: pageAnswer, toSignIn, person } }) : new Elysia({ name: "portal-device-off" }))
    .get("/portal/sign-in", async ({ request, server, query }) => {
      // Someone a trusted front proxy has already authenticated (geOrchestra's headers) arrives signed in:
      // the portal opens a session for them, as a sign-in would. Never after an explicit sign-out, which
      // would otherwise be undone at once; never for an Authorization header, which a page cannot vouch for;
      // and only when the person opened the page themselves (finding 5): a page of another site loading this
      // URL (an image, a frame, a link) must not open sessions in their name, each counting against their cap.
      const automatic = hasHeaderProviders && query.done !== "signed-out" && !request.headers.has("authorization");
      if (automatic && openedByThePerson(request)) {
        const context = httpRequestContext("login", request, server);
        const result = await pipeline.authenticate(context);
        if (result.ok && result.provider.scheme === "header") {
          // Already signed in as this person, by this provider: keep that session rather than open another.
          const current = await cookie.session(request);
          const same = current && current.session.provider === result.provider.name && current.user.username === result.user.username && current.user.realm === result.user.realm;
          if (same) return sendTo(request, cookie.returnLocation(request, query.rd));
          return signIn(request, result.user, result.provider, context.client, query.rd);
        }
      }
      const signedOut = query.done === "signed-out" ? { kind: "success" as const, text: "You are signed out." } : undefined;
      return pageAnswer(request, 200, "Sign in", signInView(signInChoices, signedOut, "", automatic, returnTarget(sso, query.rd)));
    })
    .post(
      "/portal/sign-in",
      async ({ request, server, body }) => {
        // No session yet, so no CSRF token: Origin and Fetch Metadata stop another site signing you in as someone else.
        cookie.checkOrigin(request);
        const choice = signInChoices.find((candidate) => candidate.name === field(body, "provider"));
        if (!choice) throw new Refusal(400, "Choose a provider to sign in with");
        if (choice.mode === "external") throw new Refusal(400, `Sign in with ${choice.label ?? choice.name} through its button`);
        const username = field(body, "username");
        const secret = choice.mode === "internal" ? (body.password as string | undefined) ?? "" : field(body, "api_key");
        const credential = choice.mode === "internal" ? basicCredential(username, secret) : bearerCredential(secret);
        const context = httpRequestContext("login", request, server);
        const result = typeof credential === "string" || !secret ? null : await pipeline.authenticateWith(choice.provider, credential, context);
        if (result && !result.ok && result.ban) {
          // Regulation has paused this name (or address): say so and for how long, rather than blame the password.
          const paused = pageAnswer(request, 429, "Sign in", signInView(signInChoices, { kind: "error", text: signInPausedText(result.ban) }, username));
          paused.headers.set("retry-after", String(result.ban.retryAfterSeconds));
          return paused;
        }
        if (!result?.ok) {
          await sessions.recordFailedLogin(choice.provider, choice.mode === "internal" ? username : null, context.client);
          const text = choice.mode === "internal" ? "Incorrect username or password." : "This API key was not accepted.";
          return pageAnswer(request, 401, "Sign in", signInView(signInChoices, { kind: "error", text }, username, false, returnTarget(sso, field(body, "rd"))));
        }
        try {
          return await signIn(request, result.user, choice.provider, context.client, field(body, "rd"));
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          const view = signInView(signInChoices, { kind: "error", text: error.message }, username, false, returnTarget(sso, field(body, "rd")));
          return pageAnswer(request, error.status, "Sign in", view);
        }
      },
      { parse: parseForm, body: FormBody },
    )
    .get(
      "/portal/sign-out",
      ({ request, query, ...found }) => {
        // An application's "Sign out" link (with single sign-on, ?rd= its page): signing out is a POST with
        // the CSRF token, so a signed-in person confirms it here; anyone else goes on at once.
        const back = sso ? ssoReturnUrl(sso, query.rd) : null;
        if (found.caller?.via?.kind !== "session" || request.headers.has("authorization")) {
          return back ? sendTo(request, back) : redirect(request, "sign-in?done=signed-out", cookie.sent(request) ? cookie.clear(request) : []);
        }
        const me = person(request, found.caller);
        return pageAnswer(request, 200, "Sign out", signOutView(me.frame.csrf, back), me.frame, "");
      },
      { identified: true },
    )
    .post(
      "/portal/sign-out",
      async ({ request, query, body, ...found }) => {
        const me = person(request, found);
        // With single sign-on, back to the application's page that asked (rd), when it is an allowed one.
        const back = sso ? ssoReturnUrl(sso, field(body, "rd") || query.rd) : null;
        await sessions.revoke(me.actor, me.sessionId, "logout");
        // Signed in with an identity provider configured with end_session: its session ends too, then back here.
        const { origin, portalPath } = where(request);
        const endSession = await externalSignIn(me.provider)
          ?.endSessionUrl(`${origin}${portalPath}sign-in?done=signed-out`, AbortSignal.timeout(signOutTimeoutMs))
          .catch(() => null);
        if (endSession) {
          const headers = new Headers({ location: endSession.href, ...SECURITY_HEADERS });
          for (const set of cookie.clear(request)) headers.append("set-cookie", set);
          return new Response(null, { status: 303, headers });
        }
        return back ? sendTo(request, back, cookie.clear(request)) : redirect(request, "sign-in?done=signed-out", cookie.clear(request));
      },
      { caller: true, parse: parseForm, body: FormBody },
    )
    .get(
      "/portal/",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        // A sign-in whose rd could not be followed (not a portal page, nor an allowed application's) lands here.
        const text = message(query, { [NOT_RETURNED]: "You are signed in. The page you came from is not one this portal may send you back to, so you are on the portal's home page." });
        const note = text ? notice("info", text) : "";
        const expiring = (await tokens.list(me.actor)).filter((token) => token.expiring_soon);
        return pageAnswer(request, 200, "You", html`${note}${meView(me.user, me.provider.name, me.actor.admin, expiring)}`, me.frame, "");
      },
      { caller: true },
    )
    .get(
      "/portal/tokens",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const done = message(query, { revoked: "The token is revoked." });
        return pageAnswer(request, 200, "Your tokens", tokensView(await tokens.list(me.actor, { includeRevoked: true }), me.frame.csrf, tokenActions, done), me.frame, "tokens");
      },
      { caller: "tokens" },
    )
    .get(
      "/portal/tokens/new",
      ({ request, ...found }) => {
        const me = person(request, found);
        return pageAnswer(request, 200, "New token", newTokenView(newTokenForm(me, me.frame.csrf)), me.frame, "tokens/new");
      },
      { caller: "tokens" },
    )
    .post(
      "/portal/tokens/new",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        const note = field(body, "note");
        const chosen = fields(body, "scope");
        const networks = field(body, "networks");
        const values = { note, expires: field(body, "expires"), expires_on: field(body, "expires_on"), scopes: chosen, networks };
        const nonce = field(body, "nonce");
        try {
          if (!FORM_NONCE.test(nonce)) throw new Refusal(400, "This form is out of date: open New token again");
          const hasServices = tokenPolicy.services.length > 0;
          if (hasServices && chosen.length === 0) throw new Refusal(400, "Choose at least one service or scope");
          const scopes = scopesFromList(chosen);
          if (typeof scopes === "string") throw new Refusal(400, scopes);
          const allowedNetworks = networks.split(/[\s,]+/).filter((entry) => entry !== "");
          const wanted = { note, scopes: hasServices ? scopes : undefined, ...expiryOf(body), formNonce: nonce, ...(allowedNetworks.length > 0 ? { allowedNetworks } : {}) };
          const { secret, token } = await tokens.create(me.actor, me.actor.user!, wanted);
          // The secret is the answer to this POST: never in a URL, never on a page that a reload or Back would show again.
          return pageAnswer(request, 201, "Token created", createdTokenView(secret, token), me.frame, "tokens/new");
        } catch (error) {
          if (!(error instanceof Refusal) || error.status === 401) throw error;
          // A refused form made nothing: sent again corrected, it keeps its nonce. One already used gets a fresh form.
          const kept = error.status === 409 || !FORM_NONCE.test(nonce) ? {} : { nonce };
          const form = newTokenForm(me, me.frame.csrf, { error: error.message, values, ...kept });
          return pageAnswer(request, error.status, "New token", newTokenView(form), me.frame, "tokens/new");
        }
      },
      { caller: "tokens", parse: parseForm, body: FormBody },
    )
    .post(
      "/portal/tokens/revoke",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        await tokens.revoke(me.actor, field(body, "id"));
        return redirect(request, backTo(body, "revoked"));
      },
      { caller: "tokens", parse: parseForm, body: FormBody },
    )
    .post(
      "/portal/tokens/rotate",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        const graceText = field(body, "grace_seconds").trim();
        const graceSeconds = graceText === "" ? undefined : /^\d{1,5}$/.test(graceText) ? Number(graceText) : Number.NaN;
        if (Number.isNaN(graceSeconds)) throw new Refusal(400, "The grace is a whole number of seconds");
        const { secret, token, oldSecretUntil } = await tokens.rotate(me.actor, field(body, "id"), { graceSeconds });
        // As after a creation: the secret is this POST's answer, never in a URL, never shown again.
        return pageAnswer(request, 201, "Token rotated", createdTokenView(secret, token, oldSecretUntil), me.frame, "tokens");
      },
      { caller: "tokens", parse: parseForm, body: FormBody },
    )
    .get(
      "/portal/sessions",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const done = message(query, { revoked: "The session has ended.", others: "You are signed out everywhere else." });
        return pageAnswer(request, 200, "Your sessions", sessionsView(await sessions.list(me.actor), me.sessionId, me.frame.csrf, done), me.frame, "sessions");
      },
      { caller: "sessions" },
    )
    .post(
      "/portal/sessions/revoke",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        const id = field(body, "id");
        if (id === me.sessionId) {
          await sessions.revoke(me.actor, id, "logout");
          return redirect(request, "sign-in?done=signed-out", cookie.clear(request));
        }
        await sessions.revoke(me.actor, id);
        return redirect(request, backTo(body, "revoked"));
      },
      { caller: "sessions", parse: parseForm, body: FormBody },
    )
    .post(
      "/portal/sessions/revoke-others",
      async ({ request, body: _body, ...found }) => {
        const me = person(request, found);
        for (const session of await sessions.list(me.actor)) {
          if (session.id !== me.sessionId) await sessions.revoke(me.actor, session.id, "signed out everywhere else");
        }
        return redirect(request, "sessions?done=others");
      },
      { caller: "sessions", parse: parseForm, body: FormBody },
    )
    .get(
      "/portal/admin/users",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const user = (query.user ?? "").trim();
        const realm = (query.realm ?? "").trim();
        const filter = { username: user, realm: realm || undefined };
        const result = user
          ? { tokens: await tokens.list(me.actor, { ...filter, includeRevoked: true }), sessions: await sessions.list(me.actor, filter) }
          : null;
        const done = message(query, { revoked: "Revoked." });
        return pageAnswer(request, 200, "Users", usersView({ user, realm }, result, me.frame.csrf, usersPath(user, realm), tokenActions, done), me.frame, "admin/users");
      },
      { admin: true },
    )
    .get(
      "/portal/admin/keys",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const done = query.done === "rotated" ? "Rotation started: the new key is published now and signs once backends have had time to fetch it." : undefined;
        return pageAnswer(request, 200, "Signing keys", keysView(keys.keySet.mode, keys.managed ? await keyViews(keys.managed) : null, me.frame.csrf, done), me.frame, "admin/keys");
      },
      { admin: true },
    )
    .post(
      "/portal/admin/keys/rotate",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        if (!keys.managed) throw new Refusal(409, "Keys are shared secrets (jwt.secret): rotate them by editing jwt.secrets");
        if (field(body, "confirm") !== "yes") throw new Refusal(400, "Tick the box to confirm the rotation");
        await keys.managed.rotate(me.actor);
        return redirect(request, "admin/keys?done=rotated");
      },
      { admin: true, parse: parseForm, body: FormBody },
    )
    .get(
      "/portal/admin/audit",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const filter: AuditQuery = {
          event: (query.event ?? "").trim(),
          actor: (query.actor ?? "").trim(),
          subject: (query.subject ?? "").trim(),
          from: DATE.test(query.from ?? "") ? query.from! : "",
          to: DATE.test(query.to ?? "") ? query.to! : "",
        };
        const before = Number(query.before);
        const rows = await store.read.searchAudit({
          event: filter.event || undefined,
          actor: filter.actor || undefined,
          subject: filter.subject || undefined,
          from: filter.from ? Date.parse(`${filter.from}T00:00:00Z`) : undefined,
          to: filter.to ? Date.parse(`${filter.to}T00:00:00Z`) + DAY_MS : undefined,
          before: Number.isInteger(before) && before > 0 ? before : undefined,
          limit: AUDIT_PAGE + 1,
        });
        const page = rows.slice(0, AUDIT_PAGE);
        const kept = Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== ""));
        const link = (extra: Record<string, string>) => `admin/audit?${new URLSearchParams({ ...kept, ...extra })}`;
        const links = {
          next: rows.length > AUDIT_PAGE ? link({ before: String(page[page.length - 1].id) }) : null,
          newest: query.before ? link({}) : null,
        };
        return pageAnswer(request, 200, "Audit log", auditView(filter, page, links), me.frame, "admin/audit");
      },
      { admin: true },
    );
}

/** The page a revoke returns to, with its confirmation: one of the portal's own (BACK). */
function backTo(form: Form, done: string): string {
  const back = field(form, "back");
  const page = BACK.test(back) ? back : "tokens";
  return `${page}${page.includes("?") ? "&" : "?"}done=${done}`;
}
