// What every page of the portal shares (./index.ts makes it once and lends it
// to each family of pages): the answer with the portal's headers, redirects,
// the way to a sign-in page and back, the person signed in, and the portal's
// error pages.
//
// Every page: a strict CSP (no inline script or style, nothing from another
// host), no framing, no referrer, and no caching (pages show personal data;
// the new token's secret is the answer to its POST, never a reloadable GET).
import { Refusal } from "../../refusal.ts";
import type { Logger } from "../../log.ts";
import type { Caller } from "../caller.ts";
import { locatePortal, type PortalCookie, type PortalLocation } from "./cookie.ts";
import { field, type Form } from "./forms.ts";
import { layout, type Html, type PageFrame } from "./html.ts";
import { portalReturnPath } from "./return-to.ts";
import { errorView } from "./views.ts";

export type SignedIn = NonNullable<PageFrame["signedIn"]>;

/** The person signed in through the portal's cookie: their session, and what the page's frame shows (the CSRF token of their forms). */
export type Person = Caller & { sessionId: string; frame: SignedIn };

export interface PortalPages {
  /** A page: the layout around `main`, with the portal's headers. */
  answer(request: Request, status: number, title: string, main: Html, signedIn?: SignedIn, section?: string): Response;
  /** A 303 to a page of the portal (`to`, relative to it). */
  redirect(request: Request, to: string, setCookies?: string[]): Response;
  /** A 303 to a URL (or a path) as it is, with the portal's headers. */
  sendTo(request: Request, location: string, setCookies?: string[]): Response;
  /** To a sign-in page (`sign-in`, or an identity provider's `sign-in/NAME`) and back to this page. */
  toSignIn(request: Request, signInPage?: string): Response;
  /** The person signed in through the portal's cookie, with the CSRF token of their forms. */
  person(request: Request, found: Caller): Person;
  /** Where the portal is, as the browser sees it. */
  where(request: Request): PortalLocation;
  /** The portal's error handler: a refusal or an error as a page (a 401 as the way to sign in). */
  error(context: { error: unknown; request: Request; code: unknown }): Response;
}

export interface PortalPagesDeps {
  /** The portal's cookie; null when the store is disabled (no page but the one that says so). */
  cookie: PortalCookie | null;
  /** Origins a form's answer may redirect to, besides the portal's own (form-action). */
  formOrigins: readonly string[];
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

/** The path of this page below the portal, with its query: "tokens/new". */
const hereOf = (request: Request) => {
  const url = new URL(request.url);
  return `${url.pathname.replace(/^\/portal\/?/, "")}${url.search}`;
};

export function portalPages({ cookie, formOrigins, publicUrl, logger }: PortalPagesDeps): PortalPages {
  const where = (request: Request) => locatePortal(request, publicUrl);
  const SECURITY_HEADERS = securityHeaders(formOrigins);

  function answer(request: Request, status: number, title: string, main: Html, signedIn?: SignedIn, section?: string): Response {
    const body = layout({ title, portalPath: where(request).portalPath, here: hereOf(request), signedIn, section }, main);
    const headers = new Headers({ "content-type": "text/html; charset=utf-8", ...SECURITY_HEADERS });
    return new Response(body, { status, headers });
  }

  function redirect(request: Request, to: string, setCookies: string[] = []): Response {
    return sendTo(request, `${where(request).portalPath}${to}`, setCookies);
  }

  function sendTo(request: Request, location: string, setCookies: string[] = []): Response {
    const headers = new Headers({ location, ...SECURITY_HEADERS });
    for (const set of setCookies) headers.append("set-cookie", set);
    return new Response(null, { status: 303, headers });
  }

  /** Not signed in (or no longer): to a sign-in page, then back to the page asked for; dropping a cookie that no longer works. */
  function toSignIn(request: Request, signInPage = "sign-in"): Response {
    const back = request.method === "GET" ? portalReturnPath(hereOf(request)) : null;
    const sent = cookie?.sent(request) ? cookie.clear(request) : [];
    return redirect(request, back ? `${signInPage}?${new URLSearchParams({ rd: back })}` : signInPage, sent);
  }

  /** The signed-in person, through the portal's cookie only: a page acting on an Authorization header could be forged cross-site. */
  function person(request: Request, found: Caller): Person {
    if (request.headers.has("authorization") || found.via?.kind !== "session") {
      // A person a trusted front proxy vouches for gets a portal session of their own at the sign-in page.
      if (found.provider.scheme === "header") throw new Refusal(401, "Sign in");
      throw new Refusal(400, "The portal signs you in with its own form: this browser sent an Authorization header, which it does not use.");
    }
    const sessionId = found.via.sessionId;
    const csrf = cookie!.csrfToken(request, sessionId);
    if (!csrf) throw new Refusal(401, "Sign in");
    return {
      ...found,
      sessionId,
      frame: { username: found.user.username, realm: found.user.realm, admin: found.actor.admin, csrf },
    };
  }

  function error({ error, request, code }: { error: unknown; request: Request; code: unknown }): Response {
    const refusal = error instanceof Refusal ? error : (error as { cause?: unknown })?.cause;
    if (refusal instanceof Refusal && refusal.status === 401) return toSignIn(request);
    if (refusal instanceof Refusal) return answer(request, refusal.status, "Refused", errorView(refusal.message, true));
    if (code === "NOT_FOUND") return answer(request, 404, "Not found", errorView("There is no such page in the portal.", true));
    if (code === "VALIDATION" || code === "PARSE") return answer(request, 400, "Invalid request", errorView("The form was not complete or not valid.", true));
    logger.error("portal.internal_error", { path: new URL(request.url).pathname, error: (error as Error)?.message });
    return answer(request, 500, "Error", errorView("Something went wrong on the server.", true));
  }

  return { answer, redirect, sendTo, toSignIn, person, where, error };
}

/** A query's `done`, when it names one of the page's confirmations: its text. */
export const doneMessage = (query: Record<string, string | undefined>, messages: Record<string, string>) => {
  const key = query.done;
  return key && Object.hasOwn(messages, key) ? messages[key] : undefined;
};

/** Where a revoke may send the browser back to: a portal page, never another site. */
const BACK = /^(tokens|sessions|admin\/users(\?[A-Za-z0-9%=&._+-]*)?)$/;

/** The page a revoke returns to, with its confirmation: one of the portal's own (BACK). */
export function backTo(form: Form, done: string): string {
  const back = field(form, "back");
  const page = BACK.test(back) ? back : "tokens";
  return `${page}${page.includes("?") ? "&" : "?"}done=${done}`;
}
