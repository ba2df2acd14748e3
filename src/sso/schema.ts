// The `sso` section of the config (single sign-on for web applications
// behind the proxy, DESIGN §2.10; added to config/schema.ts in one line).
// config/sso.ts checks it and builds the policy (policy.ts) from it.
import { Type } from "@sinclair/typebox";

export const ssoSchema = Type.Optional(
  Type.Object(
    {
      cookie_domain: Type.String({
        minLength: 1,
        description:
          "The domain of the single sign-on cookie (__Secure-gatehouse_sso): it is sent to this domain and every name below it, e.g. example.org. The portal's host must be one of them",
      }),
      sign_in_url: Type.Optional(
        Type.String({
          minLength: 1,
          description:
            "Where /authenticate sends a browser that is not signed in (with ?rd=the page it asked for); default: the portal's sign-in page, from portal.public_url or public_url",
        }),
      ),
      allowed_redirect_hosts: Type.Optional(
        Type.Array(Type.String({ minLength: 1 }), {
          description:
            'Hosts the portal may send a browser back to after signing in or out (rd): exact names, or "*.example.org" for every name below; compared case-insensitively, whatever the port. Default: cookie_domain and every name below it',
        }),
      ),
    },
    {
      additionalProperties: false,
      description:
        "Single sign-on for web applications: every portal sign-in also sets a cookie for the whole domain that /authenticate accepts, and a browser that is not signed in is sent to the portal and back",
    },
  ),
);
