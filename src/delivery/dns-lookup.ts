import { Resolver } from 'node:dns/promises';
import net from 'node:net';

/** MX and address lookups through the configured DNS servers (dns.servers), with answers sorted out for routing. */
export type MxAnswer =
  | { kind: 'hosts'; hosts: { host: string; pref: number }[]; implicit: boolean }
  | { kind: 'null-mx' }
  | { kind: 'no-domain' }
  | { kind: 'temporary'; error: string };

export type AddressAnswer = { kind: 'ok'; ips: string[] } | { kind: 'no-domain' } | { kind: 'temporary'; error: string };

const NO_DOMAIN = new Set(['ENOTFOUND']);
const NO_DATA = new Set(['ENODATA']);

export class DnsLookup {
  private readonly resolver: Resolver;

  constructor(servers: readonly string[], timeoutMs: number) {
    this.resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    if (servers.length > 0) this.resolver.setServers([...servers]);
  }

  async mx(domain: string): Promise<MxAnswer> {
    try {
      const records = await this.resolver.resolveMx(domain);
      // RFC 7505: a single MX of "." says the domain accepts no mail at all.
      if (records.length === 1 && (records[0]?.exchange === '' || records[0]?.exchange === '.')) return { kind: 'null-mx' };
      const hosts = records.filter((r) => r.exchange !== '' && r.exchange !== '.').map((r) => ({ host: r.exchange.replace(/\.$/, ''), pref: r.priority }));
      if (hosts.length === 0) return { kind: 'null-mx' };
      return { kind: 'hosts', hosts: orderByPreference(hosts), implicit: false };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (NO_DOMAIN.has(code)) return { kind: 'no-domain' };
      // No MX records: the domain itself is the mail host (RFC 5321 5.1, "implicit MX").
      if (NO_DATA.has(code)) return { kind: 'hosts', hosts: [{ host: domain, pref: 0 }], implicit: true };
      return { kind: 'temporary', error: `MX lookup for ${domain} failed (${code || (error as Error).message})` };
    }
  }

  async addresses(host: string): Promise<AddressAnswer> {
    if (net.isIP(host)) return { kind: 'ok', ips: [host] };
    const v4 = await this.family(host, 4);
    if (v4.kind === 'ok' && v4.ips.length > 0) return v4;
    const v6 = await this.family(host, 6);
    if (v6.kind === 'ok' && v6.ips.length > 0) return v6;
    if (v4.kind === 'no-domain') return v4;
    if (v4.kind === 'temporary') return v4;
    return { kind: 'ok', ips: [] };
  }

  private async family(host: string, family: 4 | 6): Promise<AddressAnswer> {
    try {
      const ips = family === 4 ? await this.resolver.resolve4(host) : await this.resolver.resolve6(host);
      return { kind: 'ok', ips };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (NO_DOMAIN.has(code)) return { kind: 'no-domain' };
      if (NO_DATA.has(code)) return { kind: 'ok', ips: [] };
      return { kind: 'temporary', error: `address lookup for ${host} failed (${code || (error as Error).message})` };
    }
  }
}

/** Lowest preference first; hosts of equal preference in random order, to spread the load (RFC 5321 5.1). */
function orderByPreference(hosts: { host: string; pref: number }[]): { host: string; pref: number }[] {
  return hosts
    .map((h) => ({ h, r: Math.random() }))
    .sort((a, b) => a.h.pref - b.h.pref || a.r - b.r)
    .map((x) => x.h);
}
