// `trusted-header`: pre-authentication by a front proxy. A proxy that has
// already authenticated the user (Apache with mod_mellon for a SAML
// federation, say) passes the identity in request headers, geOrchestra's by
// default:
//
//   sec-georchestra-preauthenticated: true
//   preauth-username, preauth-email, preauth-firstname, preauth-lastname,
//   preauth-org, preauth-provider, preauth-provider-id
// (and roles, from a header named in the config only)
//
// Any client can send such headers, so they are believed only from a peer
// (the TCP connection's other end, never X-Forwarded-For) inside
// `trusted_proxies`; from anywhere else they are ignored as if absent, and
// that is logged at most once per source address per minute. The proxy must
// also strip these headers from what its own clients send (see docs/web-applications.md).
//
// Values prefixed with `{base64}` are decoded as UTF-8 (HTTP header values
// are in practice ASCII, so accented names travel encoded), but only in the
// headers `decode_base64` names: a proxy that passes an attribute from the
// identity provider as it is would otherwise let a user whose attribute reads
// `{base64}YWRtaW4=` be `admin` (finding 11 of issue 20). A `{base64}` value
// in any other header refuses the request, saying which header, rather than
// be taken as written. The flag header stays plain `true` (in any case, as
// geOrchestra compares it). The username is refused when it holds an
// invisible, bidirectional or control character (identity/username.ts).
//
// Accounts: with `create_accounts: true`, a user seen for the first time is
// created in the store, and its profile (email, names, organisation,
// external provider and id, roles) rewritten whenever the headers change.
// Without it, only users already in the store are accepted ("known": created
// earlier while create_accounts was on, or given a token by an admin with
// `gatehouse tokens create --user U --realm R`); the proxy's say-so alone
// does not make an account.
import { Type, type Static } from "@sinclair/typebox";
import { CONTROL_CHARACTERS } from "../identity/credentials.ts";
import { usernameProblem } from "../identity/username.ts";
import { isTrustedPeer, trustedProxyList, trustedProxyProblems } from "../identity/trusted-proxies.ts";
import type { RequestContext } from "../identity/request.ts";
import { createUser, type User } from "../identity/user.ts";
import { andThen } from "../identity/maybe-promise.ts";
import type { Profile } from "../store/users/model.ts";
import { providerSchema, type ProviderType } from "./provider.ts";

const header = (name: string, description: string) => Type.String({ minLength: 1, default: name, description });
/** The headers whose value may be `{base64}`-encoded, by their key in `headers`. */
const DECODABLE = ["username", "email", "first_name", "last_name", "organisation", "provider", "provider_id", "roles"] as const;
type Decodable = (typeof DECODABLE)[number];

const schema = providerSchema("trusted-header", "Users a trusted front proxy has authenticated, named in its request headers", {
  trusted_proxies: Type.Array(Type.String({ minLength: 1 }), {
    minItems: 1,
    description:
      "Addresses or CIDR blocks (IPv4 and IPv6) of the front proxies whose headers are believed, e.g. [127.0.0.1/32, ::1]; required, there is no trust-everyone default",
  }),
  create_accounts: Type.Boolean({
    default: false,
    description: "Create a user seen for the first time in the store, and update it when the headers change; false: only users already in the store are accepted",
  }),
  headers: Type.Object(
    {
      flag: header("sec-georchestra-preauthenticated", "Must be exactly `true` (plain text) for the other headers to be read"),
      username: header("preauth-username", "The username (required)"),
      email: header("preauth-email", "→ attribute email"),
      first_name: header("preauth-firstname", "→ attribute first_name"),
      last_name: header("preauth-lastname", "→ attribute last_name"),
      organisation: header("preauth-org", "→ attribute organisation"),
      provider: header("preauth-provider", "→ attribute provider (the external identity provider)"),
      provider_id: header("preauth-provider-id", "→ attribute provider_id (the user's id there)"),
      // Not geOrchestra's preauth-roles by default: the seed's Apache example does not strip that
      // header, and a default would let any client of such a proxy choose its own roles.
      roles: Type.Optional(
        Type.String({ minLength: 1, description: "A header holding roles, separated by semicolons or commas (geOrchestra: preauth-roles); none by default" }),
      ),
    },
    { default: {}, additionalProperties: false, description: "Header names; geOrchestra's by default" },
  ),
  decode_base64: Type.Union([Type.Boolean(), Type.Array(Type.Union(DECODABLE.map((key) => Type.Literal(key))))], {
    default: false,
    description:
      "Headers (by their key in `headers`: username, email, first_name, last_name, organisation, provider, provider_id, roles) whose `{base64}…` values are decoded as UTF-8, as your proxy encodes them; true: all of them, as geOrchestra's gateway does. Default none: a `{base64}` value in another header refuses the request",
  }),
});

const BASE64_PREFIX = "{base64}";
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });
const MAX_VALUE_LENGTH = 1024;
const UNTRUSTED_LOG_INTERVAL_MS = 60_000;
/** The profile fields, in the order of their headers and attributes. */
const FIELDS = ["email", "first_name", "last_name", "organisation", "provider", "provider_id"] as const;

/** Why a header's value cannot be used. */
interface Unusable {
  problem: string;
}

/** A header value (`{base64}…` decoded as UTF-8 when `decode`); undefined when absent or empty. */
function headerText(key: Decodable, name: string, value: string | null, decode: boolean): string | undefined | Unusable {
  if (value === null) return undefined;
  let text = value.trim();
  if (text.startsWith(BASE64_PREFIX)) {
    if (!decode) return { problem: `${name} is {base64}-encoded, and decode_base64 does not list ${key}` };
    const encoded = text.slice(BASE64_PREFIX.length).trim();
    if (!BASE64.test(encoded)) return { problem: `${name} is not valid base64` };
    try {
      text = utf8.decode(Buffer.from(encoded, "base64")).trim();
    } catch {
      return { problem: `${name} is not valid UTF-8` };
    }
  }
  // Values end up in the JWT, response headers and logs: no control characters, no floods.
  if (CONTROL_CHARACTERS.test(text)) return { problem: `${name} contains a control character` };
  if (text.length > MAX_VALUE_LENGTH) return { problem: `${name} is longer than ${MAX_VALUE_LENGTH} characters` };
  return text === "" ? undefined : text;
}

const isUnusable = (value: string | undefined | Unusable): value is Unusable => typeof value === "object";

/** Reads the username, profile values (in FIELDS order) and roles the headers carry, as configured, or why they cannot be used. */
function identityReader(config: Static<typeof schema>) {
  const names = config.headers;
  const decoded = new Set<Decodable>(config.decode_base64 === true ? DECODABLE : config.decode_base64 === false ? [] : config.decode_base64);
  /** The header of this key, read as configured. */
  const read = (headers: Headers, key: Decodable) => {
    const name = names[key];
    return name === undefined ? undefined : headerText(key, name, headers.get(name), decoded.has(key));
  };
  return (headers: Headers): { username: string; values: (string | undefined)[]; roleText: string | undefined } | Unusable => {
    const username = read(headers, "username");
    if (isUnusable(username)) return username;
    if (username === undefined) return { problem: "no username" };
    const problem = usernameProblem(username);
    if (problem) return { problem: `${names.username}: ${problem}` };
    const roleText = read(headers, "roles");
    if (isUnusable(roleText)) return roleText;
    const values: (string | undefined)[] = [];
    for (const field of FIELDS) {
      const value = read(headers, field);
      if (isUnusable(value)) return value;
      values.push(value);
    }
    return { username, values, roleText };
  };
}

const sameProfile = (a: Profile, b: Profile) =>
  (Object.keys(b) as (keyof Profile)[]).every((field) => (field === "roles" ? JSON.stringify(a.roles) === JSON.stringify(b.roles) : a[field] === b[field]));

export const trustedHeaderProvider: ProviderType<typeof schema> = {
  type: "trusted-header",
  schema,
  check: (config) => trustedProxyProblems(config.trusted_proxies),
  create(config, { logger, store }) {
    const trusted = trustedProxyList(config.trusted_proxies);
    if (typeof trusted === "string") throw new Error(`provider ${config.name}: trusted_proxies: ${trusted}`);
    const names = config.headers;
    const readIdentity = identityReader(config);
    const lastLogged = new Map<string, number>();


    /** Once per source per minute, so that a client sending the headers on every request cannot flood the log. */
    function logUntrusted(source: string) {
      const now = Date.now();
      const last = lastLogged.get(source);
      if (last !== undefined && now - last < UNTRUSTED_LOG_INTERVAL_MS) return;
      if (lastLogged.size >= 10_000) lastLogged.clear();
      lastLogged.set(source, now);
      logger.warn("auth.trusted_header.untrusted_source", { provider: config.name, source });
    }

    function toUser(username: string, profile: Profile): User {
      const attributes: Record<string, string> = {};
      const values = [profile.email, profile.firstName, profile.lastName, profile.organisation, profile.provider, profile.providerId];
      FIELDS.forEach((field, index) => {
        if (values[index] !== null) attributes[field] = values[index]!;
      });
      return createUser({ username, realm: config.realm, roles: profile.roles ?? [], attributes });
    }

    /** Creates the account or writes what the proxy says of it now, in one transaction; every instance forgets the old one. */
    async function saveAccount(username: string, profile: Profile, known: boolean): Promise<void> {
      await store!.transaction(async (q) => {
        const userId = await q.saveProfile(username, config.realm, profile, Date.now());
        await q.notify({ kind: "account.changed", userIds: [userId] });
      });
      logger.info(known ? "auth.trusted_header.account_updated" : "auth.trusted_header.account_created", {
        provider: config.name,
        realm: config.realm,
        username,
      });
    }

    return {
      name: config.name,
      type: "trusted-header",
      realm: config.realm,
      scheme: "header",
      remote: false,
      // No `reuse`: /authenticate remembers answers by Authorization header, which these requests do not have.
      presentIn(request: RequestContext) {
        const flag = request.headers.get(names.flag);
        if (flag === null) return false;
        const peer = request.client.socket;
        if (peer === null || !isTrustedPeer(trusted, peer)) {
          logUntrusted(peer ?? "unknown");
          return false;
        }
        // geOrchestra compares ignoring case; never base64 (a proxy that encodes everything blindly is caught here).
        return flag.trim().toLowerCase() === "true";
      },
      authenticate(credential, _signal, request) {
        if (credential.scheme !== "header") return null;
        const identity = readIdentity(request.headers);
        if ("problem" in identity) {
          logger.warn("auth.trusted_header.invalid", { provider: config.name, reason: identity.problem });
          return null;
        }
        const { username, values, roleText } = identity;
        const roles = names.roles ? [...new Set((roleText ?? "").split(/[,;]/).map((role) => role.trim()).filter(Boolean))] : null;
        const [email, firstName, lastName, organisation, provider, providerId] = values.map((value) => value ?? null);
        const profile: Profile = { email, firstName, lastName, organisation, provider, providerId, roles };
        if (!store) return null; // refused at config check: the accounts live in the store
        return andThen(store.hot.account(username, config.realm), (account) => {
          if (!account && !config.create_accounts) {
            logger.info("auth.trusted_header.unknown_user", { provider: config.name, realm: config.realm, username });
            return null;
          }
          if (config.create_accounts && (!account?.profile || !sameProfile(account.profile, profile))) {
            return saveAccount(username, profile, account !== null).then(() => toUser(username, profile));
          }
          return toUser(username, profile);
        });
      },
      // API tokens of these accounts: the owner as the proxy last described them.
      describeUser(username) {
        if (!store) return null;
        return andThen(store.hot.account(username, config.realm), (account) =>
          account
            ? toUser(username, account.profile ?? { email: null, firstName: null, lastName: null, organisation: null, provider: null, providerId: null, roles: null })
            : null,
        );
      },
    };
  },
};
