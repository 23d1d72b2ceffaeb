/**
 * Postfix's smtp-source as a load client: parallel SMTP sessions, no AUTH, no TLS, no pipelining.
 * By default it opens a new connection for every message (the test world's recipe); reuseConnections
 * adds -d to send all of a session's messages over one connection.
 */
import { spawn } from 'node:child_process';
import { assertLoopbackIPv4, assertPort } from './loopback.js';
import { findExecutable, onProcessExit, stopChild, TailBuffer } from './processes.js';

export interface SmtpSourceOptions {
  /** IPv4 address in 127.0.0.0/8. */
  host: string;
  port: number;
  /** Parallel SMTP sessions (-s). */
  sessions: number;
  /** Total messages across all sessions (-m). */
  messages: number;
  /** Body bytes per message, headers not included (-l). */
  sizeBytes: number;
  from: string;
  to: string;
  /** -d: keep each session's connection open for its next message (default false: one connection per message). */
  reuseConnections?: boolean;
  /** -M: name for HELO and default addresses (default: smtp-source uses the machine's hostname). */
  heloName?: string;
  /** Kill smtp-source and reject after this long (default 30 min). */
  timeoutMs?: number;
}

export interface SmtpSourceResult {
  /** Wall-clock seconds from spawn until smtp-source exited, measured with process.hrtime. */
  seconds: number;
}

function assertCount(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`runSmtpSource: ${what} must be a positive integer, got ${String(value)}.`);
}

export async function runSmtpSource(options: SmtpSourceOptions): Promise<SmtpSourceResult> {
  const { host, port, sessions, messages, sizeBytes, from, to } = options;
  assertLoopbackIPv4(host, 'runSmtpSource host');
  assertPort(port, 'runSmtpSource');
  assertCount(sessions, 'sessions');
  assertCount(messages, 'messages');
  if (!Number.isInteger(sizeBytes) || sizeBytes < 0) throw new Error(`runSmtpSource: sizeBytes must be a non-negative integer, got ${sizeBytes}.`);
  const binary = findExecutable('smtp-source');
  const args = ['-s', String(sessions), '-m', String(messages), '-l', String(sizeBytes), '-f', from, '-t', to];
  if (options.reuseConnections === true) args.push('-d');
  if (options.heloName !== undefined) args.push('-M', options.heloName);
  args.push(`${host}:${port}`);
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;

  const stderr = new TailBuffer();
  const stdout = new TailBuffer(1024);
  const started = process.hrtime.bigint();
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const unregister = onProcessExit(() => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => stdout.push(chunk));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => stderr.push(chunk));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopChild(child, 2000);
  }, timeoutMs);

  try {
    const { code, signal, seconds } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; seconds: number }>(
      (resolve, reject) => {
        let seconds = 0;
        child.once('error', (error) => reject(new Error(`could not run ${binary}: ${error.message}`)));
        // Time at 'exit'; wait for 'close' so stderr is complete for the error message.
        child.once('exit', () => {
          seconds = Number(process.hrtime.bigint() - started) / 1e9;
        });
        child.once('close', (c: number | null, s: NodeJS.Signals | null) => resolve({ code: c, signal: s, seconds }));
      },
    );
    if (code !== 0) {
      const why = timedOut ? `was killed after the ${timeoutMs} ms timeout` : `exited with code ${String(code)}${signal ? ` (signal ${signal})` : ''}`;
      const output = [stderr.toString(), stdout.toString()].filter((t) => t !== '').join('\n') || '(no output)';
      throw new Error(
        `smtp-source ${why} after ${seconds.toFixed(2)} s sending ${messages} messages in ${sessions} sessions to ${host}:${port}: ${output}\n` +
          `Check that the server on ${host}:${port} is up and accepts MAIL FROM <${from}> and RCPT TO <${to}> from 127.0.0.1 without AUTH/TLS.`,
      );
    }
    return { seconds };
  } finally {
    clearTimeout(timer);
    unregister();
  }
}
