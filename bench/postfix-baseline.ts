/**
 * Reference numbers for the side-by-side benchmark: how fast a stock private Postfix relays to a sink.
 *
 *   node --import tsx bench/postfix-baseline.ts [--messages 20000] [--sessions 20] [--size 4096] [--warmup 1000]
 *
 * Setup: smtp-sink on 127.0.0.1 (free high port) <- private Postfix (relayhost=[127.0.0.1]:sink) <- smtp-source.
 * After a warm-up batch (Postfix ramps up process counts and delivery concurrency), it measures:
 *  - accept rate: N / wall time of smtp-source submitting N messages (one connection per message, as
 *    in the test world's recipe) — Postfix answers 250 after DATA once the queue file is safely written;
 *  - end-to-end rate: N / time from the start of submission until the sink has counted all N messages;
 *  - Postfix CPU: CPU time of the instance's whole master process tree (utime+stime of live processes
 *    plus cutime+cstime, which holds the CPU of daemons master has reaped) from /proc, sampled right
 *    before submission and after the queue is empty again, divided by N. See peers/proc-stat.ts.
 *    smtp-source and smtp-sink are separate processes and not included. The machine-wide busy cores
 *    over the same window are reported too, to spot a saturated or shared machine.
 *
 * measurePostfix() is exported so that a combined benchmark can run it next to the Relais measurement.
 */
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from './peers/loopback.js';
import { postfixVersion, startPrivatePostfix, type PrivatePostfix } from './peers/postfix.js';
import { hostCoresBusy, readHostCpu, treeCpuSeconds } from './peers/proc-stat.js';
import { runSmtpSource } from './peers/smtp-source.js';
import { startSmtpSink, type SmtpSink } from './peers/smtp-sink.js';

export interface PostfixMeasureOptions {
  /** Messages in the measured batch (default 20000; measure at least 20000, Postfix ramps up slowly). */
  messages?: number;
  /** Parallel smtp-source sessions (default 20). */
  sessions?: number;
  /** Body bytes per message (default 4096). */
  sizeBytes?: number;
  /** Messages sent and fully delivered before measuring (default 1000; 0 skips the warm-up). */
  warmupMessages?: number;
  from?: string;
  to?: string;
  /** smtp-source -d: several messages per connection, as Relais's load client does (default false). */
  reuseConnections?: boolean;
  /** Extra main.cf parameters for the Postfix instance. */
  mainCf?: Readonly<Record<string, string>>;
  /** Give up waiting for delivery after this long (default: max(120 s, 20 ms per message)). */
  timeoutMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface PostfixMeasurement {
  postfixVersion: string;
  messages: number;
  sessions: number;
  sizeBytes: number;
  warmupMessages: number;
  /** Seconds smtp-source needed to submit all messages. */
  acceptSeconds: number;
  acceptPerSecond: number;
  /** Seconds from the start of submission until the sink had all messages. */
  endToEndSeconds: number;
  endToEndPerSecond: number;
  /** CPU seconds of the Postfix process tree for the measured batch (submission to empty queue). */
  cpuSeconds: number;
  cpuMsPerMessage: number;
  /** Average number of cores Postfix kept busy over the CPU window (submission start to empty queue). */
  cpuCoresBusy: number;
  /**
   * Average busy cores of the whole machine over the same window, out of hostCores. If it is close to
   * hostCores, the machine was saturated (by the benchmark itself or by something else running).
   */
  hostCoresBusy: number;
  hostCores: number;
  /** CPU seconds of this Node process and its children (smtp-source, smtp-sink) over the window. */
  loadCpuSeconds: number;
  /**
   * Machine busy CPU seconds over the window minus Postfix and load: kernel threads (ext4 journal for
   * Postfix's fsyncs, softirq) and any other process. Large values mean the run was disturbed.
   */
  otherCpuSeconds: number;
  /** Messages the sink counted for the measured batch (should equal messages). */
  sinkReceived: number;
  /** Live Postfix processes right after submission ended (master + daemons). */
  postfixProcessesAfterSubmit: number;
}

function positiveInteger(value: number, what: string, allowZero = false): number {
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new Error(`measurePostfix: ${what} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(value)}.`);
  }
  return value;
}

async function waitForEmptyQueue(postfix: PrivatePostfix, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const queued = await postfix.queueCount();
    if (queued === 0) return;
    if (Date.now() >= deadline) {
      throw new Error(`Postfix still has ${queued} queued messages after ${timeoutMs} ms. maillog tail:\n${postfix.logTail(10)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface BatchSettings {
  reuseConnections: boolean;
  messages: number;
  sessions: number;
  sizeBytes: number;
  warmupMessages: number;
  from: string;
  to: string;
  timeoutMs: number;
  log: (line: string) => void;
}

/** Warm-up and the measured batch against running peers. */
async function measureBatch(sink: SmtpSink, postfix: PrivatePostfix, s: BatchSettings): Promise<PostfixMeasurement> {
  const { messages, sessions, sizeBytes, warmupMessages, timeoutMs, log } = s;
  const source = { host: postfix.host, port: postfix.port, sessions, sizeBytes, from: s.from, to: s.to, reuseConnections: s.reuseConnections };
  if (warmupMessages > 0) {
    log(`warm-up: ${warmupMessages} messages`);
    const before = sink.received();
    await runSmtpSource({ ...source, messages: warmupMessages });
    await sink.waitForReceived(before + warmupMessages, timeoutMs);
    await waitForEmptyQueue(postfix, timeoutMs);
  }

  log(`measuring: ${messages} messages of ${sizeBytes} bytes in ${sessions} sessions`);
  const baseline = sink.received();
  const cpuBefore = postfix.cpuSeconds();
  const hostBefore = readHostCpu();
  // smtp-source is reaped by Node, so its CPU lands in this process's cutime/cstime; smtp-sink is a live child.
  const loadBefore = treeCpuSeconds(process.pid);
  const started = process.hrtime.bigint();
  const delivered = sink.waitForReceived(baseline + messages, timeoutMs).then(() => Number(process.hrtime.bigint() - started) / 1e9);
  // Avoid an unhandled rejection while submission is still running; the error surfaces via await below.
  delivered.catch(() => undefined);
  const { seconds: acceptSeconds } = await runSmtpSource({ ...source, messages });
  const postfixProcessesAfterSubmit = postfix.processCount();
  log(`submitted in ${acceptSeconds.toFixed(2)} s; waiting for the sink`);
  const endToEndSeconds = await delivered;
  // The CPU sample waits for the empty queue so that qmgr's cleanup of the last messages is included.
  await waitForEmptyQueue(postfix, timeoutMs);
  const cpuSeconds = postfix.cpuSeconds() - cpuBefore;
  const loadCpuSeconds = treeCpuSeconds(process.pid) - loadBefore;
  const hostSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const hostBusy = hostCoresBusy(hostBefore, readHostCpu(), hostSeconds);

  return {
    postfixVersion: await postfixVersion(),
    messages,
    sessions,
    sizeBytes,
    warmupMessages,
    acceptSeconds,
    acceptPerSecond: messages / acceptSeconds,
    endToEndSeconds,
    endToEndPerSecond: messages / endToEndSeconds,
    cpuSeconds,
    cpuMsPerMessage: (cpuSeconds * 1000) / messages,
    cpuCoresBusy: cpuSeconds / hostSeconds,
    hostCoresBusy: hostBusy,
    hostCores: os.availableParallelism(),
    loadCpuSeconds,
    otherCpuSeconds: hostBusy * hostSeconds - cpuSeconds - loadCpuSeconds,
    sinkReceived: sink.received() - baseline,
    postfixProcessesAfterSubmit,
  };
}

/** Starts sink + private Postfix, warms up, measures one batch, stops everything (also on failure). */
export async function measurePostfix(options: PostfixMeasureOptions = {}): Promise<PostfixMeasurement> {
  const messages = positiveInteger(options.messages ?? 20_000, 'messages');
  const settings: BatchSettings = {
    reuseConnections: options.reuseConnections ?? false,
    messages,
    sessions: positiveInteger(options.sessions ?? 20, 'sessions'),
    sizeBytes: positiveInteger(options.sizeBytes ?? 4096, 'sizeBytes', true),
    warmupMessages: positiveInteger(options.warmupMessages ?? 1000, 'warmupMessages', true),
    from: options.from ?? 'bench@source.test',
    to: options.to ?? 'sink@sink.test',
    timeoutMs: options.timeoutMs ?? Math.max(120_000, messages * 20),
    log: options.log ?? ((): void => undefined),
  };

  let sink: SmtpSink | undefined;
  let postfix: PrivatePostfix | undefined;
  let measurement: PostfixMeasurement;
  try {
    const sinkPort = await freePort();
    sink = await startSmtpSink({ address: '127.0.0.1', port: sinkPort });
    let postfixPort = await freePort();
    while (postfixPort === sinkPort) postfixPort = await freePort();
    postfix = await startPrivatePostfix({ listenPort: postfixPort, relayTo: { host: sink.host, port: sink.port }, mainCf: options.mainCf });
    settings.log(`smtp-sink on 127.0.0.1:${sinkPort}, Postfix on 127.0.0.1:${postfixPort} (${postfix.rootDir})`);
    measurement = await measureBatch(sink, postfix, settings);
  } catch (error) {
    // Stop the peers, but report the measurement's error, not a follow-up stop error.
    await Promise.allSettled([postfix?.stop(), sink?.stop()]);
    throw error;
  }
  await Promise.all([postfix.stop(), sink.stop()]);
  return measurement;
}

/** Human-readable table of one measurement. */
export function formatPostfixTable(m: PostfixMeasurement): string {
  const rows: Array<[string, string]> = [
    ['Postfix', m.postfixVersion],
    ['messages x size', `${m.messages} x ${m.sizeBytes} B, ${m.sessions} sessions (warm-up ${m.warmupMessages})`],
    ['accepted', `${m.acceptPerSecond.toFixed(0)} msg/s (${m.acceptSeconds.toFixed(2)} s)`],
    ['end to end', `${m.endToEndPerSecond.toFixed(0)} msg/s (${m.endToEndSeconds.toFixed(2)} s)`],
    ['Postfix CPU', `${m.cpuMsPerMessage.toFixed(3)} ms/msg (${m.cpuSeconds.toFixed(2)} s, ${m.cpuCoresBusy.toFixed(2)} cores busy)`],
    ['machine CPU', `${m.hostCoresBusy.toFixed(2)} of ${m.hostCores} cores busy`],
    ['load CPU', `${m.loadCpuSeconds.toFixed(2)} s (smtp-source, smtp-sink, node)`],
    ['other CPU', `${m.otherCpuSeconds.toFixed(2)} s (kernel threads, other processes)`],
    ['sink received', String(m.sinkReceived)],
    ['processes after submit', String(m.postfixProcessesAfterSubmit)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

function parseCount(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} expects a non-negative integer, got "${value}".`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string' },
      sessions: { type: 'string' },
      size: { type: 'string' },
      warmup: { type: 'string' },
    },
  });
  // Turn Ctrl-C / kill into a normal exit so the peers' exit hooks stop Postfix and smtp-sink.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const result = await measurePostfix({
    messages: parseCount(values.messages, 20_000, '--messages'),
    sessions: parseCount(values.sessions, 20, '--sessions'),
    sizeBytes: parseCount(values.size, 4096, '--size'),
    warmupMessages: parseCount(values.warmup, 1000, '--warmup'),
    log: (line) => console.error(`[postfix-baseline] ${line}`),
  });
  console.log(JSON.stringify({ bench: 'postfix-baseline', ...result }));
  console.log(formatPostfixTable(result));
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  main().catch((error: unknown) => {
    console.error(`postfix-baseline failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
