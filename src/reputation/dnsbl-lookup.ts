import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import type { ZoneAnswer } from '../store/blocklists.js';

/** Answers that mean "no such name": not listed. */
const NOT_LISTED = new Set(['ENOTFOUND', 'ENODATA']);

/** The name to look up for an IPv4 (reversed octets) or IPv6 address (reversed nibbles, RFC 5782 2.4) in a zone. */
export function ipQueryName(address: string, zone: string): string {
  if (net.isIPv4(address)) return `${address.split('.').reverse().join('.')}.${zone}`;
  if (net.isIPv6(address)) return `${expandIpv6(address).split('').reverse().join('.')}.${zone}`;
  throw new Error(`"${address}" is not an IP address`);
}

/** The 32 hex digits of an IPv6 address, without colons. */
function expandIpv6(address: string): string {
  let text = address.toLowerCase();
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = (v4[1] as string).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/**
 * Whether an A answer is a listing. RFC 5782 keeps listings in 127.0.0.0/8 from 127.0.0.2 up; 127.255.255.0/24 is
 * what public blocklists answer when they refuse the query (Spamhaus: a public resolver, or over the free
 * limit), and anything outside 127/8 is a wildcard or a hijacked answer: errors, never listings.
 */
export function classifyCodes(codes: readonly string[]): { listed: string } | { error: string } | null {
  if (codes.length === 0) return null;
  const refused = codes.find((c) => c.startsWith('127.255.255.'));
  if (refused) return { error: `the zone refused the query (answered ${refused})` };
  const odd = codes.find((c) => !c.startsWith('127.') || c === '127.0.0.1');
  if (odd) return { error: `answer ${odd} is not a blocklist code (RFC 5782 uses 127.0.0.2 and up)` };
  return { listed: [...codes].sort().join(',') };
}

/** A small gate so that at most `limit` lookups are in flight at once, whatever the callers do. */
class Gate {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

/**
 * Blocklist lookups (DNSBL for addresses, DBL/SURBL-style for domains) through dns.servers, each bounded by a
 * timeout and all of them by a concurrency limit. A zone that does not answer is an error, never a listing.
 */
export class DnsblLookup {
  private readonly resolver: Resolver;
  private readonly gate: Gate;

  constructor(servers: readonly string[], timeoutMs: number, concurrency: number) {
    // One try: the next interval is the retry, and a dead zone must not hold the round up for several timeouts.
    this.resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
    if (servers.length > 0) this.resolver.setServers([...servers]);
    this.gate = new Gate(concurrency);
  }

  ip(address: string, zone: string): Promise<ZoneAnswer> {
    return this.lookup(ipQueryName(address, zone));
  }

  domain(domain: string, zone: string): Promise<ZoneAnswer> {
    return this.lookup(`${domain.toLowerCase().replace(/\.$/, '')}.${zone}`);
  }

  private lookup(name: string): Promise<ZoneAnswer> {
    return this.gate.run(async () => {
      let codes: string[];
      try {
        codes = await this.resolver.resolve4(name);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? '';
        if (NOT_LISTED.has(code)) return { kind: 'clear' };
        return { kind: 'error', error: `lookup of ${name} failed (${code || (error as Error).message})` };
      }
      const verdict = classifyCodes(codes);
      if (verdict === null) return { kind: 'clear' };
      if ('error' in verdict) return { kind: 'error', error: `${name}: ${verdict.error}` };
      return { kind: 'listed', code: verdict.listed, reason: await this.reason(name) };
    });
  }

  /** The TXT record says why (and usually where to ask for removal); a listing stands without it. */
  private async reason(name: string): Promise<string | null> {
    try {
      const records = await this.resolver.resolveTxt(name);
      const text = records.map((chunks) => chunks.join('')).join(' / ');
      return text === '' ? null : text.slice(0, 1000);
    } catch {
      return null;
    }
  }
}
