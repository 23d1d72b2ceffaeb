import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assertLoopback, startOnFreePort } from './ports.js';
import { makePeerDir, removePeerDir, serialized, startPeer, waitUntil } from './process.js';

const execFileAsync = promisify(execFile);

/** `host: '.'` is a null MX (RFC 7505): `MX 0 .`. */
export interface MxRecord {
  pref: number;
  host: string;
}

export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  /** Certificate association data, hex. */
  data: string;
}

export interface DnsRecords {
  mx?: MxRecord[];
  a?: string[];
  aaaa?: string[];
  /** One string per TXT record; longer than 255 bytes is split into several character-strings. */
  txt?: string[];
  tlsa?: TlsaRecord[];
  cname?: string;
  ptr?: string[];
}

/**
 * Records by owner name: a domain (`'example.test'`) or any name below it (`'mx1.example.test'`,
 * `'_25._tcp.mx1.example.test'`, `'21.0.0.127.in-addr.arpa'`). Every name under `.test` that is not listed
 * answers NXDOMAIN, a listed name without the asked type answers NODATA.
 */
export type DnsZones = Record<string, DnsRecords>;

/** Queries for `zone` and below go to the server at address:port (e.g. rbldnsd). */
export interface DnsForward {
  zone: string;
  address: string;
  port: number;
}

export interface DnsOptions {
  /** Default 127.0.0.1. */
  address?: string;
  /** Default 0: a free port. */
  port?: number;
  zones: DnsZones;
  forward?: DnsForward[];
  /**
   * What names outside `.test`, the listed names and the forwarded zones get: REFUSED (default), so that a
   * name a test forgot to set up fails loudly instead of looking like a real NXDOMAIN, or NXDOMAIN.
   */
  otherNames?: 'refuse' | 'nxdomain';
}

export interface DnsPeer {
  address: string;
  port: number;
  /** `'127.0.0.1:PORT'`, for `resolver.setServers([peer.server])`. */
  server: string;
  /** A node:dns Resolver that asks this server only (short timeout, one try). */
  resolver(): Resolver;
  /** Replaces all records; resolves once unbound answers with the new data. */
  setZones(zones: DnsZones): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

/** A name unbound answers from the current config: its TXT is the config generation, so we can tell a reload took effect. */
const GENERATION_NAME = 'generation.relais-dns-peer.test';

function fqdn(name: string): string {
  const n = name.trim().toLowerCase().replace(/\.$/, '');
  if (n === '') return '.';
  if (!/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$/.test(n) || n.includes('..')) {
    throw new Error(`${JSON.stringify(name)} is not a domain name usable in the test DNS`);
  }
  return `${n}.`;
}

function isUnder(name: string, zone: string): boolean {
  return zone === '.' || name === zone || name.endsWith(`.${zone}`);
}

/** One TXT value as zone-file character-strings: 255-byte chunks, with quotes, backslashes and non-ASCII as \DDD. */
function txtData(value: string): string {
  const bytes = Buffer.from(value, 'utf8');
  const chunks: string[] = [];
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    let out = '';
    for (const b of bytes.subarray(i, i + 255)) {
      const safe = b >= 0x20 && b <= 0x7e && b !== 0x22 && b !== 0x5c && b !== 0x27;
      out += safe ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`;
    }
    chunks.push(`"${out}"`);
  }
  return chunks.join(' ');
}

function ipv4(value: string, owner: string): string {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) throw new Error(`A record of ${owner}: ${JSON.stringify(value)} is not an IPv4 address`);
  return value;
}

function ipv6(value: string, owner: string): string {
  if (!/^[0-9a-fA-F:.]+$/.test(value) || !value.includes(':')) {
    throw new Error(`AAAA record of ${owner}: ${JSON.stringify(value)} is not an IPv6 address`);
  }
  return value;
}

/*
 * TTL 0 everywhere: c-ares (node:dns) caches answers for their TTL, so with any other TTL a test that changes
 * a record would see the old answer from a long-lived Resolver for a while.
 */
function localData(owner: string, records: DnsRecords): string[] {
  const rr = (type: string, data: string): string => `  local-data: '${owner} 0 IN ${type} ${data}'`;
  const lines: string[] = [];
  for (const mx of records.mx ?? []) {
    if (!Number.isInteger(mx.pref) || mx.pref < 0 || mx.pref > 65535) throw new Error(`MX of ${owner}: bad preference ${mx.pref}`);
    lines.push(rr('MX', `${mx.pref} ${fqdn(mx.host)}`));
  }
  for (const a of records.a ?? []) lines.push(rr('A', ipv4(a, owner)));
  for (const aaaa of records.aaaa ?? []) lines.push(rr('AAAA', ipv6(aaaa, owner)));
  for (const txt of records.txt ?? []) lines.push(rr('TXT', txtData(txt)));
  for (const t of records.tlsa ?? []) {
    if (!/^([0-9a-fA-F]{2})+$/.test(t.data)) throw new Error(`TLSA of ${owner}: data must be hex`);
    lines.push(rr('TLSA', `${t.usage} ${t.selector} ${t.matchingType} ${t.data}`));
  }
  if (records.cname !== undefined) lines.push(rr('CNAME', fqdn(records.cname)));
  for (const ptr of records.ptr ?? []) lines.push(rr('PTR', fqdn(ptr)));
  return lines;
}

function unboundConfig(o: { dir: string; address: string; port: number; zones: DnsZones; forward: DnsForward[]; otherNames: 'refuse' | 'nxdomain'; generation: number }): string {
  const owners = Object.keys(o.zones).map(fqdn);
  const forwards = o.forward.map((f) => {
    assertLoopback(f.address, `forward address of ${f.zone}`);
    return { ...f, zone: fqdn(f.zone) };
  });
  // Listed names outside .test get a static zone of their own, so their siblings answer NXDOMAIN rather than REFUSED.
  const extraZones = owners.filter((n) => !isUnder(n, 'test.') && !owners.some((z) => z !== n && isUnder(n, z)));
  const lines = [
    'server:',
    `  interface: ${o.address}`,
    `  port: ${o.port}`,
    // Outgoing queries only from loopback and only over IPv4: nothing can reach the Internet.
    '  outgoing-interface: 127.0.0.1',
    '  do-ip6: no',
    '  num-threads: 1',
    // Running as root: no chroot and no switch to the unbound user, which could not read this 0700 dir.
    '  username: ""',
    '  chroot: ""',
    `  directory: "${o.dir}"`,
    `  pidfile: "${join(o.dir, 'unbound.pid')}"`,
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 1',
    '  access-control: 127.0.0.0/8 allow',
    // No DNSSEC validation (no trust anchor, no Internet); rbldnsd on loopback is a legitimate upstream here.
    '  module-config: "iterator"',
    '  do-not-query-localhost: no',
    // rbldnsd answers NXDOMAIN for the empty non-terminals a minimised query would ask for.
    '  qname-minimisation: no',
    '  target-fetch-policy: "0 0 0 0 0"',
    '  prefetch: no',
    // Records in the order given, so answers are deterministic (a relay must sort MX by preference anyway).
    '  rrset-roundrobin: no',
    // No caching: a DNSBL listing changed at run time must show through at once.
    '  cache-max-ttl: 0',
    '  cache-max-negative-ttl: 0',
    `  local-zone: "." ${o.otherNames === 'refuse' ? 'refuse' : 'static'}`,
    '  local-zone: "test." static',
    ...extraZones.map((z) => `  local-zone: "${z}" static`),
    // A forwarded zone must not be answered by the static zone above it.
    ...forwards.map((f) => `  local-zone: "${f.zone}" transparent`),
    ...Object.entries(o.zones).flatMap(([name, records]) => localData(fqdn(name), records)),
    `  local-data: '${GENERATION_NAME}. 0 IN TXT "${o.generation}"'`,
    // stub-zone, not forward-zone: rbldnsd is authoritative and does not recurse.
    ...forwards.flatMap((f) => ['stub-zone:', `  name: "${f.zone}"`, `  stub-addr: ${f.address}@${f.port}`]),
    // Belt and braces: should unbound ever iterate from the root, it asks a dead loopback port, not the root servers.
    'forward-zone:',
    '  name: "."',
    '  forward-addr: 127.0.0.1@9',
    '',
  ];
  return lines.join('\n');
}

/** Probes use a short timeout to poll quickly; the resolver handed to tests is more patient (busy CI). */
function makeResolver(server: string, patient = false): Resolver {
  const resolver = new Resolver(patient ? { timeout: 1000, tries: 2 } : { timeout: 300, tries: 1 });
  resolver.setServers([server]);
  return resolver;
}

async function answersGeneration(server: string, generation: number): Promise<boolean> {
  const txt = await makeResolver(server).resolveTxt(GENERATION_NAME);
  // At least: after two quick setZones the later generation may already be served.
  return txt.some((chunks) => Number(chunks.join('')) >= generation);
}

async function checkConfig(file: string): Promise<void> {
  try {
    await execFileAsync('unbound-checkconf', [file]);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`unbound-checkconf rejected the generated ${file}: ${e.stderr || e.stdout || e.message}`);
  }
}

async function startOnce(address: string, port: number, options: DnsOptions): Promise<DnsPeer> {
  const dir = await makePeerDir('unbound');
  const file = join(dir, 'unbound.conf');
  const server = `${address}:${port}`;
  let generation = 1;
  const write = async (zones: DnsZones): Promise<void> => {
    const config = unboundConfig({ dir, address, port, zones, forward: options.forward ?? [], otherNames: options.otherNames ?? 'refuse', generation });
    await writeFile(file, config);
    await checkConfig(file);
  };
  const running = await startPeer(
    dir,
    { name: 'unbound', command: 'unbound', args: ['-d', '-c', file], logFile: join(dir, 'unbound.log') },
    { what: `unbound answered on ${server}`, probe: () => answersGeneration(server, generation), timeoutMs: 5000 },
    () => write(options.zones),
  );
  const oneAtATime = serialized();
  return {
    address,
    port,
    server,
    resolver: () => makeResolver(server, true),
    /*
     * Rewrites the config and sends SIGHUP, which makes unbound re-read it (the same as `unbound-control
     * reload`, without a control socket). It keeps its sockets, so no query is lost; we then wait until the
     * generation record shows the new config is being served.
     */
    setZones(zones: DnsZones): Promise<void> {
      return oneAtATime(async () => {
        const wanted = ++generation;
        await write(zones);
        process.kill(running.pid, 'SIGHUP');
        await waitUntil(`unbound on ${server} served the new records (generation ${wanted})`, () => answersGeneration(server, wanted), {
          timeoutMs: 5000,
          proc: running,
        });
      });
    },
    log: () => running.log(),
    async stop(): Promise<void> {
      await running.stop();
      await removePeerDir(dir);
    },
  };
}

/** Starts unbound (`unbound -d -c FILE`) serving `zones` on address:port; see DnsOptions. */
export async function startDns(options: DnsOptions): Promise<DnsPeer> {
  const address = options.address ?? '127.0.0.1';
  assertLoopback(address);
  return startOnFreePort(address, options.port, /address already in use|can't bind/i, (port) => startOnce(address, port, options));
}
