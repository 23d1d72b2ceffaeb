import { InputError } from '../accounts/validation.js';
import type { RelaisConfig } from '../config/schema.js';
import type { TxtLookup } from './dns-txt.js';

/** Where mail leaves from: outbound.ips, or what the relay's host name resolves to when the system picks the address. */
export async function outboundAddresses(config: RelaisConfig, dns: TxtLookup): Promise<{ address: string; ehlo: string }[]> {
  if (config.outbound.ips.length > 0) return config.outbound.ips.map((ip) => ({ address: ip.address, ehlo: ip.ehlo ?? config.hostname }));
  const found: string[] = [];
  for (const family of ['resolve4', 'resolve6'] as const) {
    found.push(...(await dns.resolver[family](config.hostname).catch(() => [] as string[])));
  }
  if (found.length === 0) {
    throw new InputError(`no outbound.ips configured and ${config.hostname} resolves to no address: list the relay's public addresses in outbound.ips to check SPF against them`);
  }
  return found.map((address) => ({ address, ehlo: config.hostname }));
}
