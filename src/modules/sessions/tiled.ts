// Translations between Tiled's wire format and Gatehouse's: how a provider
// takes a login, the client versions that need the older word for it, and
// API-key scopes written as a list of "service:scope".
import { ANY_REALM, type Provider } from "../../providers/provider.ts";
import type { Scopes } from "../../identity/user.ts";
import { joinScope, SCOPE_NAME, SERVICE_NAME, splitScope } from "../../tokens/scopes.ts";

/**
 * How a provider takes a login, as Tiled's discovery names it: `internal`
 * for a username and password (plain, and future directory providers),
 * `token` for an upstream API key checked by a remote service (ecmwf-api),
 * `external` for an identity provider the browser is sent to (oidc).
 * Gatehouse's own tokens and anything else take none.
 */
export function loginMode(provider: Provider): "internal" | "token" | "external" | null {
  if (provider.realm === ANY_REALM) return null;
  if (provider.scheme === "external") return "external";
  if (provider.scheme === "basic") return "internal";
  return provider.remote ? "token" : null;
}

const PRE_RELEASE: Record<string, number> = { a: 0, b: 1, rc: 2 };

/** A PEP 440 version's release and pre-release as comparable numbers (enough for Tiled's own versions). */
function versionKey(release: string, pre: string | undefined, preNumber: string | undefined): number[] {
  const parts = release.split(".").slice(0, 3).map(Number);
  while (parts.length < 3) parts.push(0);
  return [...parts, pre ? PRE_RELEASE[pre] : 3, pre ? Number(preNumber) : 0];
}

const FIRST_INTERNAL_CLIENT = versionKey("0.1.0", "b", "17");

/** python-tiled clients older than 0.1.0b17 know the `internal` mode as `password`; Tiled answers them so, and so does Gatehouse. */
export function wantsPasswordMode(userAgent: string | null): boolean {
  const match = userAgent?.match(/^python-tiled\/(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?/);
  if (!match) return false;
  const key = versionKey(match[1], match[2], match[3]);
  const differs = key.findIndex((value, index) => value !== FIRST_INTERNAL_CLIENT[index]);
  return differs >= 0 && key[differs] < FIRST_INTERNAL_CLIENT[differs];
}

/** Tiled's meta-scope: the key holds what its creator holds. */
export const INHERIT = "inherit";

/**
 * ["ecflow:read", "tiled:read:data", "tiled"] → {ecflow: ["read"], tiled: ["read:data"]}
 * (at the first colon: Tiled's scopes hold one); ["inherit"] or
 * nothing → undefined (the creator's own scopes). The token service checks
 * services and scopes against the config.
 */
export function scopesFromList(list: string[] | null | undefined): Scopes | string | undefined {
  if (!list || (list.length === 1 && list[0] === INHERIT)) return undefined;
  if (list.includes(INHERIT)) return `scopes: "${INHERIT}" cannot be combined with other scopes`;
  // Without a prototype: "__proto__:read" or "toString" must be keys of their own, not Object.prototype's.
  const scopes: Scopes = Object.create(null);
  for (const entry of list) {
    const [service, scope] = splitScope(entry);
    if (!SERVICE_NAME.test(service) || (scope !== null && !SCOPE_NAME.test(scope))) {
      return `scopes: "${entry.slice(0, 80)}" is not "service" or "service:scope" (letters, digits, _ . -, and : inside a scope)`;
    }
    scopes[service] ??= [];
    if (scope !== null) scopes[service].push(scope);
  }
  return scopes;
}

/** The reverse: null (unrestricted) is ["inherit"]. */
export function scopesToList(scopes: Scopes | null): string[] {
  if (scopes === null) return [INHERIT];
  return Object.entries(scopes).flatMap(([service, names]) => (names.length > 0 ? names.map((name) => joinScope(service, name)) : [service]));
}
