/**
 * npm run bench:cluster — end to end (clients with AUTH over STARTTLS → Relais nodes → smtp-sink, 4 KiB
 * messages) with one, two and three `relais start` nodes on one PostgreSQL database, and a single SQLite node
 * beside them. For each: accepted/s and delivered/s, the relay processes' CPU per message, the PostgreSQL
 * backends' CPU per message and the database work per message (commits, rows written; from /proc and
 * pg_stat_database, since pg_stat_statements needs a server restart to load), and where the relay's time goes
 * (database, TLS, SMTP...) from `--cpu-prof` profiles of every node. Then an estimate of how many messages a
 * second one PostgreSQL primary can carry, from the measured database cost.
 *
 *   npm run bench:cluster -- [--messages 4000] [--sessions 12] [--only sqlite,pg1,pg2,pg3] [--skip-profile]
 *
 * Addresses: nodes listen on 127.0.113.1-3 and send from 127.0.113.11-16, the sink is 127.0.113.21.
 * PostgreSQL: RELAIS_TEST_PG (default postgres://postgres@127.0.0.1:5432/postgres) names a server where a
 * database per run is created and dropped.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { formatShares, summarizeProfiles, type ProfileShares } from './peers/cpu-profile.js';
import { freePort } from './peers/loopback.js';
import { clockTicksPerSecond, hostCoresBusy, readHostCpu, readProcStat, treeCpuSeconds } from './peers/proc-stat.js';
import { startSmtpSink } from './peers/smtp-sink.js';
import { messageBody, openLoadSession, type LoadSession } from './load/submit-client.js';
import { startRelaisForBench, type RelaisUnderTest } from './relais-process.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '4000' },
    sessions: { type: 'string', default: '12' },
    only: { type: 'string', default: 'sqlite,pg1,pg2,pg3' },
    'skip-profile': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(values.messages);
const SESSIONS = Number(values.sessions);
const BODY = messageBody(4096);
const NET = '127.0.113';
const PG_ADMIN = process.env.RELAIS_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface RunResult {
  setup: string;
  nodes: number;
  acceptedPerSecond: number;
  deliveredPerSecond: number;
  relayCpuMsPerMessage: number;
  /** PostgreSQL backends serving the run's database (not the WAL writer, checkpointer, ...). */
  dbCpuMsPerMessage?: number;
  /** Transactions committed in the run's database per message, read-only statements included (only writes flush WAL). */
  commitsPerMessage?: number;
  rowsWrittenPerMessage?: number;
  hostCoresBusy: number;
  profile?: ProfileShares;
}

/** A database of its own per run, so every run starts from the same empty store. */
async function createDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `relais_bench_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    name,
    url: PG_ADMIN.replace(/\/[^/]*$/, `/${name}`),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** The database's counters and the CPU its backends have used so far (this connection's own excluded). */
async function readDatabase(db: string): Promise<{ cpuTicks: Map<string, number>; commits: number; rowsWritten: number }> {
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  try {
    const stats = await c.query<{ xact_commit: string; tup_inserted: string; tup_updated: string; tup_deleted: string }>(
      'SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = $1',
      [db],
    );
    const backends = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
    const cpuTicks = new Map<string, number>();
    for (const { pid } of backends.rows) {
      const s = readProcStat(pid);
      // pid with its start time: a reused pid is another process.
      if (s) cpuTicks.set(`${pid}/${s.starttime}`, s.utime + s.stime);
    }
    const row = stats.rows[0];
    return { cpuTicks, commits: Number(row?.xact_commit), rowsWritten: Number(row?.tup_inserted) + Number(row?.tup_updated) + Number(row?.tup_deleted) };
  } finally {
    await c.end();
  }
}

async function run(setup: string, nodeCount: number, store: 'sqlite' | 'postgres'): Promise<RunResult> {
  const sinkPort = await freePort(`${NET}.21`);
  const sink = await startSmtpSink({ address: `${NET}.21`, port: sinkPort });
  const db = store === 'postgres' ? await createDatabase() : undefined;
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), `relais-cluster-prof-${setup}-`));
  process.env.RELAIS_BENCH_NODE_ARGS = values['skip-profile'] ? '' : `--cpu-prof --cpu-prof-dir=${profileDir}`;
  const nodes: RelaisUnderTest[] = [];
  let window: { fromUs: number; toUs: number } | undefined;
  try {
    for (let i = 0; i < nodeCount; i++) {
      const first = nodes[0];
      nodes.push(
        await startRelaisForBench({
          ...(db ? { storeUrl: db.url } : {}),
          host: `${NET}.${1 + i}`,
          nodeName: `bench-${i + 1}`,
          ...(first ? { account: { username: first.username, password: first.password } } : {}),
          extraConfig: [
            `routes: { "*": "${NET}.21:${sinkPort}" }`,
            `outbound: { ips: [{ address: ${NET}.${11 + 2 * i} }, { address: ${NET}.${12 + 2 * i} }], connections_per_host: 20, max_connections: 20 }`,
            'queue: { scan_interval: 200ms }',
          ],
        }),
      );
    }
    // Sessions spread over the nodes, as a submission name with one address per node spreads them.
    const clients: LoadSession[] = await Promise.all(
      Array.from({ length: SESSIONS }, (_, s) => {
        const node = nodes[s % nodes.length] as RelaisUnderTest;
        return openLoadSession(node.port, node.username, node.password, node.host);
      }),
    );
    let sent = 0;
    const batch = async (count: number) => {
      let next = 0;
      await Promise.all(
        clients.map(async (c) => {
          while (next < count) {
            next++;
            sent++;
            await c.send('bench@source.test', `sink${sent % 50}@sink${sent % 7}.test`, BODY);
          }
        }),
      );
    };
    const warm = Math.min(500, Math.ceil(MESSAGES / 10));
    await batch(warm);
    await sink.waitForReceived(warm, 120_000);
    const base = sink.received();
    const dbBefore = db ? await readDatabase(db.name) : undefined;
    const relayCpuBefore = nodes.reduce((s, n) => s + treeCpuSeconds(n.pid), 0);
    const hostBefore = readHostCpu();
    const started = process.hrtime.bigint();
    await batch(MESSAGES);
    const acceptSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    await sink.waitForReceived(base + MESSAGES, Math.max(120_000, MESSAGES * 50));
    const ended = process.hrtime.bigint();
    window = { fromUs: Number(started / 1000n), toUs: Number(ended / 1000n) };
    const totalSeconds = Number(ended - started) / 1e9;
    const hostAfter = readHostCpu();
    const relayCpu = nodes.reduce((s, n) => s + treeCpuSeconds(n.pid), 0) - relayCpuBefore;
    const dbAfter = db ? await readDatabase(db.name) : undefined;
    for (const c of clients) c.close();
    const result: RunResult = {
      setup,
      nodes: nodeCount,
      acceptedPerSecond: MESSAGES / acceptSeconds,
      deliveredPerSecond: MESSAGES / totalSeconds,
      relayCpuMsPerMessage: (relayCpu * 1000) / MESSAGES,
      hostCoresBusy: hostCoresBusy(hostBefore, hostAfter, totalSeconds),
    };
    if (dbBefore && dbAfter) {
      let ticks = 0;
      for (const [key, after] of dbAfter.cpuTicks) ticks += after - (dbBefore.cpuTicks.get(key) ?? 0);
      result.dbCpuMsPerMessage = ((ticks / clockTicksPerSecond()) * 1000) / MESSAGES;
      // Less this run's two counter reads (a transaction each).
      result.commitsPerMessage = (dbAfter.commits - dbBefore.commits - 2) / MESSAGES;
      result.rowsWrittenPerMessage = (dbAfter.rowsWritten - dbBefore.rowsWritten) / MESSAGES;
    }
    return result;
  } finally {
    // SIGTERM: a clean exit, which is when --cpu-prof writes its profile.
    await Promise.all(nodes.map((n) => n.stop()));
    await sink.stop();
    await db?.drop();
    const summary = summarizeProfiles(profileDir, window);
    fs.rmSync(profileDir, { recursive: true, force: true });
    if (summary.files > 0) {
      lastProfile.set(setup, summary.ms);
      console.log(`# ${setup}: frames with the most self time (all nodes, during the measurement):\n#   ${summary.topFrames.join('\n#   ')}`);
    }
  }
}
const lastProfile = new Map<string, ProfileShares>();

const setups: Record<string, [number, 'sqlite' | 'postgres']> = { sqlite: [1, 'sqlite'], pg1: [1, 'postgres'], pg2: [2, 'postgres'], pg3: [3, 'postgres'] };
const results: RunResult[] = [];
for (const setup of values.only.split(',')) {
  const spec = setups[setup];
  if (!spec) throw new Error(`--only: unknown setup "${setup}" (expected sqlite, pg1, pg2, pg3)`);
  const result = await run(setup, ...spec);
  const profile = lastProfile.get(setup);
  if (profile) result.profile = profile;
  results.push(result);
  console.log(JSON.stringify(result));
}

const f = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));
const load = os.loadavg();
console.log(`\n${MESSAGES} messages of 4 KiB, ${SESSIONS} sessions (AUTH + STARTTLS) spread over the nodes; ${os.cpus().length} cores, load average ${load.map((l) => l.toFixed(1)).join(' ')} (the load client, the sink and PostgreSQL share them)`);
const pg1 = results.find((r) => r.setup === 'pg1');
for (const r of results) {
  const ratio = pg1 ? ` (${f(r.deliveredPerSecond / pg1.deliveredPerSecond, 2)}x one PostgreSQL node)` : '';
  console.log(
    `  ${r.setup.padEnd(6)} ${r.nodes} node(s): accepted ${f(r.acceptedPerSecond)}/s, delivered ${f(r.deliveredPerSecond)}/s${ratio}; relay CPU ${f(r.relayCpuMsPerMessage, 2)} ms/msg` +
      (r.dbCpuMsPerMessage !== undefined ? `; PostgreSQL backends ${f(r.dbCpuMsPerMessage, 2)} ms/msg, ${f(r.commitsPerMessage, 2)} transactions/msg (reads included), ${f(r.rowsWrittenPerMessage, 1)} rows written/msg` : '') +
      `; host ${f(r.hostCoresBusy, 2)} cores busy`,
  );
  if (r.profile) console.log(`         relay time: ${formatShares(r.profile)}`);
}
const pgRuns = results.filter((r) => r.dbCpuMsPerMessage !== undefined);
if (pgRuns.length > 0) {
  const dbMs = Math.max(...pgRuns.map((r) => r.dbCpuMsPerMessage as number));
  const commits = Math.max(...pgRuns.map((r) => r.commitsPerMessage as number));
  console.log(
    `\nOne PostgreSQL primary: ${f(dbMs, 2)} ms of backend CPU per message (the highest measured) is ${f(1000 / dbMs)} messages/s per core it gives its backends, ` +
      `so about ${f((8 * 1000) / dbMs)}/s on 8 cores, before the WAL writer and checkpoints (add ~20-30%) as long as the disk flushes the commits ` +
      `(of the ${f(commits, 2)} transactions per message, reads included, the writes are group-committed: many messages share a flush).`,
  );
}
