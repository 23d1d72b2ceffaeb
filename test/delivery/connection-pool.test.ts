import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConnectionPool } from '../../src/delivery/connection-pool.js';
import type { OutboundIp } from '../../src/delivery/ip-pool.js';
import type { Target } from '../../src/delivery/routing.js';
import type { OutboundSession } from '../../src/delivery/smtp-client.js';
import { startRawReceiver, type RawReceiverPeer } from '../peers/raw-receiver.js';
import { startReceiver, type ReceiverPeer } from '../peers/receiver.js';
import { SENDER, startDeliveryWorld } from '../support/delivery-world.js';
import { openAuthenticated, sendOn } from '../support/smtp-clients.js';

const TIMEOUTS = { connect: 3000, greeting: 5000, command: 5000, dataEnd: 5000 };
const SOURCE: OutboundIp = { address: '127.0.0.11', ehlo: 'out.relay.test' };

/** Idle sessions, read from the pool's own map: the same on the code before and after the rewrite. */
function idleCount(pool: ConnectionPool): { sessions: number; keys: number } {
  const idle = (pool as unknown as { idle: Map<string, unknown[]> }).idle;
  let sessions = 0;
  for (const list of idle.values()) sessions += list.length;
  return { sessions, keys: idle.size };
}

function opened(result: Awaited<ReturnType<ConnectionPool['acquire']>>): OutboundSession {
  if (!result.ok) throw new Error(`could not connect: ${result.reply}`);
  return result.session;
}

describe('connection pool against real receivers', () => {
  let a: ReceiverPeer;
  let b: ReceiverPeer;
  let hostA: Target;
  let hostB: Target;
  before(async () => {
    a = await startReceiver({ address: '127.0.0.21', name: 'mx.a.test' });
    b = await startReceiver({ address: '127.0.0.22', name: 'mx.b.test' });
    hostA = { name: 'mx.a.test', ip: a.address, port: a.port };
    hostB = { name: 'mx.b.test', ip: b.address, port: b.port };
  });
  after(async () => {
    await a.stop();
    await b.stop();
  });

  test('after closeAll a waiter gives up at once and opens nothing; a session released during its RSET is not kept', async () => {
    const connectionsBefore = a.connectionCount();
    const pool = new ConnectionPool({ perHost: 1, total: 10, messagesPerConnection: 100, idleMs: 5000 }, TIMEOUTS);
    const first = opened(await pool.acquire(hostA, SOURCE, 'may'));
    // Refused at RCPT: the transaction does not end cleanly, so the next one needs an RSET.
    const sent = await first.send(SENDER, ['tempfail@a.test'], Buffer.from('Subject: x\r\n\r\nx\r\n'), 20);
    assert.notEqual(sent.stage, 'done');
    const waiter = pool.acquire(hostA, SOURCE, 'may');
    await new Promise((r) => setTimeout(r, 50));
    const releasing = pool.release(first);
    pool.closeAll();
    const result = await waiter;
    await releasing;
    assert.equal(result.ok, false, 'the waiter got a connection after closeAll');
    assert.match(result.ok ? '' : result.reply, /relay stopping/);
    assert.equal(idleCount(pool).sessions, 0, 'a session released during closeAll went back to the idle list');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.connectionCount() - connectionsBefore, 1, 'a connection was opened after closeAll');
  });

  test('when the per-host limit blocks, idle connections to other hosts stay open', async () => {
    const pool = new ConnectionPool({ perHost: 1, total: 10, messagesPerConnection: 100, idleMs: 5000 }, TIMEOUTS);
    await pool.release(opened(await pool.acquire(hostA, SOURCE, 'may')));
    assert.equal(idleCount(pool).sessions, 1);
    const toB = opened(await pool.acquire(hostB, SOURCE, 'may'));
    let secondToB: OutboundSession | undefined;
    const waiting = pool.acquire(hostB, SOURCE, 'may').then((r) => (secondToB = opened(r)));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(secondToB, undefined, 'host B allows one connection');
    assert.equal(idleCount(pool).sessions, 1, "A's idle connection was closed, which frees nothing for host B");
    await pool.release(toB);
    await waiting;
    assert.equal(secondToB, toB, 'the waiter reused the connection handed back');
    pool.closeAll();
  });

  test('reduceConcurrency: a host that said "too many connections" gets fewer for a while, then its limit again', async () => {
    let now = 0;
    const pool = new ConnectionPool({ perHost: 3, total: 10, messagesPerConnection: 100, idleMs: 5000, reducedForMs: 60_000 }, TIMEOUTS, () => now);
    const two = [opened(await pool.acquire(hostA, SOURCE, 'may')), opened(await pool.acquire(hostA, SOURCE, 'may'))];
    pool.reduceConcurrency(hostA.ip);
    assert.equal(pool.hostLimit(hostA.ip), 1);
    for (const session of two) pool.discard(session);
    const one = opened(await pool.acquire(hostA, SOURCE, 'may'));
    let second: OutboundSession | undefined;
    const waiting = pool.acquire(hostA, SOURCE, 'may').then((r) => (second = opened(r)));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(second, undefined, 'a second connection while the host asked for fewer');
    now += 60_001;
    assert.equal(pool.hostLimit(hostA.ip), 3);
    pool.discard(one);
    await waiting;
    pool.closeAll();
  });

  test('the idle map forgets a target once its connections have timed out', async () => {
    const pool = new ConnectionPool({ perHost: 2, total: 10, messagesPerConnection: 100, idleMs: 1000 }, TIMEOUTS);
    await pool.release(opened(await pool.acquire(hostA, SOURCE, 'may')));
    await pool.release(opened(await pool.acquire(hostB, SOURCE, 'may')));
    assert.equal(idleCount(pool).keys, 2);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(idleCount(pool), { sessions: 0, keys: 0 });
    pool.closeAll();
  });
});

describe('a receiver that answers 554 after the dot and closes', () => {
  let closer: RawReceiverPeer | undefined;
  test('with connections_per_host 2 the third message is still attempted, and stop does not hang', { timeout: 60_000 }, async () => {
    const w = await startDeliveryWorld({
      systemClock: true,
      zones: { 'closer.test': { mx: [{ pref: 10, host: 'mx.closer.test' }] }, 'mx.closer.test': { a: ['127.0.0.26'] } },
      receivers: [],
      overrides: { outbound: { connections_per_host: 2 } },
    });
    closer = await startRawReceiver({
      address: '127.0.0.26',
      port: w.port,
      name: 'mx.closer.test',
      rcptReply: '250 2.1.5 Ok\r\n',
      dataReply: '554 5.7.1 Message refused\r\n',
      closeAfterData: true,
    });
    try {
      const client = await openAuthenticated({ port: w.relay.port('submission'), ...w.sender });
      for (let i = 0; i < 3; i++) await sendOn(client, SENDER, [`r${i}@closer.test`], `Subject: ${i}\r\n\r\nbody\r\n`);
      client.close();
      const deadline = Date.now() + 15_000;
      while (w.relay.log.find('delivery_attempt').filter((l) => /closer\.test/.test(String(l.mx))).length < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const attempts = w.relay.log.find('delivery_attempt').filter((l) => /closer\.test/.test(String(l.mx)));
      assert.equal(attempts.length, 3, `${attempts.length} of 3 messages were attempted: the slots of closed connections were never freed`);
      assert.ok(attempts.every((l) => l.outcome === 'failed'));
      const stopped = Date.now();
      await w.relay.stop();
      assert.ok(Date.now() - stopped < 10_000, 'stop waited for a slot that never came back');
    } finally {
      w.relay.stop = async () => undefined;
      await w.stop();
      await closer.stop();
    }
  });
});
