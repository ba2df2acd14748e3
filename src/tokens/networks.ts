// Network limits of API tokens (issue 23 § 4): a token may carry a list of
// CIDR blocks it can be used from. The address checked is the client's as
// regulation reads it (identity/forwarded-address.ts: the peer, or the
// X-Real-IP a trusted proxy sets), never a header a client can write itself.
import type { BlockList } from "node:net";
import { isTrustedPeer, parseCidr, trustedProxyList } from "../identity/trusted-proxies.ts";

export const MAX_NETWORKS = 16;

/** The list as given, trimmed, or why it cannot be taken (a 400's message). */
export function checkedNetworks(entries: readonly unknown[]): string[] | string {
  if (entries.length === 0) return "allowed_networks: give at least one CIDR block (omit the field for a token usable from anywhere)";
  if (entries.length > MAX_NETWORKS) return `allowed_networks: at most ${MAX_NETWORKS} entries`;
  const networks: string[] = [];
  for (const entry of entries) {
    if (typeof entry !== "string" || entry.length > 64) return "allowed_networks: each entry is a CIDR block such as 192.0.2.0/24 or 2001:db8::/32";
    const parsed = parseCidr(entry);
    if (typeof parsed === "string") return `allowed_networks: ${parsed}`;
    networks.push(entry.trim());
  }
  return [...new Set(networks)];
}

/** The entries of `wanted` that no block of `held` contains (a token made with a token only narrows its parent's). */
export function networksBeyond(wanted: readonly string[], held: readonly string[]): string[] {
  const blocks = held.map((entry) => parseCidr(entry)).filter((parsed) => typeof parsed !== "string");
  return wanted.filter((entry) => {
    const child = parseCidr(entry);
    if (typeof child === "string") return true;
    return !blocks.some((block) => {
      if (block.family !== child.family || child.prefix < block.prefix) return false;
      const list = trustedProxyList([`${block.address}/${block.prefix}`]) as BlockList;
      return list.check(child.address, child.family);
    });
  });
}

/**
 * Whether an address is inside a token's networks (the JSON list its row
 * holds). Checked on every use of a limited token, answers remembered ones
 * included: the parsed list is kept by its text, and its answer by address
 * (a BlockList match costs ≈0.45 µs in Bun, a Map lookup ≈0.02). An unknown
 * address (none a trusted proxy named) is outside.
 */
interface Matcher {
  list: BlockList;
  answers: Map<string, boolean>;
}
const matchers = new Map<string, Matcher | null>();
const MAX_MATCHERS = 10_000;
const MAX_ANSWERS = 1024;

export function insideNetworks(networksJson: string, address: string | null): boolean {
  if (address === null) return false;
  let matcher = matchers.get(networksJson);
  if (matcher === undefined) {
    const parsed = trustedProxyList(JSON.parse(networksJson) as string[]);
    // Written by the service after checking each entry; a row edited by hand into nonsense lets nobody in.
    matcher = typeof parsed === "string" ? null : { list: parsed, answers: new Map() };
    if (matchers.size >= MAX_MATCHERS) matchers.clear();
    matchers.set(networksJson, matcher);
  }
  if (matcher === null) return false;
  let inside = matcher.answers.get(address);
  if (inside === undefined) {
    inside = isTrustedPeer(matcher.list, address);
    if (matcher.answers.size >= MAX_ANSWERS) matcher.answers.clear();
    matcher.answers.set(address, inside);
  }
  return inside;
}
