import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NotSuspended, SuspensionService } from '../../src/reputation/suspensions.js';
import { ManualClock } from '../../src/shared/clock.js';
import type { NewMessage } from '../../src/store/records.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, testMessage } from '../support/test-store.js';

/**
 * The store's side of a suspension, on both databases: what a suspended credential has queued is held (never
 * claimed, no delay notice, its give-up clock stopped), a message committed just after the suspension is caught
 * by the claim, and a release or reinstatement makes it due again with its clocks moved on.
 */
const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const message = (id: string, credentialId: number | null, recipients: string[], at: number): NewMessage =>
  testMessage(id, credentialId, recipients, at, { giveUpAfter: 2 * HOUR, delayNoticeAfter: HOUR });

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`held mail of suspended credentials (${kind})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let clock: ManualClock;
    let suspensions: SuspensionService;
    let spammer: number;
    let other: number;

    before(async () => {
      ({ store, cleanup } = await openTestStore(kind, T0));
      clock = new ManualClock(T0);
      suspensions = new SuspensionService(store, clock, { reinstatement: '50.00 EUR', blocklist_removal: '120.50 EUR' });
      const customer = await store.addCustomer('H', 'h@h.test', T0);
      spammer = (await store.addCredential(customer.id, 'spammer', 'x', T0)).id;
      other = (await store.addCredential(customer.id, 'other', 'x', T0)).id;
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    const states = async (id: string) => (await store.findMessage(id))?.recipients.map((r) => r.state);

    test('a suspension holds queued mail: not claimed, no delay notice, not finished, not expired', async () => {
      await store.enqueue([message('S1', spammer, ['a@x.test', 'b@y.test'], T0), message('S2', spammer, ['c@x.test'], T0), message('O1', other, ['d@x.test'], T0)]);
      // A node claimed a recipient of S1 and died: its lease has run out when the suspension comes.
      const [inFlight] = await store.delivery.claimDue(T0, 1, 'node-a', T0 + MINUTE);
      assert.equal(inFlight?.messageId, 'S1');
      clock.set(T0 + 10 * MINUTE);
      const event = await suspensions.suspend(spammer, 'blocklist', { actor: 'relais', note: 'listed', detail: { zone: 'dbl.test' } });
      assert.ok(event);
      assert.deepEqual(await states('S2'), ['held']);
      assert.deepEqual(await states('S1'), ['held', 'held'], 'a lease that ran out is no delivery in flight');
      assert.deepEqual(await store.heldMail.summary(spammer), { messages: 2, recipients: 3 });

      // Far past its delay notice and give-up times: nothing of the held mail is claimed or noticed.
      const late = T0 + 5 * HOUR;
      const claimed = await store.delivery.claimDue(late, 100, 'node-b', late + MINUTE);
      assert.deepEqual(claimed.map((r) => r.messageId), ['O1']);
      assert.deepEqual(await store.delivery.dueDelayNotices(late, 100), ['O1'], 'only the other credential\'s message is told of its delay');
      assert.equal(await suspensions.suspend(spammer, 'complaint'), null, 'a second cause keeps the first reason');
      // Its pending recipients are still listed as such (a deletion's failure notice names them).
      assert.equal((await store.delivery.pendingRecipients('S1')).length, 2);
      assert.deepEqual((await store.listQueue({ state: 'held' })).map((m) => m.id), ['S1', 'S2']);
    });

    test('a message committed just after the suspension is caught by the claim and held', async () => {
      clock.set(T0 + 5 * HOUR);
      await store.enqueue([message('S3', spammer, ['e@x.test'], T0 + 5 * HOUR)]);
      assert.deepEqual(await store.delivery.claimDue(T0 + 5 * HOUR, 100, 'node-b', T0 + 5 * HOUR + MINUTE), []);
      assert.deepEqual(await states('S3'), ['held']);
    });

    test('a delivery in flight at the suspension settles normally; deferred, it is held at its next claim', async () => {
      await store.enqueue([message('S4', spammer, ['f@x.test'], T0 + 5 * HOUR)]);
      // Claimed by a node before the suspension reached it: simulated by lifting the hold for the claim.
      const held = (await store.credentialById(spammer))?.holdReason ?? null;
      await store.setCredentialHold(spammer, null, T0);
      const [r] = await store.delivery.claimDue(T0 + 5 * HOUR, 100, 'node-c', T0 + 6 * HOUR);
      await store.setCredentialHold(spammer, held, T0 + 10 * MINUTE);
      assert.equal(r?.messageId, 'S4');
      await store.delivery.settle(
        [{ id: r.id, state: 'deferred', nextAttemptAt: T0 + 5 * HOUR, reply: '451 later', status: '4.0.0', remoteMta: null, at: T0 + 5 * HOUR }],
        [],
        [],
        T0 + 5 * HOUR,
        'node-c',
      );
      assert.deepEqual(await store.delivery.claimDue(T0 + 5 * HOUR, 100, 'node-c', T0 + 6 * HOUR), []);
      assert.deepEqual(await states('S4'), ['held']);
    });

    test('staff release: due at once, give-up and delay notice moved on by the time held, not held again', async () => {
      clock.set(T0 + 6 * HOUR);
      const before = await store.delivery.message('S2');
      const released = await suspensions.releaseHeldMail(spammer, { actor: 'alice', note: 'legitimate invoices' });
      assert.deepEqual(released, { messages: 4, recipients: 5 });
      const afterRelease = await store.delivery.message('S2');
      // Held from the suspension (T0 + 10 min) to now: the whole hold is added to its life.
      assert.equal(afterRelease?.giveUpAt, (before?.giveUpAt ?? 0) + 6 * HOUR - 10 * MINUTE);
      assert.equal(afterRelease?.delayNoticeAt, (before?.delayNoticeAt ?? 0) + 6 * HOUR - 10 * MINUTE);
      assert.deepEqual(await states('S2'), ['queued']);
      const claimed = await store.delivery.claimDue(T0 + 6 * HOUR, 100, 'node-d', T0 + 7 * HOUR);
      assert.deepEqual([...new Set(claimed.filter((r) => r.credentialId === spammer).map((r) => r.messageId))].sort(), ['S1', 'S2', 'S3', 'S4']);
      assert.equal((await store.credentialById(spammer))?.holdReason, 'blocklist', 'the suspension itself stays');
      const at = T0 + 6 * HOUR;
      await store.delivery.settle(claimed.map((r) => ({ id: r.id, state: 'delivered', nextAttemptAt: at, reply: '250 ok', status: '2.0.0', remoteMta: null, at })), [], [], at, 'node-d');
    });

    test('reinstatement releases what a new suspension held and records the fees of its reason as charges', async () => {
      clock.set(T0 + 7 * HOUR);
      await assert.rejects(suspensions.reinstate(other), NotSuspended);
      await assert.rejects(suspensions.refuse(other), NotSuspended);
      await store.enqueue([message('S5', spammer, ['g@x.test'], T0 + 7 * HOUR)]);
      assert.deepEqual(await store.delivery.claimDue(T0 + 7 * HOUR, 100, 'node-e', T0 + 8 * HOUR), [], 'released mail went out; new mail is held');
      await suspensions.refuse(spammer, { actor: 'bob', note: 'still listed' });
      assert.equal((await store.credentialById(spammer))?.holdReason, 'blocklist');
      clock.set(T0 + 8 * HOUR);
      const done = await suspensions.reinstate(spammer, { actor: 'alice', note: 'delisted' });
      assert.deepEqual(done.charges, [
        { fee: 'reinstatement', amount: '50.00', currency: 'EUR' },
        { fee: 'blocklist_removal', amount: '120.50', currency: 'EUR' },
      ]);
      assert.equal((await store.credentialById(spammer))?.holdReason, null);
      assert.deepEqual(await states('S5'), ['queued']);
      const history = await suspensions.history(spammer);
      assert.deepEqual(
        history.map((e) => [e.kind, e.reason, e.actor, e.note]),
        [
          ['suspended', 'blocklist', 'relais', 'listed'],
          ['mail_released', null, 'alice', 'legitimate invoices'],
          ['reinstatement_refused', 'blocklist', 'bob', 'still listed'],
          ['reinstated', 'blocklist', 'alice', 'delisted'],
          ['charge', 'blocklist', 'alice', 'delisted'],
          ['charge', 'blocklist', 'alice', 'delisted'],
        ],
      );
      assert.deepEqual(history[4]?.detail, { fee: 'reinstatement', amount: '50.00', currency: 'EUR' });
      await assert.rejects(suspensions.reinstate(spammer), /not suspended/);
    });
  });
}
