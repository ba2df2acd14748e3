// The client's address a trusted proxy names in X-Real-IP, for regulation,
// and the defence against a proxy that passes the client's own X-Real-IP on.
//
// nginx's auth_request subrequest carries every header of the client's
// request: unless the location says `proxy_set_header X-Real-IP
// $remote_addr;`, a client's own X-Real-IP reaches Gatehouse from nginx's
// trusted address, and would be believed. The issue 20 review did it through
// two README nginx blocks that once left the line out: 25 guesses under rotating
// addresses were never banned, and 21 under 203.0.113.7 banned that address
// (anyone can be framed).
//
// By its value alone a forged X-Real-IP looks like a right one. But a
// location that sets it sets it on every request, from `$remote_addr`: one
// single address, always there. So a trusted peer shows it does NOT set it
// when one of its requests that went through a proxy (it carries the headers
// nginx's /auth blocks, Traefik or Caddy add: X-Original-URI,
// X-Forwarded-*) has no X-Real-IP (an ordinary client, sending none, through
// such a block), or has several, or one that is not an address. From then on
// that peer's X-Real-IP is never believed again (until Gatehouse restarts or
// reloads): its requests are regulated by username only, as those of a
// proxy that sends no X-Real-IP already are. Warned once per peer, counted.
//
// Why not simply trust no proxy by default: behind nginx on loopback every
// request then comes from 127.0.0.1, and the per-address limit would either
// ban everyone after 20 failures or, skipped, be lost for every correct
// set-up. What stays open: a forged header is believed until the first
// request that shows the block (after each start), and a block that sets
// none of the proxy headers looks like a client on the host calling
// Gatehouse directly (which is not suspected, and not counted).
import { UNIX_SOCKET_PEER } from "./client.ts";
import type { BlockList } from "node:net";
import { isIP } from "node:net";
import type { Logger } from "../log.ts";
import type { RequestContext } from "./request.ts";
import { isTrustedPeer } from "./trusted-proxies.ts";

/** Why a trusted peer's X-Real-IP shows it was not set by the peer itself. */
export type ForwardedAddressProblem = "missing" | "several" | "invalid";

/** Headers a proxy adds on its way to Gatehouse (the nginx blocks of docs/, Traefik's and Caddy's forward auth). */
const PROXY_HEADERS = ["x-original-uri", "x-forwarded-uri", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-prefix", "forwarded"];

/** Peers whose trust is remembered; beyond this many, the memory starts again. */
const MAX_REMEMBERED_PEERS = 4096;

/** Peers remembered as not setting X-Real-IP; beyond this many (a trusted range, not a few proxies), every trusted peer is. */
const MAX_SUSPECTED_PEERS = 1024;

export class ForwardedAddresses {
  /** Trusted peers that showed they pass a client's X-Real-IP on. */
  private readonly suspected = new Set<string>();
  private everyPeerSuspected = false;
  /** Peers found trusted or not (the list does not change while running). */
  private readonly trustedPeers = new Map<string, boolean>();
  /** Per request, once: regulation asks before and after the check, and once per provider tried. */
  private readonly answered = new WeakMap<RequestContext, string | null>();

  constructor(
    private readonly trustedProxies: BlockList,
    private readonly logger: Logger,
    /** Counts each request that shows a problem (gatehouse_regulation_proxy_x_real_ip_problems_total). */
    private readonly count: (problem: ForwardedAddressProblem) => void = () => {},
  ) {}

  /**
   * The client's address for regulation: the peer, unless the peer is a
   * trusted proxy, whose X-Real-IP names the client. Never X-Forwarded-For:
   * its first entry is whatever the client wrote. Null (regulated by
   * username only) when a trusted proxy sends no usable X-Real-IP, or has
   * shown that it passes the client's own on: counting every client as the
   * proxy would let one guesser ban everyone.
   */
  clientAddress(request: RequestContext): string | null {
    // Kept on the request when it has the slot (HTTP requests), else in the WeakMap.
    if (request.forwardedAddress !== undefined) return request.forwardedAddress;
    let address = this.answered.get(request);
    if (address !== undefined) return address;
    address = this.addressOf(request);
    if ("forwardedAddress" in request) request.forwardedAddress = address;
    else this.answered.set(request, address);
    return address;
  }

  private addressOf(request: RequestContext): string | null {
    const peer = request.client.socket;
    if (peer === null) return null;
    // Addresses and CIDR blocks alike (identity/trusted-proxies.ts, as the other trusted_proxies lists):
    // a proxy named by its block and not matched would be regulated as one client, and banned for everyone.
    // The Unix socket's peers are local processes its mode lets in (nginx): a proxy, as loopback is by default.
    if (peer !== UNIX_SOCKET_PEER && !this.isTrusted(peer)) return peer;
    const claimed = request.headers.get("x-real-ip")?.trim();
    const problem = this.problemWith(claimed, request.headers);
    if (problem) this.suspect(peer, problem);
    if (problem || this.everyPeerSuspected || this.suspected.has(peer)) return null;
    // No problem: an address (problemWith checked it), nginx's "unix:", or none.
    return claimed && claimed !== "unix:" ? claimed : null;
  }

  /** Whether the peer is a trusted proxy, remembered by peer (a BlockList match costs ≈0.45 µs in Bun, a Map lookup ≈0.02). */
  private isTrusted(peer: string): boolean {
    let trusted = this.trustedPeers.get(peer);
    if (trusted === undefined) {
      trusted = isTrustedPeer(this.trustedProxies, peer);
      if (this.trustedPeers.size >= MAX_REMEMBERED_PEERS) this.trustedPeers.clear();
      this.trustedPeers.set(peer, trusted);
    }
    return trusted;
  }

  /** What a request shows about its proxy's X-Real-IP (several headers arrive joined by commas). */
  private problemWith(claimed: string | undefined, headers: Headers): ForwardedAddressProblem | null {
    if (!claimed) return PROXY_HEADERS.some((name) => headers.has(name)) ? "missing" : null;
    if (claimed.includes(",")) return "several";
    // nginx listening on a Unix socket names its clients "unix:": no address, but not a forgery.
    if (claimed === "unix:") return null;
    return isIP(claimed) === 0 ? "invalid" : null;
  }

  private suspect(peer: string, problem: ForwardedAddressProblem) {
    this.count(problem);
    if (this.everyPeerSuspected || this.suspected.has(peer)) return;
    if (this.suspected.size >= MAX_SUSPECTED_PEERS) this.everyPeerSuspected = true;
    else this.suspected.add(peer);
    this.logger.warn("regulation.proxy_x_real_ip_ignored", {
      proxy: peer,
      reason: problem,
      detail:
        "a request from this trusted proxy shows it passes clients' own X-Real-IP on: set `proxy_set_header X-Real-IP $remote_addr;` in every nginx location that proxies to Gatehouse; until Gatehouse restarts or reloads, this proxy's clients are regulated by username only",
    });
  }
}
