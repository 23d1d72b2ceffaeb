/**
 * Scenarios of bench:relay with the shipped outbound settings: one destination by MX and by route (does
 * delivery keep up with submission?), head-of-line blocking between destinations, and turns between
 * credentials. Latencies are the relay's own record: from the 250 to the client to the receiver's 250.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import path from 'node:path';
import { startDns } from '../test/peers/dns.js';
import { startReceiver } from '../test/peers/receiver.js';
import { freePort } from './peers/loopback.js';
import { startSmtpSink, type SmtpSink } from './peers/smtp-sink.js';
import { openLoadSession, type LoadSession } from './load/submit-client.js';
import { startRelaisForBench } from './relais-process.js';

interface Options {
  messages: number;
  /** The other credential's backlog in the credentials scenario. */
  backlog: number;
  sessions: number;
  body: Buffer;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function submitAll(clients: LoadSession[], count: number, from: string, to: (i: number) => string, body: Buffer): Promise<void> {
  let next = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (next < count) {
        const i = next++;
        await c.send(from, to(i), body);
      }
    }),
  );
}

/** Latencies (ms) of delivered messages whose recipients are in `domain`, as the relay recorded them. */
function latencies(dir: string, domain: string, sender?: string): number[] {
  const db = new Database(path.join(dir, 'relais.db'), { readonly: true });
  try {
    const rows = db
      .prepare(
        `SELECT a.at - m.created_at AS latency FROM delivery_attempts a JOIN messages m ON m.id = a.message_id
         WHERE a.outcome = 'delivered' AND a.domain = ? ${sender ? 'AND m.mail_from = ?' : ''}`,
      )
      .all(...(sender ? [domain, sender] : [domain])) as { latency: number }[];
    return rows.map((r) => r.latency).sort((a, b) => a - b);
  } finally {
    db.close();
  }
}

/**
 * Samples the established connections to a local port every 100 ms, from /proc/net/tcp: read in-process, as
 * spawning `ss` ten times a second cost the load clients a third of a core and slowed what was measured.
 */
function watchConnections(port: number): { stop(): { peak: number; average: number } } {
  const samples: number[] = [];
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const timer = setInterval(() => {
    let n = 0;
    for (const line of fs.readFileSync('/proc/net/tcp', 'latin1').split('\n')) {
      // "sl local_address rem_address st ...": rem_address is HEXIP:HEXPORT, st 01 is ESTABLISHED.
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '01' && fields[2]?.endsWith(`:${hexPort}`)) n++;
    }
    samples.push(n);
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      const busySamples = samples.filter((n) => n > 0);
      return { peak: Math.max(0, ...samples), average: busySamples.reduce((a, b) => a + b, 0) / Math.max(1, busySamples.length) };
    },
  };
}

async function oneDestination(o: Options, sink: SmtpSink, via: 'mx' | 'route'): Promise<Record<string, number | string>> {
  const dns = via === 'mx' ? await startDns({ zones: { 'one.test': { mx: [{ pref: 10, host: 'mx.one.test' }] }, 'mx.one.test': { a: ['127.0.0.1'] } } }) : null;
  const relais = await startRelaisForBench({
    extraConfig: dns
      ? [`dns: { servers: ["${dns.server}"] }`, `outbound: { port: ${sink.port}, allow_private_destinations: true }`]
      : [`routes: { "one.test": "127.0.0.1:${sink.port}" }`],
  });
  try {
    const clients = await Promise.all(Array.from({ length: o.sessions }, () => openLoadSession(relais.port, relais.username, relais.password)));
    const warm = Math.min(1000, o.messages / 10);
    const start0 = sink.received();
    await submitAll(clients, warm, 'bench@source.test', (i) => `w${i % 50}@one.test`, o.body);
    await sink.waitForReceived(start0 + warm, 120_000);
    const base = sink.received();
    const sessionsBefore = sink.counts().sessions;
    const connections = watchConnections(sink.port);
    const t0 = process.hrtime.bigint();
    await submitAll(clients, o.messages, 'bench@source.test', (i) => `r${i % 50}@one.test`, o.body);
    const acceptSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const deliveredAtAcceptEnd = sink.received() - base;
    await sink.waitForReceived(base + o.messages, Math.max(120_000, o.messages * 20));
    const totalSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const { peak, average } = connections.stop();
    for (const c of clients) c.close();
    const delivered = o.messages / totalSeconds;
    return {
      scenario: `one destination via ${via}, shipped outbound settings`,
      acceptedPerSecond: Math.round(o.messages / acceptSeconds),
      deliveredPerSecond: Math.round(delivered),
      // Connections open to the destination, sampled every 100 ms: the per-destination limit grows from
      // initial_connections_per_host (5) towards connections_per_host (20) as jobs succeed.
      peakConnections: peak,
      averageConnections: Number(average.toFixed(1)),
      perConnectionPerSecond: Math.round(delivered / Math.max(1, average)),
      queuedWhenAcceptEnded: o.messages - deliveredAtAcceptEnd,
      connectionsOpened: sink.counts().sessions - sessionsBefore,
    };
  } finally {
    await relais.stop();
    await dns?.stop();
  }
}

async function headOfLine(o: Options, sink: SmtpSink): Promise<Record<string, number | string>> {
  const slowPort = await freePort('127.0.0.21');
  const slow = await startReceiver({ address: '127.0.0.21', port: slowPort, name: 'mx.slow.test', behaviour: { dataDelayMs: 10_000, tls: 'none' } });
  const relais = await startRelaisForBench({
    extraConfig: [`routes: { "fast.test": "127.0.0.1:${sink.port}", "slow.test": "127.0.0.21:${slowPort}" }`, 'delivery: { stop_grace: 1s }'],
  });
  try {
    const clients = await Promise.all(Array.from({ length: o.sessions }, () => openLoadSession(relais.port, relais.username, relais.password)));
    const n = 200;
    let base = sink.received();
    await submitAll(clients, n, 'alone@source.test', (i) => `a${i}@fast.test`, o.body);
    await sink.waitForReceived(base + n, 60_000);
    base = sink.received();
    // Together: the slow domain's 200 first, then the fast one's, as one burst.
    await Promise.all([
      submitAll(clients.slice(0, o.sessions / 2), n, 'slow@source.test', (i) => `s${i}@slow.test`, o.body),
      submitAll(clients.slice(o.sessions / 2), n, 'beside@source.test', (i) => `b${i}@fast.test`, o.body),
    ]);
    await sink.waitForReceived(base + n, 600_000);
    for (const c of clients) c.close();
    await new Promise((r) => setTimeout(r, 500));
    const alone = latencies(relais.dir, 'fast.test', 'alone@source.test');
    const beside = latencies(relais.dir, 'fast.test', 'beside@source.test');
    return {
      scenario: 'fast domain alone and beside a saturated 10 s-per-message domain (200 + 200 messages)',
      aloneP50ms: percentile(alone, 50),
      aloneP95ms: percentile(alone, 95),
      besideSlowP50ms: percentile(beside, 50),
      besideSlowP95ms: percentile(beside, 95),
      slowDeliveredMeanwhile: slow.messages.length,
    };
  } finally {
    await relais.stop();
    await slow.stop();
  }
}

async function creditTurns(o: Options, sink: SmtpSink): Promise<Record<string, number | string>> {
  let other = { username: 'other', password: '' };
  const relais = await startRelaisForBench({
    extraConfig: [`routes: { "shared.test": "127.0.0.1:${sink.port}" }`, 'delivery: { stop_grace: 1s }'],
    prepare: async (services) => {
      await services.accounts.addCustomer('Other', 'other@bench.test');
      const { password } = await services.accounts.addCredential('Other', 'other');
      await services.accounts.addPlan('other', { quota: 1_000_000 });
      other = { username: 'other', password };
    },
  });
  try {
    const clients = await Promise.all(Array.from({ length: o.sessions }, () => openLoadSession(relais.port, relais.username, relais.password)));
    const backlog = o.backlog;
    const base = sink.received();
    await submitAll(clients, backlog, 'backlog@source.test', (i) => `r${i % 50}@shared.test`, o.body);
    for (const c of clients) c.close();
    const single = await openLoadSession(relais.port, other.username, other.password);
    const waitingBehind = backlog - (sink.received() - base);
    const singles: number[] = [];
    for (let i = 0; i < 5; i++) {
      await single.send('single@source.test', `one${i}@shared.test`, o.body);
      await new Promise((r) => setTimeout(r, 100));
    }
    single.close();
    await sink.waitForReceived(base + backlog + 5, 600_000);
    await new Promise((r) => setTimeout(r, 500));
    singles.push(...latencies(relais.dir, 'shared.test', 'single@source.test'));
    const bulk = latencies(relais.dir, 'shared.test', 'backlog@source.test');
    return {
      scenario: `another credential's single messages behind a backlog of ${backlog} to the same destination`,
      backlogWaitingAtFirstSingle: waitingBehind,
      singleLatencyMedianMs: percentile(singles, 50),
      singleLatencyMaxMs: singles.at(-1) ?? NaN,
      backlogP50ms: percentile(bulk, 50),
      backlogMaxMs: bulk.at(-1) ?? NaN,
    };
  } finally {
    await relais.stop();
  }
}

export async function scenarios(o: Options, only?: readonly string[]): Promise<void> {
  const sinkPort = await freePort();
  const sink = await startSmtpSink({ address: '127.0.0.1', port: sinkPort });
  try {
    const all: [string, () => Promise<Record<string, number | string>>][] = [
      ['mx', () => oneDestination(o, sink, 'mx')],
      ['route', () => oneDestination(o, sink, 'route')],
      ['hol', () => headOfLine(o, sink)],
      ['credentials', () => creditTurns(o, sink)],
    ];
    for (const [name, run] of all) {
      if (only && only.length > 0 && !only.includes(name)) continue;
      console.log(JSON.stringify({ system: 'Relais', ...(await run()) }));
    }
  } finally {
    await sink.stop();
  }
}
