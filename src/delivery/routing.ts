import { parseEndpoint } from '../submission/listeners.js';
import type { DnsLookup } from './dns-lookup.js';
import { addressLiteral, nonPublicRange } from '../shared/private-address.js';

/** Where a domain's mail goes: the hosts to try in order, or why there is nowhere to go. */
export interface Target {
  /** The MX (or route) host name, for TLS SNI and the Remote-MTA of notices. */
  name: string;
  ip: string;
  port: number;
}

export type RoutePlan =
  | { kind: 'targets'; targets: Target[] }
  | { kind: 'fail'; status: string; text: string }
  | { kind: 'defer'; status: string; text: string };

const MAX_TARGETS = 10;

/**
 * `routes` is a Map, never a plain object: a recipient domain is anyone's string, and `routes["constructor"]` on
 * an object finds Object's constructor instead of nothing.
 * `allowPrivate` is outbound.allow_private_destinations: without it, address literals and MX hosts outside public
 * unicast space are never connected to. Routes are the operator's own word and are not checked.
 */
export async function planRoute(
  domain: string,
  routes: ReadonlyMap<string, string>,
  defaultPort: number,
  dns: DnsLookup,
  allowPrivate = false,
): Promise<RoutePlan> {
  const route = routes.get(domain) ?? routes.get('*');
  if (route) {
    // Like a Postfix transport entry: a fixed next hop, no MX lookup.
    const { address, port } = parseEndpoint(route);
    const answer = await dns.addresses(address);
    if (answer.kind === 'temporary') return { kind: 'defer', status: '4.4.3', text: answer.error };
    if (answer.kind === 'no-domain' || answer.ips.length === 0) return { kind: 'defer', status: '4.4.4', text: `route host ${address} has no address` };
    return { kind: 'targets', targets: answer.ips.map((ip) => ({ name: address, ip, port })) };
  }
  const literal = addressLiteral(domain);
  if (literal === '') return { kind: 'fail', status: '5.1.2', text: `${domain} is not a valid IPv4 or IPv6 address literal` };
  if (literal !== null) {
    // Queued before the RCPT check existed, or while the setting was on: refused at delivery all the same.
    const range = allowPrivate ? null : nonPublicRange(literal);
    if (range) return { kind: 'fail', status: '5.4.4', text: `Delivery to private or loopback address ${domain} is not allowed (${range} range)` };
    return { kind: 'targets', targets: [{ name: literal, ip: literal, port: defaultPort }] };
  }

  const mx = await dns.mx(domain);
  switch (mx.kind) {
    case 'null-mx':
      return { kind: 'fail', status: '5.1.10', text: `Domain ${domain} does not accept mail (null MX, RFC 7505)` };
    case 'no-domain':
      return { kind: 'fail', status: '5.1.2', text: `Domain ${domain} does not exist` };
    case 'temporary':
      return { kind: 'defer', status: '4.4.3', text: mx.error };
    case 'hosts':
      break;
  }
  const targets: Target[] = [];
  let temporary: string | undefined;
  let anyExists = false;
  let refused: string | undefined;
  for (const { host } of mx.hosts) {
    const answer = await dns.addresses(host);
    if (answer.kind === 'temporary') temporary ??= answer.error;
    if (answer.kind !== 'ok') continue;
    anyExists = true;
    for (const ip of answer.ips) {
      const range = allowPrivate ? null : nonPublicRange(ip);
      if (range) {
        refused ??= `${mx.implicit ? 'Mail host' : 'MX'} ${host} of ${domain} resolves to private or loopback address ${ip} (${range} range); delivery there is not allowed`;
        continue;
      }
      if (targets.length < MAX_TARGETS) targets.push({ name: host, ip, port: defaultPort });
    }
  }
  if (targets.length > 0) return { kind: 'targets', targets };
  if (temporary) return { kind: 'defer', status: '4.4.3', text: temporary };
  // Permanent: the domain's owner pointed its mail at an address the relay will not connect to.
  if (refused) return { kind: 'fail', status: '5.4.4', text: refused };
  if (mx.implicit && !anyExists) return { kind: 'fail', status: '5.1.2', text: `Domain ${domain} has no MX and no address` };
  return { kind: 'defer', status: '4.4.4', text: `No address for the mail hosts of ${domain}` };
}
