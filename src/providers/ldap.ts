// `ldap`: HTTP Basic sign-in against a directory (not in auth-o-tron; as
// Tiled's and Authelia's LDAP back-ends). The user's DN comes from
// `user_dn_template` (`uid={username},ou=people,dc=…`), or from a search with
// the service account (`bind_dn`, `ldap_password`) under `search_base` with
// `user_filter`; then Gatehouse binds as that DN with the presented password.
// Roles come from the entry's `memberOf`, kept as the `ldap` augmenter keeps
// them (`filter`, `filters`; all groups' CNs when neither is set).
//
// Safety:
// - every username is escaped before it enters a filter (RFC 4515) or a DN
//   (RFC 4514), so `*)(uid=*` matches no one and cannot widen a search;
// - an empty password is refused before any bind: LDAP treats a bind with
//   a DN and no password as an anonymous bind, which succeeds (RFC 4513 §5.1.2);
// - a search that finds more than one entry refuses rather than guessing;
// - certificates are verified (ldaps://, or StartTLS with `ca_file`);
// - successful sign-ins are remembered `cache_seconds` under a keyed hash of
//   the username and password (never either one), as config users' are, and
//   never when the bind ended after the request gave up.
import { Type } from "@sinclair/typebox";
import type { Client } from "ldapts";
import { createCacheKeyHasher } from "../identity/secrets.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { createUser, type User } from "../identity/user.ts";
import {
  bindAsNobody,
  escapeDnValue,
  escapeFilterValue,
  fillTemplate,
  ldapConnectionFields,
  ldapFailure,
  memberOf,
  rolesFromGroups,
  withLdap,
} from "../identity/ldap.ts";
import { STABLE_VERDICTS, providerSchema, type ProviderType } from "./provider.ts";

const schema = providerSchema("ldap", "Users of an LDAP directory: bind as the user (HTTP Basic)", {
  ...ldapConnectionFields,
  user_dn_template: Type.Optional(
    Type.String({ pattern: "\\{username\\}", description: "The user's DN with {username}, e.g. uid={username},ou=people,dc=example,dc=com" }),
  ),
  search_base: Type.Optional(Type.String({ minLength: 1, description: "Where the service account searches for the user" })),
  user_filter: Type.String({
    pattern: "\\{username\\}",
    default: "(uid={username})",
    description: "The search for the user; {username} is replaced by the escaped username",
  }),
  username_attribute: Type.String({ minLength: 1, default: "uid", description: "The attribute whose value becomes the username (canonical case)" }),
  bind_dn: Type.Optional(Type.String({ minLength: 1, description: "DN of the service account that searches (needed without user_dn_template)" })),
  ldap_password: Type.Optional(Type.String({ description: "Its password (or ldap_password_file)" })),
  filter: Type.Optional(Type.String({ minLength: 1, description: "Keep the groups whose DN contains this fragment, as their CN" })),
  filters: Type.Optional(
    Type.Array(Type.String({ pattern: "=" }), { minItems: 1, description: "Hierarchical roles, as the ldap augmenter's filters" }),
  ),
  cache_seconds: Type.Integer({ minimum: 0, default: 60, description: "How long a successful sign-in is remembered (keyed hash); 0 disables" }),
});

const TIMEOUT_MS = 10_000; // the pipeline cuts a slow directory off sooner, at auth.timeout_in_ms
const NO_DEADLINE = new AbortController().signal;

interface Entry {
  dn: string;
  [attribute: string]: unknown;
}

export const ldapProvider: ProviderType<typeof schema> = {
  type: "ldap",
  schema,
  check: (config) =>
    config.user_dn_template || (config.bind_dn && config.search_base)
      ? []
      : ["user_dn_template: is required, unless bind_dn and search_base are set (the service account finds the user)"],
  create(config, { logger }) {
    const hasServiceAccount = config.bind_dn !== undefined && config.search_base !== undefined;
    const rules = { filter: config.filter, filters: config.filters };
    const verified = new TtlCache<User>(config.cache_seconds * 1000, 100_000);
    const cacheKey = createCacheKeyHasher();
    const attributes = [config.username_attribute, "memberOf"];

    const bind = async (client: Client, dn: string, password: string, what: string, signal: AbortSignal) => {
      try {
        await client.bind(dn, password);
        return true;
      } catch (error) {
        if ((error as { code?: unknown }).code === 49) return false; // invalid credentials
        throw ldapFailure(what, error, signal);
      }
    };

    /** The user's entry found by the service account; null when none or several match. */
    async function findEntry(client: Client, username: string, signal: AbortSignal): Promise<Entry | null> {
      if (!(await bind(client, config.bind_dn!, config.ldap_password ?? "", "service bind", signal))) {
        throw ldapFailure("service bind", { code: 49, name: "InvalidCredentialsError" }, signal);
      }
      try {
        const { searchEntries } = await client.search(config.search_base!, {
          scope: "sub",
          filter: fillTemplate(config.user_filter, username, escapeFilterValue),
          attributes,
          sizeLimit: 2,
        });
        return searchEntries.length === 1 ? (searchEntries[0] as Entry) : null;
      } catch (error) {
        if ((error as { code?: unknown }).code === 4) return null; // size limit exceeded: more than one match
        throw ldapFailure("search", error, signal);
      }
    }

    async function readOwnEntry(client: Client, dn: string, signal: AbortSignal): Promise<Entry | null> {
      try {
        const { searchEntries } = await client.search(dn, { scope: "base", filter: "(objectClass=*)", attributes });
        return (searchEntries[0] as Entry | undefined) ?? null;
      } catch (error) {
        if ((error as { code?: unknown }).code === 32) return null; // no such object
        throw ldapFailure("read", error, signal);
      }
    }

    const toUser = (entry: Entry, fallback: string) => {
      const raw = entry[config.username_attribute];
      const value = Array.isArray(raw) ? raw[0] : raw;
      return createUser({
        username: typeof value === "string" && value !== "" ? value : fallback,
        realm: config.realm,
        roles: rolesFromGroups(memberOf(entry), rules),
      });
    };

    const signIn = (username: string, password: string, signal: AbortSignal) =>
      withLdap(config, signal, TIMEOUT_MS, async (client): Promise<User | null> => {
        let dn: string;
        let entry: Entry | null = null;
        if (config.user_dn_template) dn = fillTemplate(config.user_dn_template, username, escapeDnValue);
        else {
          entry = await findEntry(client, username, signal);
          if (!entry) return bindAsNobody(client, config.search_base!, password);
          dn = entry.dn;
        }
        if (!(await bind(client, dn, password, "user bind", signal))) return null;
        // Read as the user (the directory's ACL lets users read their own entry), unless the search already did.
        entry ??= await readOwnEntry(client, dn, signal);
        return entry ? toUser(entry, username) : null;
      });

    return {
      name: config.name,
      type: "ldap",
      realm: config.realm,
      scheme: "basic",
      remote: true,
      reuse: STABLE_VERDICTS,
      async authenticate(credential, signal) {
        if (credential.scheme !== "basic" || credential.password === "") return null;
        const key = cacheKey(credential.username, credential.password);
        const cached = verified.get(key);
        if (cached) return structuredClone(cached);
        const user = await signIn(credential.username, credential.password, signal);
        if (!user) logger.debug("providers.ldap.refused", { provider: config.name, realm: config.realm });
        // Never remembered once the request gave up: a bind that ended after its deadline answered no one (as plain.ts).
        else if (!signal.aborted) verified.set(key, structuredClone(user));
        return user;
      },
      // With a service account, an API token's owner is looked up again on every use, so removed groups stop applying.
      ...(hasServiceAccount
        ? {
            describeUser: (username: string, signal: AbortSignal = NO_DEADLINE) =>
              withLdap(config, signal, TIMEOUT_MS, async (client) => {
                const entry = await findEntry(client, username, signal);
                return entry ? toUser(entry, username) : null;
              }),
          }
        : {}),
    };
  },
};
