/**
 * Postfix's smtp-sink as a benchmark peer: a fast C SMTP server that accepts and discards mail.
 *
 * Counting: with -c smtp-sink rewrites a status line on stdout every time a session ends, QUIT is
 * handled or a message's final "." is received, e.g. "sess=20 quit=6 mesg=2000\r" (records are
 * separated by \r, not \n). The latest mesg= value is the number of messages received so far; smtp-sink
 * flushes each record, so reading the pipe follows it live.
 */
import { spawn } from 'node:child_process';
import { assertLoopbackIPv4, assertPort, assertPortFree, assertSingleListener, waitForPort } from './loopback.js';
import { findExecutable, onProcessExit, stopChild, TailBuffer } from './processes.js';

export interface SmtpSinkOptions {
  /** IPv4 address in 127.0.0.0/8 to listen on. */
  address: string;
  port: number;
  /** listen(2) backlog, smtp-sink's last argument (default 256). */
  backlog?: number;
  /** Extra smtp-sink options placed before the address, e.g. ['-f', 'RCPT', '-B', '550 5.1.1 no']. */
  extraArgs?: readonly string[];
  /** How long to wait for the port to accept connections (default 10 s). */
  startTimeoutMs?: number;
}

export interface SmtpSinkCounts {
  /** Sessions ended (includes the readiness probe connection). */
  sessions: number;
  quits: number;
  /** Messages whose final "." was received. */
  messages: number;
}

export interface SmtpSink {
  host: string;
  port: number;
  pid: number;
  /** Messages received since start (smtp-sink's mesg= counter). */
  received(): number;
  counts(): SmtpSinkCounts;
  /** Resolves once received() >= count; rejects after timeoutMs or if smtp-sink exits. */
  waitForReceived(count: number, timeoutMs: number): Promise<void>;
  /** SIGTERM by PID, wait for exit (SIGKILL after 5 s). Safe to call twice. */
  stop(): Promise<void>;
}

const RECORD = /sess=(\d+) quit=(\d+) mesg=(\d+)/;

export async function startSmtpSink(options: SmtpSinkOptions): Promise<SmtpSink> {
  const { address, port } = options;
  assertLoopbackIPv4(address, 'startSmtpSink address');
  assertPort(port, 'startSmtpSink');
  const backlog = options.backlog ?? 256;
  await assertPortFree(address, port, 'startSmtpSink');
  const binary = findExecutable('smtp-sink');
  // -u root: smtp-sink refuses to run as root without a user to switch to; root keeps it simple here.
  const args = ['-u', 'root', '-c', ...(options.extraArgs ?? []), `${address}:${port}`, String(backlog)];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });

  const counts: SmtpSinkCounts = { sessions: 0, quits: 0, messages: 0 };
  const stderr = new TailBuffer();
  let pending = '';
  let exitReason: string | undefined;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };

  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    const lastCr = pending.lastIndexOf('\r');
    if (lastCr < 0) return;
    // Only the newest complete record matters; counters only grow.
    const complete = pending.slice(0, lastCr);
    pending = pending.slice(lastCr + 1);
    const lastRecord = complete.slice(complete.lastIndexOf('\r') + 1);
    const match = RECORD.exec(lastRecord);
    if (match === null) return;
    counts.sessions = Number(match[1]);
    counts.quits = Number(match[2]);
    counts.messages = Number(match[3]);
    notify();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => stderr.push(chunk));
  child.on('error', (error) => {
    exitReason = `could not run ${binary}: ${error.message}`;
    notify();
  });
  child.on('exit', (code, signal) => {
    exitReason = `smtp-sink exited (code ${String(code)}, signal ${String(signal)})${stderr.toString() ? `: ${stderr.toString()}` : ''}`;
    notify();
  });

  const pid = child.pid;
  const unregister = onProcessExit(() => {
    if (pid !== undefined && exitReason === undefined) process.kill(pid, 'SIGKILL');
  });

  try {
    await waitForPort(address, port, { timeoutMs: options.startTimeoutMs ?? 10_000, failed: () => exitReason });
    // The probe may have reached another listener that took the port in the meantime (SO_REUSEPORT).
    assertSingleListener(address, port, 'startSmtpSink');
  } catch (error) {
    await stopChild(child);
    unregister();
    throw error;
  }
  if (pid === undefined) throw new Error(`smtp-sink has no PID after starting: ${exitReason ?? 'unknown reason'}`);

  let stopping: Promise<void> | undefined;
  return {
    host: address,
    port,
    pid,
    received: () => counts.messages,
    counts: () => ({ ...counts }),
    waitForReceived(count: number, timeoutMs: number): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (counts.messages >= count) {
            finish();
            resolve();
          } else if (exitReason !== undefined) {
            finish();
            reject(new Error(`smtp-sink on ${address}:${port} stopped at ${counts.messages}/${count} messages: ${exitReason}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `smtp-sink on ${address}:${port} received ${counts.messages} of ${count} messages within ${timeoutMs} ms; ` +
                'the sender is slow or stuck (for Postfix, look at its maillog and queue).',
            ),
          );
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop(): Promise<void> {
      stopping ??= stopChild(child).finally(unregister);
      return stopping;
    },
  };
}
