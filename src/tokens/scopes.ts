// Scopes a token may carry: service → scopes, limited to the config's
// `services` and, for a token created with another token, to that token's.
import type { Scopes } from "../identity/user.ts";

export interface Service {
  name: string;
  scopes: string[];
}

/**
 * Gatehouse's own API, as a service a token may be scoped to: `tokens`
 * (create, list and revoke API tokens), `sessions` (list and end sessions)
 * and `admin` (the admin role's powers: everyone's tokens and sessions, the
 * keys). Always among the services (config/load.ts adds it).
 */
export const GATEHOUSE_SERVICE = { name: "gatehouse", scopes: ["tokens", "sessions", "admin"] } as const;
export type GatehouseScope = (typeof GATEHOUSE_SERVICE.scopes)[number];

/** May a credential with these scopes do this on Gatehouse? Without scopes (a password, a session): yes. */
export function holdsGatehouseScope(scopes: Scopes | undefined, scope: GatehouseScope): boolean {
  return scopes === undefined || (Object.hasOwn(scopes, GATEHOUSE_SERVICE.name) && scopes[GATEHOUSE_SERVICE.name].includes(scope));
}

/** Every configured service with every one of its scopes: what an unrestricted token carries. */
export function allScopes(services: readonly Service[]): Scopes {
  return Object.fromEntries(services.map((service) => [service.name, [...service.scopes]]));
}

/**
 * The scopes of an auth-o-tron token imported without any (`scopes: {}`, which auth-o-tron
 * did not restrict): everything it could do there, and nothing more. Every configured service
 * with every scope, and on Gatehouse's own API `tokens` and `sessions` (auth-o-tron's token
 * routes took any credential), but never `admin`, a power auth-o-tron did not have: an
 * administrator who wants it on a token creates a new one. Stored as these scopes (not as
 * "unrestricted"), so that its rotations and the tokens made with it inherit the same bound.
 */
export function importedTokenScopes(services: readonly Service[]): Scopes {
  const scopes = allScopes(services);
  if (Object.hasOwn(scopes, GATEHOUSE_SERVICE.name)) scopes[GATEHOUSE_SERVICE.name] = scopes[GATEHOUSE_SERVICE.name]!.filter((scope) => scope !== "admin");
  return scopes;
}

/** "ecflow: read, write; tiled: read" — how the valid choices are shown in errors. */
export function describeScopes(scopes: Scopes): string {
  const entries = Object.entries(scopes);
  if (entries.length === 0) return "none";
  return entries.map(([service, names]) => `${service}: ${names.length > 0 ? names.join(", ") : "(no scopes)"}`).join("; ");
}

/** What a service's name may be: letters, digits, `_`, `.` and `-` (also in the config). */
export const SERVICE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/**
 * What a scope's name may be: the same and `:` after the first character, for
 * Tiled's own names (`read:data`, `admin:apikeys`). A service name holds no
 * colon, so "service:scope" splits at its first one: `tiled:read:data` is
 * service `tiled`, scope `read:data`.
 */
export const SCOPE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/;

/** "tiled:read:data" → ["tiled", "read:data"]; "tiled" → ["tiled", null]: the service, without a scope. */
export function splitScope(entry: string): [service: string, scope: string | null] {
  const colon = entry.indexOf(":");
  return colon < 0 ? [entry, null] : [entry.slice(0, colon), entry.slice(colon + 1)];
}

/** The reverse of splitScope: how one scope is written in a list, an error or a checkbox. */
export const joinScope = (service: string, scope: string) => `${service}:${scope}`;

/**
 * The requested scopes, de-duplicated and in config order, or the problem with
 * them (an unknown service or scope), naming the valid ones. Every lookup is
 * in a Map or an own property: a name such as `__proto__`, `constructor` or
 * `toString` is an unknown service like any other, never a property of
 * Object.prototype.
 */
export function normaliseScopes(requested: Scopes, services: readonly Service[]): Scopes | string {
  const known = new Map(services.map((service) => [service.name, service.scopes]));
  const valid = `valid services and scopes: ${describeScopes(allScopes(services))}`;
  const result: Scopes = {};
  for (const [service, names] of Object.entries(requested)) {
    if (!Array.isArray(names)) return `scopes: the scopes of "${service}" must be a list`;
    const scopes = known.get(service);
    if (!scopes) return `Unknown service "${service}"; ${valid}`;
    const unknown = names.find((name) => !scopes.includes(name));
    if (unknown !== undefined) return `Unknown scope "${unknown}" for service "${service}"; ${valid}`;
    result[service] = scopes.filter((name) => names.includes(name));
  }
  return result;
}

/** The scopes of `requested` that `limit` does not hold, as "service:scope" (services without scopes as "service"). */
export function scopesBeyond(requested: Scopes, limit: Scopes): string[] {
  const beyond: string[] = [];
  for (const [service, names] of Object.entries(requested)) {
    const allowed = Object.hasOwn(limit, service) ? limit[service] : undefined;
    if (!allowed) {
      beyond.push(...(names.length > 0 ? names.map((name) => joinScope(service, name)) : [service]));
      continue;
    }
    for (const name of names) if (!allowed.includes(name)) beyond.push(joinScope(service, name));
  }
  return beyond;
}
