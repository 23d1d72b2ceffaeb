import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { NewMessage } from '../../src/store/records.js';
import { LATEST_SCHEMA_VERSION } from '../../src/store/migrations.js';
import { Store, StoreConflict } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const MINUTE = 60_000;
const WINDOW = 1440 * MINUTE;

function message(id: string, credentialId: number, reservationId: number | null, recipients: string[], at = T0): NewMessage {
  return {
    id,
    credentialId,
    kind: 'message',
    mailFrom: 'from@customer.test',
    envid: 'ENV1',
    ret: 'HDRS',
    clientIp: '127.0.0.1',
    body: Buffer.from(`Subject: ${id}\r\n\r\nbody \u00e9\r\n`),
    recipients: recipients.map((address) => ({ address, domain: address.split('@')[1] as string, orcpt: null, notify: 'FAILURE' })),
    createdAt: at,
    retryEvery: 15 * MINUTE,
    giveUpAt: at + 7 * WINDOW,
    delayNoticeAt: at + 60 * MINUTE,
    reservationId,
    usageBucket: Math.floor(at / MINUTE) * MINUTE,
  };
}

const stores: { name: string; open(): Promise<{ url: string; cleanup(): Promise<void> }> }[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-store-'));
      return { url: `sqlite:${path.join(dir, 'relais.db')}`, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    async open() {
      const db: TestDatabase = await createTestDatabase();
      return { url: db.url, cleanup: () => db.drop() };
    },
  },
];

for (const kind of stores) {
  describe(`store contract (${kind.name})`, () => {
    let store: Store;
    let target: { url: string; cleanup(): Promise<void> };
    let credentialId: number;

    before(async () => {
      target = await kind.open();
      store = await Store.open(target.url, T0);
    });
    after(async () => {
      await store.close();
      await target.cleanup();
    });

    test('migrations are applied once and opening again is a no-op', async () => {
      const again = await Store.open(target.url, T0);
      const rows = await again.db.all<{ version: number }>('SELECT version FROM schema_migrations');
      assert.deepEqual(rows.map((r) => Number(r.version)).sort((a, b) => a - b), Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i + 1));
      await again.close();
    });

    test('customers and credentials: add, find, list, unique names', async () => {
      const customer = await store.addCustomer('Acme', 'ops@acme.test', T0);
      assert.equal(customer.name, 'Acme');
      await assert.rejects(store.addCustomer('Acme', 'x@y.test', T0), StoreConflict);
      const credential = await store.addCredential(customer.id, 'acme-app', 'scrypt$hash', T0);
      credentialId = credential.id;
      assert.equal(credential.customerName, 'Acme');
      assert.equal(credential.enabled, true);
      await assert.rejects(store.addCredential(customer.id, 'acme-app', 'x', T0), StoreConflict);
      assert.equal((await store.findCustomer('Acme'))?.credentialCount, 1);
      assert.deepEqual((await store.listCredentials('Acme')).map((c) => c.username), ['acme-app']);
      assert.equal(await store.findCredential('nobody'), undefined);
    });

    test('credential state changes: enable, disable, password, hold', async () => {
      await store.setCredentialEnabled(credentialId, false, T0 + 1);
      assert.equal((await store.findCredential('acme-app'))?.enabled, false);
      await store.setCredentialEnabled(credentialId, true, T0 + 2);
      await store.setCredentialPassword(credentialId, 'scrypt$new', T0 + 3);
      assert.equal((await store.findCredential('acme-app'))?.passwordHash, 'scrypt$new');
      await store.setCredentialHold(credentialId, 'spam complaint', T0 + 4);
      const held = await store.findCredential('acme-app');
      assert.equal(held?.holdReason, 'spam complaint');
      assert.equal(held?.holdSince, T0 + 4);
      await store.setCredentialHold(credentialId, null, T0 + 5);
      assert.equal((await store.findCredential('acme-app'))?.holdReason, null);
    });

    test('plans: only active ones count, and they add up', async () => {
      await store.addPlan(credentialId, 3, T0, T0 + 365 * WINDOW, T0);
      await store.addPlan(credentialId, 2, T0, T0 + 365 * WINDOW, T0);
      await store.addPlan(credentialId, 100, T0 - 10 * WINDOW, T0 - WINDOW, T0); // ended
      await store.addPlan(credentialId, 100, T0 + WINDOW, T0 + 2 * WINDOW, T0); // not started
      assert.equal((await store.listPlans(credentialId)).length, 4);
      const snapshot = await store.quotaSnapshot(credentialId, T0, T0 - WINDOW - MINUTE);
      assert.equal(snapshot.quota, 5);
      assert.equal(snapshot.used, 0);
    });

    test('reserve grows one reservation, refuses past the quota, and enqueue turns held units into used', async () => {
      const request = { credentialId, units: 1, now: T0, countFrom: T0 - WINDOW - MINUTE, expiresAt: T0 + 3_600_000 };
      const first = await store.reserveQuota(request);
      assert.ok(first.granted);
      const second = await store.reserveQuota({ ...request, reservationId: first.reservationId });
      assert.ok(second.granted);
      assert.equal(second.reservationId, first.reservationId);
      assert.equal(second.snapshot.held, 2);
      await store.enqueue([message('MSG1', credentialId, first.reservationId, ['a@one.test', 'b@two.test'])]);
      const after = await store.quotaSnapshot(credentialId, T0, request.countFrom);
      assert.equal(after.used, 2);
      assert.equal(after.held, 0);
      assert.deepEqual(after.buckets, [{ bucketStart: T0, units: 2 }]);
      const third = await store.reserveQuota(request);
      assert.ok(third.granted);
      await store.reserveQuota({ ...request, reservationId: third.reservationId, units: 2 });
      const refused = await store.reserveQuota(request);
      assert.equal(refused.granted, false);
      assert.equal(refused.snapshot.used + refused.snapshot.held, 5);
      assert.deepEqual(refused.snapshot.buckets, [{ bucketStart: T0, units: 2 }]);
      await store.releaseReservation(third.reservationId);
      assert.equal((await store.quotaSnapshot(credentialId, T0, request.countFrom)).held, 0);
    });

    test('expired reservations hold nothing; units leave the window', async () => {
      const request = { credentialId, units: 3, now: T0, countFrom: T0 - WINDOW - MINUTE, expiresAt: T0 + 1000 };
      assert.ok((await store.reserveQuota(request)).granted);
      const later = await store.quotaSnapshot(credentialId, T0 + 2000, request.countFrom);
      assert.equal(later.held, 0);
      const nextDay = T0 + WINDOW + MINUTE;
      const gone = await store.quotaSnapshot(credentialId, nextDay, nextDay - WINDOW - MINUTE);
      assert.equal(gone.used, 0);
      await store.releaseAllReservations();
      assert.equal(await store.pruneQuota(T0 - 1, T0), 0);
      assert.equal(await store.pruneQuota(T0 + 1, T0), 1);
      assert.equal((await store.quotaSnapshot(credentialId, T0, T0 - WINDOW - MINUTE)).used, 0);
    });

    test('the queue keeps the envelope, DSN parameters, one body, and per-recipient state', async () => {
      await store.enqueue([message('MSG2', credentialId, null, ['c@three.test']), message('MSG3', credentialId, null, ['d@four.test', 'e@four.test'])]);
      const m = await store.findMessage('MSG3');
      assert.equal(m?.username, 'acme-app');
      assert.equal(m?.envid, 'ENV1');
      assert.equal(m?.ret, 'HDRS');
      assert.equal(m?.giveUpAt, T0 + 7 * WINDOW);
      assert.deepEqual(m?.recipients.map((r) => [r.address, r.domain, r.state, r.notify]), [
        ['d@four.test', 'four.test', 'queued', 'FAILURE'],
        ['e@four.test', 'four.test', 'queued', 'FAILURE'],
      ]);
      assert.equal((await store.messageBody('MSG3'))?.toString(), 'Subject: MSG3\r\n\r\nbody \u00e9\r\n');
      assert.deepEqual((await store.listQueue({ domain: 'four.test' })).map((x) => x.id), ['MSG3']);
      assert.deepEqual((await store.listQueue({ username: 'acme-app' })).map((x) => x.id), ['MSG1', 'MSG2', 'MSG3']);
      assert.deepEqual((await store.listQueue({ state: 'deferred' })).map((x) => x.id), []);
      assert.equal(await store.countMessages(), 3);
    });

    test('a failed batch commits nothing of itself', async () => {
      const before = await store.countMessages();
      await assert.rejects(store.enqueue([message('MSG4', credentialId, null, ['f@five.test']), message('MSG2', credentialId, null, ['dup@x.test'])]));
      assert.equal(await store.countMessages(), before);
      assert.equal(await store.findMessage('MSG4'), undefined);
    });
  });
}

for (const kind of stores) {
  describe(`delivery queue contract (${kind.name})`, () => {
    let store: Store;
    let target: { url: string; cleanup(): Promise<void> };

    before(async () => {
      target = await kind.open();
      store = await Store.open(target.url, T0);
      const customer = await store.addCustomer('Q', 'q@q.test', T0);
      const credential = await store.addCredential(customer.id, 'q', 'x', T0);
      const batch: NewMessage[] = [];
      for (let i = 0; i < 40; i++) batch.push(message(`D${String(i).padStart(2, '0')}`, credential.id, null, [`a${i}@one.test`, `b${i}@two.test`]));
      await store.enqueue(batch);
    });
    after(async () => {
      await store.close();
      await target.cleanup();
    });

    test('concurrent claimers never get the same recipient; leases hide claimed recipients until they expire', async () => {
      const claims = await Promise.all(Array.from({ length: 4 }, (_, i) => store.delivery.claimDue(T0, 30, `node${i}`, T0 + 60_000)));
      const ids = claims.flat().map((r) => r.id);
      assert.equal(ids.length, 80);
      assert.equal(new Set(ids).size, 80);
      assert.deepEqual(await store.delivery.claimDue(T0 + 1000, 100, 'late', T0 + 61_000), []);
      const afterLease = await store.delivery.claimDue(T0 + 60_000, 100, 'takeover', T0 + 120_000);
      assert.equal(afterLease.length, 80, 'a dead node\'s claims come back when its lease ends');
      await store.delivery.release(afterLease.map((r) => r.id), T0, 'takeover');
      assert.equal((await store.delivery.claimDue(T0, 1000, 'again', T0 + 1000)).length, 80);
      await store.delivery.release(afterLease.map((r) => r.id), T0, 'again');
    });

    test('settle writes outcomes, attempts and notices together; final states are never changed again', async () => {
      const [r1, r2] = await store.delivery.claimDue(T0, 2, 'n', T0 + 60_000);
      assert.ok(r1 && r2);
      const notice = { ...message('NOTICE1', null as unknown as number, null, ['from@customer.test']), credentialId: null, kind: 'notice' as const, mailFrom: '' };
      await store.delivery.settle(
        [
          { id: r1.id, state: 'delivered', nextAttemptAt: T0, reply: '250 ok', status: '2.0.0', remoteMta: 'mx.one.test', at: T0 },
          { id: r2.id, state: 'deferred', nextAttemptAt: T0 + 900_000, reply: '451 later', status: '4.0.0', remoteMta: 'mx.two.test', at: T0 },
        ],
        [{ messageId: r1.messageId, domain: 'one.test', recipients: [r1.address], delivered: 1, at: T0, mx: 'mx.one.test', remoteIp: '127.0.0.21', sourceIp: '127.0.0.11', tlsVersion: 'TLSv1.3', tlsCipher: 'X', reply: '250 ok', outcome: 'delivered' }],
        [notice],
        T0,
        'n',
      );
      const m = await store.findMessage(r1.messageId);
      assert.equal(m?.recipients.find((r) => r.id === r1.id)?.state, 'delivered');
      assert.equal(m?.recipients.find((r) => r.id === r1.id)?.attempts, 1);
      assert.ok(await store.findMessage('NOTICE1'));
      await store.delivery.settle([{ id: r1.id, state: 'failed', nextAttemptAt: T0, reply: '550', status: '5.0.0', remoteMta: null, at: T0 }], [], [], T0, 'n');
      assert.equal((await store.findMessage(r1.messageId))?.recipients.find((r) => r.id === r1.id)?.state, 'delivered');
      const attempts = await store.delivery.attempts(r1.messageId);
      assert.equal(attempts[0]?.sourceIp, '127.0.0.11');
      const activity = await store.delivery.ipActivity(T0 - 1);
      assert.deepEqual(activity.map((a) => [a.sourceIp, a.delivered]), [['127.0.0.11', 1]]);
    });

    test('delay notices are recorded once; retry, shape, avoidance, delete and purge', async () => {
      const due = await store.delivery.dueDelayNotices(T0 + 61 * 60_000, 100);
      assert.ok(due.includes('D05'));
      assert.equal(await store.delivery.recordDelayNotice('D05', null), true);
      assert.equal(await store.delivery.recordDelayNotice('D05', null), false);
      assert.ok(!(await store.delivery.dueDelayNotices(T0 + 61 * 60_000, 100)).includes('D05'));
      assert.equal(await store.delivery.retryNow('D06', T0), 2);
      const shape = await store.delivery.shape(T0 + 6 * 60_000);
      assert.deepEqual(shape.map((s) => s.domain).sort(), ['customer.test', 'one.test', 'two.test']);
      assert.equal(shape.find((s) => s.domain === 'one.test')?.buckets[1], shape.find((s) => s.domain === 'one.test')?.total);
      await store.delivery.avoidIp({ sourceIp: '127.0.0.11', destination: 'one.test', until: T0 + 1000, reason: '554 blocked' });
      await store.delivery.avoidIp({ sourceIp: '127.0.0.11', destination: 'one.test', until: T0 + 2000, reason: '554 again' });
      assert.deepEqual(await store.delivery.avoidances(T0), [{ sourceIp: '127.0.0.11', destination: 'one.test', until: T0 + 2000, reason: '554 again' }]);
      assert.deepEqual(await store.delivery.avoidances(T0 + 2000), []);
      assert.equal(await store.delivery.deleteMessage('D07', null), true);
      assert.equal(await store.findMessage('D07'), undefined);
      assert.equal(await store.delivery.deleteMessage('D07', null), false);
      assert.equal(await store.delivery.purge(T0 + 1), 0);
      // A message whose every recipient is final is finished, and forgotten once past the log's retention.
      const claimed = (await store.delivery.claimDue(T0, 1000, 'n', T0 + 1000)).filter((r) => r.messageId === 'D08');
      await store.delivery.settle(
        claimed.map((r) => ({ id: r.id, state: 'delivered' as const, nextAttemptAt: T0, reply: '250', status: '2.0.0', remoteMta: null, at: T0 })),
        [{ messageId: 'D08', domain: 'one.test', recipients: [], delivered: 2, at: T0, mx: null, remoteIp: null, sourceIp: null, tlsVersion: null, tlsCipher: null, reply: '250', outcome: 'delivered' }],
        [],
        T0 + 5,
        'n',
      );
      assert.equal(await store.delivery.purge(T0 + 5), 0);
      assert.equal(await store.delivery.purge(T0 + 6), 1);
      assert.equal(await store.findMessage('D08'), undefined);
      assert.deepEqual(await store.delivery.attempts('D08'), []);
    });
  });
}

for (const kind of stores) {
  describe(`delivery queue leases and outcomes (${kind.name})`, () => {
    let store: Store;
    let target: { url: string; cleanup(): Promise<void> };
    let credential: number;
    let n = 0;
    /** A message of its own, queued at T0, so each test sees only its recipients. */
    const enqueue = async (recipients: string[]) => {
      const id = `L${kind.name}${++n}`;
      await store.enqueue([message(id, credential, null, recipients)]);
      return id;
    };
    const claimOf = async (id: string, now: number, owner: string, until: number) =>
      (await store.delivery.claimDue(now, 100_000, owner, until)).filter((r) => r.messageId === id);
    const update = (id: number, state: 'delivered' | 'deferred' | 'failed', at: number, nextAttemptAt = at) => ({
      id,
      state,
      nextAttemptAt,
      reply: state === 'delivered' ? '250 ok' : state === 'deferred' ? '451 later' : '550 no',
      status: state === 'delivered' ? '2.0.0' : state === 'deferred' ? '4.0.0' : '5.0.0',
      remoteMta: null,
      at,
    });

    before(async () => {
      target = await kind.open();
      store = await Store.open(target.url, T0);
      const customer = await store.addCustomer('L', 'l@l.test', T0);
      credential = (await store.addCredential(customer.id, 'l', 'x', T0)).id;
    });
    after(async () => {
      await store.close();
      await target.cleanup();
    });

    test('a retry during a lease takes nothing from its holder, and takes effect when the delivery ends', async () => {
      const id = await enqueue(['slow@one.test']);
      const [r] = await claimOf(id, T0, 'a/1', T0 + 60_000);
      assert.ok(r);
      assert.equal(r.leaseOwner, 'a/1');
      assert.equal(await store.delivery.retryNow(id, T0 + 1000), 1);
      assert.deepEqual(await claimOf(id, T0 + 1000, 'b/1', T0 + 61_000), [], 'another node must not claim a recipient being delivered');
      assert.equal(await store.delivery.retryNow(null, T0 + 1500), 1, 'retry --all counts it too');
      assert.deepEqual(await claimOf(id, T0 + 1500, 'b/1', T0 + 61_500), []);
      // The holder defers it for 15 minutes; the operator's retry makes it due now instead.
      await store.delivery.settle([update(r.id, 'deferred', T0 + 2000, T0 + 2000 + 15 * MINUTE)], [], [], T0 + 2000, 'a/1');
      const again = await claimOf(id, T0 + 2000, 'b/1', T0 + 62_000);
      assert.deepEqual(again.map((x) => x.id), [r.id]);
      // Without a retry a deferral keeps its schedule.
      await store.delivery.settle([update(r.id, 'deferred', T0 + 3000, T0 + 3000 + 15 * MINUTE)], [], [], T0 + 3000, 'b/1');
      assert.deepEqual(await claimOf(id, T0 + 4000, 'c/1', T0 + 64_000), []);
      assert.equal((await claimOf(id, T0 + 3000 + 15 * MINUTE, 'c/1', T0 + 20 * MINUTE)).length, 1);
    });

    test('a recipient whose lease ran out and was taken over is settled only by the node holding it now', async () => {
      const id = await enqueue(['taken@one.test']);
      const [r] = await claimOf(id, T0, 'a/1', T0 + 10_000);
      assert.ok(r);
      const [taken] = await claimOf(id, T0 + 10_000, 'b/1', T0 + 70_000);
      assert.equal(taken?.id, r.id, 'an expired lease is claimable');
      const notice = { ...message(`${id}-N`, 0, null, ['from@customer.test']), credentialId: null, kind: 'notice' as const, mailFrom: '' };
      await store.delivery.settle([update(r.id, 'failed', T0 + 11_000)], [], [notice], T0 + 11_000, 'a/1');
      let row = (await store.findMessage(id))?.recipients[0];
      assert.equal(row?.state, 'queued', 'the node that lost its lease must not settle');
      assert.equal(await store.findMessage(`${id}-N`), undefined, 'nor send a notice about a recipient it no longer holds');
      await store.delivery.renewLeases([r.id], 'a/1', T0 + 200_000);
      assert.deepEqual(await claimOf(id, T0 + 71_000, 'c/1', T0 + 131_000).then((x) => x.length), 1, 'a stale renewal did not extend the lease');
      await store.delivery.release([r.id], T0 + 72_000, 'b/1');
      row = (await store.findMessage(id))?.recipients[0];
      assert.equal(row?.nextAttemptAt, T0 + 131_000, 'a stale release did not free c\'s lease');
      await store.delivery.settle([update(r.id, 'delivered', T0 + 72_000)], [], [], T0 + 72_000, 'c/1');
      row = (await store.findMessage(id))?.recipients[0];
      assert.equal(row?.state, 'delivered');
    });

    test('two rows for the same address in one job are both settled', async () => {
      const id = await enqueue(['twice@one.test', 'twice@one.test', 'other@one.test']);
      const claimed = await claimOf(id, T0, 'a/1', T0 + 60_000);
      assert.equal(claimed.length, 3);
      const first = claimed.find((r) => r.address === 'twice@one.test') as { id: number };
      const other = claimed.find((r) => r.address === 'other@one.test') as { id: number };
      // What a job does: one verdict per address.
      await store.delivery.settle([update(first.id, 'delivered', T0), update(other.id, 'delivered', T0)], [], [], T0, 'a/1');
      const m = await store.findMessage(id);
      assert.deepEqual(m?.recipients.map((r) => r.state), ['delivered', 'delivered', 'delivered']);
      assert.deepEqual(await claimOf(id, T0 + 120_000, 'b/1', T0 + 180_000), [], 'nothing is left to send again when the lease ends');
      assert.equal(await store.delivery.purge(T0 + 1), 1, 'the message is finished');
    });

    test('a recipient that fails with no attempt recorded finishes its message, which is then purged', async () => {
      const id = await enqueue(['nowhere@one.test']);
      const [r] = await claimOf(id, T0, 'a/1', T0 + 60_000);
      assert.ok(r);
      await store.delivery.settle([update(r.id, 'failed', T0 + 10)], [], [], T0 + 10, 'a/1');
      assert.equal(await store.delivery.purge(T0 + 11), 1);
      assert.equal(await store.findMessage(id), undefined);
    });

    test('at start a node frees the leases of its earlier processes, and only its own', async () => {
      const id = await enqueue(['x1@one.test', 'x2@one.test', 'x3@one.test']);
      const [c1] = await store.delivery.claimDue(T0, 1, 'node-a/100.aa', T0 + 600_000);
      const [c2] = await store.delivery.claimDue(T0, 1, 'node-ab/200.bb', T0 + 600_000);
      const [c3] = await store.delivery.claimDue(T0, 1, 'node-b/300.cc', T0 + 600_000);
      assert.ok(c1 && c2 && c3 && [c1, c2, c3].every((c) => c.messageId === id));
      assert.equal(await store.delivery.releaseNodeLeases('node-a', T0 + 1000), 1);
      assert.deepEqual((await claimOf(id, T0 + 1000, 'node-a/400.dd', T0 + 61_000)).map((r) => r.id), [c1.id]);
      assert.equal(await store.delivery.releaseNodeLeases('node', T0 + 1000), 0, 'a name is not a prefix of another');
      assert.ok((await store.delivery.releaseNodeLeases('x', T0 + 1000, true)) >= 3, 'a single-node store frees every lease');
      const leased = await store.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM recipients WHERE lease_owner IS NOT NULL');
      assert.equal(Number(leased?.n), 0);
    });

    test('renewal and release take more ids than either database binds in one statement', async () => {
      const id = await enqueue(['many@one.test']);
      const [r] = await claimOf(id, T0, 'a/1', T0 + 60_000);
      assert.ok(r);
      const ids = [...Array.from({ length: 70_000 }, (_, i) => -1 - i), r.id];
      await store.delivery.renewLeases(ids, 'a/1', T0 + 120_000);
      assert.equal((await store.findMessage(id))?.recipients[0]?.nextAttemptAt, T0 + 120_000);
      await store.delivery.release(ids, T0 + 1000, 'a/1');
      assert.equal((await claimOf(id, T0 + 1000, 'b/1', T0 + 61_000)).length, 1);
    });

    test('purge goes on past its batch size until everything old is gone', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const batch: NewMessage[] = [];
        for (let j = 0; j < 100; j++) batch.push(message(`P${kind.name}${i}-${j}`, credential, null, [`p@purge.test`]));
        await store.enqueue(batch);
        ids.push(...batch.map((m) => m.id));
      }
      const claimed = (await store.delivery.claimDue(T0, 100_000, 'p/1', T0 + 60_000)).filter((r) => r.domain === 'purge.test');
      assert.equal(claimed.length, 300);
      const attempts = claimed.flatMap((r) =>
        Array.from({ length: 5 }, () => ({ messageId: r.messageId, domain: 'purge.test', recipients: [r.address], delivered: 1, at: T0, mx: null, remoteIp: null, sourceIp: null, tlsVersion: null, tlsCipher: null, reply: '250', outcome: 'delivered' as const })),
      );
      await store.delivery.settle(claimed.map((r) => update(r.id, 'delivered', T0)), attempts, [], T0, 'p/1');
      assert.ok((await store.delivery.purge(T0 + 1)) >= 300);
      for (const id of ids.slice(0, 5).concat(ids.slice(-5))) assert.equal(await store.findMessage(id), undefined);
      const left = await store.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM delivery_attempts WHERE at < ?', [T0 + 1]);
      assert.equal(Number(left?.n), 0);
    });
  });
}
