import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SENDER, startDeliveryWorld } from '../support/delivery-world.js';
import { openAuthenticated, sendOn } from '../support/smtp-clients.js';

/**
 * Head-of-line blocking (issue 7, item 4): with the shipped outbound.max_connections (100) and
 * initial_connections_per_host (5), more slow messages than there are delivery slots are queued first, then a fast
 * domain's. Each destination has its own queue and limit, so the fast domain does not wait for the slow one.
 */
test('a slow destination uses only its own connections: a fast domain queued behind it finishes first', { timeout: 120_000 }, async () => {
  const w = await startDeliveryWorld({
    systemClock: true,
    zones: {
      'slow.test': { mx: [{ pref: 10, host: 'mx.slow.test' }] },
      'mx.slow.test': { a: ['127.0.0.21'] },
      'fast.test': { mx: [{ pref: 10, host: 'mx.fast.test' }] },
      'mx.fast.test': { a: ['127.0.0.22'] },
    },
    receivers: [
      { address: '127.0.0.21', name: 'mx.slow.test', behaviour: { dataDelayMs: 3000 } },
      { address: '127.0.0.22', name: 'mx.fast.test' },
    ],
    overrides: { delivery: { stop_grace: '1s' } },
  });
  try {
    const slow = w.receiver('127.0.0.21');
    const fast = w.receiver('127.0.0.22');
    const client = await openAuthenticated({ port: w.relay.port('submission'), ...w.sender });
    for (let i = 0; i < 110; i++) await sendOn(client, SENDER, [`s${i}@slow.test`], `Subject: slow ${i}\r\n\r\nbody\r\n`);
    for (let i = 0; i < 20; i++) await sendOn(client, SENDER, [`f${i}@fast.test`], `Subject: fast ${i}\r\n\r\nbody\r\n`);
    client.close();
    const slowBefore = slow.messages.length;
    await fast.waitFor(20, 90_000);
    const slowDone = slow.messages.length - slowBefore;
    // Within one round of the slow host (it starts at initial_connections_per_host, 5, 3 s each) at most, not
    // after its backlog.
    assert.ok(slowDone <= 5, `the fast domain finished only after ${slowDone} more slow messages: it waited for the slow one's slots`);
    // The slow destination never had more than its own connections: its window, which its successes grow from 5
    // towards connections_per_host (20).
    assert.ok(slow.connectionCount() <= 20, `${slow.connectionCount()} connections to the slow host`);
  } finally {
    await w.stop();
  }
});

/**
 * Between customers (item 4): within one destination, credentials take turns, so one credential's backlog does
 * not delay another's single message by more than one transaction per connection.
 */
test("one credential's backlog does not hold up another credential's message to the same destination", { timeout: 120_000 }, async () => {
  const w = await startDeliveryWorld({
    systemClock: true,
    zones: { 'busy.test': { mx: [{ pref: 10, host: 'mx.busy.test' }] }, 'mx.busy.test': { a: ['127.0.0.23'] } },
    receivers: [{ address: '127.0.0.23', name: 'mx.busy.test', behaviour: { dataDelayMs: 200 } }],
    overrides: { delivery: { stop_grace: '1s' } },
  });
  try {
    const rx = w.receiver('127.0.0.23');
    const bulk = await openAuthenticated({ port: w.relay.port('submission'), ...w.sender });
    for (let i = 0; i < 150; i++) await sendOn(bulk, 'bulk@customer.test', [`r${i}@busy.test`], `Subject: bulk ${i}\r\n\r\nbody\r\n`);
    bulk.close();
    const other = await w.relay.addSender(1000);
    const single = await openAuthenticated({ port: w.relay.port('submission'), ...other });
    const receivedBefore = rx.messages.length;
    await sendOn(single, 'single@customer.test', ['one@busy.test'], 'Subject: single\r\n\r\nbody\r\n');
    single.close();
    const deadline = Date.now() + 60_000;
    let at = -1;
    while (at < 0 && Date.now() < deadline) {
      at = rx.messages.findIndex((m) => m.mailFrom.address === 'single@customer.test');
      if (at < 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(at >= 0, 'the single message never arrived');
    const bulkLeft = 150 - receivedBefore;
    const aheadOfIt = at - receivedBefore;
    // At most the transactions under way (5 connections) and one turn of the bulk credential go first.
    assert.ok(aheadOfIt <= 10, `${aheadOfIt} bulk messages (of the ${bulkLeft} waiting) were delivered before the other credential's one message`);
  } finally {
    await w.stop();
  }
});
