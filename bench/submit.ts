/**
 * npm run bench:submit — how many messages per second Relais accepts with AUTH over STARTTLS (4 KiB, one
 * recipient, connections reused), with 1 and 20 sessions, on SQLite and on PostgreSQL; and, in the same run,
 * a private Postfix fed the same number of messages by smtp-source (plain SMTP, connections reused).
 *
 *   npm run bench:submit -- [--messages 20000] [--single 3000] [--skip-postgres] [--skip-postfix] [--clamd]
 *
 * --clamd runs every Relais measurement with antivirus on: a real clamd (EICAR-only database, as freshclam cannot
 * run here) scanning each message before its 250. clamd's own CPU is reported apart (clamd CPU ms/msg).
 */
import { parseArgs } from 'node:util';
import { treeCpuSeconds } from './peers/proc-stat.js';
import { measurePostfix } from './postfix-baseline.js';
import { messageBody, openLoadSession } from './load/submit-client.js';
import { startRelaisForBench } from './relais-process.js';
import { startClamd, type ClamdPeer } from '../test/peers/clamd.js';
import { createTestDatabase } from '../test/support/postgres.js';

interface Row {
  system: string;
  store: string;
  sessions: number;
  messages: number;
  perSecond: number;
  cpuMsPerMessage: number;
  peakRssMiB: number | null;
  /** Only with --clamd: the scanner's CPU per message, not included in cpuMsPerMessage. */
  clamdCpuMsPerMessage?: number;
}

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    single: { type: 'string', default: '3000' },
    'skip-postgres': { type: 'boolean', default: false },
    'skip-postfix': { type: 'boolean', default: false },
    clamd: { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(values.messages);
const SINGLE = Number(values.single);
const BODY = messageBody(4096);

async function measureRelais(store: 'sqlite' | 'postgres', sessions: number, messages: number, clamd?: ClamdPeer): Promise<Row> {
  const database = store === 'postgres' ? await createTestDatabase() : undefined;
  const extraConfig = ['delivery: { enabled: false }', ...(clamd ? [`antivirus: { clamd: "${clamd.address}:${clamd.port}" }`] : [])];
  const relais = await startRelaisForBench({ storeUrl: database?.url, extraConfig });
  try {
    const clients = await Promise.all(Array.from({ length: sessions }, () => openLoadSession(relais.port, relais.username, relais.password)));
    const runBatch = async (count: number) => {
      let next = 0;
      await Promise.all(
        clients.map(async (client) => {
          while (next < count) {
            next++;
            await client.send('bench@source.test', 'sink@sink.test', BODY);
          }
        }),
      );
    };
    await runBatch(Math.min(1000, messages / 10)); // warm-up: JIT, caches
    const cpuBefore = treeCpuSeconds(relais.pid);
    const clamdBefore = clamd ? treeCpuSeconds(clamd.pid) : 0;
    const started = process.hrtime.bigint();
    await runBatch(messages);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = treeCpuSeconds(relais.pid) - cpuBefore;
    const clamdCpu = clamd ? treeCpuSeconds(clamd.pid) - clamdBefore : 0;
    for (const client of clients) client.close();
    return {
      system: clamd ? 'Relais+AV' : 'Relais',
      store,
      sessions,
      messages,
      perSecond: messages / seconds,
      cpuMsPerMessage: (cpu * 1000) / messages,
      peakRssMiB: relais.peakRssMiB(),
      ...(clamd ? { clamdCpuMsPerMessage: (clamdCpu * 1000) / messages } : {}),
    };
  } finally {
    await relais.stop();
    await database?.drop();
  }
}

function print(rows: Row[]): void {
  console.log('\nsystem    store       sessions  messages   msg/s   CPU ms/msg  peak RSS MiB  clamd CPU ms/msg');
  for (const r of rows) {
    console.log(
      `${r.system.padEnd(9)} ${r.store.padEnd(11)} ${String(r.sessions).padStart(8)} ${String(r.messages).padStart(9)} ${r.perSecond
        .toFixed(0)
        .padStart(7)} ${r.cpuMsPerMessage.toFixed(2).padStart(11)} ${r.peakRssMiB === null ? '-'.padStart(13) : r.peakRssMiB.toFixed(0).padStart(13)} ${
        r.clamdCpuMsPerMessage === undefined ? '-'.padStart(17) : r.clamdCpuMsPerMessage.toFixed(2).padStart(17)
      }`,
    );
  }
}

const rows: Row[] = [];
const clamd = values.clamd ? await startClamd({ address: '127.0.0.1' }) : undefined;
try {
  for (const store of values['skip-postgres'] ? (['sqlite'] as const) : (['sqlite', 'postgres'] as const)) {
    for (const sessions of [1, 20]) {
      const row = await measureRelais(store, sessions, sessions === 1 ? SINGLE : MESSAGES, clamd);
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
} finally {
  await clamd?.stop();
}
if (!values['skip-postfix']) {
  for (const sessions of [1, 20]) {
    const messages = sessions === 1 ? SINGLE : MESSAGES;
    const m = await measurePostfix({ messages, sessions, reuseConnections: true, warmupMessages: 1000 });
    const row: Row = {
      system: 'Postfix',
      store: 'queue files',
      sessions,
      messages,
      perSecond: m.acceptPerSecond,
      cpuMsPerMessage: m.cpuMsPerMessage,
      peakRssMiB: null,
    };
    rows.push(row);
    console.log(JSON.stringify({ ...row, endToEndPerSecond: m.endToEndPerSecond, otherCpuSeconds: m.otherCpuSeconds }));
  }
}
print(rows);
for (const sessions of [1, 20]) {
  const postfix = rows.find((r) => r.system === 'Postfix' && r.sessions === sessions);
  for (const r of rows.filter((x) => x.system.startsWith('Relais') && x.sessions === sessions)) {
    if (postfix) console.log(`ratio Relais(${r.store})/Postfix, ${sessions} session(s): ${(r.perSecond / postfix.perSecond).toFixed(2)}`);
  }
}
