import net from 'node:net';

/**
 * Who a submission client is. Decided once per connection by the listener (client-origin.ts) and used for
 * everything: the per-address connection limits, the AUTH guard, log lines, the Received header, the queue.
 * Nothing else reads a socket's remote address.
 */
export interface ClientOrigin {
  /** The client's address: the TCP peer's, or the one its load balancer's PROXY header names. */
  ip: string;
  port: number;
  /** The load balancer's address when the client came through one (listen.proxy_from), else null. */
  via: string | null;
  /**
   * A PROXY header at the start of this connection is refused: listen.proxy_from is set and this peer is not in
   * it, so a header from it would be a client lying about its address.
   */
  refuseProxyHeader: boolean;
}

/** The TCP peer of an accepted connection, as the limits and logs see addresses. */
export function socketPeer(socket: net.Socket): { ip: string; port: number } {
  return { ip: normalizeIp(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
}

/** A client's address as the limits and logs see it: IPv4 clients on a dual-stack socket without the ::ffff: prefix. */
export function normalizeIp(ip: string): string {
  // Only a mapped IPv4 address: "::ffff:0:0:1:0:0" is an IPv6 address of its own, whose tail is no address.
  return ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/**
 * One spelling per address (lower case, RFC 5952 zero compression, IPv4-mapped IPv6 as plain IPv4), so an address
 * written two ways (as a PROXY header may) is one key for the limits and the AUTH guard. `ip` must be valid.
 */
export function canonicalIp(ip: string): string {
  if (!net.isIPv6(ip)) return ip;
  return normalizeIp(new net.SocketAddress({ address: ip, family: 'ipv6' }).address);
}

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** Addresses and CIDR networks (as the config validates them: "192.0.2.10", "10.0.0.0/8", "2001:db8::/32"). */
export class NetworkList {
  private readonly list = new net.BlockList();
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address = '', bits] = cidr.split('/');
      const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, Number(bits), family);
    }
    this.empty = cidrs.length === 0;
  }

  /** BlockList also matches an IPv4 address against IPv4-mapped IPv6 entries and the reverse. */
  has(ip: string): boolean {
    if (this.empty) return false;
    const family = net.isIPv6(ip) ? 'ipv6' : net.isIPv4(ip) ? 'ipv4' : null;
    return family !== null && this.list.check(ip, family);
  }
}
