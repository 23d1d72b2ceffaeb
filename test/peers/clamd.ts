import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { assertLoopback, freePort } from './ports.js';
import { makePeerDir, removePeerDir, startPeer } from './process.js';

/** The EICAR anti-virus test string (68 bytes): harmless, detected by every scanner. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** What clamd reports for it with our database: `stream: Eicar-Test-Signature.UNOFFICIAL FOUND`. */
export const EICAR_VIRUS_NAME = 'Eicar-Test-Signature.UNOFFICIAL';

export interface ClamdOptions {
  /** Default 127.0.0.1. */
  address?: string;
  /** Default 0: a free port. */
  port?: number;
}

export interface ClamdPeer {
  address: string;
  port: number;
  /** The clamd process, for benchmarks that read its CPU time. */
  pid: number;
  log(): string;
  stop(): Promise<void>;
}

/** Sends a null-terminated clamd command (`zPING`) and returns the reply without its terminator. */
function clamdCommand(address: string, port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`clamd did not answer ${command} within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.end(`z${command}\0`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8').replace(/\0$/, '')));
  });
}

async function startOnce(address: string, port: number): Promise<ClamdPeer> {
  const dir = await makePeerDir('clamd');
  const db = join(dir, 'db');
  const tmp = join(dir, 'tmp');
  await mkdir(db);
  await mkdir(tmp);
  // freshclam cannot reach the Internet: a body signature (.ndb, any file type, any offset) for EICAR only.
  // ClamAV appends .UNOFFICIAL to the name of a signature from an unsigned database.
  const hex = Buffer.from(EICAR, 'latin1').toString('hex');
  await writeFile(join(db, 'eicar.ndb'), `Eicar-Test-Signature:0:*:${hex}\n`);
  const config = join(dir, 'clamd.conf');
  const clamdLog = join(dir, 'clamd.log');
  await writeFile(
    config,
    [
      'Foreground yes',
      'User root',
      `TCPSocket ${port}`,
      `TCPAddr ${address}`,
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${tmp}`,
      `PidFile ${join(dir, 'clamd.pid')}`,
      `LogFile ${clamdLog}`,
      'LogTime yes',
      // The database never changes while a test runs.
      'SelfCheck 3600',
      '',
    ].join('\n'),
  );
  const running = await startPeer(
    dir,
    { name: 'clamd', command: 'clamd', args: ['-c', config], logFile: join(dir, 'clamd.out'), extraLogFiles: [clamdLog] },
    { what: `clamd answered PING with PONG on ${address}:${port}`, probe: async () => (await clamdCommand(address, port, 'PING')) === 'PONG', timeoutMs: 30_000, intervalMs: 100 },
  );
  return {
    address,
    port,
    pid: running.pid,
    log: () => running.log(),
    async stop() {
      await running.stop();
      await removePeerDir(dir);
    },
  };
}

/** Starts clamd in the foreground with an EICAR-only database, listening on TCP address:port (INSTREAM, PING). */
export async function startClamd(options: ClamdOptions = {}): Promise<ClamdPeer> {
  const address = options.address ?? '127.0.0.1';
  assertLoopback(address);
  if (options.port !== undefined && options.port !== 0) return startOnce(address, options.port);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(address, await freePort(address));
    } catch (err) {
      lastError = err;
      if (!/bind\(\) error|address already in use/i.test((err as Error).message)) throw err;
    }
  }
  throw lastError;
}
