import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Store } from '../../src/store/store.js';
import { createTestDatabase } from '../support/postgres.js';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const LISTED = { kind: 'listed', code: '127.0.0.2', reason: 'Listed in zen.test' } as const;

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
      const db = await createTestDatabase();
      return { url: db.url, cleanup: () => db.drop() };
    },
  },
];

for (const kind of stores) {
  describe(`blocklist store contract (${kind.name})`, () => {
    let store: Store;
    /** A second node on the same database. */
    let other: Store;
    let target: { url: string; cleanup(): Promise<void> };
    let a: number;
    let b: number;

    before(async () => {
      target = await kind.open();
      store = await Store.open(target.url, T0);
      other = await Store.open(target.url, T0);
      const customer = await store.addCustomer('acme', 'ops@acme.test', T0);
      a = (await store.addCredential(customer.id, 'acme-a', 'hash', T0)).id;
      b = (await store.addCredential(customer.id, 'acme-b', 'hash', T0)).id;
    });
    after(async () => {
      await other?.close();
      await store?.close();
      await target?.cleanup();
    });

    test('an address: each change of state is one transition and one event; errors change nothing', async () => {
      const bl = store.blocklists;
      assert.equal(await bl.recordIpAnswer('192.0.2.1', 'zen.test', { kind: 'clear' }, T0), null);
      assert.equal(await bl.recordIpAnswer('192.0.2.1', 'zen.test', LISTED, T0 + 1), 'listed');
      assert.equal(await bl.recordIpAnswer('192.0.2.1', 'zen.test', { ...LISTED, reason: 'still listed' }, T0 + 2), null);
      assert.equal(await bl.recordIpAnswer('192.0.2.1', 'zen.test', { kind: 'error', error: 'timeout' }, T0 + 3), null);
      const [listing] = await bl.listedIps();
      assert.deepEqual(listing, { subject: '192.0.2.1', zone: 'zen.test', listed: true, code: '127.0.0.2', reason: 'still listed', since: T0 + 1, checkedAt: T0 + 3, error: 'timeout' });
      assert.equal(await bl.recordIpAnswer('192.0.2.1', 'zen.test', { kind: 'clear' }, T0 + 4), 'delisted');
      assert.deepEqual(await bl.listedIps(), []);
      assert.deepEqual(
        (await bl.ipEvents('192.0.2.1')).map((e) => [e.kind, e.zone, e.at, e.code, e.reason]),
        [
          ['listed', 'zen.test', T0 + 1, '127.0.0.2', 'Listed in zen.test'],
          ['delisted', 'zen.test', T0 + 4, '127.0.0.2', 'still listed'],
        ],
      );
      // An error on a new pair records the error and lists nothing.
      assert.equal(await bl.recordIpAnswer('192.0.2.2', 'zen.test', { kind: 'error', error: 'SERVFAIL' }, T0), null);
      assert.deepEqual((await bl.ipListings()).find((l) => l.subject === '192.0.2.2')?.listed, false);
    });

    test('two nodes recording the same listing: exactly one of them made the change', async () => {
      // SQLite has one node only (one process): there the second node records after the first.
      const both = <T>(x: () => Promise<T>, y: () => Promise<T>): Promise<T[]> =>
        kind.name === 'postgres' ? Promise.all([x(), y()]) : x().then(async (first) => [first, await y()]);
      for (let i = 0; i < 5; i++) {
        const address = `198.51.100.${i + 1}`;
        const changes = await both(
          () => store.blocklists.recordIpAnswer(address, 'zen.test', LISTED, T0 + 10),
          () => other.blocklists.recordIpAnswer(address, 'zen.test', LISTED, T0 + 10),
        );
        assert.deepEqual(changes.filter(Boolean), ['listed'], `round ${i}: ${JSON.stringify(changes)}`);
        const delisted = await both(
          () => store.blocklists.recordIpAnswer(address, 'zen.test', { kind: 'clear' }, T0 + 11),
          () => other.blocklists.recordIpAnswer(address, 'zen.test', { kind: 'clear' }, T0 + 11),
        );
        assert.deepEqual(delisted.filter(Boolean), ['delisted']);
        assert.equal((await store.blocklists.ipEvents(address)).length, 2);
      }
    });

    test('sender domains: first use reported once, last use only moves forward', async () => {
      const bl = store.blocklists;
      const fresh = await bl.touchSenderDomains([
        { credentialId: a, domain: 'one.test', at: T0 },
        { credentialId: a, domain: 'two.test', at: T0 },
        { credentialId: b, domain: 'one.test', at: T0 },
      ]);
      assert.equal(fresh.length, 3);
      assert.deepEqual(await other.blocklists.touchSenderDomains([{ credentialId: a, domain: 'one.test', at: T0 + 100 }]), []);
      await bl.touchSenderDomains([{ credentialId: a, domain: 'one.test', at: T0 + 50 }]);
      assert.deepEqual(
        (await bl.senderDomains(a)).map((d) => [d.domain, d.firstUsedAt, d.lastUsedAt]),
        [
          ['one.test', T0, T0 + 100],
          ['two.test', T0, T0],
        ],
      );
      assert.deepEqual(await bl.allSenderDomains(), ['one.test', 'two.test']);
      assert.deepEqual(await bl.credentialsUsingDomain('one.test'), [a, b].sort((x, y) => x - y));
      assert.equal(await bl.recordDomainAnswer('one.test', 'dbl.test', { kind: 'listed', code: '127.0.1.2', reason: 'spam' }, T0), 'listed');
      assert.deepEqual((await bl.domainListings(['one.test', 'two.test'])).map((l) => [l.subject, l.zone, l.listed]), [['one.test', 'dbl.test', true]]);
    });

    test('pool pinning: set, read by every node, cleared', async () => {
      await store.blocklists.setPoolPins(a, ['192.0.2.11', '192.0.2.12']);
      assert.deepEqual(await other.blocklists.poolPinsFor(a), ['192.0.2.11', '192.0.2.12']);
      assert.deepEqual([...(await other.blocklists.allPoolPins())], [[a, ['192.0.2.11', '192.0.2.12']]]);
      await store.blocklists.setPoolPins(a, ['192.0.2.13']);
      assert.deepEqual(await store.blocklists.poolPinsFor(a), ['192.0.2.13']);
      await store.blocklists.setPoolPins(a, []);
      assert.deepEqual([...(await store.blocklists.allPoolPins())], []);
    });
  });
}
