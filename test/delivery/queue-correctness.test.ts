import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { NewMessage } from '../../src/store/records.js';
import { parseNotice, SENDER, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { openAuthenticated, sendOn } from '../support/smtp-clients.js';

/**
 * Delivery correctness (issue 7): a message queued with the same recipient twice goes out once and leaves no row
 * behind; recipient domains named like JavaScript object keys get a verdict like any other domain.
 */
describe('queue correctness end to end', () => {
  let w: DeliveryWorld;
  let n = 0;

  before(async () => {
    w = await startDeliveryWorld({
      zones: { 'mx.test': { mx: [{ pref: 10, host: 'mx1.mx.test' }] }, 'mx1.mx.test': { a: ['127.0.0.21'] } },
      receivers: [{ address: '127.0.0.21', name: 'mx1.mx.test' }],
      // "constructor", "__proto__", "toString": NXDOMAIN, as the real root answers.
      dnsOtherNames: 'nxdomain',
    });
  });
  after(() => w.stop());
  beforeEach(async () => {
    await w.settle();
    for (const r of w.receivers.values()) r.reset();
    w.mailbox.reset();
  });

  /** Queues a message straight into the store, as an earlier version (or another path) may have queued it. */
  async function enqueue(recipients: string[]): Promise<string> {
    const now = w.clock.now();
    const id = `QC${process.pid}X${++n}`;
    const m: NewMessage = {
      id,
      credentialId: null,
      kind: 'message',
      mailFrom: SENDER,
      envid: null,
      ret: null,
      clientIp: '127.0.0.1',
      body: Buffer.from(`From: ${SENDER}\r\nSubject: ${id}\r\n\r\nbody\r\n`),
      recipients: recipients.map((address) => ({ address, domain: address.slice(address.lastIndexOf('@') + 1), orcpt: null, notify: null })),
      createdAt: now,
      retryEvery: 15 * 60_000,
      giveUpAt: now + 7 * 86_400_000,
      delayNoticeAt: now + 3_600_000,
      reservationId: null,
      usageBucket: 0,
    };
    await w.relay.relay.store.enqueue([m]);
    w.relay.relay.scheduler?.wake();
    return id;
  }

  async function states(id: string): Promise<string[]> {
    return ((await w.relay.relay.store.findMessage(id))?.recipients ?? []).map((r) => `${r.address} ${r.state}`);
  }

  test('two queued rows for one address: one delivery, both rows delivered, nothing left leased', async () => {
    const id = await enqueue(['twice@mx.test', 'twice@mx.test']);
    const [received] = await w.receiver('127.0.0.21').waitFor(1);
    assert.deepEqual(received?.rcptTo.map((r) => r.address), ['twice@mx.test']);
    await w.settle();
    assert.deepEqual(await states(id), ['twice@mx.test delivered', 'twice@mx.test delivered']);
    // Past the default lease and a retry interval: nothing is sent again.
    await w.advance(20 * 60_000);
    assert.equal(w.receiver('127.0.0.21').messages.length, 1);
  });

  test('domains named like object keys (constructor, __proto__, toString) fail as NXDOMAIN, with a failure notice', async () => {
    const connection = await openAuthenticated({ port: w.relay.port('submission'), ...w.sender });
    const info = await sendOn(connection, SENDER, ['someone@constructor'], 'Subject: keys\r\n\r\nbody\r\n');
    connection.quit();
    const submitted = /queued as (\w+)/.exec(info.response)?.[1] as string;
    // Not acceptable at RCPT (no underscore in a domain name; toString would be lower-cased), but a queue may hold them.
    const proto = await enqueue(['someone@__proto__']);
    const toString = await enqueue(['someone@toString']);
    const deadline = Date.now() + 15_000;
    const final = async () => [...(await states(submitted)), ...(await states(proto)), ...(await states(toString))];
    while ((await final()).some((s) => !s.endsWith(' failed')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await final(), ['someone@constructor failed', 'someone@__proto__ failed', 'someone@toString failed']);
    for (const id of [submitted, proto, toString]) {
      const [r] = (await w.relay.relay.store.findMessage(id))?.recipients ?? [];
      assert.match(r?.lastReply ?? '', /does not exist/);
    }
    const notices = await w.mailbox.waitFor(3, 10_000);
    const failed = await Promise.all(notices.map(async (m) => (await parseNotice(m.raw)).status.find((f) => f['final-recipient'])?.['final-recipient']));
    assert.deepEqual(failed.sort(), ['rfc822; someone@__proto__', 'rfc822; someone@constructor', 'rfc822; someone@toString']);
    const notice = await parseNotice(notices[0]?.raw as Buffer);
    assert.ok(notice.status.some((f) => f.status === '5.1.2'));
  });
});
