// The administrators' pages that are not about one person's tokens and
// sessions: the bans of regulation. Every value goes through `html`.
import type { ActiveBan } from "../../regulation/regulator.ts";
import type { UserListOrder, UserSummary } from "../../store/users/model.ts";
import { html, notice, time, type Html } from "./html.ts";
import { csrfField } from "./views.ts";

/** The bans in force, each with its release button (a POST with the CSRF token). */
export function bansView(bans: ActiveBan[] | null, csrf: string, message?: { kind: "success" | "error"; text: string }): Html {
  const intro = html`<p>After too many failed password or API-key attempts, a username (in one realm) or a client address is refused unchecked for a while. Release a ban to let the right password in again at once.</p>`;
  if (bans === null) return html`${intro}${notice("info", "Regulation is off here (regulation.enabled: false): there are no bans.")}`;
  return html`${message ? notice(message.kind, message.text) : ""}${intro}
${
  bans.length === 0
    ? html`<p class="muted">No bans in force.</p>`
    : html`<div class="table-wrap" role="region" tabindex="0" aria-label="Bans"><table>
<thead><tr><th scope="col">Banned</th><th scope="col">Realm</th><th scope="col">Until</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>
${bans.map((ban) => {
  const who = ban.kind === "address" ? html`address <code>${ban.address}</code>` : html`user <strong>${ban.targetUsername}</strong>`;
  const label = ban.kind === "address" ? `address ${ban.address}` : `${ban.targetUsername} (${ban.targetRealm ?? "no realm"})`;
  return html`<tr><td>${who}</td><td>${ban.targetRealm ?? html`<span class="muted">${ban.kind === "address" ? "every realm" : "—"}</span>`}</td><td>${time(new Date(ban.until).toISOString())}</td>
<td><form method="post" action="admin/regulation/release" data-confirm="Release the ban of ${label}?">${csrfField(csrf)}
<input type="hidden" name="kind" value="${ban.kind}"><input type="hidden" name="subject" value="${ban.subject}">
<button type="submit" aria-label="Release the ban of ${label}">Release</button></form></td></tr>`;
})}
</tbody></table></div>`
}`;
}

/** The list of users for admins: one page, in the order chosen, each a link to their tokens and sessions. */
export function userListView(users: UserSummary[], order: UserListOrder, links: { previous: string | null; next: string | null; sorted: (order: UserListOrder) => string }): Html {
  const header = (label: string, by: UserListOrder) =>
    by === order ? html`<th scope="col" aria-sort="${by === "name" ? "ascending" : "descending"}">${label}</th>` : html`<th scope="col"><a href="${links.sorted(by)}">${label}</a></th>`;
  const usersLink = (user: UserSummary) => `admin/users?${new URLSearchParams({ user: user.username, realm: user.realm })}`;
  return html`<h2>Everyone in the store</h2>
<p class="hint">Everyone who has signed in, or owns or has managed a token. Choose a user to see and revoke their tokens and sessions.</p>
${
  users.length === 0
    ? html`<p class="muted">No users yet.</p>`
    : html`<div class="table-wrap" role="region" tabindex="0" aria-label="Users"><table>
<thead><tr>${header("User", "name")}<th scope="col">Realm</th>${header("Last sign-in", "sign-in")}${header("Last seen", "seen")}<th scope="col">Live tokens</th><th scope="col">Live sessions</th></tr></thead>
<tbody>
${users.map(
  (user) => html`<tr><td><a href="${usersLink(user)}">${user.username}</a></td><td>${user.realm}</td>
<td>${user.lastSignIn === null ? html`<span class="muted">never</span>` : time(new Date(user.lastSignIn).toISOString())}</td>
<td>${time(new Date(user.lastSeen).toISOString())}</td>
<td>${user.liveTokens}</td><td>${user.liveSessions}</td></tr>`,
)}
</tbody></table></div>`
}
<nav aria-label="User pages" class="row">${links.previous ? html`<a href="${links.previous}">Previous</a>` : ""}${links.next ? html`<a href="${links.next}">Next</a>` : ""}</nav>`;
}
