// The portal's pages, as functions of plain values: each returns the <main>
// content; layout() (html.ts) wraps it. Every value goes through `html`,
// which escapes it.
import type { User, Scopes } from "../../identity/user.ts";
import type { SessionView } from "../../sessions/service.ts";
import type { TokenView } from "../../tokens/service.ts";
import type { AuditRecord } from "../../store/audit/model.ts";
import { joinScope } from "../../tokens/scopes.ts";
import { html, notice, time, type Html } from "./html.ts";
import type { KeyView } from "../keys/index.ts";
import type { Ban } from "../../regulation/index.ts";
import { describeUserAgent } from "./user-agent.ts";

export interface SignInChoice {
  name: string;
  realm: string;
  mode: "internal" | "token" | "external";
  /** The button's label of an identity provider (`display_name`). */
  label?: string;
}

/** Hidden fields every state-changing form carries. */
export const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;

/**
 * The sign-in page. `gateway`: a trusted front proxy may already vouch for
 * the person; the page links to itself, so that following the link (a
 * navigation from our own page) signs them in with it.
 */
export function signInView(
  choices: SignInChoice[],
  message?: { kind: "error" | "success"; text: string },
  username = "",
  gateway = false,
  /** The portal page to return to once signed in (already checked). */
  rd: string | null = null,
): Html {
  const self = rd ? `sign-in?${new URLSearchParams({ rd })}` : "sign-in";
  const continueLink = gateway ? html`<p><a href="${self}">Continue with the sign-in of your organisation's gateway</a></p>` : "";
  const returnField = rd ? html`<input type="hidden" name="rd" value="${rd}">` : "";
  if (choices.length === 0) {
    return html`${message ? notice(message.kind, message.text) : ""}${continueLink}${
      gateway ? "" : notice("info", "No provider here takes a sign-in (password or API key providers). Ask your administrator.")
    }`;
  }
  // Identity providers: a link each, which sends the browser there (GET /portal/sign-in/{name}).
  const external = choices.filter((choice) => choice.mode === "external");
  const query = rd ? `?${new URLSearchParams({ rd })}` : "";
  const buttons =
    external.length === 0
      ? ""
      : html`<section aria-labelledby="sso-title"><h2 id="sso-title">With your organisation's account</h2>
<ul class="sign-in-links">${external.map(
          (choice) => html`<li><a class="button" href="sign-in/${encodeURIComponent(choice.name)}${query}">Sign in with ${choice.label ?? choice.name}</a></li>`,
        )}</ul></section>`;
  const forms = choices.filter((choice) => choice.mode !== "external");
  return html`${message ? notice(message.kind, message.text) : ""}${continueLink}
<p>Sign in with the credentials you already use for the services behind this server.</p>
${buttons}<div class="providers">
${forms.map((choice, index) => {
  const id = `p${index}`;
  return choice.mode === "internal"
    ? html`<section aria-labelledby="${id}-title"><h2 id="${id}-title">${choice.name} <span class="muted">(${choice.realm})</span></h2>
<form method="post" action="sign-in" class="stack">
<input type="hidden" name="provider" value="${choice.name}">${returnField}
<div><label for="${id}-username">Username</label><input type="text" id="${id}-username" name="username" autocomplete="username" required value="${username}"></div>
<div><label for="${id}-password">Password</label><input type="password" id="${id}-password" name="password" autocomplete="current-password" required></div>
<div><button type="submit">Sign in</button></div>
</form></section>`
    : html`<section aria-labelledby="${id}-title"><h2 id="${id}-title">${choice.name} <span class="muted">(${choice.realm})</span></h2>
<form method="post" action="sign-in" class="stack">
<input type="hidden" name="provider" value="${choice.name}">${returnField}
<div><label for="${id}-key">API key</label><input type="password" id="${id}-key" name="api_key" autocomplete="off" required>
<p class="hint">The API key of your ${choice.realm} account.</p></div>
<div><button type="submit">Sign in with API key</button></div>
</form></section>`;
})}
</div>`;
}

/**
 * What the sign-in page says while regulation pauses a name or an address:
 * the ban and its length, which anyone trying the name learns anyway (a ban
 * falls on any name, whether or not such a user exists).
 */
export function signInPausedText(ban: Ban): string {
  const minutes = Math.max(1, Math.ceil(ban.retryAfterSeconds / 60));
  const what = ban.kind === "username" ? "Sign-in for this username" : "Sign-in from your network address";
  return `${what} is paused for ${minutes} minute${minutes === 1 ? "" : "s"} after too many failed attempts. Try again later.`;
}

function scopeList(scopes: Scopes | null | undefined, unrestricted = "all (unrestricted)"): Html {
  if (!scopes) return html`<span class="muted">${unrestricted}</span>`;
  const entries = Object.entries(scopes);
  if (entries.length === 0) return html`<span class="muted">none</span>`;
  return html`${entries.map(
    ([service, names], index) => html`${index > 0 ? html`<br>` : ""}<span class="scope"><code>${service}</code>${names.length > 0 ? html`: ${names.join(", ")}` : ""}</span>`,
  )}`;
}

/** The home page's banner: the person's tokens that expire soon (tokens.remind_before). */
function expiringBanner(expiring: TokenView[]): Html {
  if (expiring.length === 0) return html``;
  const first = expiring.reduce((soonest, token) => (token.expires_at! < soonest.expires_at! ? token : soonest));
  return notice(
    "info",
    html`${expiring.length === 1 ? "One of your API tokens expires" : `${expiring.length} of your API tokens expire`} soon (the first, ${first.note || html`<code>${first.id}</code>`}, ${time(first.expires_at)}): <a href="tokens">rotate or replace ${expiring.length === 1 ? "it" : "them"}</a> before programs using ${expiring.length === 1 ? "it" : "them"} are refused.`,
  );
}

export function meView(user: User, provider: string, admin: boolean, expiring: TokenView[] = []): Html {
  const attributes = Object.entries(user.attributes);
  return html`${expiringBanner(expiring)}<dl class="identity">
<dt>Username</dt><dd>${user.username}</dd>
<dt>Realm</dt><dd>${user.realm}</dd>
<dt>Signed in with</dt><dd>${provider}</dd>
<dt>Roles</dt><dd>${user.roles.length > 0 ? user.roles.join(", ") : html`<span class="muted">none</span>`}${admin ? html` <span class="muted">(administrator)</span>` : ""}</dd>
<dt>Scopes</dt><dd>${scopeList(user.scopes)}</dd>
</dl>
<h2>Attributes</h2>
${
  attributes.length === 0
    ? html`<p class="muted">No attributes.</p>`
    : html`<div class="table-wrap" role="region" tabindex="0" aria-label="Attributes"><table><caption class="muted">What backends receive about you in the JWT</caption><thead><tr><th scope="col">Name</th><th scope="col">Value</th></tr></thead><tbody>
${attributes.map(([name, value]) => html`<tr><td><code>${name}</code></td><td>${value}</td></tr>`)}
</tbody></table></div>`
}
<p><a href="tokens/new">Create an API token</a> · <a href="tokens">Your tokens</a> · <a href="sessions">Your sessions</a></p>`;
}

function address(primary: string | null, reported: string | null): Html {
  if (!primary && !reported) return html`<span class="muted">unknown</span>`;
  return html`${primary ?? ""}${reported && reported !== primary ? html` <span class="muted">(reported ${reported})</span>` : ""}`;
}

/** What the token table offers besides revoking: rotation, with a grace of at most this many seconds (0: none). */
export interface TokenActions {
  maxRotationGrace: number;
}

/** Status, with why it was revoked, its rotation family and its networks. */
function tokenStatus(token: TokenView): Html {
  const lines: Html[] = [];
  if (token.revoked_reason) lines.push(html`<span class="muted">revoked: ${token.revoked_reason}</span>`);
  if (token.expiring_soon) lines.push(html`<strong class="expiring">expires soon</strong>`);
  if (token.rotated_to) {
    const until = token.status === "active" && token.rotated_until ? html`, old secret works until ${time(token.rotated_until)}` : "";
    lines.push(html`<span class="muted">rotated to <code>${token.rotated_to}</code>${until}</span>`);
  }
  if (token.rotated_from) lines.push(html`<span class="muted">rotated from <code>${token.rotated_from}</code></span>`);
  if (token.allowed_networks) lines.push(html`<span class="muted">only from ${token.allowed_networks.join(", ")}</span>`);
  return html`${token.status}${lines.map((line) => html`<br>${line}`)}`;
}

function rotateForm(token: TokenView, csrf: string, back: string, actions: TokenActions): Html {
  if (token.status !== "active" || token.rotated_to) return html``;
  const label = token.note || token.id;
  return html`<form method="post" action="tokens/rotate" data-confirm="Rotate this token? You get a new secret; the old one stops${actions.maxRotationGrace > 0 ? " after the grace chosen" : " at once"}.">${csrfField(csrf)}
<input type="hidden" name="id" value="${token.id}"><input type="hidden" name="back" value="${back}">${
    actions.maxRotationGrace > 0
      ? html`<label for="grace-${token.id}">Old secret works for (seconds, at most ${actions.maxRotationGrace})</label><input type="number" id="grace-${token.id}" name="grace_seconds" min="0" max="${actions.maxRotationGrace}" value="0">`
      : ""
  }
<button type="submit" aria-label="Rotate token ${label}">Rotate</button></form>`;
}

export function tokenTable(tokens: TokenView[], csrf: string, back: string, showOwner: boolean, actions: TokenActions = { maxRotationGrace: 0 }): Html {
  if (tokens.length === 0) return html`<p class="muted">No tokens.</p>`;
  return html`<div class="table-wrap" role="region" tabindex="0" aria-label="Tokens"><table>
<thead><tr>${showOwner ? html`<th scope="col">Owner</th>` : ""}<th scope="col">Note</th><th scope="col">ID</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last active</th><th scope="col">Status</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>
${tokens.map(
  (token) => html`<tr>
${showOwner ? html`<td>${token.username} <span class="muted">(${token.realm})</span></td>` : ""}
<td>${token.note || html`<span class="muted">(no note)</span>`}</td>
<td><code>${token.id}</code></td>
<td>${scopeList(token.scopes)}</td>
<td>${time(token.created_at)}</td>
<td>${time(token.expires_at)}</td>
<td>${time(token.last_used_at)}${token.last_used_at ? html`<br>from ${address(token.last_used_address, token.last_used_reported_address)}` : ""}</td>
<td class="status-${token.status}">${tokenStatus(token)}</td>
<td>${rotateForm(token, csrf, back, actions)}${
    token.status === "active"
      ? html`<form method="post" action="tokens/revoke" data-confirm="Revoke this token? Programs using it will be refused at once.">${csrfField(csrf)}
<input type="hidden" name="id" value="${token.id}"><input type="hidden" name="back" value="${back}">
<button type="submit" class="danger" aria-label="Revoke token ${token.note || token.id}">Revoke</button></form>`
      : ""
  }</td>
</tr>`,
)}
</tbody></table></div>`;
}

export function tokensView(tokens: TokenView[], csrf: string, actions: TokenActions, message?: string): Html {
  const reused = tokens.filter((token) => token.revoked_reason?.includes("rotated-away"));
  const expiring = tokens.filter((token) => token.expiring_soon);
  return html`${message ? notice("success", message) : ""}${
    reused.length > 0
      ? notice("error", html`A rotated-away token was presented again, so someone else may hold it: its whole family was revoked (${reused.map((token) => html`<code>${token.id}</code> `)}). See the reasons below; create a new token for the deployment.`)
      : ""
  }${expiring.length > 0 ? notice("info", `${expiring.length === 1 ? "One token expires" : `${expiring.length} tokens expire`} soon: rotate ${expiring.length === 1 ? "it" : "them"} or create new ones before then.`) : ""}
<p><a href="tokens/new">Create a new token</a></p>
${tokenTable(tokens, csrf, "tokens", false, actions)}`;
}

export interface NewTokenForm {
  /** What the person may grant: service → scopes. */
  grantable: Scopes;
  /** Longest lifetime, in days. */
  maxDays: number;
  defaultDays: number;
  allowNonExpiring: boolean;
  /** Today, and the latest allowed date, as YYYY-MM-DD. */
  today: string;
  latest: string;
  csrf: string;
  /** Single-use: the token this form makes is made once, however often the form is sent. */
  nonce: string;
  error?: string;
  values?: { note?: string; expires?: string; expires_on?: string; scopes?: string[]; networks?: string };
}

const PRESET_DAYS = [7, 30, 90, 365];

export function newTokenView(form: NewTokenForm): Html {
  const { values = {} } = form;
  const presets = [...new Set([...PRESET_DAYS.filter((days) => days <= form.maxDays), Math.min(form.defaultDays, form.maxDays)])].sort((a, b) => a - b);
  const chosenExpiry = values.expires ?? String(Math.min(form.defaultDays, form.maxDays));
  const checked = new Set(values.scopes ?? []);
  const services = Object.entries(form.grantable);
  return html`${form.error ? notice("error", form.error) : ""}
<form method="post" action="tokens/new" class="stack">
${csrfField(form.csrf)}<input type="hidden" name="nonce" value="${form.nonce}">
<div><label for="note">Note</label><input type="text" id="note" name="note" maxlength="200" required value="${values.note ?? ""}" aria-describedby="note-hint">
<p class="hint" id="note-hint">What is this token for? e.g. "nightly ecFlow job on host x".</p></div>
<fieldset><legend>Expiry</legend>
<div><label for="expires">Expires in</label><select id="expires" name="expires" aria-describedby="expiry-hint">
${presets.map((days) => html`<option value="${days}"${String(days) === chosenExpiry ? html` selected` : ""}>${days} days</option>`)}
<option value="custom"${chosenExpiry === "custom" ? html` selected` : ""}>On a date (below)</option>
${form.allowNonExpiring ? html`<option value="never"${chosenExpiry === "never" ? html` selected` : ""}>Never</option>` : ""}
</select></div>
<div><label for="expires_on">Date (UTC, end of day)</label><input type="date" id="expires_on" name="expires_on" min="${form.today}" max="${form.latest}" value="${values.expires_on ?? ""}"></div>
<p class="hint" id="expiry-hint">At most ${form.maxDays} days (until ${form.latest}).</p>
</fieldset>
<fieldset><legend>Services and scopes</legend>
${
  services.length === 0
    ? html`<p class="muted">No services are configured here: the token carries your identity without scopes.</p>`
    : html`<p class="hint">Only what you may grant is offered. Choose at least one.</p>
${services.map(
  ([service, names]) => html`<div><p><strong>${service}</strong></p>
${
  names.length === 0
    ? html`<label class="inline"><input type="checkbox" name="scope" value="${service}"${checked.has(service) ? html` checked` : ""}> ${service} (the service, no scopes)</label>`
    : names.map(
        (name) =>
          html`<label class="inline"><input type="checkbox" name="scope" value="${joinScope(service, name)}"${checked.has(joinScope(service, name)) ? html` checked` : ""}> ${name}</label>`,
      )
}</div>`,
)}`
}
</fieldset>
<div><label for="networks">Usable only from <span class="muted">(optional)</span></label><input type="text" id="networks" name="networks" maxlength="1100" value="${values.networks ?? ""}" aria-describedby="networks-hint">
<p class="hint" id="networks-hint">Networks as CIDR blocks, separated by commas or spaces, e.g. 192.0.2.0/24, 2001:db8::/32 (at most 16). Empty: from anywhere.</p></div>
<div><button type="submit">Create token</button></div>
</form>`;
}

/** The new secret, once: after a creation, or a rotation (`oldSecretUntil`: the end of the old secret's grace, if any). */
export function createdTokenView(secret: string, token: TokenView, oldSecretUntil?: string | null): Html {
  return html`<div class="notice warning" role="alert"><strong>Copy this token now.</strong> It is shown only once: it cannot be shown again, and this page cannot be reloaded. If you lose it, revoke it and create another.</div>
<div><label for="secret">Your new token</label>
<input type="text" id="secret" class="secret" value="${secret}" readonly aria-describedby="secret-status">
<div class="row"><button type="button" data-copy="secret">Copy to clipboard</button><span id="secret-status" role="status" aria-live="polite"></span></div></div>
<h2>Token details</h2>
<dl class="identity">
<dt>Note</dt><dd>${token.note || html`<span class="muted">(no note)</span>`}</dd>
<dt>ID</dt><dd><code>${token.id}</code></dd>
<dt>Scopes</dt><dd>${scopeList(token.scopes)}</dd>
<dt>Expires</dt><dd>${time(token.expires_at)}${token.lifetime_note ? html`<br><span class="muted">${token.lifetime_note}</span>` : ""}</dd>
${token.rotated_from ? html`<dt>Replaces</dt><dd><code>${token.rotated_from}</code> (its secret ${oldSecretUntil ? html`works until ${time(oldSecretUntil)}` : "has stopped"})</dd>` : ""}
${token.allowed_networks ? html`<dt>Usable from</dt><dd>${token.allowed_networks.join(", ")}</dd>` : ""}
</dl>
<p>Use it as <code>Authorization: Bearer &lt;token&gt;</code>. <a href="tokens">Back to your tokens</a></p>`;
}

/** The browser and system (or the program) in words, the User-Agent as sent a click away. */
function device(userAgent: string | null): Html {
  const words = describeUserAgent(userAgent);
  if (!userAgent) return html`<span class="muted">${words}</span>`;
  return html`<details class="user-agent"><summary>${words}</summary><code>${userAgent}</code></details>`;
}

export function sessionTable(sessions: SessionView[], currentId: string | undefined, csrf: string, back: string, showOwner: boolean): Html {
  if (sessions.length === 0) return html`<p class="muted">No live sessions.</p>`;
  return html`<div class="table-wrap" role="region" tabindex="0" aria-label="Sessions"><table>
<thead><tr>${showOwner ? html`<th scope="col">Owner</th>` : ""}<th scope="col">Device</th><th scope="col">Address</th><th scope="col">Signed in</th><th scope="col">Last active</th><th scope="col">Provider</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>
${sessions.map(
  (session) => html`<tr>
${showOwner ? html`<td>${session.username} <span class="muted">(${session.realm})</span></td>` : ""}
<td>${device(session.user_agent)}${session.id === currentId ? html`<br><span class="current-marker">This session</span>` : ""}<br><code class="muted">${session.id}</code></td>
<td>${address(session.address, session.reported_address)}</td>
<td>${time(session.created_at)}</td>
<td>${time(session.refreshed_at ?? session.created_at)}</td>
<td>${session.provider}</td>
<td><form method="post" action="sessions/revoke" data-confirm="${session.id === currentId ? "End this session? You will be signed out." : "End this session?"}">${csrfField(csrf)}
<input type="hidden" name="id" value="${session.id}"><input type="hidden" name="back" value="${back}">
${
  session.id === currentId
    ? html`<button type="submit" class="danger" aria-label="Sign out of this session">Sign out</button>`
    : html`<button type="submit" class="danger" aria-label="End session ${session.id}">End</button>`
}</form></td>
</tr>`,
)}
</tbody></table></div>`;
}

export function sessionsView(sessions: SessionView[], currentId: string | undefined, csrf: string, message?: string): Html {
  const others = sessions.filter((session) => session.id !== currentId).length;
  return html`${message ? notice("success", message) : ""}
<p>Every place you are signed in: the portal, and programs that logged in with your password or API key.</p>
${sessionTable(sessions, currentId, csrf, "sessions", false)}
${
  others > 0
    ? html`<form method="post" action="sessions/revoke-others" data-confirm="Sign out of every other session (${others})?">${csrfField(csrf)}
<button type="submit" class="danger">Sign out everywhere else</button></form>`
    : ""
}`;
}

export function usersView(query: { user: string; realm: string }, found: { tokens: TokenView[]; sessions: SessionView[] } | null, csrf: string, back: string, actions: TokenActions, message?: string): Html {
  return html`${message ? notice("success", message) : ""}
<form method="get" action="admin/users" class="filters" role="search">
<div><label for="user">Username</label><input type="text" id="user" name="user" required value="${query.user}"></div>
<div><label for="realm">Realm <span class="muted">(optional)</span></label><input type="text" id="realm" name="realm" value="${query.realm}"></div>
<div><button type="submit">Find</button></div>
</form>
${
  found
    ? html`<h2>Tokens of ${query.user}</h2>
${tokenTable(found.tokens, csrf, back, true, actions)}
<h2>Live sessions of ${query.user}</h2>
${sessionTable(found.sessions, undefined, csrf, back, true)}`
    : html``
}`;
}

export function keysView(mode: string, keys: KeyView[] | null, csrf: string, message?: string): Html {
  if (!keys) {
    return html`<p>Keys are <strong>shared secrets</strong> (mode <code>${mode}</code>, HS256): they are not kept in the store, so they cannot be rotated from here.</p>
<h2>How to rotate shared secrets</h2>
<ol>
<li>Put a new secret first in <code>jwt.secrets</code>, keeping the old one after it: the first signs, all of them verify.</li>
<li>Give the new list to every backend that verifies the JWTs, then restart Gatehouse.</li>
<li>Once every token signed with the old secret has expired (<code>jwt.exp</code>, and the sessions' access tokens), remove the old secret, from Gatehouse and the backends.</li>
</ol>
<p>Or switch to managed keys (<code>jwt.alg: ES256</code>), which rotate from here with no change on the backends, who read the JWKS.</p>`;
  }
  return html`${message ? notice("success", message) : ""}
<div class="table-wrap" role="region" tabindex="0" aria-label="Signing keys"><table>
<thead><tr><th scope="col">Key ID (kid)</th><th scope="col">Algorithm</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Signs from</th><th scope="col">Stopped signing</th><th scope="col">Retires</th></tr></thead>
<tbody>
${keys.map(
  (key) => html`<tr><td><code>${key.kid}</code></td><td>${key.alg}</td><td class="state-${key.state}">${key.state}</td>
<td>${time(key.created_at)}</td><td>${time(key.activated_at ?? key.activates_at, "—")}</td><td>${time(key.deactivated_at, "—")}</td><td>${time(key.retired_at ?? key.retires_at, "—")}</td></tr>`,
)}
</tbody></table></div>
<h2>Rotate</h2>
<p>A new key is published in the JWKS first (state <em>next</em>), signs once backends have had time to fetch it, and the current key keeps verifying until every token it signed has expired.</p>
<form method="post" action="admin/keys/rotate" class="stack" data-confirm="Rotate the signing key now?">${csrfField(csrf)}
<label class="inline"><input type="checkbox" name="confirm" value="yes" required> Yes, start a rotation of the signing key</label>
<div><button type="submit" class="danger">Rotate signing key</button></div>
</form>`;
}

export interface AuditQuery {
  event: string;
  actor: string;
  subject: string;
  from: string;
  to: string;
}

/** What an event did, in words (its name shown beside it); an event not listed shows its name alone. */
const EVENT_WORDS: Record<string, string> = {
  "token.created": "created a token",
  "token.imported": "imported a token",
  "token.revoked": "revoked a token",
  "token.rotated": "rotated a token",
  "token.expiring": "was reminded of a token's expiry",
  "token.expired_unused": "revoked a token never used",
  "token.leaked": "revoked a leaked token",
  "token.reuse_detected": "saw a rotated-away token used again",
  "token.network_refused": "refused a token outside its networks",
  "token.create_denied": "was refused a token",
  "token.rotate_denied": "was refused a rotation",
  "token.delete_denied": "was refused a revocation",
  "session.created": "signed in",
  "session.refreshed": "refreshed a session",
  "session.revoked": "ended a session",
  "session.login_failed": "failed to sign in",
  "session.create_denied": "was refused a session",
  "session.revoke_denied": "was refused ending a session",
  "key.created": "created a signing key",
  "key.published": "published a signing key",
  "key.activated": "started signing with a key",
  "key.deactivated": "stopped signing with a key",
  "key.retired": "retired a signing key",
  "regulation.banned": "banned after failed attempts",
  "regulation.released": "released a ban",
  "sign_in.succeeded": "signed in with an identity provider",
  "sign_in.refused": "was refused by an identity provider",
  "sign_in.account_created": "linked an identity provider's account",
  "device.requested": "started a command-line sign-in",
  "device.collected": "finished a command-line sign-in",
};

/** A party of an event: the username and realm, or nothing. */
function party(username: string | null, realm: string | null): Html {
  if (!username) return html`<span class="muted">—</span>`;
  return html`${username}${realm ? html` <span class="muted">(${realm})</span>` : ""}`;
}

/** An event's detail as key/value pairs: scalars as they are, lists joined, anything deeper as compact JSON. */
function detailList(detail: Record<string, unknown> | null | undefined): Html {
  const entries = Object.entries(detail ?? {});
  if (entries.length === 0) return html``;
  const shown = (value: unknown) =>
    value === null || value === undefined
      ? html`<span class="muted">none</span>`
      : typeof value === "object"
        ? Array.isArray(value) && value.every((item) => typeof item !== "object")
          ? value.join(", ")
          : html`<code>${JSON.stringify(value)}</code>`
        : String(value);
  return html`<dl class="detail">${entries.map(([key, value]) => html`<dt>${key.replace(/_/g, " ")}</dt><dd>${shown(value)}</dd>`)}</dl>`;
}

/** The audit log: a row of named fields per event (who, what, to whom, from where, when) and its details as key/value pairs. */
export function auditView(query: AuditQuery, rows: AuditRecord[], links: { next: string | null; newest: string | null }): Html {
  return html`<form method="get" action="admin/audit" class="filters" role="search">
<div><label for="event">Event</label><input type="text" id="event" name="event" value="${query.event}" aria-describedby="event-hint"></div>
<div><label for="actor">Who (username)</label><input type="text" id="actor" name="actor" value="${query.actor}"></div>
<div><label for="subject">To whom (username)</label><input type="text" id="subject" name="subject" value="${query.subject}"></div>
<div><label for="from">From (UTC)</label><input type="date" id="from" name="from" value="${query.from}"></div>
<div><label for="to">To (UTC, inclusive)</label><input type="date" id="to" name="to" value="${query.to}"></div>
<div><button type="submit">Filter</button></div>
</form>
<p class="hint" id="event-hint">Event: one (<code>token.created</code>), a family (<code>token</code>, <code>session</code>, <code>key</code>, <code>regulation</code>) or a prefix ending in <code>*</code>. Newest first, 50 a page.</p>
${
  rows.length === 0
    ? html`<p class="muted">No events match.</p>`
    : html`<div class="table-wrap" role="region" tabindex="0" aria-label="Audit events"><table class="audit">
<thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">To whom</th><th scope="col">From where</th><th scope="col">Details</th></tr></thead>
<tbody>
${rows.map((row) => {
  const words = EVENT_WORDS[row.event];
  return html`<tr><td>${time(new Date(row.at).toISOString())}</td>
<td>${party(row.actorUsername, row.actorRealm)}${row.actorTokenId ? html`<br><span class="muted">with token <code>${row.actorTokenId}</code></span>` : ""}</td>
<td>${words ? html`${words}<br>` : ""}<code class="nowrap muted">${row.event}</code></td>
<td>${party(row.targetUsername, row.targetRealm)}${row.tokenId ? html`<br><span class="muted">token <code>${row.tokenId}</code></span>` : ""}</td>
<td>${address(row.address, row.reportedAddress)}</td>
<td>${detailList(row.detail as Record<string, unknown> | null)}</td></tr>`;
})}
</tbody></table></div>`
}
<nav aria-label="Audit pages" class="row">${links.newest ? html`<a href="${links.newest}">Newest</a>` : ""}${links.next ? html`<a href="${links.next}">Older events</a>` : ""}</nav>`;
}

/** An identity provider's sign-in that did not succeed, in words, with the way back. */
export function signInRefusedView(message: string): Html {
  return html`${notice("error", message)}<p><a href="sign-in">Back to sign-in</a></p>`;
}

/** Tiled's external sign-in, ended in a browser: the session's refresh token, shown once, for the client to paste. */
export function refreshTokenView(provider: string, username: string, refreshToken: string, expiresIn: number): Html {
  return html`${notice("success", `You are signed in with ${provider} as ${username}.`)}
<div class="notice warning" role="alert"><strong>Copy this refresh token now.</strong> It is shown only once, and this page cannot be reloaded. Paste it into the client that asked you to sign in.</div>
<div><label for="secret">Refresh token</label>
<input type="text" id="secret" class="secret" value="${refreshToken}" readonly aria-describedby="secret-status">
<div class="row"><button type="button" data-copy="secret">Copy to clipboard</button><span id="secret-status" role="status" aria-live="polite"></span></div></div>
<p class="hint">It keeps the session alive for ${Math.round(expiresIn / 86400)} days without use.</p>`;
}

export function errorView(message: string, signedIn: boolean): Html {
  return html`${notice("error", message)}<p><a href="${signedIn ? "" : "sign-in"}">Back</a></p>`;
}
