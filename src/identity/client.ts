// Where a request came from, as far as Gatehouse can tell. HTTP handlers get
// it from their request context (identity/request.ts), whose fields are worked
// out only when a provider reads them.
export interface ClientAddress {
  /** The peer of the TCP connection (behind a proxy: the proxy). */
  readonly socket: string | null;
  /** What X-Real-IP or X-Forwarded-For claims: recorded, never trusted (any client can send it). */
  readonly reported: string | null;
}

export const UNKNOWN_CLIENT: ClientAddress = { socket: null, reported: null };

/**
 * The peer of a request that came over Gatehouse's Unix socket (server.socket):
 * a process of this machine that the socket file's mode and group let in
 * (nginx). Trusted as a proxy, as loopback is: its X-Real-IP names the client.
 */
export const UNIX_SOCKET_PEER = "unix";
