import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { SENDER, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { runCli } from '../support/relay-process.js';
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
      // Room for a receiver that takes its time over the message (the retry test).
      overrides: { outbound: { timeouts: { connect: '3s', greeting: '5s', command: '5s', data_end: '60s' } } },
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
    // Once the shared queue holds nothing pending or leased, no node can send anything more: count then.
    await w.settle(20_000);
    const subjects = rx.messages.map((m) => /^Subject: (shared-\d+)/m.exec(m.raw.toString())?.[1]);
    assert.equal(subjects.length, 60);
    assert.equal(new Set(subjects).size, 60, 'no message delivered twice');
    const sources = new Set(rx.messages.map((m) => m.remoteAddress));
    assert.ok(sources.size >= 2, `deliveries came from ${[...sources].join(', ')}`);
    const pending = await w.relay.relay.store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM recipients WHERE state <> 'delivered'");
    assert.equal(Number(pending?.n), 0);
  });

  test('relais queue retry while a node is delivering does not make another node send the message again', { timeout: 90_000 }, async () => {
    const rx = w.receiver('127.0.0.21');
    rx.clear();
    // The receiver sits on the message for a while before its 250: the delivery is in progress meanwhile.
    rx.setBehaviour({ dataDelayMs: 12_000 });
    const configFile = path.join(w.relay.dir, 'retry.yaml');
    fs.writeFileSync(configFile, YAML.stringify({ hostname: 'relay.test', data_dir: w.relay.dir, store: { url: w.relay.config.store.url } }));
    try {
      const connection = await openAuthenticated({ port: w.relay.port('submission'), ...w.sender });
      const info = await sendOn(connection, SENDER, ['slow@mx.test'], 'Subject: retried-while-sending\r\n\r\nbody\r\n');
      connection.quit();
      const id = /queued as (\w+)/.exec(info.response)?.[1] as string;
      await rx.waitFor(1, 10_000);
      const retry = await runCli(['queue', 'retry', '--all', '--config', configFile]);
      assert.equal(retry.code, 0, retry.stderr);
      const state = async () => (await w.relay.relay.store.findMessage(id))?.recipients[0]?.state;
      assert.equal(await state(), 'queued', 'the retry came while the first delivery was still waiting for its 250 (else this test proves nothing)');
      const deadline = Date.now() + 40_000;
      while ((await state()) !== 'delivered' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await state(), 'delivered');
      // Time for either node to have picked it up again, had the retry freed it.
      await new Promise((r) => setTimeout(r, 1500));
      const copies = rx.messages.filter((m) => /^Subject: retried-while-sending/m.test(m.raw.toString()));
      assert.equal(copies.length, 1, `delivered ${copies.length} times (from ${copies.map((m) => m.remoteAddress).join(', ')})`);
    } finally {
      rx.reset();
    }
  });
});
