import { Resolver } from 'node:dns/promises';
import { rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertLoopback, startOnFreePort } from './ports.js';
import { makePeerDir, removePeerDir, serialized, startPeer, waitUntil } from './process.js';

/** An IP blocklist like zen.test: `11.0.0.127.zen.test A 127.0.0.2` plus a TXT when 127.0.0.11 is listed. */
export interface IpZone {
  /** Addresses or ranges in rbldnsd's ip4set syntax (`127.0.0.11`, `127.0.0.0/24`). */
  ips: string[];
  /** The A record a listing answers with; default 127.0.0.2. */
  code?: string;
  /** TXT template, `$` becomes the listed IP; default `Listed in ZONE: https://ZONE/query/ip/$`. */
  txt?: string;
}

/** A domain blocklist like dbl.test: `spam.test.dbl.test A 127.0.1.2` plus a TXT. */
export interface DomainZone {
  /** `example.test` (that name only), `.example.test` (it and its subdomains), `*.example.test` (subdomains only). */
  domains: string[];
  /** Default 127.0.1.2. */
  code?: string;
  /** Default `Listed in ZONE`. */
  txt?: string;
}

export interface DnsblOptions {
  /** Default 127.0.0.1. */
  address?: string;
  /** Default 0: a free port. */
  port?: number;
  /** E.g. `{ 'zen.test': { ips: ['127.0.0.11'] }, 'dbl.test': { domains: ['spam.test'] } }`. */
  zones: Record<string, IpZone | DomainZone>;
}

export interface DnsblPeer {
  address: string;
  port: number;
  /** `'127.0.0.1:PORT'`: give it to the test DNS as `forward: [{ zone, address, port }]`, or to a Resolver. */
  server: string;
  /** A node:dns Resolver that asks rbldnsd directly. */
  resolver(): Resolver;
  /* The four helpers below resolve once rbldnsd answers with the change. `zone` defaults to the only zone of that kind. */
  list(ip: string, zone?: string): Promise<void>;
  delist(ip: string, zone?: string): Promise<void>;
  listDomain(domain: string, zone?: string): Promise<void>;
  delistDomain(domain: string, zone?: string): Promise<void>;
  /** Current entries of a zone. */
  entries(zone: string): string[];
  log(): string;
  stop(): Promise<void>;
}

/** The name to query for `ip` in `zone`: `dnsblQueryName('127.0.0.11', 'zen.test')` is `11.0.0.127.zen.test`. */
export function dnsblQueryName(ip: string, zone: string): string {
  return `${ip.split('.').reverse().join('.')}.${zone}`;
}

function isIpZone(zone: IpZone | DomainZone): zone is IpZone {
  return 'ips' in zone;
}

function checkIp(ip: string): void {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new Error(`${JSON.stringify(ip)} is not a single IPv4 address (list ranges through startDnsbl's ips)`);
}

/** The name that shows whether a domain entry is in effect. */
function domainProbe(entry: string): string {
  if (entry.startsWith('*.')) return `probe.${entry.slice(2)}`;
  if (entry.startsWith('.')) return entry.slice(1);
  return entry;
}

interface ZoneState {
  name: string;
  kind: 'ip' | 'domain';
  code: string;
  txt: string;
  entries: string[];
  file: string;
}

/** Probes use a short timeout to poll quickly; the resolver handed to tests is more patient (busy CI). */
function makeResolver(server: string, patient = false): Resolver {
  const resolver = new Resolver(patient ? { timeout: 1000, tries: 2 } : { timeout: 300, tries: 1 });
  resolver.setServers([server]);
  return resolver;
}

/** true if listed with `code`, false if NXDOMAIN; a timeout or refusal throws (rbldnsd not answering). */
async function isListed(server: string, name: string, code: string): Promise<boolean> {
  try {
    return (await makeResolver(server).resolve4(name)).includes(code);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return false;
    throw err;
  }
}

async function startOnce(address: string, port: number, options: DnsblOptions): Promise<DnsblPeer> {
  // rbldnsd refuses to run as root and switches to the rbldns user, who must be able to read the data files.
  const dir = await makePeerDir('rbldnsd', { worldReadable: true });
  const server = `${address}:${port}`;
  const zones = new Map<string, ZoneState>();
  for (const [name, zone] of Object.entries(options.zones)) {
    const zoneName = name.toLowerCase().replace(/\.$/, '');
    zones.set(zoneName, isIpZone(zone)
      ? { name: zoneName, kind: 'ip', code: zone.code ?? '127.0.0.2', txt: zone.txt ?? `Listed in ${zoneName}: https://${zoneName}/query/ip/$`, entries: [...zone.ips], file: `${zoneName}.ip4set` }
      : { name: zoneName, kind: 'domain', code: zone.code ?? '127.0.1.2', txt: zone.txt ?? `Listed in ${zoneName}`, entries: [...zone.domains], file: `${zoneName}.dnset` });
  }
  if (zones.size === 0) throw new Error('startDnsbl needs at least one zone');

  /*
   * rbldnsd reloads a file when its mtime differs from the one it loaded, in whole seconds: two edits within
   * one second would look unchanged. Each write therefore gets a later mtime than the previous one, and is
   * renamed into place so rbldnsd never reads half a file.
   */
  let lastStamp = 0;
  const writeZone = async (zone: ZoneState): Promise<void> => {
    /*
     * The SOA (TTL 0, minimum 0) lets a resolver see that an NXDOMAIN must not be cached: without one unbound
     * keeps "not listed" for 5 s, and a listing made at run time would not show through it.
     */
    const soa = `$SOA 0 ns.${zone.name}. hostmaster.${zone.name}. 0 600 300 86400 0`;
    const text = [soa, `:${zone.code}:${zone.txt}`, ...zone.entries, ''].join('\n');
    const path = join(dir, zone.file);
    await writeFile(`${path}.new`, text, { mode: 0o644 });
    lastStamp = Math.max(Math.floor(Date.now() / 1000), lastStamp + 1);
    await utimes(`${path}.new`, lastStamp, lastStamp);
    await rename(`${path}.new`, path);
  };
  for (const zone of zones.values()) await writeZone(zone);

  const zoneArgs = [...zones.values()].map((z) => `${z.name}:${z.kind === 'ip' ? 'ip4set' : 'dnset'}:${z.file}`);
  const firstZone = [...zones.keys()][0] ?? '';
  const running = await startPeer(
    dir,
    // -n: foreground. -c 1: also notice hand edits within a second. -t 1: the lowest TTL rbldnsd accepts.
    {
      name: 'rbldnsd',
      command: 'rbldnsd',
      args: ['-n', '-b', `${address}/${port}`, '-w', dir, '-c', '1', '-t', '1', ...zoneArgs],
      logFile: join(dir, 'rbldnsd.log'),
    },
    { what: `rbldnsd answered on ${server}`, probe: async () => (await isListed(server, `relais-probe.${firstZone}`, '')) === false, timeoutMs: 5000 },
  );

  const zoneOf = (kind: 'ip' | 'domain', zone: string | undefined): ZoneState => {
    if (zone !== undefined) {
      const found = zones.get(zone.toLowerCase());
      if (found === undefined || found.kind !== kind) throw new Error(`the DNSBL has no ${kind} zone ${zone}; it has ${[...zones.keys()].join(', ')}`);
      return found;
    }
    const candidates = [...zones.values()].filter((z) => z.kind === kind);
    const only = candidates[0];
    if (candidates.length !== 1 || only === undefined) throw new Error(`say which ${kind} zone: the DNSBL has ${candidates.length} of them`);
    return only;
  };

  const oneAtATime = serialized();
  const change = (zone: ZoneState, entry: string, listed: boolean, probeName: string): Promise<void> =>
    oneAtATime(async () => {
      const others = zone.entries.filter((e) => e !== entry);
      zone.entries = listed ? [...others, entry] : others;
      await writeZone(zone);
      process.kill(running.pid, 'SIGHUP'); // reload now rather than at the next check
      await waitUntil(`${probeName} ${listed ? 'listed' : 'delisted'} on rbldnsd ${server}`, async () => (await isListed(server, probeName, zone.code)) === listed, {
        timeoutMs: 5000,
        proc: running,
      });
    });

  return {
    address,
    port,
    server,
    resolver: () => makeResolver(server, true),
    async list(ip, zone) {
      checkIp(ip);
      const z = zoneOf('ip', zone);
      await change(z, ip, true, dnsblQueryName(ip, z.name));
    },
    async delist(ip, zone) {
      checkIp(ip);
      const z = zoneOf('ip', zone);
      await change(z, ip, false, dnsblQueryName(ip, z.name));
    },
    async listDomain(domain, zone) {
      const z = zoneOf('domain', zone);
      await change(z, domain.toLowerCase(), true, `${domainProbe(domain.toLowerCase())}.${z.name}`);
    },
    async delistDomain(domain, zone) {
      const z = zoneOf('domain', zone);
      await change(z, domain.toLowerCase(), false, `${domainProbe(domain.toLowerCase())}.${z.name}`);
    },
    entries(zone) {
      const z = zones.get(zone.toLowerCase());
      if (z === undefined) throw new Error(`the DNSBL has no zone ${zone}; it has ${[...zones.keys()].join(', ')}`);
      return [...z.entries];
    },
    log: () => running.log(),
    async stop() {
      await running.stop();
      await removePeerDir(dir);
    },
  };
}

/** Starts `rbldnsd -n -b ADDRESS/PORT -w DIR zone:ip4set:file zone:dnset:file ...`; see DnsblOptions. */
export async function startDnsbl(options: DnsblOptions): Promise<DnsblPeer> {
  const address = options.address ?? '127.0.0.1';
  assertLoopback(address);
  return startOnFreePort(address, options.port, /address already in use|bind/i, (port) => startOnce(address, port, options));
}
