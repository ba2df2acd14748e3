// The portal's device page (RFC 8628's verification URI): where a person
// approves a command line's sign-in (sign-in/device.ts).
//
//   GET  /portal/device[?code=XXXX-XXXX][&provider=NAME]   the code form, or the request to confirm
//   POST /portal/device                                      a typed code → the request to confirm
//   POST /portal/device/approve | /portal/device/deny        the person's decision (CSRF)
//
// Signed out, the page sends the person to sign in first, at the sign-in of
// the provider the command line named when the link says (an identity
// provider's own sign-in, or the portal's forms), and back here afterwards.
// The confirmation says what is approved, in words: a session for a
// command-line client, on which program, asked for when and from where; and
// the code, to compare with the one the command line shows. Every code
// looked up counts, when wrong, towards the regulation of guessing of the
// address it came from; a banned address is not looked up at all.
import { Elysia, t } from "elysia";
import { isoDate } from "../../dates.ts";
import { httpRequestContext, type PeerLookup } from "../../identity/request.ts";
import type { Provider } from "../../providers/provider.ts";
import { banRefusal } from "../../regulation/index.ts";
import type { DeviceAuthorizations, DeviceRequest, UserCodeGuard } from "../../sign-in/device.ts";
import type { Caller, callerPlugin } from "../caller.ts";
import { loginMode } from "../sessions/tiled.ts";
import { field, FormBody, parseForm } from "./forms.ts";
import { html, notice, time, type Html } from "./html.ts";
import type { PortalPages, SignedIn } from "./pages.ts";
import { csrfField } from "./views.ts";

export interface DevicePagesDeps {
  caller: ReturnType<typeof callerPlugin>;
  providers: readonly Provider[];
  authorizations: DeviceAuthorizations;
  guard: UserCodeGuard;
  pages: PortalPages;
}

const TITLE = "Sign in a command line";
const WRONG_CODE = "Unknown or expired code. Check the code your command line shows, or start its sign-in again.";

/** A provider whose people sign in at an identity provider (`sign-in/NAME`), not with a form of the portal. */
const signsInElsewhere = (provider: Provider | undefined) =>
  provider !== undefined && (String(provider.scheme) === "external" || String(loginMode(provider)) === "external");

export function devicePages(deps: DevicePagesDeps) {
  const { caller, authorizations, guard, pages } = deps;
  const providers = new Map(deps.providers.filter((provider) => loginMode(provider) !== null).map((provider) => [provider.name, provider]));

  /** The sign-in page of a provider, relative to the portal: an identity provider's own, else the portal's forms. */
  const signInPageOf = (name: string | undefined) => {
    const provider = name === undefined ? undefined : providers.get(name);
    return signsInElsewhere(provider) ? `sign-in/${encodeURIComponent(provider!.name)}` : "sign-in";
  };
  /** Signing in with a provider, then back to the device page (with the request's code, when known). */
  const signInLink = (provider: string, code?: string) =>
    `${signInPageOf(provider)}?${new URLSearchParams({ rd: `device?${new URLSearchParams(code ? { code, provider } : { provider })}` })}`;

  /** The pending request a typed code names; a wrong one is counted, and a banned address refused before any look-up. */
  async function lookUp(request: Request, server: PeerLookup | null, typed: string): Promise<DeviceRequest | null> {
    const context = httpRequestContext("login", request, server);
    const ban = await guard.banFor(context);
    if (ban) throw banRefusal(ban);
    const found = await authorizations.pending(typed);
    if (!found) await guard.wrongCode(context);
    return found;
  }

  function codePage(request: Request, me: Caller & { frame: SignedIn }, options: { typed?: string; error?: string; provider?: string } = {}) {
    const asked = options.provider !== undefined ? providers.get(options.provider) : undefined;
    const other = asked && asked.name !== me.provider.name ? asked : undefined;
    const view = codeView(me, options.typed ?? "", options.error, other && { name: other.name, href: signInLink(other.name) });
    return pages.answer(request, options.error ? 400 : 200, TITLE, view, me.frame);
  }

  function confirmPage(request: Request, me: Caller & { frame: SignedIn }, found: DeviceRequest) {
    if (found.provider !== me.provider.name) {
      return pages.answer(request, 403, TITLE, otherProviderView(me, found, signInLink(found.provider, found.userCode)), me.frame);
    }
    return pages.answer(request, 200, TITLE, confirmView(me, found), me.frame);
  }

  return new Elysia({ name: "portal-device" })
    .use(caller)
    .get(
      "/portal/device",
      async ({ request, server, query, caller: found }) => {
        // Signed out: to the sign-in the command line asked for (its link names the provider), then back here.
        if (!found) return pages.toSignIn(request, signInPageOf(query.provider));
        const me = pages.person(request, found);
        const typed = (query.code ?? "").trim();
        if (!typed) return codePage(request, me, { provider: query.provider });
        const pending = await lookUp(request, server, typed);
        return pending ? confirmPage(request, me, pending) : codePage(request, me, { typed, error: WRONG_CODE });
      },
      { identified: true, query: t.Object({ code: t.Optional(t.String({ maxLength: 64 })), provider: t.Optional(t.String({ maxLength: 256 })) }) },
    )
    .post(
      "/portal/device",
      async ({ request, server, body, ...found }) => {
        const me = pages.person(request, found);
        const typed = field(body, "code");
        if (!typed) return codePage(request, me, { error: "Type the code your command line shows." });
        const pending = await lookUp(request, server, typed);
        return pending ? confirmPage(request, me, pending) : codePage(request, me, { typed, error: WRONG_CODE });
      },
      { caller: true, parse: parseForm, body: FormBody },
    )
    .post(
      "/portal/device/:decision",
      async ({ request, server, body, params, ...found }) => {
        const me = pages.person(request, found);
        const typed = field(body, "code");
        const pending = await lookUp(request, server, typed);
        if (!pending) return codePage(request, me, { typed, error: WRONG_CODE });
        const approver = { user: me.user, provider: me.provider.name, client: me.client };
        if (params.decision === "approve") {
          if (pending.provider !== me.provider.name) return confirmPage(request, me, pending);
          if (!(await authorizations.approve(pending, approver))) return codePage(request, me, { typed, error: WRONG_CODE });
          return pages.answer(request, 200, TITLE, decidedView("approved", me), me.frame);
        }
        if (!(await authorizations.deny(pending, approver))) return codePage(request, me, { typed, error: WRONG_CODE });
        return pages.answer(request, 200, TITLE, decidedView("denied", me), me.frame);
      },
      { caller: true, parse: parseForm, body: FormBody, params: t.Object({ decision: t.Union([t.Literal("approve"), t.Literal("deny")]) }) },
    );
}

/** "alice (local)". */
const who = (me: Caller) => html`<strong>${me.user.username}</strong> <span class="muted">(${me.user.realm})</span>`;

function codeView(me: Caller & { frame: SignedIn }, typed: string, error: string | undefined, other?: { name: string; href: string }): Html {
  return html`${error ? notice("error", error) : ""}${
    other
      ? notice("info", html`The command line asked to sign in with <strong>${other.name}</strong>; you are signed in with ${me.provider.name}. <a href="${other.href}">Sign in with ${other.name}</a> to approve it.`)
      : ""
  }
<p>A command line (such as <code>gatehouse login</code>) showed you a code. Type it here to let it sign in as ${who(me)}.</p>
<form method="post" action="device" class="stack">${csrfField(me.frame.csrf)}
<div><label for="user-code">Code</label><input type="text" id="user-code" name="code" value="${typed}" required maxlength="20" autocomplete="off" autocapitalize="characters" spellcheck="false" aria-describedby="user-code-hint">
<p class="hint" id="user-code-hint">Eight letters and digits, such as BCDF-GHJK.</p></div>
<div><button type="submit">Continue</button></div>
</form>`;
}

/** What is being approved, in words, and the code to compare; approve or deny. */
function confirmView(me: Caller & { frame: SignedIn }, request: DeviceRequest): Html {
  const client = request.userAgent ? html`<strong>${request.userAgent}</strong>` : html`<strong>an unnamed program</strong>`;
  const address = request.address ? html`<strong>${request.address}</strong>` : html`<strong>an unknown address</strong>`;
  return html`<p class="request">Approve a session for a command-line client on ${client}, requested at ${time(isoDate(request.requestedAt))} from ${address}?</p>
<dl class="identity">
<dt>Code</dt><dd><code>${request.userCode}</code> <span class="muted">(your command line must show this same code)</span></dd>
<dt>Signs in as</dt><dd>${who(me)}, with ${request.provider}</dd>
<dt>Expires</dt><dd>${time(isoDate(request.expiresAt))}</dd>
</dl>
<div class="notice warning" role="note"><strong>Approve only a sign-in you started yourself, just now:</strong> whoever runs that command line gets a session in your name.</div>
${decisionForms(me, request)}`;
}

function decisionForms(me: Caller & { frame: SignedIn }, request: DeviceRequest, approve = true): Html {
  const hidden = html`${csrfField(me.frame.csrf)}<input type="hidden" name="code" value="${request.userCode}">`;
  return html`<div class="row">
${approve ? html`<form method="post" action="device/approve">${hidden}<button type="submit">Approve</button></form>` : ""}
<form method="post" action="device/deny">${hidden}<button type="submit" class="${approve ? "secondary" : "danger"}">Deny</button></form>
</div>`;
}

function otherProviderView(me: Caller & { frame: SignedIn }, request: DeviceRequest, signIn: string): Html {
  return html`${notice("error", html`This request is for signing in with <strong>${request.provider}</strong>; you are signed in with ${me.provider.name}.`)}
<p><a href="${signIn}">Sign in with ${request.provider}</a>, then approve it here. Or deny it, if you did not start it:</p>
${decisionForms(me, request, false)}`;
}

function decidedView(decision: "approved" | "denied", me: Caller): Html {
  return decision === "approved"
    ? html`${notice("success", html`Approved: the command line is signed in as ${who(me)}. You can close this page.`)}`
    : html`${notice("success", "Denied: the command line will not be signed in.")}`;
}
