import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DestinationQueues, type DeliveryJob } from '../../src/queue/destination-queues.js';

let nextId = 1;
function job(domain: string, credentialId: number | null, recipients = 1): DeliveryJob {
  const messageId = `M${nextId}`;
  return {
    messageId,
    domain,
    credentialId,
    recipients: Array.from({ length: recipients }, () => ({ id: nextId++, messageId, address: `r@${domain}`, domain, orcpt: null, notify: null, attempts: 0, credentialId, leaseOwner: 'test/1.a' })),
  };
}

test('a destination runs at most its limit; the others are not held up by it', () => {
  const q = new DestinationQueues(() => 2);
  for (let i = 0; i < 5; i++) q.add(job('slow.test', 1));
  q.add(job('fast.test', 1));
  const started = [q.next(), q.next(), q.next(), q.next()].map((j) => j?.domain);
  assert.deepEqual(started.sort(), ['fast.test', 'slow.test', 'slow.test', undefined].sort());
  assert.equal(q.waiting, 3);
  assert.equal(q.runnableJobs(), 0, 'the slow destination is at its limit');
});

test('within a destination, credentials take turns whatever their backlog', () => {
  const q = new DestinationQueues(() => 1);
  for (let i = 0; i < 50; i++) q.add(job('d.test', 1));
  q.add(job('d.test', 2));
  q.add(job('d.test', null));
  const order: (number | null)[] = [];
  for (let i = 0; i < 4; i++) {
    const j = q.next() as DeliveryJob;
    order.push(j.credentialId);
    q.done(j);
  }
  assert.deepEqual(order, [1, 2, null, 1]);
});

test('full lanes are reported for claims to skip, and a drained queue forgets its destinations', () => {
  const q = new DestinationQueues(() => 5);
  q.add(job('d.test', 1, 150));
  q.add(job('d.test', 1, 60));
  q.add(job('d.test', 2, 10));
  assert.deepEqual(q.fullLanes(200), [{ domain: 'd.test', credentialId: 1 }]);
  assert.equal(q.laneRecipients('d.test', 1), 210);
  const drained = q.drain();
  assert.equal(drained.length, 3);
  assert.equal(q.waiting, 0);
  assert.deepEqual(q.fullLanes(1), []);
});
