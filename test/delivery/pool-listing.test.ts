import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConnectionPool } from '../../src/delivery/connection-pool.js';
import { IpPool, type OutboundIp } from '../../src/delivery/ip-pool.js';
import { PoolRestrictions } from '../../src/delivery/pool-restrictions.js';
import type { Target } from '../../src/delivery/routing.js';
import { Store } from '../../src/store/store.js';
import { startReceiver, type ReceiverPeer } from '../peers/receiver.js';
import { captureLog } from '../support/log-capture.js';

const TIMEOUTS = { connect: 3000, greeting: 5000, command: 5000, dataEnd: 5000 };
const A: OutboundIp = { address: '127.0.92.31', ehlo: 'a.relay.test' };
const B: OutboundIp = { address: '127.0.92.32', ehlo: 'b.relay.test' };

let rx: ReceiverPeer;
before(async () => {
  rx = await startReceiver({ address: '127.0.92.35', name: 'mx.listing.test' });
});
after(() => rx.stop());

test('an address taken out of rotation: its idle connections are closed and none of them is handed out again', async () => {
  const store = await Store.open('sqlite::memory:', Date.now());
  const log = captureLog();
  const connections = new ConnectionPool({ perHost: 5, total: 10, messagesPerConnection: 100, idleMs: 60_000 }, TIMEOUTS);
  const ips = new IpPool([A, B]);
  const restrictions = new PoolRestrictions(store, ips, connections, ['zen.test'], 1000, log.logger);
  try {
    const target: Target = { name: 'mx.listing.test', ip: rx.address, port: rx.port };
    const opened = await connections.acquire(target, A, 'may');
    assert.ok(opened.ok);
    await connections.release(opened.session);
    assert.equal(connections.idleSource(target, () => true)?.address, A.address);
    // Another node listed A: this node sees it at its next refresh.
    await store.blocklists.recordIpAnswer(A.address as string, 'zen.test', { kind: 'listed', code: '127.0.0.2', reason: 'spam source' }, Date.now());
    // A listing in a zone this relay does not monitor (any more) takes nothing out.
    await store.blocklists.recordIpAnswer(B.address as string, 'old.test', { kind: 'listed', code: '127.0.0.2', reason: null }, Date.now());
    await restrictions.refresh(Date.now());
    assert.equal(connections.stats().idle, 0);
    assert.equal(connections.idleSource(target, () => true), undefined);
    assert.equal(ips.usable(A.address), false);
    assert.equal(ips.usable(B.address), true);
    assert.equal(ips.outOfRotationReason(A.address as string), 'listed in zen.test: spam source');
    assert.deepEqual(log.find('ip_out_of_rotation').map((l) => [l.source_ip, l.idle_closed]), [[A.address, 1]]);
    for (let i = 0; i < 3; i++) assert.equal(ips.choose('listing.test', new Set(), Date.now())?.address, B.address);
    // Delisted: back in rotation at the next refresh.
    await store.blocklists.recordIpAnswer(A.address as string, 'zen.test', { kind: 'clear' }, Date.now());
    await restrictions.refresh(Date.now());
    assert.equal(ips.usable(A.address), true);
    assert.deepEqual(log.find('ip_back_in_rotation').map((l) => l.source_ip), [A.address]);
  } finally {
    connections.closeAll();
    await store.close();
  }
});
