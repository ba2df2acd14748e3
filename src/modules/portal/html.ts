// HTML for the portal, escaped by default: `html` is a tagged template in
// which every interpolated value is escaped, unless it is itself the result
// of `html` (a fragment already built safely). There is no other way to put
// text into a page, so whatever a user typed (a note, a username) is shown
// as text wherever it appears.
import { NAME, VERSION } from "../../version.ts";

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let text = strings[0];
  for (let i = 0; i < values.length; i++) text += render(values[i]) + strings[i + 1];
  return new Html(text);
}

/** A date as people read it, in UTC, machine-readable in `datetime`. */
export function time(iso: string | null | undefined, empty = "never"): Html {
  if (!iso) return html`<span class="muted">${empty}</span>`;
  const shown = iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
  return html`<time datetime="${iso}">${shown}</time>`;
}

export interface PageFrame {
  title: string;
  /** The portal's path as the browser sees it, ending in "/": the <base> of every relative link. */
  portalPath: string;
  /** This page's path and query below the portal ("tokens/new"), for the skip link. */
  here: string;
  /** Signed in: the navigation and the sign-out form. */
  signedIn?: { username: string; realm: string; admin: boolean; csrf: string };
  /** The current section, marked in the navigation. */
  section?: string;
}

const NAV: { href: string; label: string; admin?: boolean }[] = [
  { href: "", label: "You" },
  { href: "tokens", label: "Tokens" },
  { href: "tokens/new", label: "New token" },
  { href: "sessions", label: "Sessions" },
  { href: "admin/users", label: "Users", admin: true },
  { href: "admin/keys", label: "Keys", admin: true },
  { href: "admin/audit", label: "Audit", admin: true },
  { href: "admin/regulation", label: "Bans", admin: true },
];

/**
 * A whole page. Every link in it is relative to <base href> (the portal's
 * public path), so the portal works under any proxy prefix; the skip link
 * names this page itself, or the base would send it to the portal's root.
 */
export function layout(frame: PageFrame, main: Html): string {
  const { signedIn, portalPath: p } = frame;
  const nav = signedIn
    ? html`<nav aria-label="Portal"><ul>
${NAV.filter((item) => !item.admin || signedIn.admin).map(
  (item) =>
    html`<li><a href="${item.href || "./"}"${item.href === frame.section ? html` aria-current="page"` : ""}>${item.label}</a></li>`,
)}
</ul>
<form method="post" action="sign-out" class="sign-out"><input type="hidden" name="csrf" value="${signedIn.csrf}">
<span class="who">${signedIn.username} <span class="muted">(${signedIn.realm})</span></span>
<button type="submit" class="secondary">Sign out</button></form></nav>`
    : "";
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · ${NAME}</title>
<base href="${p}">
<link rel="stylesheet" href="assets/portal.css?v=${VERSION}">
<script src="assets/portal.js?v=${VERSION}" defer></script>
</head><body>
<a class="skip" href="${frame.here}#main">Skip to content</a>
<header><a class="brand" href="./">${NAME} portal</a>${nav}</header>
<main id="main" tabindex="-1">
<h1>${frame.title}</h1>
${main}
</main>
<footer class="muted">${NAME} ${VERSION}</footer>
</body></html>`.text;
}

/** A message box: `role=alert` for errors, so screen readers announce it. */
export function notice(kind: "error" | "success" | "info", message: string | Html): Html {
  return kind === "error"
    ? html`<div class="notice error" role="alert">${message}</div>`
    : html`<div class="notice ${kind}" role="status">${message}</div>`;
}
