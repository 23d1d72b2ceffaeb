import { parseEndpoint } from '../submission/listeners.js';
import type { DnsLookup } from './dns-lookup.js';

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

export async function planRoute(domain: string, routes: Readonly<Record<string, string>>, defaultPort: number, dns: DnsLookup): Promise<RoutePlan> {
  const route = routes[domain] ?? routes['*'];
  if (route) {
    // Like a Postfix transport entry: a fixed next hop, no MX lookup.
    const { address, port } = parseEndpoint(route);
    const answer = await dns.addresses(address);
    if (answer.kind === 'temporary') return { kind: 'defer', status: '4.4.3', text: answer.error };
    if (answer.kind === 'no-domain' || answer.ips.length === 0) return { kind: 'defer', status: '4.4.4', text: `route host ${address} has no address` };
    return { kind: 'targets', targets: answer.ips.map((ip) => ({ name: address, ip, port })) };
  }
  const literal = /^\[(.+)\]$/.exec(domain);
  if (literal) return { kind: 'targets', targets: [{ name: literal[1] as string, ip: literal[1] as string, port: defaultPort }] };

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
  for (const { host } of mx.hosts) {
    const answer = await dns.addresses(host);
    if (answer.kind === 'temporary') temporary ??= answer.error;
    if (answer.kind !== 'ok') continue;
    anyExists = true;
    for (const ip of answer.ips) if (targets.length < MAX_TARGETS) targets.push({ name: host, ip, port: defaultPort });
  }
  if (targets.length > 0) return { kind: 'targets', targets };
  if (temporary) return { kind: 'defer', status: '4.4.3', text: temporary };
  if (mx.implicit && !anyExists) return { kind: 'fail', status: '5.1.2', text: `Domain ${domain} has no MX and no address` };
  return { kind: 'defer', status: '4.4.4', text: `No address for the mail hosts of ${domain}` };
}
