import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { RelaisConfigInput } from '../../src/config/schema.js';
import { ManualClock, type Clock } from '../../src/shared/clock.js';
import { startDns, type DnsForward, type DnsPeer, type DnsZones } from '../peers/dns.js';
import { startReceiver, type ReceiverBehaviour, type ReceiverPeer } from '../peers/receiver.js';
import { startTestRelay, type StoreKind, type TestRelay } from './relay-fixture.js';

/**
 * The outside world of a delivering relay, on loopback: an unbound serving the test domains, receiving servers
 * on their own 127.0.0.x (all on one port, the relay's outbound.port), a mailbox for the notices sent back to
 * senders, and a relay whose clock the test moves.
 */
export const SENDER = 'sender@customer.test';

export interface ReceiverSpec {
  address: string;
  name: string;
  behaviour?: Partial<ReceiverBehaviour>;
  /** Advertise DSN; default true. */
  dsn?: boolean;
}

export interface DeliveryWorld {
  dns: DnsPeer;
  port: number;
  receivers: Map<string, ReceiverPeer>;
  /** Receives the notices addressed to SENDER (customer.test's MX). */
  mailbox: ReceiverPeer;
  relay: TestRelay;
  /** Moves only when the test says, unless the world was started on the system clock. */
  clock: ManualClock;
  sender: { username: string; password: string };
  receiver(address: string): ReceiverPeer;
  /** Waits until no recipient is queued or deferred and due (the scheduler is idle for now); held mail waits for staff. */
  settle(timeoutMs?: number): Promise<void>;
  advance(ms: number): Promise<void>;
  stop(): Promise<void>;
}

async function commonPort(addresses: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const ok = await Promise.all(
      addresses.map(
        (address) =>
          new Promise<boolean>((resolve) => {
            const server = net.createServer();
            server.once('error', () => resolve(false));
            server.listen(port, address, () => server.close(() => resolve(true)));
          }),
      ),
    );
    if (ok.every(Boolean)) return port;
  }
  throw new Error('no port free on every receiver address');
}

export async function startDeliveryWorld(options: {
  zones: DnsZones;
  receivers: ReceiverSpec[];
  outboundIps?: string[];
  overrides?: RelaisConfigInput;
  store?: StoreKind;
  /** The system clock instead of a manual one: for tests that run the CLI (its own process, real time) alongside. */
  systemClock?: boolean;
  /** Domains sent through a fixed route (config `routes`) to a receiver's address on the world's port, not by MX. */
  routedDomains?: Record<string, string>;
  /** What the world's DNS answers for unlisted names outside `.test` (startDns's otherNames; default REFUSED). */
  dnsOtherNames?: 'refuse' | 'nxdomain';
  /** Zones the world's DNS hands to another server (rbldnsd), as startDns's forward. */
  dnsForward?: DnsForward[];
}): Promise<DeliveryWorld> {
  const mailboxSpec: ReceiverSpec = { address: '127.0.0.29', name: 'mx.customer.test' };
  const specs = [...options.receivers, mailboxSpec];
  const port = await commonPort([...specs.map((s) => s.address), '127.0.0.30']);
  const zones: DnsZones = {
    ...options.zones,
    'customer.test': { mx: [{ pref: 10, host: 'mx.customer.test' }] },
    'mx.customer.test': { a: ['127.0.0.29'] },
  };
  const dns = await startDns({ zones, otherNames: options.dnsOtherNames, forward: options.dnsForward });
  const receivers = new Map<string, ReceiverPeer>();
  for (const spec of specs) {
    receivers.set(spec.address, await startReceiver({ address: spec.address, port, name: spec.name, behaviour: spec.behaviour, ...(spec.dsn === false ? { dsn: false } : {}) }));
  }
  const clock = new ManualClock(Date.now());
  const relayClock: Clock = options.systemClock ? { now: () => Date.now() } : clock;
  if (options.systemClock) clock.now = () => Date.now();
  const overrides = options.overrides ?? {};
  const relay = await startTestRelay({
    clock: relayClock,
    store: options.store,
    overrides: {
      ...overrides,
      delivery: { enabled: true, ...overrides.delivery },
      dns: { servers: [dns.server], timeout: '2s' },
      outbound: {
        port,
        ips: (options.outboundIps ?? ['127.0.0.11', '127.0.0.12', '127.0.0.13']).map((address) => ({ address, ehlo: `out-${address.split('.')[3]}.relay.test` })),
        timeouts: { connect: '3s', greeting: '5s', command: '5s', data_end: '5s' },
        idle_connection_timeout: '200ms',
        // Every receiver of this world is on 127.0.0.x, reached through its MX: a private destination.
        allow_private_destinations: true,
        ...overrides.outbound,
      },
      queue: { scan_interval: '50ms', ...overrides.queue },
      routes: {
        ...Object.fromEntries(Object.entries(options.routedDomains ?? {}).map(([domain, address]) => [domain, `${address}:${port}`])),
        ...overrides.routes,
      },
    },
  });
  const sender = await relay.addSender(100_000);
  const world: DeliveryWorld = {
    dns,
    port,
    receivers,
    mailbox: receivers.get('127.0.0.29') as ReceiverPeer,
    relay,
    clock,
    sender,
    receiver(address) {
      const r = receivers.get(address);
      if (!r) throw new Error(`no receiver at ${address}`);
      return r;
    },
    async settle(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const due = await relay.relay.store.db.get<{ n: number }>(
          "SELECT COUNT(*) AS n FROM recipients WHERE state IN ('queued', 'deferred') AND next_attempt_at <= ?",
          [clock.now()],
        );
        const leased = await relay.relay.store.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM recipients WHERE lease_owner IS NOT NULL');
        const notices = await relay.relay.store.db.get<{ n: number }>(
          'SELECT COUNT(*) AS n FROM messages WHERE delay_notice_sent = 0 AND delay_notice_at <= ? AND finished_at IS NULL AND held_at IS NULL',
          [clock.now()],
        );
        if (Number(due?.n) === 0 && Number(leased?.n) === 0 && Number(notices?.n) === 0) return;
        if (Date.now() > deadline) throw new Error(`queue did not settle within ${timeoutMs} ms (due ${due?.n}, leased ${leased?.n})`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async advance(ms) {
      clock.advance(ms);
      relay.relay.scheduler?.wake();
      await world.settle();
    },
    async stop() {
      await relay.stop();
      for (const r of receivers.values()) await r.stop();
      await dns.stop();
    },
  };
  return world;
}

/** A configuration file for `relais` commands run in their own process against this world's store. */
export function writeCliConfig(w: DeliveryWorld, extra: Record<string, unknown> = {}): string {
  const file = path.join(w.relay.dir, 'relais.yaml');
  fs.writeFileSync(file, YAML.stringify({ hostname: 'relay.test', data_dir: w.relay.dir, store: { url: w.relay.config.store.url }, ...extra }));
  return file;
}

export async function parseNotice(raw: Buffer): Promise<{ mail: ParsedMail; status: Record<string, string>[]; original: string }> {
  const mail = await simpleParser(raw, { keepDeliveryStatus: true });
  const statusPart = mail.attachments.find((a) => a.contentType === 'message/delivery-status');
  if (!statusPart) throw new Error('no message/delivery-status part');
  const status = statusPart.content
    .toString('utf8')
    .split(/\r?\n\r?\n/)
    .filter((block) => block.trim())
    .map((block) => {
      const fields: Record<string, string> = {};
      // A folded field (RFC 5322 2.2.3) goes on over lines that start with white space: unfold before reading.
      for (const line of block.replace(/\r?\n(?=[ \t])/g, '').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon > 0) fields[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      return fields;
    });
  const originalPart = mail.attachments.find((a) => a.contentType === 'text/rfc822-headers' || a.contentType === 'message/rfc822');
  return { mail, status, original: originalPart?.content.toString('utf8') ?? '' };
}
