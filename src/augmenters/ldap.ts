// `ldap`: roles from a directory's groups, as auth-o-tron's ldap_augmenter.rs:
// bind as the service account (`bind_dn`, `ldap_password`), find the user
// with `(&(objectClass=person)(cn=<username>))` under `search_base` (the
// username escaped, RFC 4515), read `memberOf`, and keep the groups as
// `filter` or `filters` say (identity/ldap.ts). Successes are remembered
// 120 s per username, in a cache capped at 100,000 entries; failures are not.
// Runs with the other non-`plain_advanced` augmenters, in parallel.
import { Type } from "@sinclair/typebox";
import { TtlCache } from "../identity/ttl-cache.ts";
import { escapeFilterValue, ldapConnectionFields, ldapFailure, memberOf, rolesFromGroups, withLdap } from "../identity/ldap.ts";
import { augmenterSchema, type AugmenterType } from "./augmenter.ts";

const schema = augmenterSchema("ldap", "Adds roles from the user's LDAP groups (memberOf)", {
  ...ldapConnectionFields,
  search_base: Type.String({ minLength: 1, description: "Base DN under which the user (objectClass=person, cn=username) is searched" }),
  filter: Type.Optional(Type.String({ minLength: 1, description: "Keep the groups whose DN contains this fragment, as their CN" })),
  filters: Type.Optional(
    Type.Array(Type.String({ pattern: "=", description: "A DN fragment such as OU=Operations,DC=company,DC=com" }), {
      minItems: 1,
      description: "Hierarchical roles: each group under one of these DN fragments gives a path such as /TeamA/Admin",
    }),
  ),
  bind_dn: Type.String({ minLength: 1, description: "DN of the service account that searches" }),
  ldap_password: Type.String({ description: "Its password (or ldap_password_file)" }),
});

export const LDAP_ROLES_CACHE_MS = 120_000;
const TIMEOUT_MS = 10_000; // the pipeline cuts a slow directory off sooner, at auth.timeout_in_ms

export const ldapAugmenter: AugmenterType<typeof schema> = {
  type: "ldap",
  schema,
  create(config, { logger }) {
    const cache = new TtlCache<string[]>(LDAP_ROLES_CACHE_MS, 100_000);
    const rules = { filter: config.filter, filters: config.filters };

    const lookUp = (username: string, signal: AbortSignal) =>
      withLdap(config, signal, TIMEOUT_MS, async (client) => {
        try {
          await client.bind(config.bind_dn, config.ldap_password);
        } catch (error) {
          throw ldapFailure("service bind", error, signal);
        }
        try {
          const { searchEntries } = await client.search(config.search_base, {
            scope: "sub",
            filter: `(&(objectClass=person)(cn=${escapeFilterValue(username)}))`,
            attributes: ["memberOf"],
          });
          return rolesFromGroups(searchEntries.flatMap(memberOf), rules);
        } catch (error) {
          throw ldapFailure("search", error, signal);
        }
      });

    return {
      name: config.name,
      type: "ldap",
      realm: config.realm,
      phase: "parallel",
      remote: true,
      async augment(user, signal) {
        let roles = cache.get(user.username);
        if (!roles) {
          roles = await lookUp(user.username, signal);
          cache.set(user.username, roles);
        }
        if (roles.length === 0) return null;
        logger.debug("augmenters.ldap.roles_added", { augmenter: config.name, username: user.username, roles: roles.length });
        return { roles };
      },
    };
  },
};
