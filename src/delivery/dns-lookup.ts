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

interface Cached<T> {
  answer: T;
  until: number;
}

/**
 * Answers are cached, so a busy destination costs one lookup per `cacheMs` instead of one per message: address
 * answers for their TTL up to `cacheMs`, MX answers (whose TTL Node does not expose) for `cacheMs`. Temporary
 * failures are not cached; the cache is bounded and forgets expired answers as it goes.
 */
export class DnsLookup {
  private readonly resolver: Resolver;
  private readonly mxCache = new Map<string, Cached<MxAnswer>>();
  private readonly addressCache = new Map<string, Cached<AddressAnswer>>();

  constructor(servers: readonly string[], timeoutMs: number, private readonly cacheMs = 60_000, private readonly maxEntries = 10_000) {
    this.resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    if (servers.length > 0) this.resolver.setServers([...servers]);
  }

  async mx(domain: string): Promise<MxAnswer> {
    const hit = cached(this.mxCache, domain);
    if (hit) return hit.kind === 'hosts' ? { ...hit, hosts: orderByPreference([...hit.hosts]) } : hit;
    const answer = await this.lookupMx(domain);
    if (answer.kind !== 'temporary') remember(this.mxCache, domain, answer, this.cacheMs, this.maxEntries);
    return answer;
  }

  private async lookupMx(domain: string): Promise<MxAnswer> {
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
    const hit = cached(this.addressCache, host);
    if (hit) return hit;
    const ttl = { seconds: Infinity };
    const answer = await this.lookupAddresses(host, ttl);
    if (answer.kind !== 'temporary') remember(this.addressCache, host, answer, Math.min(this.cacheMs, ttl.seconds * 1000), this.maxEntries);
    return answer;
  }

  /** `ttl` gets the lowest TTL of the records seen. */
  private async lookupAddresses(host: string, ttl: { seconds: number }): Promise<AddressAnswer> {
    const v4 = await this.family(host, 4, ttl);
    if (v4.kind === 'ok' && v4.ips.length > 0) return v4;
    const v6 = await this.family(host, 6, ttl);
    if (v6.kind === 'ok' && v6.ips.length > 0) return v6;
    if (v4.kind === 'no-domain') return v4;
    if (v4.kind === 'temporary') return v4;
    return { kind: 'ok', ips: [] };
  }

  private async family(host: string, family: 4 | 6, ttl: { seconds: number }): Promise<AddressAnswer> {
    try {
      const records = family === 4 ? await this.resolver.resolve4(host, { ttl: true }) : await this.resolver.resolve6(host, { ttl: true });
      for (const r of records) ttl.seconds = Math.min(ttl.seconds, r.ttl);
      return { kind: 'ok', ips: records.map((r) => r.address) };
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

function cached<T>(cache: Map<string, Cached<T>>, key: string): T | undefined {
  const entry = cache.get(key);
  if (!entry) return undefined;
  if (entry.until > Date.now()) return entry.answer;
  cache.delete(key);
  return undefined;
}

function remember<T>(cache: Map<string, Cached<T>>, key: string, answer: T, forMs: number, maxEntries: number): void {
  if (forMs <= 0) return;
  if (cache.size >= maxEntries) {
    // Oldest first (insertion order): drop a tenth rather than one per insert.
    let n = Math.ceil(maxEntries / 10);
    for (const k of cache.keys()) {
      cache.delete(k);
      if (--n <= 0) break;
    }
  }
  cache.set(key, { answer, until: Date.now() + forMs });
}
