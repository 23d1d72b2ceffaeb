import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SENDER, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { openAuthenticated, sendOn } from '../support/smtp-clients.js';

/** Two nodes on one PostgreSQL queue: every message is delivered, and exactly once. */
describe('two relays sharing one PostgreSQL queue', () => {
  let w: DeliveryWorld;
  let second: TestRelay;

  before(async () => {
    w = await startDeliveryWorld({
      store: 'postgres',
      systemClock: true,
      zones: { 'mx.test': { mx: [{ pref: 10, host: 'mx1.mx.test' }] }, 'mx1.mx.test': { a: ['127.0.0.21'] } },
      receivers: [{ address: '127.0.0.21', name: 'mx1.mx.test' }],
    });
    second = await startTestRelay({
      sharedStoreUrl: w.relay.config.store.url,
      overrides: {
        delivery: { enabled: true },
        dns: { servers: w.relay.config.dns.servers },
        outbound: { port: w.port, ips: [{ address: '127.0.0.14' }, { address: '127.0.0.15' }], allow_private_destinations: true },
        queue: { scan_interval: '50ms' },
      },
    });
  });
  after(async () => {
    await second.stop();
    await w.stop();
  });

  test('messages submitted to both nodes are each delivered exactly once, by either node', async () => {
    const rx = w.receiver('127.0.0.21');
    const submitters = await Promise.all(
      [w.relay, second].flatMap((node) => [0, 1, 2].map(() => openAuthenticated({ port: node.port('submission'), ...w.sender }))),
    );
    let n = 0;
    await Promise.all(
      submitters.map(async (connection) => {
        for (let i = 0; i < 10; i++) {
          const subject = `shared-${n++}`;
          await sendOn(connection, SENDER, [`user${i}@mx.test`], `Subject: ${subject}\r\n\r\nbody\r\n`);
        }
        connection.quit();
      }),
    );
    await rx.waitFor(60, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    const subjects = rx.messages.map((m) => /^Subject: (shared-\d+)/m.exec(m.raw.toString())?.[1]);
    assert.equal(subjects.length, 60);
    assert.equal(new Set(subjects).size, 60, 'no message delivered twice');
    const sources = new Set(rx.messages.map((m) => m.remoteAddress));
    assert.ok(sources.size >= 2, `deliveries came from ${[...sources].join(', ')}`);
    const pending = await w.relay.relay.store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM recipients WHERE state <> 'delivered'");
    assert.equal(Number(pending?.n), 0);
  });
});
