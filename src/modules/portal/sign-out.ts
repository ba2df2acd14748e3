// The sign-out page an application's "Sign out" link opens
// (GET /portal/sign-out?rd=…): signing out changes state, so it is the
// portal's POST with the session's CSRF token, which this page's button sends.
import { html, type Html } from "./html.ts";
import { csrfField } from "./views.ts";

/** `back`: the application's page to return to afterwards (already checked), or null. */
export function signOutView(csrf: string, back: string | null): Html {
  const returnField = back ? html`<input type="hidden" name="rd" value="${back}">` : "";
  return html`<p>Signing out here signs you out of every application of this domain that you opened with this sign-in.</p>
<form method="post" action="sign-out" class="stack">${csrfField(csrf)}${returnField}
<div><button type="submit">Sign out</button></div>
</form>`;
}
