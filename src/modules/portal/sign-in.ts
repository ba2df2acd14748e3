// The portal's sign-in and sign-out pages (./index.ts lists them all):
//
//   GET  /portal/sign-in        the sign-in forms     POST /portal/sign-in    → a session, in the cookie
//   GET  /portal/sign-out?rd=   an application's Sign out link: confirm (single sign-on, ./sign-out.ts)
//   POST /portal/sign-out       ends the session
//
// With single sign-on (`sso`), a sign-in also sets the domain's cookie
// (./cookie.ts) and may end on an application's page (rd, ./return-to.ts).
import { Elysia } from "elysia";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { ClientAddress } from "../../identity/client.ts";
import type { User } from "../../identity/user.ts";
import type { Provider } from "../../providers/provider.ts";
import { basicCredential, bearerCredential } from "../../identity/credentials.ts";
import { httpRequestContext } from "../../identity/request.ts";
import { Refusal } from "../../refusal.ts";
import type { SessionService } from "../../sessions/service.ts";
import { externalSignIn } from "../../providers/oidc.ts";
import { ssoReturnUrl } from "../../sso/policy.ts";
import type { callerPlugin } from "../caller.ts";
import { loginMode } from "../sessions/tiled.ts";
import type { PortalCookie } from "./cookie.ts";
import { field, FormBody, parseForm } from "./forms.ts";
import type { PortalPages } from "./pages.ts";
import { returnTarget } from "./return-to.ts";
import { signOutView } from "./sign-out.ts";
import { signInPausedText, signInView, type SignInChoice } from "./views.ts";

export interface SignInPagesDeps {
  pipeline: IdentityPipeline;
  caller: ReturnType<typeof callerPlugin>;
  cookie: PortalCookie;
  sessions: SessionService;
  pages: PortalPages;
}

/** How long sign-out waits for an identity provider's discovery document (end_session) before signing out here alone. */
const signOutTimeoutMs = 3000;

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

export function signInPages({ pipeline, caller, cookie, sessions, pages }: SignInPagesDeps) {
  const { sendTo, redirect, person, where } = pages;
  const sso = cookie.sso;
  const hasHeaderProviders = pipeline.providers.some((provider) => provider.scheme === "header");
  const signInChoices: (SignInChoice & { provider: (typeof pipeline.providers)[number] })[] = pipeline.providers.flatMap((provider) => {
    const mode = loginMode(provider);
    return mode ? [{ name: provider.name, realm: provider.realm, mode, label: externalSignIn(provider)?.displayName, provider }] : [];
  });

  /**
   * Opens a browser session for someone a provider has just authenticated (and, with single sign-on, the
   * domain's cookie), and sends them to `rd` (a portal page, or an application's with single sign-on) or the portal's home.
   */
  async function signIn(request: Request, user: User, provider: Provider, client: ClientAddress, rd?: string): Promise<Response> {
    return sendTo(request, cookie.returnLocation(request, rd), await cookie.signIn(request, user, provider, client));
  }

  return new Elysia({ name: "portal-sign-in" })
    .use(caller)
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
      return pages.answer(request, 200, "Sign in", signInView(signInChoices, signedOut, "", automatic, returnTarget(sso, query.rd)));
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
          const paused = pages.answer(request, 429, "Sign in", signInView(signInChoices, { kind: "error", text: signInPausedText(result.ban) }, username));
          paused.headers.set("retry-after", String(result.ban.retryAfterSeconds));
          return paused;
        }
        if (!result?.ok) {
          await sessions.recordFailedLogin(choice.provider, choice.mode === "internal" ? username : null, context.client);
          const text = choice.mode === "internal" ? "Incorrect username or password." : "This API key was not accepted.";
          return pages.answer(request, 401, "Sign in", signInView(signInChoices, { kind: "error", text }, username, false, returnTarget(sso, field(body, "rd"))));
        }
        try {
          return await signIn(request, result.user, choice.provider, context.client, field(body, "rd"));
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          const view = signInView(signInChoices, { kind: "error", text: error.message }, username, false, returnTarget(sso, field(body, "rd")));
          return pages.answer(request, error.status, "Sign in", view);
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
        return pages.answer(request, 200, "Sign out", signOutView(me.frame.csrf, back), me.frame, "");
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
        if (endSession) return sendTo(request, endSession.href, cookie.clear(request));
        return back ? sendTo(request, back, cookie.clear(request)) : redirect(request, "sign-in?done=signed-out", cookie.clear(request));
      },
      { caller: true, parse: parseForm, body: FormBody },
    );
}
