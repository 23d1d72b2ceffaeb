import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import YAML from 'yaml';
import { SENDER, parseNotice, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { runCli } from '../support/relay-process.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * What a receiver's reply does to recipients and to the outbound pool (issue 7), with real receivers answering
 * the texts real servers publish. The shipped defaults throughout; only the clock is moved.
 */
const MINUTE = 60_000;

async function submitTo(w: DeliveryWorld, to: string[]): Promise<string> {
  const result = await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...w.sender, from: SENDER, to, subject: 'verdicts', text: 'Hello.' });
  return /queued as (\w+)/.exec(result.response)?.[1] as string;
}

/** Submits with DSN parameters on every RCPT, as RFC 3461 clients write them. */
async function submitWithNotify(w: DeliveryWorld, to: string, notify: string): Promise<string> {
  const client = await RawSmtpClient.connect(w.relay.port('smtps'), { implicitTls: true });
  await client.login(w.sender.username, w.sender.password);
  await client.command(`MAIL FROM:<${SENDER}> RET=HDRS ENVID=ENV-${notify.replace(/,/g, '-')}`);
  await client.command(`RCPT TO:<${to}> NOTIFY=${notify} ORCPT=rfc822;${to}`);
  await client.command('DATA');
  const reply = await client.command('Subject: tell me when it arrives\r\n\r\nbody\r\n.');
  client.close();
  const id = /queued as (\w+)/.exec(reply)?.[1];
  assert.ok(id, `submission refused: ${reply}`);
  return id;
}

async function recipientsOf(w: DeliveryWorld, id: string) {
  const m = await w.relay.relay.store.findMessage(id);
  return Object.fromEntries((m?.recipients ?? []).map((r) => [r.address, r]));
}

describe('verdicts on published replies, with a pool of three addresses', () => {
  let w: DeliveryWorld;

  before(async () => {
    w = await startDeliveryWorld({
      zones: {
        'postfix.test': { mx: [{ pref: 10, host: 'mx.postfix.test' }] },
        'mx.postfix.test': { a: ['127.0.0.21'] },
        'limited.test': { mx: [{ pref: 10, host: 'mx.limited.test' }] },
        'mx.limited.test': { a: ['127.0.0.22'] },
        'nodsn.test': { mx: [{ pref: 10, host: 'mx.nodsn.test' }] },
        'mx.nodsn.test': { a: ['127.0.0.23'] },
      },
      receivers: [
        { address: '127.0.0.21', name: 'mx.postfix.test' },
        // Postfix's smtpd_recipient_limit, lowered to 2 so that 5 recipients need three transactions.
        {
          address: '127.0.0.22',
          name: 'mx.limited.test',
          behaviour: { maxRecipients: { limit: 2, reply: { code: 452, message: '4.5.3 Error: too many recipients' } } },
        },
        { address: '127.0.0.23', name: 'mx.nodsn.test', dsn: false },
      ],
    });
  });
  after(() => w.stop());
  beforeEach(async () => {
    await w.settle();
    for (const r of w.receivers.values()) r.reset();
  });

  test('Postfix\'s "User unknown in local recipient table" fails the recipient at once and avoids no address', async () => {
    const rx = w.receiver('127.0.0.21');
    const reply = '5.1.1 <bob@postfix.test>: Recipient address rejected: User unknown in local recipient table';
    rx.setBehaviour({ rcpt: { code: 550, message: reply } });
    const id = await submitTo(w, ['bob@postfix.test']);
    const [notice] = await w.mailbox.waitFor(1);
    await w.settle();
    const bob = (await recipientsOf(w, id))['bob@postfix.test'];
    assert.equal(bob?.state, 'failed');
    assert.equal(bob?.lastReply, `550 ${reply}`);
    const n = await parseNotice((notice as { raw: Buffer }).raw);
    assert.equal(n.status[1]?.action, 'failed');
    assert.equal(n.status[1]?.status, '5.1.1');
    assert.equal(n.status[1]?.['diagnostic-code'], `smtp; 550 ${reply}`);
    assert.equal(rx.refusals.length, 1, 'one attempt from one address: the reply is the recipient\'s, not the IP\'s');
    for (const ip of ['127.0.0.11', '127.0.0.12', '127.0.0.13']) assert.ok(!w.relay.relay.delivery?.ips.isAvoided(ip, 'postfix.test', w.clock.now()), ip);
    assert.deepEqual(await w.relay.relay.store.delivery.avoidances(w.clock.now()), []);
    // Another customer's mail to the same domain goes at once.
    rx.setBehaviour({ rcpt: undefined });
    const other = await submitTo(w, ['carol@postfix.test']);
    await rx.waitFor(1);
    await w.settle();
    assert.equal((await recipientsOf(w, other))['carol@postfix.test']?.state, 'delivered');
  });

  test('postgrey\'s "Greylisted" defers on the schedule, avoids no address, and is delivered on retry', async () => {
    const rx = w.receiver('127.0.0.21');
    rx.setBehaviour({
      rcpt: { code: 450, message: '4.2.0 <dan@postfix.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/postfix.test.html' },
    });
    const id = await submitTo(w, ['dan@postfix.test']);
    await w.settle();
    const dan = (await recipientsOf(w, id))['dan@postfix.test'];
    assert.equal(dan?.state, 'deferred');
    assert.equal(dan?.nextAttemptAt, w.clock.now() + 15 * MINUTE);
    assert.equal(rx.refusals.length, 1, 'greylisting restarts on another address: no failover');
    assert.deepEqual(await w.relay.relay.store.delivery.avoidances(w.clock.now()), []);
    rx.setBehaviour({ rcpt: undefined });
    await w.advance(15 * MINUTE);
    await rx.waitFor(1);
    await w.settle();
    assert.equal((await recipientsOf(w, id))['dan@postfix.test']?.state, 'delivered');
  });

  test('a 552 at RCPT (Dovecot\'s quota reply) is read as 452: deferred, no failure notice', async () => {
    const rx = w.receiver('127.0.0.21');
    rx.setBehaviour({ rcpt: { code: 552, message: '5.2.2 <erin@postfix.test> Quota exceeded (mailbox for user is full)' } });
    const id = await submitTo(w, ['erin@postfix.test']);
    await w.settle();
    const erin = (await recipientsOf(w, id))['erin@postfix.test'];
    assert.equal(erin?.state, 'deferred');
    assert.equal(erin?.lastReply, '552 5.2.2 <erin@postfix.test> Quota exceeded (mailbox for user is full)');
    await w.advance(MINUTE);
    assert.equal(w.mailbox.messages.length, 0);
    const status = await w.relay.relay.store.db.get<{ status: string }>('SELECT status FROM recipients WHERE address = ?', ['erin@postfix.test']);
    assert.equal(status?.status, '4.2.2');
    rx.setBehaviour({ rcpt: undefined });
    await w.advance(15 * MINUTE);
    assert.equal((await recipientsOf(w, id))['erin@postfix.test']?.state, 'delivered');
  });

  test('"452 4.5.3 Error: too many recipients": the rest go out at once in further transactions', async () => {
    const rx = w.receiver('127.0.0.22');
    const to = ['r1@limited.test', 'r2@limited.test', 'r3@limited.test', 'r4@limited.test', 'r5@limited.test'];
    const id = await submitTo(w, to);
    const messages = await rx.waitFor(3);
    await w.settle();
    assert.deepEqual(messages.map((m) => m.rcptTo.length), [2, 2, 1]);
    assert.deepEqual(messages.flatMap((m) => m.rcptTo.map((r) => r.address)).sort(), to);
    const all = await recipientsOf(w, id);
    assert.deepEqual(to.map((a) => all[a]?.state), ['delivered', 'delivered', 'delivered', 'delivered', 'delivered']);
    const attempts = await w.relay.relay.store.delivery.attempts(id);
    assert.deepEqual(attempts.map((a) => [a.recipients.length, a.delivered, a.outcome]), [
      [5, 2, 'partial'],
      [3, 2, 'partial'],
      [1, 1, 'delivered'],
    ]);
  });

  test('NOTIFY=SUCCESS to a next hop without DSN: one "relayed" notice (RFC 3464); NOTIFY=FAILURE,DELAY: none', async () => {
    const rx = w.receiver('127.0.0.23');
    const id = await submitWithNotify(w, 'fay@nodsn.test', 'SUCCESS');
    await rx.waitFor(1);
    const [notice] = await w.mailbox.waitFor(1);
    await w.settle();
    assert.equal((await recipientsOf(w, id))['fay@nodsn.test']?.state, 'delivered');
    assert.equal(notice?.mailFrom.address, '');
    assert.deepEqual(notice?.rcptTo.map((r) => r.address), [SENDER]);
    const n = await parseNotice((notice as { raw: Buffer }).raw);
    assert.equal(n.mail.subject, 'Successful Mail Delivery Report');
    assert.equal(n.status[0]?.['original-envelope-id'], 'ENV-SUCCESS');
    assert.equal(n.status.length, 2);
    assert.equal(n.status[1]?.['final-recipient'], 'rfc822; fay@nodsn.test');
    assert.equal(n.status[1]?.['original-recipient'], 'rfc822;fay@nodsn.test');
    assert.equal(n.status[1]?.action, 'relayed');
    assert.equal(n.status[1]?.status, '2.0.0');
    assert.equal(n.status[1]?.['remote-mta'], 'dns; mx.nodsn.test');
    assert.match(n.status[1]?.['diagnostic-code'] ?? '', /^smtp; 250 /);
    assert.match(n.mail.text ?? '', /do not send delivery notifications/);
    assert.match(n.original, /Subject: tell me when it arrives/);
    assert.doesNotMatch(n.original, /body/, 'headers only: the message was delivered');

    w.mailbox.clear();
    const countNotices = async () => Number((await w.relay.relay.store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE kind = 'notice'"))?.n);
    const noticesBefore = await countNotices();
    const quiet = await submitWithNotify(w, 'gus@nodsn.test', 'FAILURE,DELAY');
    await rx.waitFor(2);
    await w.settle();
    assert.equal((await recipientsOf(w, quiet))['gus@nodsn.test']?.state, 'delivered');
    await w.advance(MINUTE);
    assert.equal(w.mailbox.messages.length, 0);
    assert.equal(await countNotices(), noticesBefore, 'no notice queued at all');
  });

  test('NOTIFY=SUCCESS to a next hop that offers DSN: the parameters are passed on and Relais sends no notice of its own', async () => {
    const rx = w.receiver('127.0.0.21');
    const countNotices = async () => Number((await w.relay.relay.store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE kind = 'notice'"))?.n);
    const noticesBefore = await countNotices();
    const id = await submitWithNotify(w, 'hal@postfix.test', 'SUCCESS');
    const [received] = await rx.waitFor(1);
    await w.settle();
    assert.equal((await recipientsOf(w, id))['hal@postfix.test']?.state, 'delivered');
    assert.deepEqual(received?.rcptTo[0]?.dsn?.notify, ['SUCCESS']);
    assert.deepEqual(received?.dsn, { ret: 'HDRS', envid: 'ENV-SUCCESS' });
    await w.advance(MINUTE);
    assert.equal(await countNotices(), noticesBefore, 'the next hop notifies, not Relais');
  });
});

describe('a 421 and a blocked address with a pool of one', () => {
  let w: DeliveryWorld;
  let configFile: string;

  before(async () => {
    w = await startDeliveryWorld({
      outboundIps: ['127.0.0.11'],
      zones: {
        'busy.test': { mx: [{ pref: 10, host: 'mx.busy.test' }] },
        'mx.busy.test': { a: ['127.0.0.24'] },
      },
      receivers: [{ address: '127.0.0.24', name: 'mx.busy.test' }],
    });
    configFile = path.join(w.relay.dir, 'relais.yaml');
    fs.writeFileSync(
      configFile,
      YAML.stringify({ hostname: 'relay.test', data_dir: w.relay.dir, store: { url: w.relay.config.store.url }, outbound: { ips: w.relay.config.outbound.ips } }),
    );
  });
  after(() => w.stop());
  beforeEach(async () => {
    await w.settle();
    for (const r of w.receivers.values()) r.reset();
  });

  /** `relais queue show ID --json`, run as the operator runs it. */
  async function show(id: string): Promise<{ recipients: { state: string; attempts: number }[]; attempts: { source_ip: string | null; reply: string; outcome: string }[] }> {
    const out = await runCli(['queue', 'show', id, '--json', '--config', configFile]);
    assert.equal(out.code, 0, out.stderr);
    return JSON.parse(out.stdout) as Awaited<ReturnType<typeof show>>;
  }

  test('"421 4.7.0 Too many concurrent connections" defers, lowers the host\'s connections, avoids nothing; retries go on', async () => {
    const rx = w.receiver('127.0.0.24');
    rx.setBehaviour({ refuse: { ips: ['127.0.0.11'], at: 'connect', reply: { code: 421, message: '4.7.0 Too many concurrent connections' } } });
    const id = await submitTo(w, ['hank@busy.test']);
    await w.settle();
    assert.equal((await recipientsOf(w, id))['hank@busy.test']?.state, 'deferred');
    assert.ok(!w.relay.relay.delivery?.ips.isAvoided('127.0.0.11', 'busy.test', w.clock.now()), 'a 421 about load is not about the address');
    const pool = (w.relay.relay.delivery as unknown as { connections: { hostLimit(ip: string): number } }).connections;
    assert.ok(pool.hostLimit('127.0.0.24') < 5, 'the host asked for fewer connections');
    // Still refused at the next two retries, then it lets the relay in.
    await w.advance(15 * MINUTE);
    await w.advance(15 * MINUTE);
    assert.equal(rx.refusals.length, 3);
    rx.setBehaviour({ refuse: undefined });
    await w.advance(15 * MINUTE);
    await rx.waitFor(1);
    await w.settle();
    const shown = await show(id);
    assert.equal(shown.recipients[0]?.state, 'delivered');
    assert.equal(shown.recipients[0]?.attempts, 4);
    assert.equal(shown.attempts.length, 4, 'every attempt counted is listed');
    assert.deepEqual(shown.attempts.map((a) => a.outcome), ['deferred', 'deferred', 'deferred', 'delivered']);
    assert.match(shown.attempts[0]?.reply ?? '', /^421 4\.7\.0 Too many concurrent connections/);
  });

  test('"421 4.3.2 Service shutting down" after the dot defers and avoids nothing', async () => {
    const rx = w.receiver('127.0.0.24');
    rx.setBehaviour({ data: { code: 421, message: '4.3.2 Service shutting down' } });
    const id = await submitTo(w, ['ida@busy.test']);
    await w.settle();
    const ida = (await recipientsOf(w, id))['ida@busy.test'];
    assert.equal(ida?.state, 'deferred');
    assert.match(ida?.lastReply ?? '', /^421 4\.3\.2 Service shutting down/);
    assert.ok(!w.relay.relay.delivery?.ips.isAvoided('127.0.0.11', 'busy.test', w.clock.now()));
    rx.setBehaviour({ data: undefined });
    await w.advance(15 * MINUTE);
    assert.equal((await recipientsOf(w, id))['ida@busy.test']?.state, 'delivered');
  });

  test('the only address blocklisted: avoided, yet retried through on the schedule, delivered once delisted, every attempt listed', async () => {
    const rx = w.receiver('127.0.0.24');
    rx.setBehaviour({
      refuse: {
        ips: ['127.0.0.11'],
        at: 'mail',
        reply: { code: 554, message: '5.7.1 Service unavailable; Client host [127.0.0.11] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/127.0.0.11' },
      },
    });
    const id = await submitTo(w, ['jack@busy.test']);
    await w.settle();
    assert.equal((await recipientsOf(w, id))['jack@busy.test']?.state, 'deferred');
    assert.ok(w.relay.relay.delivery?.ips.isAvoided('127.0.0.11', 'busy.test', w.clock.now()));
    for (let i = 0; i < 3; i++) await w.advance(15 * MINUTE);
    assert.equal(rx.refusals.length, 4, 'the avoided address still carries the retries');
    rx.setBehaviour({ refuse: undefined });
    await w.advance(15 * MINUTE);
    await rx.waitFor(1);
    await w.settle();
    const shown = await show(id);
    assert.equal(shown.recipients[0]?.state, 'delivered');
    assert.equal(shown.attempts.length, shown.recipients[0]?.attempts);
    assert.deepEqual(shown.attempts.map((a) => a.outcome), ['blocked-ip', 'blocked-ip', 'blocked-ip', 'blocked-ip', 'delivered']);
    assert.ok(shown.attempts.every((a) => a.source_ip === '127.0.0.11'));
  });
});

describe('outbound.ip_block_patterns set by the operator', () => {
  let w: DeliveryWorld;
  /** Comcast's block of an address: no built-in pattern names it, the operator's does. */
  const COMCAST_BLOCK = '5.7.1 resimta-ch2-18v.sys.comcast.net comcast 127.0.0.11 Comcast block for spam.  Please see http://postmaster.comcast.net/smtp-error-codes.php#BL000000';

  before(async () => {
    w = await startDeliveryWorld({
      outboundIps: ['127.0.0.11', '127.0.0.12'],
      overrides: { outbound: { ip_block_patterns: ['postmaster\\.comcast\\.net/smtp-error-codes\\.php#BL'] } },
      zones: {
        'comcast.test': { mx: [{ pref: 10, host: 'mx.comcast.test' }] },
        'mx.comcast.test': { a: ['127.0.0.26'] },
      },
      receivers: [{ address: '127.0.0.26', name: 'mx.comcast.test', behaviour: { refuse: { ips: ['127.0.0.11'], at: 'mail', reply: { code: 554, message: COMCAST_BLOCK } } } }],
    });
  });
  after(() => w.stop());

  test('a reply matching the operator\'s pattern moves the mail to another address; a recipient\'s reply still fails', async () => {
    const rx = w.receiver('127.0.0.26');
    const id = await submitTo(w, ['kim@comcast.test']);
    const [message] = await rx.waitFor(1);
    await w.settle();
    assert.equal(message?.remoteAddress, '127.0.0.12');
    assert.equal((await recipientsOf(w, id))['kim@comcast.test']?.state, 'delivered');
    assert.ok(w.relay.relay.delivery?.ips.isAvoided('127.0.0.11', 'comcast.test', w.clock.now()));
    // A recipient's reply is still the recipient's.
    rx.setBehaviour({ refuse: undefined, rcpt: { code: 550, message: '5.1.1 <lee@comcast.test> Not our Customer' } });
    const unknown = await submitTo(w, ['lee@comcast.test']);
    await w.mailbox.waitFor(1);
    await w.settle();
    assert.equal((await recipientsOf(w, unknown))['lee@comcast.test']?.state, 'failed');
    assert.ok(!w.relay.relay.delivery?.ips.isAvoided('127.0.0.12', 'comcast.test', w.clock.now()));
  });
});
