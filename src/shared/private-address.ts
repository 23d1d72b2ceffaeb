import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which destination addresses the relay refuses to connect to for a customer (outbound.allow_private_destinations
 * off): anything that is not globally routable unicast. Otherwise an authenticated customer could make the relay
 * talk SMTP to its own loopback services or to the provider's internal network, with an address literal or with
 * an MX they control.
 */

/** ipaddr.js range names that are fine to connect to; every other range is refused. */
const PUBLIC_RANGES = new Set(['unicast']);
/** IPv6 forms that carry an IPv4 address: judged by the IPv4 address they carry. */
const EMBEDS_IPV4 = new Set(['ipv4Mapped', 'rfc6145', 'rfc6052']);

const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  private: 'RFC 1918 private',
  uniqueLocal: 'unique-local',
  linkLocal: 'link-local',
  unspecified: 'unspecified',
  multicast: 'multicast',
  broadcast: 'broadcast',
  carrierGradeNat: 'carrier-grade NAT',
  deprecatedSiteLocal: 'site-local',
};

/**
 * The range that makes `ip` no public destination, in words ("loopback", "RFC 1918 private", "reserved"...), or
 * null when it is one. Something that is not a plain IP address at all (`0177.0.0.1`, which the system resolver would take
 * as 127.0.0.1) is refused too.
 */
export function nonPublicRange(ip: string): string | null {
  if (!net.isIP(ip)) return 'invalid';
  let address = ipaddr.parse(ip);
  let range: string = address.range();
  if (address.kind() === 'ipv6' && EMBEDS_IPV4.has(range)) {
    const bytes = address.toByteArray().slice(12);
    address = ipaddr.fromByteArray(bytes);
    range = address.range();
  } else if (address.kind() === 'ipv6' && range === '6to4') {
    // 2002:AABB:CCDD::/48 is reached through the IPv4 address AA.BB.CC.DD.
    address = ipaddr.fromByteArray(address.toByteArray().slice(2, 6));
    range = address.range();
  }
  if (range === 'unicast' && address.kind() === 'ipv6' && address.toByteArray().slice(0, 12).every((byte) => byte === 0)) {
    // ::a.b.c.d, the deprecated IPv4-compatible form (RFC 4291 2.5.5.1): nothing public lives there.
    return 'IPv4-compatible';
  }
  if (PUBLIC_RANGES.has(range)) return null;
  return RANGE_NAMES[range] ?? 'reserved';
}

/**
 * The IP address of a domain literal as the envelope parser keeps it (lower case, brackets on): `[127.0.0.1]`,
 * `[ipv6:2001:db8::1]`, or the bare `[::1]` some clients write. Null when the domain is not a literal; the empty
 * string when it is one but holds no valid address.
 */
export function addressLiteral(domain: string): string | null {
  const literal = /^\[(.*)\]$/.exec(domain);
  if (!literal) return null;
  const inside = (literal[1] as string).replace(/^ipv6:/i, '');
  // A zone ("fe80::1%eth0") names an interface of the host that wrote it; it means nothing here.
  if (inside.includes('%')) return '';
  const family = net.isIP(inside);
  if (family === 4 && inside === literal[1]) return inside;
  if (family === 6) return inside;
  return '';
}
