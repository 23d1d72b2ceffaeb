import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../peers/ports.js';

const run = promisify(execFile);

/**
 * A PostgreSQL server of a test's own, for tests that stop or restart it: the shared RELAIS_TEST_PG server
 * serves other test files at the same time and must never be restarted. initdb and pg_ctl come from the
 * newest /usr/lib/postgresql/N/bin; as root they run as the postgres user (PostgreSQL refuses to run as root),
 * as scripts/run-tests.sh does.
 */
export interface ThrowawayPostgres {
  /** postgres://postgres@ADDRESS:PORT/postgres (trust authentication). */
  url: string;
  address: string;
  port: number;
  /** `pg_ctl restart -m fast`: sessions are terminated, the server is back when this resolves. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m fast`: resolves once the server is down. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** The server's log so far, for a failure message. */
  log(): string;
  /** Stops the server whatever its state and deletes its files. */
  remove(): Promise<void>;
}

function pgBin(): string {
  const versions = fs
    .readdirSync('/usr/lib/postgresql')
    .filter((v) => fs.existsSync(path.join('/usr/lib/postgresql', v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(a) - Number(b));
  const newest = versions[versions.length - 1];
  if (!newest) throw new Error('no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: install the postgresql package');
  return path.join('/usr/lib/postgresql', newest, 'bin');
}

type PgTool = (tool: string, args: string[]) => Promise<unknown>;

export async function startThrowawayPostgres(address: string): Promise<ThrowawayPostgres> {
  return startCluster(address, async (pg, data) => {
    await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  });
}

/**
 * A streaming standby of `primary` (pg_basebackup -R: asynchronous replication, hot standby), on its own
 * address and port. `promote()` makes it the primary, as a failover or switchover does.
 */
export async function startThrowawayStandby(primary: ThrowawayPostgres, address: string): Promise<ThrowawayPostgres & { promote(): Promise<void> }> {
  let tool: PgTool | undefined;
  let dataDir = '';
  const cluster = await startCluster(address, async (pg, data) => {
    tool = pg;
    dataDir = data;
    await pg('pg_basebackup', ['-h', primary.address, '-p', String(primary.port), '-U', 'postgres', '-D', data, '-R', '-X', 'stream', '-c', 'fast']);
  });
  return {
    ...cluster,
    promote: async () => void (await (tool as PgTool)('pg_ctl', ['-D', dataDir, '-w', '-t', '60', 'promote'])),
  };
}

async function startCluster(address: string, create: (pg: PgTool, data: string) => Promise<void>): Promise<ThrowawayPostgres> {
  const bin = pgBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-throwaway-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) fs.chownSync(dir, Number((await run('id', ['-u', 'postgres'])).stdout.trim()), Number((await run('id', ['-g', 'postgres'])).stdout.trim()));
  const pg: PgTool = (tool, args) => (asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args]) : run(path.join(bin, tool), args));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const port = await freePort(address);
  await create(pg, data);
  const options = `-p ${port} -k ${dir} -c listen_addresses=${address} -c max_connections=100`;
  const ctl = (args: string[]) => pg('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', ...args]);
  await ctl(['-o', options, 'start']);
  let removed = false;
  return {
    url: `postgres://postgres@${address}:${port}/postgres`,
    address,
    port,
    restart: async () => void (await ctl(['-o', options, '-m', 'fast', 'restart'])),
    stop: async () => void (await ctl(['-m', 'fast', 'stop'])),
    start: async () => void (await ctl(['-o', options, 'start'])),
    log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    async remove() {
      if (removed) return;
      removed = true;
      await ctl(['-m', 'immediate', 'stop']).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
