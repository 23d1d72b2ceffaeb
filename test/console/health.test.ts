import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { waitUntil } from '../peers/process.js';
import { PG_ADMIN_URL } from '../support/postgres.js';
import { scrape } from '../support/prometheus-scrape.js';
import { startTestRelay, type StoreKind, type TestRelay } from '../support/relay-fixture.js';

const RELAY = '127.0.101.31';

interface Probe {
  status: number;
  type: string;
  body: { status: string; reason?: string };
}

async function probe(url: string): Promise<Probe> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: (await response.json()) as Probe['body'] };
}

for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`GET /healthz and /readyz (${store} store)`, () => {
    let t: TestRelay;
    let base: string;

    before(async () => {
      t = await startTestRelay({ store, address: RELAY, overrides: { listen: { console: [`${RELAY}:0`] } } });
      base = `http://${RELAY}:${t.port('console')}`;
    });
    after(async () => {
      await t?.stop();
    });

    test('/healthz answers 200 JSON while the process serves, HEAD too, without a token', async () => {
      const health = await probe(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.match(health.type, /^application\/json/);
      assert.deepEqual(health.body, { status: 'ok' });
      const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
      assert.equal(head.status, 200);
    });

    test('/readyz answers 200 when the store answers', async () => {
      const ready = await probe(`${base}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { status: 'ready' });
      // Probes that pass are not logged at info: a load balancer would fill the log.
      assert.equal(t.log.lines.filter((l) => l.event === 'http' && l.url === '/readyz' && l.level === 'info').length, 0);
    });
  });
}

/**
 * A PostgreSQL store that stops taking connections, for real: the database refuses new ones
 * (ALLOW_CONNECTIONS false) and the relay's open ones are terminated (pg_terminate_backend), as when a database
 * is taken down for maintenance or its server restarts. Then it comes back.
 */
describe('GET /readyz when the PostgreSQL store is unreachable', () => {
  let t: TestRelay;
  let base: string;
  let admin: pg.Client;
  let database: string;

  before(async () => {
    t = await startTestRelay({ store: 'postgres', address: RELAY, overrides: { listen: { console: [`${RELAY}:0`] } } });
    base = `http://${RELAY}:${t.port('console')}`;
    database = new URL(t.config.store.url).pathname.slice(1);
    admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
  });
  after(async () => {
    // Whatever happened, the database takes connections again before the relay stops and drops it.
    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin.end();
    await t?.stop();
  });

  test('503 with the reason while the database refuses connections, /healthz still 200; 200 again once it is back', async () => {
    assert.equal((await probe(`${base}/readyz`)).status, 200);

    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    const killed = await admin.query('SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    assert.ok(killed.rows.length > 0, 'the relay had connections to terminate');

    // The first query may meet a pooled connection just terminated, the next a refused new one: both are down.
    const down = await probe(`${base}/readyz`);
    assert.equal(down.status, 503);
    assert.equal(down.body.status, 'not_ready');
    assert.match(down.body.reason ?? '', /^store unreachable: .*(terminating connection|not currently accepting connections)/);
    const stillDown = await probe(`${base}/readyz`);
    assert.equal(stillDown.status, 503);
    assert.match(stillDown.body.reason ?? '', /^store unreachable: database "relais_test_\w+" is not currently accepting connections/);
    assert.equal((await probe(`${base}/healthz`)).status, 200);
    // Failing probes are logged once, when readiness changes.
    assert.equal(t.log.find('not_ready').length, 1);

    // /metrics still answers: the counters are the process's, and relais_store_up says the store's gauges are missing.
    let scraped = await scrape(base);
    await waitUntil('the store gauges read again and failing', async () => (scraped = await scrape(base)).value('relais_store_up') === 0, { timeoutMs: 10_000, intervalMs: 200 });
    assert.equal(scraped.value('relais_queue_recipients', { state: 'queued' }), undefined);
    assert.ok(Number.isNaN(scraped.value('relais_queue_oldest_pending_age_seconds')));
    assert.equal(scraped.value('relais_submission_messages_accepted_total'), 0);

    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    const up = await probe(`${base}/readyz`);
    assert.equal(up.status, 200);
    assert.deepEqual(up.body, { status: 'ready' });
    assert.equal(t.log.find('ready').length, 1);
    await waitUntil('the store gauges back', async () => (await scrape(base)).value('relais_store_up') === 1, { timeoutMs: 10_000, intervalMs: 200 });
  });
});
