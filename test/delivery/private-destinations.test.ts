import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newQueueId } from '../../src/queue/queue-id.js';
import { SENDER, parseNotice, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * outbound.allow_private_destinations left at its default (false): a customer cannot make the relay connect to
 * loopback or internal hosts, neither with an address literal nor with an MX of their own; the operator's routes
 * still go where they say.
 */
describe('private destinations refused at RCPT (default setting)', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };

  before(async () => {
    // Delivery stays off (the fixture's default): an accepted literal is only ever answered, never connected to.
    t = await startTestRelay();
    sender = await t.addSender(1000);
  });
  after(() => t.stop());

  test('literals in loopback, private, link-local, unique-local and reserved ranges get 550 5.7.1 saying why', async () => {
    assert.equal(t.config.outbound.allow_private_destinations, false);
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(await client.login(sender.username, sender.password), /^235 /);
    assert.match(await client.command(`MAIL FROM:<${SENDER}>`), /^250 /);
    const refused: [string, RegExp][] = [
      ['[127.0.0.1]', /^550 5\.7\.1 Delivery to private or loopback address \[127\.0\.0\.1\] is not allowed \(loopback range\)$/],
      ['[10.1.2.3]', /^550 5\.7\.1 Delivery to private or loopback address \[10\.1\.2\.3\] is not allowed \(RFC 1918 private range\)$/],
      ['[IPv6:::1]', /^550 5\.7\.1 Delivery to private or loopback address \[ipv6:::1\] is not allowed \(loopback range\)$/],
      ['[ipv6:::ffff:127.0.0.1]', /^550 5\.7\.1 .*\(loopback range\)$/],
      ['[IPv6:fd00::25]', /^550 5\.7\.1 .*\(unique-local range\)$/],
      ['[IPv6:fe80::1]', /^550 5\.7\.1 .*\(link-local range\)$/],
      ['[169.254.169.254]', /^550 5\.7\.1 .*\(link-local range\)$/],
      ['[192.168.0.10]', /^550 5\.7\.1 /],
      ['[172.16.5.4]', /^550 5\.7\.1 /],
      ['[100.64.0.1]', /^550 5\.7\.1 .*\(carrier-grade NAT range\)$/],
      ['[0.0.0.0]', /^550 5\.7\.1 .*\(unspecified range\)$/],
      ['[224.0.0.1]', /^550 5\.7\.1 .*\(multicast range\)$/],
      // Documentation ranges (TEST-NET, 2001:db8::/32) are nobody's mail server either.
      ['[192.0.2.1]', /^550 5\.7\.1 .*\(reserved range\)$/],
    ];
    for (const [literal, reply] of refused) assert.match(await client.command(`RCPT TO:<postmaster@${literal}>`), reply, literal);
    // RFC 5321 wants the IPv6: tag; untagged, the parser or this check refuses it, but it is never accepted.
    assert.match(await client.command('RCPT TO:<postmaster@[::1]>'), /^5\d\d 5\.\d\.\d+ /);
    // What the system resolver would read as 127.0.0.1 is not an address literal at all.
    assert.match(await client.command('RCPT TO:<postmaster@[0177.0.0.1]>'), /^501 5\.1\.3 /);
    // A public address is accepted (and, with delivery off and no DATA, never connected to).
    assert.match(await client.command('RCPT TO:<postmaster@[8.8.8.8]>'), /^250 /);
    assert.match(await client.command('RSET'), /^250 /);
    assert.match(await client.command('QUIT'), /^221 /);
    assert.equal(await t.relay.store.countMessages(), 0);
    // Refused recipients hold no quota.
    assert.equal((await t.relay.quota.usage((await t.relay.accounts.credential(sender.username)).id)).held, 0);
  });
});

describe('private destinations refused at delivery (default setting)', () => {
  let w: DeliveryWorld;

  before(async () => {
    w = await startDeliveryWorld({
      zones: {
        'internal.test': { mx: [{ pref: 10, host: 'mx.internal.test' }] },
        'mx.internal.test': { a: ['127.0.0.21'] },
        'mixed.test': { mx: [{ pref: 10, host: 'mx.mixed.test' }] },
        'mx.mixed.test': { aaaa: ['::ffff:127.0.0.21'] },
      },
      receivers: [
        { address: '127.0.0.21', name: 'mx.internal.test' },
        { address: '127.0.0.22', name: 'smarthost.routed.test' },
      ],
      // The operator's routes: the notice mailbox of the world, and one routed domain, both on loopback.
      routedDomains: { 'customer.test': '127.0.0.29', 'routed.test': '127.0.0.22' },
      overrides: { outbound: { allow_private_destinations: false } },
    });
  });
  after(() => w.stop());

  async function submit(to: string): Promise<string> {
    const r = await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...w.sender, from: SENDER, to: [to] });
    return /queued as (\w+)/.exec(r.response)?.[1] as string;
  }

  test('an MX that resolves to 127.0.0.x fails the recipient with 5.4.4 and a notice; nothing connects to it', async () => {
    assert.equal(w.relay.config.outbound.allow_private_destinations, false);
    const internal = w.receiver('127.0.0.21');
    const id = await submit('someone@internal.test');
    await w.settle();
    const m = await w.relay.relay.store.findMessage(id);
    assert.equal(m?.recipients[0]?.state, 'failed');
    assert.match(m?.recipients[0]?.lastReply ?? '', /^MX mx\.internal\.test of internal\.test resolves to private or loopback address 127\.0\.0\.21 \(loopback range\); delivery there is not allowed$/);
    const [notice] = await w.mailbox.waitFor(1);
    const parsed = await parseNotice((notice as { raw: Buffer }).raw);
    assert.equal(parsed.status[1]?.['final-recipient'], 'rfc822; someone@internal.test');
    assert.equal(parsed.status[1]?.action, 'failed');
    assert.equal(parsed.status[1]?.status, '5.4.4');
    assert.match(parsed.status[1]?.['diagnostic-code'] ?? '', /^X-Relais; MX mx\.internal\.test of internal\.test resolves to private or loopback address 127\.0\.0\.21/);
    // An IPv4-mapped AAAA is the same loopback address.
    w.mailbox.clear();
    const mapped = await submit('someone@mixed.test');
    await w.settle();
    assert.equal((await w.relay.relay.store.findMessage(mapped))?.recipients[0]?.state, 'failed');
    await w.mailbox.waitFor(1);
    assert.equal(internal.connectionCount(), 0, 'the relay never connected to the internal host');
    assert.equal(internal.messages.length, 0);
  });

  test('a literal queued before the check (or while it was off) is refused at delivery, without connecting', async () => {
    const internal = w.receiver('127.0.0.21');
    w.mailbox.clear();
    const now = w.clock.now();
    const id = newQueueId(now);
    const credential = await w.relay.relay.accounts.credential(w.sender.username);
    await w.relay.relay.store.enqueue([
      {
        id,
        credentialId: credential.id,
        kind: 'message',
        mailFrom: SENDER,
        envid: null,
        ret: null,
        clientIp: '127.0.0.1',
        body: Buffer.from('Subject: old literal\r\n\r\nqueued long ago\r\n'),
        recipients: [{ address: 'postmaster@[127.0.0.21]', domain: '[127.0.0.21]', orcpt: null, notify: null }],
        createdAt: now,
        retryEvery: 900_000,
        giveUpAt: now + 7 * 86_400_000,
        delayNoticeAt: now + 3_600_000,
        reservationId: null,
        usageBucket: 0,
      },
    ]);
    w.relay.relay.scheduler?.wake();
    await w.settle();
    const m = await w.relay.relay.store.findMessage(id);
    assert.equal(m?.recipients[0]?.state, 'failed');
    assert.match(m?.recipients[0]?.lastReply ?? '', /private or loopback address \[127\.0\.0\.21\] is not allowed/);
    const [notice] = await w.mailbox.waitFor(1);
    assert.equal((await parseNotice((notice as { raw: Buffer }).raw)).status[1]?.status, '5.4.4');
    assert.equal(internal.connectionCount(), 0);
  });

  test('a route to 127.0.0.x is the operator\'s word and still delivers', async () => {
    const routed = w.receiver('127.0.0.22');
    await submit('anyone@routed.test');
    const [message] = await routed.waitFor(1);
    assert.deepEqual(message?.rcptTo.map((r) => r.address), ['anyone@routed.test']);
  });
});
