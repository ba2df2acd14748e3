// What the rule that matched asks of the caller, once the caller is known.
// The identity may come from memory (the verdict cache of /authenticate);
// this is decided again for every request.
import type { Scopes, User } from "../identity/user.ts";
import { scopesBeyond } from "../tokens/scopes.ts";
import type { CompiledRule } from "./rules.ts";

/**
 * What this caller lacks to pass the rule (a sentence to show them), or null
 * when they may pass. Roles and users are alternatives (any role named, or
 * one of the users named); scopes are asked of the credential on top of that:
 * an API token must carry every scope named, while a credential without
 * scopes (a password, a session) holds what its owner holds, as on
 * Gatehouse's own routes (tokens/scopes.ts, holdsGatehouseScope).
 */
export function whatIsMissing(rule: CompiledRule, user: User): string | null {
  const { roles, users, scopes, scopePairs } = rule;
  if ((roles || users) && !roles?.some((role) => user.roles.includes(role)) && !users?.includes(user.username)) {
    const named = roles ? (roles.length === 1 ? `the role ${roles[0]}` : `one of the roles ${roles.join(", ")}`) : null;
    if (named && users) return `needs ${named} (or to be one of the users this address is open to)`;
    return named ? `needs ${named}` : "is not one of the users this address is open to";
  }
  if (scopes && scopePairs && user.scopes && !holdsEvery(scopePairs, user.scopes)) {
    const missing = scopesBeyond(scopes, user.scopes);
    if (missing.length > 0) return `uses an API token without the scope${missing.length > 1 ? "s" : ""} ${missing.join(", ")} this request needs`;
  }
  return null;
}

/** Whether a token's scopes hold every scope named (a service named without scopes: the service at all). */
function holdsEvery(required: NonNullable<CompiledRule["scopePairs"]>, held: Scopes): boolean {
  for (const [service, names] of required) {
    if (!Object.hasOwn(held, service)) return false;
    const granted = held[service]!;
    for (const name of names) if (!granted.includes(name)) return false;
  }
  return true;
}
