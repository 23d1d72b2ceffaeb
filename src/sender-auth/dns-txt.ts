import { Resolver } from 'node:dns/promises';

/** TXT answers, each record's strings joined; `none` when the name or the record type does not exist. */
export type TxtAnswer = { kind: 'records'; records: string[] } | { kind: 'none' } | { kind: 'error'; error: string };

/** Lookups through dns.servers (the system's resolvers when empty), for checks run by staff, not the hot path. */
export class TxtLookup {
  readonly resolver: Resolver;

  constructor(servers: readonly string[], timeoutMs: number) {
    this.resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    if (servers.length > 0) this.resolver.setServers([...servers]);
  }

  async txt(name: string): Promise<TxtAnswer> {
    try {
      return { kind: 'records', records: (await this.resolver.resolveTxt(name)).map((strings) => strings.join('')) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (code === 'ENOTFOUND' || code === 'ENODATA') return { kind: 'none' };
      return { kind: 'error', error: `${name}: ${code || (error as Error).message}` };
    }
  }

  /** What mailauth's SPF evaluation calls: node's resolve(), through the configured servers. */
  readonly resolve = (name: string, rrtype: string): Promise<string[][] | string[]> =>
    this.resolver.resolve(name, rrtype) as Promise<string[][] | string[]>;
}
