/**
 * npm run bench:queue — the queue at scale, in this process against the store itself: 1,000,000 queued
 * recipients (the same bulk load as bench:relay's big queue), then
 *   - claim time: a claim of claim_batch (200) when nothing is due, and when every recipient is due, through
 *     the partial index recipients_pending_due; and, for comparison, the same claim forced through the index
 *     claims used before it (recipients_due), which sorts every due row;
 *   - pauses of the event loop (perf_hooks monitorEventLoopDelay, p99 and max) during the purge of a month of
 *     finished messages and delivery log, during `relais queue retry --all`, and during lease renewal; for
 *     comparison, the delivery log deleted in one statement as the purge did before;
 *   - RSS.
 *
 *   npm run bench:queue -- [--recipients 1000000] [--finished 300000] [--store sqlite|postgres]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { claimCandidates } from '../src/store/delivery-queue.js';
import { Store } from '../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../test/support/postgres.js';
import { loadDeferredQueue } from './load/bulk-queue.js';

const { values } = parseArgs({
  options: {
    recipients: { type: 'string', default: '1000000' },
    finished: { type: 'string', default: '300000' },
    store: { type: 'string', default: 'sqlite' },
  },
});
const RECIPIENTS = Number(values.recipients);
const FINISHED = Number(values.finished);
const BODY = Buffer.alloc(1024, 'x');
const MiB = 1024 * 1024;

let peakRss = 0;
const rssSampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function stats(samples: number[]): { median: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: round(sorted[Math.floor(sorted.length / 2)] ?? NaN), max: round(sorted[sorted.length - 1] ?? NaN) };
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Runs `work` while sampling the event loop's delay every millisecond: how long anything else had to wait. */
async function pauses<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number; loopDelayP99ms: number; loopDelayMaxMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // The histogram measures from its first sample on: let it take one before the work starts.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const t0 = process.hrtime.bigint();
  const result = await work();
  const seconds = ms(t0) / 1000;
  // A pause is recorded when the sampling timer fires late: let it fire once after the last (or only) block.
  await new Promise((resolve) => setTimeout(resolve, 20));
  histogram.disable();
  return { result, seconds: round(seconds), loopDelayP99ms: round(histogram.percentile(99) / 1e6), loopDelayMaxMs: round(histogram.max / 1e6) };
}

async function open(): Promise<{ store: Store; cleanup(): Promise<void> }> {
  if (values.store === 'postgres') {
    const db: TestDatabase = await createTestDatabase();
    const store = await Store.open(db.url, Date.now());
    return { store, cleanup: async () => { await store.close(); await db.drop(); } };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-bench-queue-'));
  const store = await Store.open(`sqlite:${path.join(dir, 'relais.db')}`, Date.now());
  return { store, cleanup: async () => { await store.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

const { store, cleanup } = await open();
const q = store.delivery;
const now = Date.now();
const out: Record<string, unknown> = { store: values.store, recipients: RECIPIENTS };
try {
  let t0 = process.hrtime.bigint();
  await loadDeferredQueue(store.db, RECIPIENTS, BODY, now);
  out.loadSeconds = round(ms(t0) / 1000);
  out.rssAfterLoadMiB = round(process.memoryUsage().rss / MiB);

  // Claims: nothing due (the common case of a big deferred queue), then everything due.
  const claimTimes = async (at: number, rounds: number) => {
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      t0 = process.hrtime.bigint();
      const claimed = await q.claimDue(at, 200, 'bench/1', at + 60_000);
      times.push(ms(t0));
      await q.release(claimed.map((r) => r.id), now, 'bench/1');
    }
    return stats(times);
  };
  out.claimNoneDueMs = await claimTimes(now, 20);
  const allDue = now + 3_600_000;
  out.claimAllDueMs = await claimTimes(allDue, 20);
  if (values.store === 'sqlite') {
    // The claim as it was before migration 4: through recipients(state, next_attempt_at), sorting every due row.
    // Only the SELECT of each, to compare the plans alone.
    const selectTimes = async (sql: string) => {
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        t0 = process.hrtime.bigint();
        await store.db.all(sql, [allDue, allDue, 200]);
        times.push(ms(t0));
      }
      return stats(times);
    };
    out.claimSelectAllDueMs = await selectTimes(claimCandidates('sqlite'));
    out.claimSelectAllDueThroughOldIndexMs = await selectTimes(claimCandidates('sqlite').replace('INDEXED BY recipients_pending_due', 'INDEXED BY recipients_due'));
  }

  // Retry --all over the whole queue.
  out.retryAll = await pauses(() => q.retryNow(null, now));

  // Lease renewal of a node's whole backlog: 100 jobs of 200 recipients.
  const held = await q.claimDue(allDue, 20_000, 'bench/1', allDue + 60_000);
  out.renew20000 = await pauses(() => q.renewLeases(held.map((r) => r.id), 'bench/1', allDue + 120_000));
  await q.release(held.map((r) => r.id), now, 'bench/1');

  // A month of finished mail to purge: the first FINISHED recipients' messages delivered long ago, two attempts each.
  const finishedMessages = Math.floor(FINISHED / 10);
  const old = now - 40 * 86_400_000;
  await store.db.run(`UPDATE recipients SET state = 'delivered' WHERE message_id <= ?`, [`BULK${String(finishedMessages - 1).padStart(10, '0')}`]);
  await store.db.run(`UPDATE messages SET finished_at = ? WHERE id <= ?`, [old, `BULK${String(finishedMessages - 1).padStart(10, '0')}`]);
  const insertAttempts = async () => {
    for (let start = 0; start < finishedMessages; start += 5000) {
      await store.db.transaction(
        async (tx) => {
          for (let m = start; m < Math.min(finishedMessages, start + 5000); m++) {
            const id = `BULK${String(m).padStart(10, '0')}`;
            for (let a = 0; a < 2; a++) {
              await tx.run(
                `INSERT INTO delivery_attempts (message_id, domain, recipients, delivered, at, reply, outcome) VALUES (?, 'd.test', 'x', 10, ?, '250 ok', 'delivered')`,
                [id, old + a],
              );
            }
          }
        },
        { durable: false },
      );
    }
  };
  await insertAttempts();
  out.purgeFinishedMessages = finishedMessages;
  out.purge = await pauses(() => q.purge(now - 30 * 86_400_000));
  // The same amount purged in one statement each, as purge did before: the loop waits for all of it.
  const next = (k: number) => `BULK${String(finishedMessages * 2 - 1 + k).padStart(10, '0')}`;
  await store.db.run(`UPDATE recipients SET state = 'delivered' WHERE message_id > ? AND message_id <= ?`, [next(-finishedMessages), next(0)]);
  await store.db.run(`UPDATE messages SET finished_at = ? WHERE id > ? AND id <= ?`, [old, next(-finishedMessages), next(0)]);
  await insertAttempts();
  out.purgeInOneStatement = await pauses(async () => {
    await store.db.run('DELETE FROM messages WHERE finished_at IS NOT NULL AND finished_at < ?', [now - 30 * 86_400_000]);
    return store.db.run('DELETE FROM delivery_attempts WHERE at < ?', [now - 30 * 86_400_000]);
  });
  out.peakRssMiB = round(Math.max(peakRss, process.memoryUsage().rss) / MiB);
} finally {
  clearInterval(rssSampler);
  await cleanup();
}
console.log(JSON.stringify(out, null, 2));
