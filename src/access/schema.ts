// The `access` section of the config (added to config/schema.ts): rules by
// host, path, method and network that decide, for every request a proxy asks
// /authenticate about, whether it needs no credential, is refused, or needs
// a caller with some role, name or token scope. See rules.ts.
import { Type, type Static } from "@sinclair/typebox";

const list = (description: string) => Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description }));

export const AccessRuleSchema = Type.Object(
  {
    hosts: list("Host names, compared without case and port: exact (docs.example.org) or every subdomain (*.example.org, not the domain itself)"),
    paths: list(
      "A regular expression when it begins with ^ (^/admin/), otherwise a prefix (/internal/), matched on the decoded, dot-segment-free path without the query; with case",
    ),
    methods: list("HTTP methods (POST, PUT…); HEAD is its own method"),
    networks: list("Client addresses or CIDR ranges (10.0.0.0/8), the client's address as the regulation of guessing reads it"),
    policy: Type.Optional(
      Type.Union([Type.Literal("bypass"), Type.Literal("deny"), Type.Literal("authenticated")], {
        description:
          "bypass: no credential needed (one that is sent is still checked); deny: 403 for everyone; authenticated (the default): any caller who authenticates, or only those roles, users and scopes allow",
      }),
    ),
    roles: list("The caller must hold one of these roles (or be one of users)"),
    users: list("The caller must be one of these usernames, in any realm (or hold one of roles)"),
    scopes: Type.Optional(
      Type.Record(Type.String(), Type.Array(Type.String()), {
        description:
          "An API token must carry every scope named (service → scopes, of `services`); a credential without scopes (a password, a session) holds what its owner holds",
      }),
    ),
  },
  { additionalProperties: false },
);

export const AccessSchema = Type.Optional(
  Type.Object(
    {
      default_policy: Type.Union([Type.Literal("authenticated"), Type.Literal("deny")], {
        default: "authenticated",
        description: "When no rule matches: authenticated (any caller who authenticates, as without rules) or deny (403)",
      }),
      rules: Type.Array(AccessRuleSchema, { default: [], description: "The first rule whose conditions all hold decides" }),
    },
    {
      additionalProperties: false,
      description: "Access rules for the requests a proxy asks /authenticate about (without this section, any authenticated caller passes)",
    },
  ),
);

export type AccessSection = Static<typeof AccessSchema>;
export type AccessRuleConfig = Static<typeof AccessRuleSchema>;
