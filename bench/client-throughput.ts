/**
 * Messages per second over ONE outbound connection, Relais's SMTP client straight to
 * Postfix's smtp-sink on loopback, no queue or store in the way: the client's own cost per transaction
 * (issue 7, item 16). One recipient per message, 4 KiB bodies, the connection reused for every message the
 * way the connection pool reuses it (readyForNext between transactions).
 *
 *   node --import tsx bench/client-throughput.ts [MESSAGES] [CONNECTIONS]
 */
import { OutboundSession, type ClientTimeouts } from '../src/delivery/smtp-client.js';
import { freePort } from './peers/loopback.js';
import { startSmtpSink } from './peers/smtp-sink.js';

const MESSAGES = Number(process.argv[2] ?? 5000);
const CONNECTIONS = Number(process.argv[3] ?? 1);
const BODY = Buffer.from(
  `From: bench@source.test\r\nTo: sink@sink.test\r\nSubject: bench\r\n\r\n${'.x'.padEnd(76, 'y')}\r\n`.repeat(1) +
    `${'z'.repeat(76)}\r\n`.repeat(52),
);
const TIMEOUTS: ClientTimeouts = { connect: 5000, greeting: 5000, command: 5000, dataEnd: 5000 };

async function oneConnection(port: number, messages: number): Promise<number> {
  const opened = await OutboundSession.open({ name: 'sink.test', ip: '127.0.0.1', port }, { address: '127.0.0.11', ehlo: 'bench.relay.test' }, 'may', TIMEOUTS);
  if (!opened.ok) throw new Error(`cannot open a session to smtp-sink: ${opened.reply}`);
  const session = opened.session;
  const started = performance.now();
  for (let i = 0; i < messages; i++) {
    const result = await session.send('bench@source.test', [`sink${i % 50}@sink.test`], BODY, BODY.length);
    if (result.stage !== 'done') throw new Error(`message ${i} not accepted: ${result.stage} ${result.reply}`);
    if (!(await session.readyForNext())) throw new Error(`connection unusable after message ${i}`);
  }
  const seconds = (performance.now() - started) / 1000;
  session.close();
  return messages / seconds;
}

async function main(): Promise<void> {
  const port = await freePort();
  const sink = await startSmtpSink({ address: '127.0.0.1', port });
  try {
    // Warm-up: JIT, the sink's first fork.
    await oneConnection(port, 500);
    const rates = await Promise.all(Array.from({ length: CONNECTIONS }, () => oneConnection(port, MESSAGES)));
    const total = rates.reduce((a, b) => a + b, 0);
    console.log(
      `${CONNECTIONS} connection(s), ${MESSAGES} messages each, ${BODY.length}-byte bodies: ` +
        `${rates.map((r) => r.toFixed(0)).join(', ')} msg/s per connection (total ${total.toFixed(0)} msg/s)`,
    );
  } finally {
    await sink.stop();
  }
}

await main();
