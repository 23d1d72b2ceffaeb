import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { NewMessage } from '../../src/store/records.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, testMessage } from '../support/test-store.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

const message = (id: string, credentialId: number | null, address: string, at: number): NewMessage => testMessage(id, credentialId, [address], at);

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`claims by lane (${kind})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let bulk: number;
    let single: number;

    before(async () => {
      ({ store, cleanup } = await openTestStore(kind, T0));
      const customer = await store.addCustomer('L', 'l@l.test', T0);
      bulk = (await store.addCredential(customer.id, 'bulk', 'x', T0)).id;
      single = (await store.addCredential(customer.id, 'single', 'x', T0)).id;
      const batch: NewMessage[] = [];
      // The bulk credential's backlog is older than everything else: a plain claim takes it first.
      for (let i = 0; i < 50; i++) batch.push(message(`B${i}`, bulk, `r${i}@shared.test`, T0 + i));
      batch.push(message('S1', single, 'one@shared.test', T0 + 100));
      batch.push(message('N1', null, 'sender@customer.test', T0 + 101));
      for (let i = 0; i < 5; i++) batch.push(message(`O${i}`, bulk, `r${i}@other.test`, T0 + 200 + i));
      await store.enqueue(batch);
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    test('claimed recipients carry their credential, and a full lane is left in the queue for the others', async () => {
      const first = await store.delivery.claimDue(T0 + 1000, 10, 'n', T0 + 60_000);
      assert.ok(first.every((r) => r.credentialId === bulk && r.domain === 'shared.test'));
      const next = await store.delivery.claimDue(T0 + 1000, 10, 'n', T0 + 60_000, [{ domain: 'shared.test', credentialId: bulk }]);
      // The order of RETURNING rows is not defined on PostgreSQL.
      assert.deepEqual(
        next.map((r) => [r.messageId, r.credentialId]).sort(),
        [['N1', null], ['O0', bulk], ['O1', bulk], ['O2', bulk], ['O3', bulk], ['O4', bulk], ['S1', single]],
      );
      const notices = await store.delivery.claimDue(T0 + 1000, 10, 'n', T0 + 60_000, [{ domain: 'shared.test', credentialId: bulk }, { domain: 'customer.test', credentialId: null }]);
      assert.deepEqual(notices, [], 'nothing else is due outside the skipped lanes');
      const rest = await store.delivery.claimDue(T0 + 1000, 100, 'n', T0 + 60_000);
      assert.equal(rest.length, 40);
    });
  });
}
