import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NOTICES_SQL, OUTCOMES_SQL } from '../../src/store/bounce-rates.js';
import type { NewMessage } from '../../src/store/records.js';
import { Store } from '../../src/store/store.js';
import { createTestDatabase } from '../support/postgres.js';
import { testMessage } from '../support/test-store.js';

/**
 * The outcome counts behind the bounce rate, on both databases: counted in the settle transaction, once per
 * recipient, never for a settle that lost its lease, never for notices; and read through their indexes.
 */
const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const MINUTE = 60_000;

function message(id: string, credentialId: number | null, recipients: string[], onBehalfOf: number | null = null, at = T0): NewMessage {
  return { ...testMessage(id, credentialId, recipients, at), onBehalfOf };
}

const update = (id: number, state: 'delivered' | 'deferred' | 'failed', at: number) => ({
  id,
  state,
  nextAttemptAt: at + 15 * MINUTE,
  reply: state === 'delivered' ? '250 ok' : state === 'deferred' ? '451 later' : '550 5.1.1 no such user',
  status: state === 'delivered' ? '2.0.0' : state === 'deferred' ? '4.0.0' : '5.1.1',
  remoteMta: null,
  at,
});

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`bounce counts (${kind})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let credential: number;

    before(async () => {
      if (kind === 'sqlite') {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-bounces-'));
        store = await Store.open(`sqlite:${path.join(dir, 'relais.db')}`, T0);
        cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
      } else {
        const db = await createTestDatabase();
        store = await Store.open(db.url, T0);
        cleanup = () => db.drop();
      }
      const customer = await store.addCustomer('B', 'b@b.test', T0);
      credential = (await store.addCredential(customer.id, 'bouncer', 'x', T0)).id;
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    const claim = async (id: string, now: number, owner: string) =>
      (await store.delivery.claimDue(now, 100_000, owner, now + MINUTE)).filter((r) => r.messageId === id);

    test('first verdicts count as attempted, failures as failed, each recipient once, in its message\'s minute', async () => {
      await store.enqueue([message('M1', credential, ['a@x.test', 'b@x.test', 'c@x.test'])]);
      const [a, b, c] = await claim('M1', T0, 'n/1');
      assert.ok(a && b && c);
      await store.delivery.settle([update(a.id, 'delivered', T0 + 1000), update(b.id, 'failed', T0 + 1000), update(c.id, 'deferred', T0 + 1000)], [], [], T0 + 1000, 'n/1');
      assert.deepEqual(await store.bounces.outcomes(credential, T0), { attempted: 3, failed: 1 });
      // The deferred one fails hours later: failed once more, not attempted twice; still in the message's minute.
      const later = T0 + 5 * 60 * MINUTE;
      const [again] = await claim('M1', later, 'n/1');
      assert.equal(again?.id, c.id);
      await store.delivery.settle([update(c.id, 'failed', later)], [], [], later, 'n/1');
      assert.deepEqual(await store.bounces.outcomes(credential, T0), { attempted: 3, failed: 2 });
      assert.deepEqual(await store.bounces.outcomes(credential, T0 + MINUTE), { attempted: 0, failed: 0 });
    });

    test('a settle that lost its lease counts nothing; notices count for no one', async () => {
      await store.enqueue([message('M2', credential, ['d@x.test']), message('N1', null, ['from@customer.test'], credential)]);
      const claimed = await store.delivery.claimDue(T0, 100_000, 'old/1', T0 + MINUTE);
      const d = claimed.find((r) => r.messageId === 'M2');
      const n = claimed.find((r) => r.messageId === 'N1');
      assert.ok(d && n);
      await store.delivery.settle([update(d.id, 'failed', T0 + 10)], [], [], T0 + 10, 'someone-else/1');
      assert.deepEqual(await store.bounces.outcomes(credential, T0), { attempted: 3, failed: 2 });
      await store.delivery.settle([update(n.id, 'failed', T0 + 20)], [], [], T0 + 20, 'old/1');
      assert.deepEqual(await store.bounces.outcomes(credential, T0), { attempted: 3, failed: 2 });
      assert.equal(await store.bounces.noticesSince(credential, T0), 1);
      assert.equal(await store.bounces.noticesSince(credential, T0 + 1), 0);
      assert.equal((await store.findMessage('N1'))?.onBehalfOf, 'bouncer');
      assert.equal(await store.bounces.prune(T0 + MINUTE), 1);
      assert.deepEqual(await store.bounces.outcomes(credential, 0), { attempted: 0, failed: 0 });
    });

    test('the rate and the notice count are read through their indexes', async () => {
      if (kind === 'sqlite') {
        const plan = async (sql: string) =>
          (await store.db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, [credential, T0])).map((r) => r.detail).join('\n');
        assert.match(await plan(OUTCOMES_SQL), /USING (PRIMARY KEY|INDEX sqlite_autoindex_credential_outcomes)/);
        assert.match(await plan(NOTICES_SQL), /USING (COVERING )?INDEX messages_on_behalf_of/);
      } else {
        const plan = (sql: string) =>
          store.db.transaction(
            async (tx) => {
              await tx.run('SET LOCAL enable_seqscan = off');
              return (await tx.all<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, [credential, T0])).map((r) => r['QUERY PLAN']).join('\n');
            },
            { durable: false },
          );
        assert.match(await plan(OUTCOMES_SQL), /credential_outcomes_pkey/);
        assert.match(await plan(NOTICES_SQL), /messages_on_behalf_of/);
      }
    });
  });
}
