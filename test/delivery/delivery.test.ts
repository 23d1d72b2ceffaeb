import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SENDER, parseNotice, startDeliveryWorld, type DeliveryWorld, type ReceiverSpec } from '../support/delivery-world.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

const MINUTE = 60_000;

/** A receiver that refuses mail from 127.0.0.11 the way blocklist-checking servers do. */
const BLOCKING_RECEIVER: ReceiverSpec = {
  address: '127.0.0.25',
  name: 'mx.blocking.test',
  behaviour: {
    refuse: {
      ips: ['127.0.0.11'],
      at: 'mail',
      reply: { code: 554, message: '5.7.1 Service unavailable; client [127.0.0.11] blocked using zen.test' },
    },
  },
};
const DAY = 86_400_000;

describe('delivery to real receivers through real DNS', () => {
  let w: DeliveryWorld;

  before(async () => {
    w = await startDeliveryWorld({
      zones: {
        'mx.test': { mx: [{ pref: 10, host: 'mx1.mx.test' }] },
        'mx1.mx.test': { a: ['127.0.0.21'] },
        'failover.test': { mx: [{ pref: 10, host: 'dead.failover.test' }, { pref: 20, host: 'mx2.failover.test' }] },
        'dead.failover.test': { a: ['127.0.0.30'] },
        'mx2.failover.test': { a: ['127.0.0.22'] },
        'nomx.test': { a: ['127.0.0.23'] },
        'nullmx.test': { mx: [{ pref: 0, host: '.' }] },
        'broken-tls.test': { mx: [{ pref: 10, host: 'mx.broken-tls.test' }] },
        'mx.broken-tls.test': { a: ['127.0.0.24'] },
        'secure.test': { mx: [{ pref: 10, host: 'mx.broken-tls.test' }] },
        'blocking.test': { mx: [{ pref: 10, host: 'mx.blocking.test' }] },
        'mx.blocking.test': { a: ['127.0.0.25'] },
      },
      receivers: [
        { address: '127.0.0.21', name: 'mx1.mx.test' },
        { address: '127.0.0.22', name: 'mx2.failover.test' },
        { address: '127.0.0.23', name: 'nomx.test' },
        { address: '127.0.0.24', name: 'mx.broken-tls.test', behaviour: { tls: 'broken' } },
        BLOCKING_RECEIVER,
      ],
      overrides: { outbound: { tls_policies: { 'secure.test': 'encrypt' } } },
    });
  });
  after(() => w.stop());
  beforeEach(async () => {
    await w.settle();
    for (const r of w.receivers.values()) r.reset();
  });

  async function submit(to: string[], options: { from?: string; subject?: string } = {}): Promise<string> {
    const result = await sendWithNodemailer({
      port: w.relay.port('smtps'),
      implicitTls: true,
      ...w.sender,
      from: options.from ?? SENDER,
      to,
      subject: options.subject ?? 'delivery test',
      text: 'Hello from Relais.',
    });
    return /queued as (\w+)/.exec(result.response)?.[1] as string;
  }

  async function states(id: string): Promise<Record<string, string>> {
    const m = await w.relay.relay.store.findMessage(id);
    return Object.fromEntries((m?.recipients ?? []).map((r) => [r.address, r.state]));
  }

  test('delivers through the MX, with STARTTLS, from a pool address with its EHLO name', async () => {
    const id = await submit(['alice@mx.test']);
    const [message] = await w.receiver('127.0.0.21').waitFor(1);
    assert.ok(message);
    assert.deepEqual(message.rcptTo.map((r) => r.address), ['alice@mx.test']);
    assert.equal(message.mailFrom.address, SENDER);
    assert.match(message.tls?.protocol ?? '', /^TLSv1\.[23]$/);
    assert.ok(['127.0.0.11', '127.0.0.12', '127.0.0.13'].includes(message.remoteAddress));
    assert.equal(message.helo, `out-${message.remoteAddress.split('.')[3]}.relay.test`);
    assert.match(message.raw.toString(), /Subject: delivery test/);
    await w.settle();
    assert.deepEqual(await states(id), { 'alice@mx.test': 'delivered' });
    const attempts = await w.relay.relay.store.delivery.attempts(id);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]?.mx, 'mx1.mx.test');
    assert.equal(attempts[0]?.outcome, 'delivered');
    assert.match(attempts[0]?.tlsVersion ?? '', /^TLSv1\.[23]$/);
  });

  test('the first MX dead: the second MX gets it', async () => {
    const id = await submit(['bob@failover.test']);
    await w.receiver('127.0.0.22').waitFor(1);
    await w.settle();
    assert.deepEqual(await states(id), { 'bob@failover.test': 'delivered' });
    const attempts = await w.relay.relay.store.delivery.attempts(id);
    assert.deepEqual(attempts.map((a) => [a.mx, a.outcome]), [
      ['dead.failover.test', 'deferred'],
      ['mx2.failover.test', 'delivered'],
    ]);
    assert.match(attempts[0]?.reply ?? '', /refused/);
  });

  test('no MX: the domain\'s A record is the mail host', async () => {
    await submit(['carol@nomx.test']);
    const [message] = await w.receiver('127.0.0.23').waitFor(1);
    assert.deepEqual(message?.rcptTo.map((r) => r.address), ['carol@nomx.test']);
  });

  test('null MX and a domain that does not exist fail at once with a failure notice', async () => {
    const id = await submit(['dave@nullmx.test', 'erin@nxdomain.test']);
    // One failure event per destination domain, so one notice each.
    const notices = await w.mailbox.waitFor(2);
    await w.settle();
    assert.deepEqual(await states(id), { 'dave@nullmx.test': 'failed', 'erin@nxdomain.test': 'failed' });
    const all = await Promise.all(notices.map((n) => parseNotice(n.raw)));
    const recipients = all.flatMap((n) => n.status.slice(1));
    const byRecipient = Object.fromEntries(recipients.map((r) => [r['final-recipient'], r]));
    assert.equal(byRecipient['rfc822; dave@nullmx.test']?.action, 'failed');
    assert.equal(byRecipient['rfc822; dave@nullmx.test']?.status, '5.1.10');
    assert.equal(byRecipient['rfc822; erin@nxdomain.test']?.status, '5.1.2');
    for (const n of notices) {
      assert.equal(n.mailFrom.address, '');
      assert.deepEqual(n.rcptTo.map((r) => r.address), [SENDER]);
    }
  });

  test('one transaction for several recipients of a domain; a 250/550 split is settled per recipient', async () => {
    const id = await submit(['ann@mx.test', 'permfail@mx.test', 'ben@mx.test']);
    const [message] = await w.receiver('127.0.0.21').waitFor(1);
    assert.deepEqual(message?.rcptTo.map((r) => r.address).sort(), ['ann@mx.test', 'ben@mx.test']);
    const [notice] = await w.mailbox.waitFor(1);
    await w.settle();
    assert.equal(w.receiver('127.0.0.21').messages.length, 1);
    assert.deepEqual(await states(id), { 'ann@mx.test': 'delivered', 'permfail@mx.test': 'failed', 'ben@mx.test': 'delivered' });
    const parsed = await parseNotice((notice as { raw: Buffer }).raw);
    assert.equal(parsed.status.length, 2);
    assert.equal(parsed.status[1]?.['final-recipient'], 'rfc822; permfail@mx.test');
    assert.equal(parsed.status[1]?.status, '5.1.1');
    assert.match(parsed.status[1]?.['diagnostic-code'] ?? '', /^smtp; 550 5\.1\.1 /);
  });

  test('an internationalised address (SMTPUTF8) is delivered intact', async () => {
    const client = await RawSmtpClient.connect(w.relay.port('smtps'), { implicitTls: true });
    await client.login(w.sender.username, w.sender.password);
    assert.match(await client.command(`MAIL FROM:<${SENDER}> SMTPUTF8`), /^250 /);
    client.write(Buffer.from('RCPT TO:<jos\u00e9@mx.test>\r\n', 'utf8'));
    assert.match(await client.reply(), /^250 /);
    await client.command('DATA');
    const reply = await client.command('Subject: utf8\r\n\r\nol\u00e1\r\n.');
    client.close();
    const id = /queued as (\w+)/.exec(reply)?.[1] as string;
    const [message] = await w.receiver('127.0.0.21').waitFor(1);
    assert.deepEqual(message?.rcptTo.map((r) => r.address), ['jos\u00e9@mx.test']);
    await w.settle();
    assert.deepEqual(await states(id), { 'jos\u00e9@mx.test': 'delivered' });
  });

  test('a receiver whose TLS handshake fails still gets the message, in clear', async () => {
    const id = await submit(['frank@broken-tls.test']);
    const [message] = await w.receiver('127.0.0.24').waitFor(1);
    assert.equal(message?.tls, null);
    await w.settle();
    assert.deepEqual(await states(id), { 'frank@broken-tls.test': 'delivered' });
  });

  test('a domain whose policy requires TLS is never sent in clear: deferred when the handshake fails', async () => {
    const id = await submit(['ivan@secure.test']);
    await w.settle();
    assert.equal(w.receiver('127.0.0.24').messages.length, 0);
    const m = await w.relay.relay.store.findMessage(id);
    assert.equal(m?.recipients[0]?.state, 'deferred');
    assert.match(m?.recipients[0]?.lastReply ?? '', /TLS/);
    // Out of the way of the tests that move the clock and count notices.
    await w.relay.relay.store.delivery.deleteMessage(id, null);
  });

  test('a connection is reused for the next message to the same host', async () => {
    const rx = w.receiver('127.0.0.21');
    const connectionsBefore = rx.connectionCount();
    await submit(['judy@mx.test']);
    await rx.waitFor(1);
    await w.settle();
    await submit(['kim@mx.test']);
    const [first, second] = await rx.waitFor(2);
    assert.equal(second?.sessionId, first?.sessionId);
    assert.equal(second?.transaction, 2);
    assert.ok(rx.connectionCount() - connectionsBefore <= 1);
  });

  test('451 defers; retried on the schedule; delivered when the receiver recovers', async () => {
    const rx = w.receiver('127.0.0.21');
    rx.setBehaviour({ rcpt: { code: 451, message: '4.3.2 Try again later' } });
    const id = await submit(['hal@mx.test']);
    await w.settle();
    const first = await w.relay.relay.store.findMessage(id);
    assert.equal(first?.recipients[0]?.state, 'deferred');
    assert.equal(first?.recipients[0]?.nextAttemptAt, w.clock.now() + 15 * MINUTE);
    assert.match(first?.recipients[0]?.lastReply ?? '', /^451 4\.3\.2/);
    await w.advance(14 * MINUTE);
    assert.equal(rx.refusals.length, 1, 'not retried before its time');
    rx.setBehaviour({ rcpt: undefined });
    await w.advance(MINUTE);
    await rx.waitFor(1);
    await w.settle();
    assert.deepEqual(await states(id), { 'hal@mx.test': 'delivered' });
    assert.equal(w.mailbox.messages.length, 0, 'no notice: delivered within the hour');
  });

  test('never recovers: exactly one delay notice after an hour and one failure notice at give-up, checked field by field', async () => {
    const id = await submit(['tempfail@mx.test'], { subject: 'will not arrive' });
    const accepted = w.clock.now();
    await w.settle();
    for (let t = 15; t <= 60; t += 15) await w.advance(15 * MINUTE);
    await w.advance(MINUTE);
    const [delay] = await w.mailbox.waitFor(1);
    const d = await parseNotice((delay as { raw: Buffer }).raw);
    assert.equal(d.mail.subject, 'Delayed Mail (still being retried)');
    assert.equal(d.mail.headers.get('auto-submitted'), 'auto-replied');
    assert.match(String(d.mail.headers.get('content-type') && (delay as { raw: Buffer }).raw.toString()), /multipart\/report; report-type=delivery-status/);
    assert.equal(d.status[0]?.['reporting-mta'], 'dns; relay.test');
    assert.equal(d.status[0]?.['x-relais-queue-id'], id);
    assert.equal(d.status[1]?.['final-recipient'], 'rfc822; tempfail@mx.test');
    assert.equal(d.status[1]?.action, 'delayed');
    assert.equal(d.status[1]?.status, '4.2.0');
    assert.equal(d.status[1]?.['remote-mta'], 'dns; mx1.mx.test');
    assert.match(d.status[1]?.['diagnostic-code'] ?? '', /^smtp; 451 4\.2\.0/);
    assert.ok(d.status[1]?.['last-attempt-date']);
    assert.ok(d.status[1]?.['will-retry-until']);
    assert.match(d.mail.text ?? '', /temporarily unavailable/);
    assert.match(d.original, /Subject: will not arrive/);
    assert.doesNotMatch(d.original, /Hello from Relais/, 'RET default: headers only');

    // A day later, still no second delay notice.
    await w.advance(DAY);
    assert.equal(w.mailbox.messages.length, 1);
    // Give-up: seven days after acceptance.
    w.clock.set(accepted + 7 * DAY);
    await w.advance(0);
    const notices = await w.mailbox.waitFor(2);
    await w.advance(DAY);
    assert.equal(w.mailbox.messages.length, 2, 'exactly two notices');
    const f = await parseNotice((notices[1] as { raw: Buffer }).raw);
    assert.equal(f.mail.subject, 'Undelivered Mail Returned to Sender');
    assert.equal(f.status[1]?.action, 'failed');
    assert.equal(f.status[1]?.status, '4.2.0');
    // The remote reply exactly as received; Relais's own words only in the plain-words part.
    assert.equal(f.status[1]?.['diagnostic-code'], 'smtp; 451 4.2.0 <tempfail@mx.test>: temporary failure (tempfail requested)');
    assert.match(f.mail.text ?? '', /could not be delivered/);
    assert.match(f.mail.text ?? '', /gave up: undelivered for 168 h/);
    assert.deepEqual(await states(id), { 'tempfail@mx.test': 'failed' });
    const m = await w.relay.relay.store.findMessage(id);
    // every 15 minutes over 7 days would be 673 attempts; the clock jumped, but the last one was at give-up
    assert.equal(m?.recipients[0]?.lastAttemptAt, accepted + 7 * DAY);
    // The stored reply is the remote server's, as received: "gave up" is Relais's word, not the server's.
    assert.equal(m?.recipients[0]?.lastReply, '451 4.2.0 <tempfail@mx.test>: temporary failure (tempfail requested)');
  });

  test('a 550 fails at once with a failure notice; a message with a null sender is never notified', async () => {
    await submit(['permfail@mx.test'], { subject: 'immediate failure' });
    const [notice] = await w.mailbox.waitFor(1);
    const n = await parseNotice((notice as { raw: Buffer }).raw);
    assert.equal(n.status[1]?.action, 'failed');
    assert.match(n.original, /Subject: immediate failure/);
    w.mailbox.clear();

    const client = await RawSmtpClient.connect(w.relay.port('smtps'), { implicitTls: true });
    await client.login(w.sender.username, w.sender.password);
    await client.command('MAIL FROM:<>');
    await client.command('RCPT TO:<permfail@mx.test>');
    await client.command('RCPT TO:<tempfail@mx.test>');
    await client.command('DATA');
    const reply = await client.command('Subject: bounce of a bounce\r\n\r\nx\r\n.');
    client.close();
    const id = /queued as (\w+)/.exec(reply)?.[1] as string;
    await w.settle();
    await w.advance(2 * 60 * MINUTE);
    w.clock.advance(8 * DAY);
    await w.advance(0);
    assert.deepEqual(await states(id), { 'permfail@mx.test': 'failed', 'tempfail@mx.test': 'failed' });
    assert.equal(w.mailbox.messages.length, 0);
    const notices = await w.relay.relay.store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE kind = 'notice' AND created_at > ?", [w.clock.now() - 9 * DAY]);
    assert.ok(Number(notices?.n) >= 1);
  });

  test('NOTIFY=NEVER and RET=FULL are honoured', async () => {
    const client = await RawSmtpClient.connect(w.relay.port('smtps'), { implicitTls: true });
    await client.login(w.sender.username, w.sender.password);
    await client.command(`MAIL FROM:<${SENDER}> RET=FULL ENVID=ENV42`);
    await client.command('RCPT TO:<permfail@mx.test> NOTIFY=NEVER');
    await client.command('RCPT TO:<permfail2@mx.test> NOTIFY=FAILURE ORCPT=rfc822;permfail2@mx.test');
    await client.command('DATA');
    await client.command('Subject: full\r\n\r\nthe whole body\r\n.');
    client.close();
    const [notice] = await w.mailbox.waitFor(1);
    await w.settle();
    const n = await parseNotice((notice as { raw: Buffer }).raw);
    assert.equal(n.status[0]?.['original-envelope-id'], 'ENV42');
    assert.deepEqual(n.status.slice(1).map((s) => s['final-recipient']), ['rfc822; permfail2@mx.test']);
    assert.equal(n.status[1]?.['original-recipient'], 'rfc822;permfail2@mx.test');
    assert.match(n.original, /the whole body/);
    assert.equal(w.mailbox.messages.length, 1);
  });
});

describe('outbound IP failover, and notices turned off by configuration', () => {
  let w: DeliveryWorld;

  before(async () => {
    w = await startDeliveryWorld({
      overrides: {
        notices: { failure: false, delay: false },
        outbound: { timeouts: { connect: '3s', greeting: '5s', command: '2s', data_end: '4s' } },
      },
      zones: {
        'mx.test': { mx: [{ pref: 10, host: 'mx1.mx.test' }] },
        'mx1.mx.test': { a: ['127.0.0.21'] },
        'blocking.test': { mx: [{ pref: 10, host: 'mx.blocking.test' }] },
        'mx.blocking.test': { a: ['127.0.0.25'] },
      },
      receivers: [
        { address: '127.0.0.21', name: 'mx1.mx.test' },
        BLOCKING_RECEIVER,
      ],
    });
  });
  after(() => w.stop());

  async function submit(to: string[]): Promise<string> {
    const result = await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...w.sender, from: SENDER, to });
    return /queued as (\w+)/.exec(result.response)?.[1] as string;
  }

  async function states(id: string): Promise<Record<string, string>> {
    const m = await w.relay.relay.store.findMessage(id);
    return Object.fromEntries((m?.recipients ?? []).map((r) => [r.address, r.state]));
  }

  test('failover: a receiver refusing one source IP with a blocklist 554 gets the mail from another; that IP is avoided', async () => {
    const blocking = w.receiver('127.0.0.25');
    const ids: string[] = [];
    // A fresh pool starts its round robin at 127.0.0.11: the first message meets the refusal.
    for (let i = 0; i < 3; i++) {
      ids.push(await submit([`gina${i}@blocking.test`]));
      await blocking.waitFor(i + 1);
      await w.settle();
    }
    for (const id of ids) assert.equal(Object.values(await states(id))[0], 'delivered');
    assert.ok(blocking.messages.every((m) => m.remoteAddress !== '127.0.0.11'));
    assert.equal(blocking.refusals.filter((r) => r.remoteAddress === '127.0.0.11').length, 1, 'refused once, then avoided');
    assert.ok(w.relay.relay.delivery?.ips.isAvoided('127.0.0.11', 'blocking.test', w.clock.now()));
    assert.ok(!w.relay.relay.delivery?.ips.isAvoided('127.0.0.11', 'other.test', w.clock.now()));
    const avoidances = await w.relay.relay.store.delivery.avoidances(w.clock.now());
    assert.deepEqual(avoidances.map((a) => [a.sourceIp, a.destination]), [['127.0.0.11', 'blocking.test']]);
  });


  test('notices.failure and notices.delay false: failures and delays are recorded, nobody is notified', async () => {
    const failed = await submit(['permfail@mx.test']);
    const delayed = await submit(['tempfail@mx.test']);
    await w.settle();
    await w.advance(61 * 60_000);
    assert.deepEqual(await states(failed), { 'permfail@mx.test': 'failed' });
    assert.deepEqual(await states(delayed), { 'tempfail@mx.test': 'deferred' });
    assert.equal(w.mailbox.messages.length, 0);
    const notices = await w.relay.relay.store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE kind = 'notice'");
    assert.equal(Number(notices?.n), 0);
  });

  test('per-stage timeouts: the answer to the final dot is awaited up to data_end, longer than command', async () => {
    const rx = w.receiver('127.0.0.21');
    // command 2 s, data_end 4 s: a receiver scanning for 3 s is waited for...
    rx.setBehaviour({ dataDelayMs: 3000 });
    const patient = await submit(['mona@mx.test']);
    await w.settle(15_000);
    assert.deepEqual(await states(patient), { 'mona@mx.test': 'delivered' });
    // ...one taking 6 s is given up on, and the recipient deferred.
    rx.setBehaviour({ dataDelayMs: 6000 });
    const slow = await submit(['lena@mx.test']);
    await w.settle(20_000);
    const m = await w.relay.relay.store.findMessage(slow);
    assert.equal(m?.recipients[0]?.state, 'deferred');
    assert.match(m?.recipients[0]?.lastReply ?? '', /time/i);
    rx.setBehaviour({ dataDelayMs: undefined });
  });
});
