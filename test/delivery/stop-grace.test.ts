import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SENDER, startDeliveryWorld } from '../support/delivery-world.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

test('stopping while a receiver takes its time: deliveries get delivery.stop_grace, then are interrupted and deferred', async () => {
  const w = await startDeliveryWorld({
    zones: { 'slow.test': { mx: [{ pref: 10, host: 'mx.slow.test' }] }, 'mx.slow.test': { a: ['127.0.0.21'] } },
    receivers: [{ address: '127.0.0.21', name: 'mx.slow.test', behaviour: { dataDelayMs: 8000 } }],
    overrides: { delivery: { stop_grace: '500ms' }, outbound: { timeouts: { connect: '3s', greeting: '5s', command: '5s', data_end: '2m' } } },
  });
  const rx = w.receiver('127.0.0.21');
  await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...w.sender, from: SENDER, to: ['patient@slow.test'] });
  await rx.waitFor(1);
  const started = Date.now();
  await w.relay.relay.stop();
  const took = Date.now() - started;
  assert.ok(took < 4000, `stop took ${took} ms, the receiver would have taken 8 s`);
  assert.equal(w.relay.log.find('delivery_interrupted').length, 1);
  const attempts = w.relay.log.find('delivery_attempt');
  assert.ok(attempts.every((a) => a.outcome === 'deferred'));
  assert.ok(attempts.some((a) => /connection (closed|lost)/.test(String(a.reply))), 'the transaction in progress was cut');
  assert.match(String(attempts.at(-1)?.reply), /relay stopping; delivery will be retried/);
  // The relay is stopped already; the rest of the world goes.
  w.relay.stop = async () => undefined;
  await w.stop();
});
