import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { openServices, type Services } from '../../src/relay.js';
import { Store } from '../../src/store/store.js';
import { isStoreUnavailable } from '../../src/store/store-unavailable.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startTcpSwitch } from '../support/tcp-switch.js';

/**
 * The PostgreSQL pool's bounds (store.connect_timeout, statement_timeout, idle_in_transaction_timeout,
 * pool_size) reach the server and do what they say. On the shared test server: nothing here stops it.
 */
describe('store pool settings', () => {
  let database: TestDatabase;
  let services: Services;

  before(async () => {
    database = await createTestDatabase();
    const config = parseConfig({
      hostname: 'relay.test',
      data_dir: '/nonexistent',
      store: { url: database.url, statement_timeout: '1500ms', idle_in_transaction_timeout: '700ms', connect_timeout: '2s', pool_size: 2 },
    });
    services = await openServices(config);
  });

  after(async () => {
    await services?.close();
    await database?.drop();
  });

  test('the shipped defaults', () => {
    const store = parseConfig({}).store;
    assert.deepEqual(
      { connect: store.connect_timeout, statement: store.statement_timeout, idle: store.idle_in_transaction_timeout, pool: store.pool_size },
      { connect: 5_000, statement: 60_000, idle: 60_000, pool: 10 },
    );
  });

  test('statement and idle-in-transaction timeouts are the session settings of every connection', async () => {
    // Several at once, so more than one connection of the pool answers.
    const answers = await Promise.all(
      Array.from({ length: 4 }, () =>
        services.store.db.get<{ statement_timeout: string; idle: string }>(
          "SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('idle_in_transaction_session_timeout') AS idle, pg_sleep(0.05)",
        ),
      ),
    );
    for (const a of answers) assert.deepEqual({ ...a }, { statement_timeout: '1500ms', idle: '700ms', pg_sleep: '' });
    assert.equal((await services.store.db.get<{ statement_timeout: string }>('SHOW statement_timeout'))?.statement_timeout, '1500ms');
  });

  test('a statement longer than statement_timeout is cancelled by the server, and counts as the store being unavailable', async () => {
    const began = Date.now();
    const error = await services.store.db.get('SELECT pg_sleep(5)').then(
      () => assert.fail('pg_sleep(5) finished under a 1.5 s statement timeout'),
      (e: unknown) => e,
    );
    assert.equal((error as { code?: string }).code, '57014');
    assert.ok(isStoreUnavailable(error));
    assert.ok(Date.now() - began < 4_000, `cancelled after ${Date.now() - began} ms`);
  });

  test('a transaction left idle past idle_in_transaction_timeout is ended and none of it applied', async () => {
    await services.store.db.run('CREATE TABLE IF NOT EXISTS outage_probe (n INTEGER)');
    const error = await services.store.db
      .transaction(
        async (tx) => {
          await tx.run('INSERT INTO outage_probe (n) VALUES (1)');
          // A node that stalls in the middle of a transaction (the server sees no statement for 1.5 s).
          await new Promise((r) => setTimeout(r, 1_500));
          await tx.run('INSERT INTO outage_probe (n) VALUES (2)');
        },
        { durable: true },
      )
      .then(
        () => assert.fail('the stalled transaction committed'),
        (e: unknown) => e,
      );
    assert.ok(isStoreUnavailable(error), `not seen as the store being unavailable: ${String(error)}`);
    assert.equal((await services.store.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM outage_probe'))?.n, 0);
    // The pool dropped the ended connection: the next work gets a good one.
    assert.equal((await services.store.db.get<{ one: number }>('SELECT 1 AS one'))?.one, 1);
  });

  test('pool_size bounds the connections of one node', async () => {
    const began = Date.now();
    await Promise.all(Array.from({ length: 4 }, () => services.store.db.get('SELECT pg_sleep(0.4)')));
    // Two connections for four 0.4 s statements: two rounds.
    assert.ok(Date.now() - began >= 780, `four statements took ${Date.now() - began} ms on a pool of 2`);
    const { n } = (await services.store.db.get<{ n: number }>(
      "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'",
    )) ?? { n: -1 };
    assert.ok(n <= 2, `${n} connections open`);
  });

  test('a network split: work on a silent connection fails in bounded time, and the pool then uses new connections', async () => {
    // Through a forwarder to the shared test server (which this never stops): the split is in the forwarder.
    const target = new URL(database.url);
    const split = await startTcpSwitch('127.0.112.5', { address: target.hostname, port: Number(target.port || 5432) });
    const store = await Store.open(`postgres://postgres@${split.address}:${split.port}${target.pathname}`, Date.now(), {
      pool: { connectTimeoutMs: 700, statementTimeoutMs: 800, idleInTransactionTimeoutMs: 60_000, poolSize: 2 },
    });
    try {
      assert.equal((await store.db.get<{ one: number }>('SELECT 1 AS one'))?.one, 1);
      split.freeze();
      const began = Date.now();
      const errors = await Promise.all(
        [
          store.db.get('SELECT 1'),
          store.db.transaction((tx) => tx.run('SELECT 1'), { durable: true }),
          store.db.get('SELECT 2'),
        ].map((work) => work.then(() => null, (e: unknown) => e)),
      );
      const took = Date.now() - began;
      for (const error of errors) assert.ok(isStoreUnavailable(error), `not seen as the store being unavailable: ${String(error)}`);
      // The statement timeout cannot reach a silent server: the driver gives up at statement + connect timeout.
      assert.ok(took < 4_000, `the split was noticed after ${took} ms`);
      split.heal();
      const back = Date.now();
      assert.equal((await store.db.get<{ one: number }>('SELECT 1 AS one'))?.one, 1);
      assert.equal((await store.db.transaction((tx) => tx.get<{ two: number }>('SELECT 2 AS two'), { durable: true }))?.two, 2);
      assert.ok(Date.now() - back < 2_000);
    } finally {
      await Promise.race([store.close(), new Promise((r) => setTimeout(r, 1_000))]);
      await split.close();
    }
  });

  test('connect_timeout: a server that accepts but never answers is given up on in time', async () => {
    // A listener that takes the connection and says nothing, like a host that died behind a load balancer.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.112.5', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const began = Date.now();
    try {
      const error = await Store.open(`postgres://postgres@127.0.112.5:${port}/relais`, Date.now(), {
        pool: { connectTimeoutMs: 800, statementTimeoutMs: 60_000, idleInTransactionTimeoutMs: 60_000, poolSize: 2 },
      }).then(
        async (store) => {
          await store.close();
          assert.fail('opened a store on a server that never answers');
        },
        (e: unknown) => e as Error,
      );
      assert.match(error.message, /cannot connect to PostgreSQL at postgres:\/\/postgres@127\.0\.112\.5:\d+\/relais: /);
      assert.ok(Date.now() - began < 3_000, `gave up after ${Date.now() - began} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
