/**
 * npm run bench:relay — end to end: clients submitting with AUTH over STARTTLS → Relais → smtp-sink, 4 KiB
 * messages; accepted/s, delivered/s, p50/p99 latency from the 250 to the sink's 250, peak RSS; in the same run,
 * the same load through a private Postfix (fed by smtp-source) to a sink, and the ratio. Then a queue of
 * 1,000,000 deferred recipients: memory, start-up time, and how soon a due message is picked.
 *
 * Then, with the shipped outbound settings (initial_connections_per_host 5 growing to connections_per_host 20,
 * max_connections 100, no outbound.ips), one
 * destination through an MX lookup and through a `routes` entry: accepted/s beside delivered/s and messages/s
 * per connection; head-of-line blocking (a fast domain's p50/p95 alone and beside a saturated 10 s-per-message
 * domain); and a single message's latency behind another credential's backlog to the same destination.
 *
 *   npm run bench:relay -- [--messages 20000] [--sessions 20] [--deferred 1000000] [--skip-postfix] [--skip-deferred]
 *                          [--skip-scenarios] [--only-scenarios] [--scenario mx|route|hol|credentials ...] [--backlog 10000]
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from './peers/loopback.js';
import { treeCpuSeconds } from './peers/proc-stat.js';
import { startSmtpSink } from './peers/smtp-sink.js';
import { measurePostfix } from './postfix-baseline.js';
import { loadDeferredQueue } from './load/bulk-queue.js';
import { messageBody, openLoadSession } from './load/submit-client.js';
import { startRelaisForBench } from './relais-process.js';
import { scenarios } from './relay-scenarios.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    sessions: { type: 'string', default: '20' },
    deferred: { type: 'string', default: '1000000' },
    'skip-postfix': { type: 'boolean', default: false },
    'skip-deferred': { type: 'boolean', default: false },
    'skip-scenarios': { type: 'boolean', default: false },
    'only-scenarios': { type: 'boolean', default: false },
    scenario: { type: 'string', multiple: true },
    backlog: { type: 'string', default: '10000' },
  },
});
const MESSAGES = Number(values.messages);
const SESSIONS = Number(values.sessions);
const BODY = messageBody(4096);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function endToEnd(): Promise<Record<string, number>> {
  const sinkPort = await freePort();
  const sink = await startSmtpSink({ address: '127.0.0.1', port: sinkPort });
  const relais = await startRelaisForBench({
    extraConfig: [
      `routes: { "*": "127.0.0.1:${sinkPort}" }`,
      'outbound: { ips: [{ address: 127.0.0.11 }, { address: 127.0.0.12 }, { address: 127.0.0.13 }, { address: 127.0.0.14 }], connections_per_host: 20, max_connections: 20 }',
      'queue: { scan_interval: 200ms }',
    ],
  });
  try {
    const clients = await Promise.all(Array.from({ length: SESSIONS }, () => openLoadSession(relais.port, relais.username, relais.password)));
    const batch = async (count: number) => {
      let next = 0;
      await Promise.all(
        clients.map(async (c) => {
          while (next < count) {
            next++;
            await c.send('bench@source.test', `sink${next % 50}@sink${next % 7}.test`, BODY);
          }
        }),
      );
    };
    const warm = Math.min(1000, MESSAGES / 10);
    await batch(warm);
    await sink.waitForReceived(warm, 120_000);
    const base = sink.received();
    const cpuBefore = treeCpuSeconds(relais.pid);
    const started = process.hrtime.bigint();
    await batch(MESSAGES);
    const acceptSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    await sink.waitForReceived(base + MESSAGES, Math.max(120_000, MESSAGES * 20));
    const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = treeCpuSeconds(relais.pid) - cpuBefore;
    for (const c of clients) c.close();
    // Latency as the relay recorded it: from acceptance (the 250 to the client) to the sink's 250.
    await new Promise((r) => setTimeout(r, 500));
    const db = new Database(path.join(relais.dir, 'relais.db'), { readonly: true });
    const rows = db
      .prepare(
        `SELECT a.at - m.created_at AS latency FROM delivery_attempts a JOIN messages m ON m.id = a.message_id
         WHERE a.outcome = 'delivered' ORDER BY m.created_at DESC LIMIT ?`,
      )
      .all(MESSAGES) as { latency: number }[];
    db.close();
    const latencies = rows.map((r) => r.latency).sort((a, b) => a - b);
    return {
      messages: MESSAGES,
      sessions: SESSIONS,
      acceptedPerSecond: MESSAGES / acceptSeconds,
      deliveredPerSecond: MESSAGES / totalSeconds,
      latencyP50ms: percentile(latencies, 50),
      latencyP99ms: percentile(latencies, 99),
      cpuMsPerMessage: (cpu * 1000) / MESSAGES,
      peakRssMiB: relais.peakRssMiB(),
    };
  } finally {
    await relais.stop();
    await sink.stop();
  }
}

/** A million deferred recipients: start-up time, memory, and whether a due message is still picked at once. */
async function bigQueue(count: number): Promise<Record<string, number>> {
  const sinkPort = await freePort();
  const sink = await startSmtpSink({ address: '127.0.0.1', port: sinkPort });
  const relais = await startRelaisForBench({
    extraConfig: [`routes: { "*": "127.0.0.1:${sinkPort}" }`, 'outbound: { ips: [{ address: 127.0.0.11 }] }'],
    // Bulk-load straight into the store: the point is the relay's behaviour with the queue, not the load time.
    prepare: (services) => loadDeferredQueue(services.store.db, count, BODY),
  });
  try {
    const rssAfterStart = relais.peakRssMiB();
    const client = await openLoadSession(relais.port, relais.username, relais.password);
    const pickTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = sink.received();
      const t0 = process.hrtime.bigint();
      await client.send('bench@source.test', 'due@now.test', BODY);
      await sink.waitForReceived(before + 1, 30_000);
      pickTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await new Promise((r) => setTimeout(r, 1500));
    }
    client.close();
    return {
      deferredRecipients: count,
      startSeconds: relais.startSeconds,
      rssAfterStartMiB: rssAfterStart,
      peakRssMiB: relais.peakRssMiB(),
      dueMessageDeliveredMsMax: Math.max(...pickTimes),
      dueMessageDeliveredMsMedian: pickTimes.sort((a, b) => a - b)[2] as number,
    };
  } finally {
    await relais.stop();
    await sink.stop();
  }
}

const only = values['only-scenarios'];
const relaisResult = only ? {} : await endToEnd();
if (!only) console.log(JSON.stringify({ system: 'Relais', ...relaisResult }));
if (!only && !values['skip-postfix']) {
  const postfix = await measurePostfix({ messages: MESSAGES, sessions: SESSIONS, reuseConnections: true, warmupMessages: 1000 });
  console.log(JSON.stringify({ system: 'Postfix', acceptedPerSecond: postfix.acceptPerSecond, deliveredPerSecond: postfix.endToEndPerSecond, cpuMsPerMessage: postfix.cpuMsPerMessage }));
  console.log(
    `\nend to end, ${MESSAGES} messages of 4 KiB, ${SESSIONS} sessions:\n` +
      `  Relais  (AUTH+STARTTLS): accepted ${relaisResult.acceptedPerSecond?.toFixed(0)}/s, delivered ${relaisResult.deliveredPerSecond?.toFixed(0)}/s, ` +
      `p50 ${relaisResult.latencyP50ms} ms, p99 ${relaisResult.latencyP99ms} ms, ${relaisResult.cpuMsPerMessage?.toFixed(2)} ms CPU/msg, peak RSS ${relaisResult.peakRssMiB?.toFixed(0)} MiB\n` +
      `  Postfix (plain SMTP):    accepted ${postfix.acceptPerSecond.toFixed(0)}/s, delivered ${postfix.endToEndPerSecond.toFixed(0)}/s, ${postfix.cpuMsPerMessage.toFixed(2)} ms CPU/msg\n` +
      `  ratio Relais/Postfix end to end: ${((relaisResult.deliveredPerSecond as number) / postfix.endToEndPerSecond).toFixed(2)}`,
  );
}
if (!values['skip-scenarios']) await scenarios({ messages: Math.min(MESSAGES, 10_000), backlog: Number(values.backlog), sessions: SESSIONS, body: BODY }, values.scenario);
if (!only && !values['skip-deferred']) {
  const big = await bigQueue(Number(values.deferred));
  console.log(JSON.stringify({ system: 'Relais', queue: big }));
}
