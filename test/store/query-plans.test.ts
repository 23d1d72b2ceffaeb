import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { claimCandidates, PURGE_ATTEMPTS_SQL } from '../../src/store/delivery-queue.js';
import { Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * The queue's hot queries use their indexes: a claim walks the partial index of pending recipients in due order
 * (no sort of every due row), the purge of the delivery log finds old attempts by time. A correctness property
 * of the schema and the SQL, checked on the plans rather than by timing.
 */
const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

async function fill(store: Store): Promise<void> {
  await store.db.transaction(
    async (tx) => {
      for (let m = 0; m < 200; m++) {
        const id = `PLAN${m}`;
        await tx.run(
          `INSERT INTO messages (id, credential_id, kind, mail_from, size, created_at, retry_every, give_up_at, delay_notice_at)
           VALUES (?, NULL, 'message', 'a@b.test', 1, ?, 900000, ?, ?)`,
          [id, T0, T0 + 1e9, T0 + 1e9],
        );
        for (let r = 0; r < 10; r++) {
          await tx.run(
            `INSERT INTO recipients (message_id, address, domain, state, next_attempt_at, updated_at) VALUES (?, ?, 'd.test', ?, ?, ?)`,
            [id, `r${r}@d.test`, r < 8 ? 'delivered' : 'deferred', T0 + m * 1000, T0],
          );
        }
        await tx.run(`INSERT INTO delivery_attempts (message_id, domain, recipients, at, reply, outcome) VALUES (?, 'd.test', 'x', ?, '250', 'delivered')`, [id, T0 + m]);
      }
    },
    { durable: false },
  );
}

/** The SELECT inside a purge batch's DELETE ... WHERE id IN (...). */
const purgeSelect = PURGE_ATTEMPTS_SQL.slice(PURGE_ATTEMPTS_SQL.indexOf('SELECT'), PURGE_ATTEMPTS_SQL.lastIndexOf(')'));

describe('query plans (sqlite)', () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-plans-'));
    store = await Store.open(`sqlite:${path.join(dir, 'relais.db')}`, T0);
    // No ANALYZE: a relay's database has no statistics, and the plan must not depend on them.
    await fill(store);
  });
  after(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const plan = async (sql: string, params: (number | string)[]) =>
    (await store.db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params)).map((r) => r.detail).join('\n');

  test('a claim walks recipients_pending_due in order, with no temporary sort', async () => {
    const detail = await plan(claimCandidates('sqlite'), [T0 + 1e9, T0 + 1e9, 200]);
    assert.match(detail, /USING INDEX recipients_pending_due/, detail);
    assert.doesNotMatch(detail, /TEMP B-TREE/, detail);
  });

  test('a purge batch finds old attempts through delivery_attempts_by_at', async () => {
    const detail = await plan(purgeSelect, [T0 + 100]);
    assert.match(detail, /delivery_attempts_by_at/, detail);
    assert.doesNotMatch(detail, /TEMP B-TREE/, detail);
  });
});

describe('query plans (postgres)', () => {
  let database: TestDatabase;
  let store: Store;
  before(async () => {
    database = await createTestDatabase();
    store = await Store.open(database.url, T0);
    await fill(store);
    await store.db.run('ANALYZE');
  });
  after(async () => {
    await store.close();
    await database.drop();
  });

  // A test table is small enough for a sequential scan to win; with it ruled out, what is left shows whether
  // an index can serve the query at all, and without a Sort node.
  const plan = (sql: string, params: (number | string)[]) =>
    store.db.transaction(
      async (tx) => {
        await tx.run('SET LOCAL enable_seqscan = off');
        return (await tx.all<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params)).map((r) => r['QUERY PLAN']).join('\n');
      },
      { durable: false },
    );

  test('a claim walks recipients_pending_due in order, with no sort', async () => {
    const detail = await plan(claimCandidates('postgres'), [T0 + 1e9, T0 + 1e9, 200]);
    assert.match(detail, /recipients_pending_due/, detail);
    assert.doesNotMatch(detail, /\bSort\b/, detail);
  });

  test('a purge batch finds old attempts through delivery_attempts_by_at', async () => {
    const detail = await plan(purgeSelect, [T0 + 100]);
    assert.match(detail, /delivery_attempts_by_at/, detail);
    assert.doesNotMatch(detail, /\bSort\b/, detail);
  });
});
