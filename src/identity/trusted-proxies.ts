// Which peers are trusted proxies: a list of addresses and CIDR blocks,
// matched against the TCP peer only (never a header a client can write).
// Shared by the trusted-header provider and the public URL's forwarded
// headers, so that both read `trusted_proxies` the same way.
import { BlockList, isIP } from "node:net";

/** "10.0.0.0/8", "::1", "fd00::/8": an address and prefix length, or why not. */
export function parseCidr(text: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | string {
  const [address, prefixText, extra] = text.trim().split("/");
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return `"${text}" is not an IP address or CIDR block`;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return `"${text}" has an invalid prefix length (0 to ${max})`;
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/** `config check`'s problems with such a list, each with its path (e.g. "trusted_proxies[1]: …"). */
export function trustedProxyProblems(entries: readonly string[], path = "trusted_proxies"): string[] {
  return entries.flatMap((entry, index) => {
    const parsed = parseCidr(entry);
    return typeof parsed === "string" ? [`${path}[${index}]: ${parsed}`] : [];
  });
}

/** The entries as a BlockList; the first problem as a string when one is not an address or a range. */
export function trustedProxyList(entries: readonly string[]): BlockList | string {
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = parseCidr(entry);
    if (typeof parsed === "string") return parsed;
    list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return list;
}

/** Is the peer in the list? An IPv4 address mapped into IPv6 (a dual-stack listener) is read as IPv4. */
export function isTrustedPeer(list: BlockList, peer: string | null | undefined): boolean {
  if (!peer) return false;
  const mapped = peer.startsWith("::ffff:") && isIP(peer.slice(7)) === 4 ? peer.slice(7) : peer;
  const version = isIP(mapped);
  return version !== 0 && list.check(mapped, version === 4 ? "ipv4" : "ipv6");
}
