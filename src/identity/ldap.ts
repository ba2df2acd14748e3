// What the LDAP provider and the LDAP augmenter share: escaping (every value
// put into a filter or a DN), DN parsing, roles from group DNs as
// auth-o-tron's ldap_augmenter.rs derives them, and connecting (ldaps://, or
// StartTLS, with an optional CA file).
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { Client } from "ldapts";
import type { ConnectionOptions } from "node:tls";
import { Type } from "@sinclair/typebox";
import { describeNetworkFailure, UpstreamError } from "../providers/upstream.ts";

/**
 * RFC 4515 §3: a value inside a filter. `*`, `(`, `)`, `\` and NUL are
 * escaped as the RFC requires; other control characters too (as
 * auth-o-tron does), so they reach neither the filter parser nor the
 * server's logs. `*)(uid=*` becomes `\2a\29\28uid=\2a`, which matches no one.
 */
export function escapeFilterValue(value: string): string {
  let out = "";
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (char === "*" || char === "(" || char === ")" || char === "\\" || code < 0x20 || code === 0x7f) {
      out += `\\${code.toString(16).padStart(2, "0")}`;
    } else out += char;
  }
  return out;
}

/**
 * RFC 4514 §2.4: a value inside a DN. `, + " \ < > ;` are escaped with a
 * backslash, a leading `#` or space and a trailing space too; NUL and other
 * control characters as hex pairs.
 */
export function escapeDnValue(value: string): string {
  let out = "";
  const chars = [...value];
  chars.forEach((char, index) => {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, "0")}`;
    else if (',+"\\<>;='.includes(char)) out += `\\${char}`;
    else if ((index === 0 && (char === "#" || char === " ")) || (index === chars.length - 1 && char === " ")) out += `\\${char}`;
    else out += char;
  });
  return out;
}

/** `{username}` in a filter or DN template, replaced by the escaped username. */
export function fillTemplate(template: string, username: string, escape: (value: string) => string): string {
  return template.replaceAll("{username}", escape(username));
}

/**
 * The (type, value) pairs of a DN, leaf first, unescaped. Unlike
 * auth-o-tron's split on every comma, an escaped comma (`CN=Doe\, John`)
 * stays inside its value. Multi-valued RDNs (`+`) count as their first pair.
 */
export function parseDn(dn: string): [string, string][] {
  const pairs: [string, string][] = [];
  let current = "";
  const flush = () => {
    const equals = current.indexOf("=");
    if (equals > 0) {
      const type = current.slice(0, equals).trim();
      const value = unescapeDnValue(current.slice(equals + 1).trim());
      if (type && value) pairs.push([type, value]);
    }
    current = "";
  };
  let plusSeen = false;
  for (let index = 0; index < dn.length; index++) {
    const char = dn[index];
    if (char === "\\" && index + 1 < dn.length) {
      if (!plusSeen) current += char + dn[index + 1];
      index++;
    } else if (char === ",") {
      flush();
      plusSeen = false;
    } else if (char === "+") {
      plusSeen = true;
    } else if (!plusSeen) current += char;
  }
  flush();
  return pairs;
}

function unescapeDnValue(value: string): string {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let index = 0; index < value.length; index++) {
    const char = value[index];
    if (char === "\\" && /^[0-9a-fA-F]{2}$/.test(value.slice(index + 1, index + 3))) {
      bytes.push(parseInt(value.slice(index + 1, index + 3), 16));
      index += 2;
    } else if (char === "\\" && index + 1 < value.length) {
      bytes.push(...encoder.encode(value[++index]));
    } else bytes.push(...encoder.encode(char));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

const sameText = (a: string, b: string) => a.localeCompare(b, undefined, { sensitivity: "accent" }) === 0;
const samePair = ([typeA, valueA]: [string, string], [typeB, valueB]: [string, string]) =>
  sameText(typeA, typeB) && sameText(valueA, valueB);

/**
 * auth-o-tron's `filters`: a filter is a DN fragment; when it matches a
 * contiguous run of the group DN's components (written leaf-first as in a
 * DN, or root-first as people tend to), the role is the path of values from
 * the end of that run down to the group's CN, e.g. `/TeamA/TeamB/Admin`.
 */
function pathUnder(group: [string, string][], filter: [string, string][]): string | null {
  for (const run of [filter, [...filter].reverse()]) {
    for (let start = 0; start + run.length <= group.length; start++) {
      if (run.every((pair, offset) => samePair(group[start + offset], pair))) {
        const end = start + run.length - 1;
        return `/${group
          .slice(0, end + 1)
          .map(([, value]) => value)
          .reverse()
          .join("/")}`;
      }
    }
  }
  return null;
}

export interface GroupRoleRules {
  /** auth-o-tron's `filter`: keep the groups whose DN contains it, as their CN. */
  filter?: string;
  /** auth-o-tron's `filters`: hierarchical paths; wins over `filter`, as upstream. */
  filters?: string[];
}

/**
 * The roles a user's `memberOf` values give. Attribute types and values are
 * compared without regard to case (LDAP compares them so; auth-o-tron
 * compares `filter` and the `CN` type case-sensitively, which misses
 * OpenLDAP's lower-case `cn=`).
 */
export function rolesFromGroups(groupDns: string[], rules: GroupRoleRules): string[] {
  const roles: string[] = [];
  const filters = rules.filters?.map(parseDn);
  const filter = rules.filter?.toLowerCase();
  for (const dn of groupDns) {
    const group = parseDn(dn);
    const cn = group.find(([type]) => sameText(type, "cn"))?.[1];
    if (!cn) continue;
    if (filters) {
      for (const fragment of filters) {
        const path = pathUnder(group, fragment);
        if (path) roles.push(path);
      }
    } else if (filter === undefined || dn.toLowerCase().includes(filter)) roles.push(cn);
  }
  return [...new Set(roles)];
}

/** Connection fields shared by the LDAP provider and augmenter. */
export const ldapConnectionFields = {
  uri: Type.String({ pattern: "^ldaps?://", description: "LDAP server URI: ldap://host:389, or ldaps://host:636 for TLS" }),
  start_tls: Type.Boolean({ default: false, description: "Upgrade an ldap:// connection with StartTLS before binding" }),
  ca_file: Type.Optional(Type.String({ minLength: 1, description: "PEM file of the CA that signed the server's certificate (ldaps:// or StartTLS)" })),
};

export interface LdapConnection {
  uri: string;
  start_tls: boolean;
  ca_file?: string;
}

/**
 * A connected client (TLS as configured), closed when `signal` aborts. The
 * caller unbinds it when done. Certificates are always verified.
 */
async function openLdap(connection: LdapConnection, signal: AbortSignal, timeoutMs: number): Promise<Client> {
  const tlsOptions: ConnectionOptions = { rejectUnauthorized: true, ...(connection.ca_file ? { ca: [readFileSync(connection.ca_file)] } : {}) };
  // ldapts speaks TLS from the first byte whenever tlsOptions are given: only for ldaps://.
  const secure = connection.uri.startsWith("ldaps://");
  const client = new Client({ url: connection.uri, timeout: timeoutMs, connectTimeout: timeoutMs, strictDN: true, ...(secure ? { tlsOptions } : {}) });
  const close = () => void client.unbind().catch(() => {});
  if (signal.aborted) throw signal.reason;
  signal.addEventListener("abort", close, { once: true });
  try {
    if (connection.start_tls) await client.startTLS(tlsOptions);
  } catch (error) {
    close();
    throw ldapFailure("StartTLS", error, signal);
  }
  return client;
}

/** Runs `work` on a connected client, which is unbound afterwards whatever happens. */
export async function withLdap<T>(connection: LdapConnection, signal: AbortSignal, timeoutMs: number, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await openLdap(connection, signal, timeoutMs);
  try {
    return await work(client);
  } finally {
    void client.unbind().catch(() => {});
  }
}

/** An LDAP error as an UpstreamError saying what failed, without the server's words (they may echo a DN or filter). */
export function ldapFailure(what: string, error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  if (typeof code === "number") return new UpstreamError(`LDAP ${what}: result code ${code}${typeof name === "string" ? ` (${name})` : ""}`);
  return new UpstreamError(`LDAP ${what}: ${describeNetworkFailure(error)}`);
}

/**
 * For a username the search did not find: a bind with the presented password
 * as an entry that does not exist under `base`, which the directory refuses
 * as it refuses a wrong password (RFC 4513 §6.3.1 asks for invalidCredentials
 * either way). Returning at once instead told which usernames exist by the
 * missing round trip (0.9 against 1.1 ms on loopback; a network round trip
 * with a remote directory); now an unknown user costs the same operations as
 * a wrong password (finding 10 of issue 20). Whatever the directory answers,
 * the sign-in is refused.
 */
export async function bindAsNobody(client: Client, base: string, password: string): Promise<null> {
  await client.bind(`cn=gatehouse-no-such-entry-${randomUUID()},${base}`, password).catch(() => {});
  return null;
}

/** The memberOf values of an entry, as strings. */
export function memberOf(entry: Record<string, unknown> | undefined): string[] {
  const value = entry?.memberOf ?? entry?.memberof;
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return values.map((item) => (Buffer.isBuffer(item) ? item.toString("utf8") : String(item)));
}
