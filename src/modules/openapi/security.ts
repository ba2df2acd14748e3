// How the OpenAPI description (./document.ts) learns who may call a route:
// the caller plugin's macros (modules/caller.ts) add this `detail` to every
// route that declares `{ caller }`, `{ admin: true }` or `{ identified: true }`,
// so that a route added later is described as it is guarded, with no list to
// keep. The refusals the plugin answers itself (401, 403, 429) come with it;
// the description gives them the route's error shape.
import type { DocumentDecoration } from "elysia";

/** The security schemes, as the document's components name them. */
export const SECURITY_SCHEMES = {
  basic: {
    type: "http",
    scheme: "basic",
    description: "A username and password, checked by the configured providers (plain, LDAP, …) as /authenticate checks them.",
  },
  bearer: {
    type: "http",
    scheme: "bearer",
    description:
      "A Gatehouse API token, a session's access token (from the login route), or a token that a configured provider checks (a JWT, an upstream API key). " +
      "A scoped API token may act on Gatehouse only within its `gatehouse` scopes, listed in each operation's requirement.",
  },
  portalCookie: {
    type: "apiKey",
    in: "cookie",
    name: "gatehouse_session",
    description:
      "The portal's session cookie (`__Secure-gatehouse_session` over HTTPS), used when the request has no Authorization header. " +
      "A request that changes something must also carry the session's CSRF token (`X-CSRF-Token`, or a `csrf` field) and come from Gatehouse's own origin.",
  },
} as const;

type SchemeName = keyof typeof SECURITY_SCHEMES;
type Requirement = Partial<Record<SchemeName, string[]>>;
type ResponseDoc = NonNullable<DocumentDecoration["responses"]>[string] & { description: string };

const UNAUTHORIZED: ResponseDoc = {
  description:
    "No credential, or one that no provider accepts (`Unauthorized access`, whichever it was); an expired session access token says so, so that the client refreshes it",
  headers: { "WWW-Authenticate": { description: "The challenges of the configured providers", schema: { type: "string" } } },
};
const BANNED: ResponseDoc = {
  description: "Too many failed attempts from this address or for this username (regulation)",
  headers: { "Retry-After": { description: "Seconds until the ban ends", schema: { type: "integer" } } },
};

/** Every scheme, with the roles or scopes each must carry: a password or a session carries no scopes, so only a token's are named. */
function requirements(roles: string[], scopes: string[]): Requirement[] {
  return [{ basic: roles }, { bearer: [...roles, ...scopes] }, { portalCookie: roles }];
}

/** `{ caller: … }`: any authenticated caller, and for a scoped token the `gatehouse` scope named. */
export function callerDetail(scope: string | undefined, changesState: boolean): DocumentDecoration {
  const needs = scope ? `gatehouse:${scope}` : null;
  return {
    security: requirements([], needs ? [needs] : []) as DocumentDecoration["security"],
    responses: {
      401: UNAUTHORIZED,
      403: {
        description: `${needs ? `A scoped token without ${needs}, or a` : "A"} request a browser marks as cross-site${changesState ? "" : " that changes something"} (or, with the portal's cookie, without its CSRF token)`,
      },
      429: BANNED,
    },
  };
}

/** `{ admin: true }`: the admin role, and for a scoped token gatehouse:admin. */
export function adminDetail(adminRole: string): DocumentDecoration {
  return {
    security: requirements([adminRole], ["gatehouse:admin"]) as DocumentDecoration["security"],
    responses: {
      401: UNAUTHORIZED,
      403: { description: `Not the ${adminRole} role, a scoped token without gatehouse:admin, or a cross-site request` },
      429: BANNED,
    },
  };
}

/** `{ identified: true }`: the caller if any; no credential at all is accepted too (the empty requirement). */
export function identifiedDetail(): DocumentDecoration {
  return {
    security: [{}, ...requirements([], [])] as DocumentDecoration["security"],
    responses: {
      401: { ...UNAUTHORIZED, description: "A credential that no provider accepts (a request without one is answered as the route says)" },
      403: { description: "With the portal's cookie, a request that changes something without the session's CSRF token or from another origin" },
      429: BANNED,
    },
  };
}
