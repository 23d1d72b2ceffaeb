import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/shared/clock.js';
import { waitUntil } from '../peers/process.js';
import { startReceiver, type ReceiverPeer } from '../peers/receiver.js';
import { yahooStyleReport } from '../support/arf-reports.js';
import { scrape, type Scrape } from '../support/prometheus-scrape.js';
import { startTestRelay, type StoreKind, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

const RELAY = '127.0.101.1';
const CLIENT = '127.0.101.5';
const OUTBOUND = '127.0.101.11';
const DESTINATION = '127.0.101.21';
const MAILBOX = '127.0.101.22';
const MINUTE = 60_000;

/**
 * The whole path, counted: mail submitted over SMTP to a real relay, delivered to a real receiving server (which
 * refuses one recipient with a real 550 and defers another with a 451), a complaint posted to the console's API
 * suspending the credential; /metrics parsed with the Prometheus text-format parser after each step.
 */
for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`GET /metrics follows the mail (${store} store)`, () => {
    let t: TestRelay;
    let destination: ReceiverPeer;
    let mailbox: ReceiverPeer;
    let base: string;
    let sender: { username: string; password: string };
    const clock = new ManualClock(Date.now());

    before(async () => {
      destination = await startReceiver({ address: DESTINATION, name: 'mx.dest.test' });
      mailbox = await startReceiver({ address: MAILBOX, name: 'mx.customer.test' });
      t = await startTestRelay({
        store,
        clock,
        address: RELAY,
        overrides: {
          delivery: { enabled: true },
          // Fixed next hops: no DNS needed, and routes may point at loopback (README, routes).
          routes: { 'dest.test': `${DESTINATION}:${destination.port}`, 'customer.test': `${MAILBOX}:${mailbox.port}` },
          outbound: { ips: [{ address: OUTBOUND, ehlo: 'out.relay.test' }] },
          listen: { console: [`${RELAY}:0`] },
        },
      });
      base = `http://${RELAY}:${t.port('console')}`;
      // A quota of 5 recipients: the sixth is refused with 451 4.7.1.
      sender = await t.addSender(5);
    });
    after(async () => {
      await t.stop();
      await destination.stop();
      await mailbox.stop();
    });

    /** Scrapes until `ready` holds (the store's gauges are re-read at most once a second). */
    async function scrapeUntil(what: string, ready: (s: Scrape) => boolean): Promise<Scrape> {
      let last: Scrape | undefined;
      await waitUntil(
        what,
        async () => {
          last = await scrape(base);
          return ready(last);
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      return last as Scrape;
    }

    const delivered = (s: Scrape, kind = 'message') => s.value('relais_delivery_recipients_total', { outcome: 'delivered', kind });

    test('before any mail: counters at zero, queue empty, the store answered, every family typed', async () => {
      const s = await scrape(base);
      assert.equal(s.family('relais_submission_messages_accepted_total')?.type, 'COUNTER');
      assert.equal(s.value('relais_submission_messages_accepted_total'), 0);
      assert.equal(s.value('relais_submission_recipients_accepted_total'), 0);
      for (const outcome of ['delivered', 'deferred', 'failed']) {
        for (const kind of ['message', 'notice', 'system']) assert.equal(s.value('relais_delivery_recipients_total', { outcome, kind }), 0, `${outcome} ${kind}`);
      }
      assert.equal(s.family('relais_delivery_latency_seconds')?.type, 'HISTOGRAM');
      assert.equal(s.histogram('relais_delivery_latency_seconds').count, 0);
      assert.equal(s.value('relais_store_up'), 1);
      for (const state of ['queued', 'deferred', 'held']) assert.equal(s.value('relais_queue_recipients', { state }), 0);
      assert.equal(s.value('relais_queue_oldest_pending_age_seconds'), 0);
      assert.equal(s.value('relais_credentials_suspended', { reason: 'complaint' }), 0);
      assert.equal(s.value('relais_outbound_address_listed', { address: OUTBOUND }), 0);
      assert.equal(s.value('relais_outbound_addresses_listed'), 0);
      assert.equal(s.value('relais_smtp_sessions_open', { service: 'submission' }), 0);
      // The process's own (prom-client's defaults), in this relay's registry.
      assert.ok(s.family('process_cpu_user_seconds_total'));
      assert.ok(s.family('nodejs_eventloop_lag_seconds'));
    });

    test('accepted mail is counted, then delivered, refused with a real 550 (failed) and deferred with a 451', async () => {
      const first = await sendWithNodemailer({
        host: RELAY,
        port: t.port('submission'),
        ...sender,
        to: ['alice@dest.test', 'permfail@dest.test'],
        subject: 'first',
      });
      assert.match(first.response, /^250 /);
      const second = await sendWithNodemailer({
        host: RELAY,
        port: t.port('submission'),
        ...sender,
        to: ['bob@dest.test', 'tempfail@dest.test', 'carol@dest.test', 'dave@dest.test'],
        subject: 'second',
      });
      // Five units were there: the fourth recipient of the second message is one too many.
      assert.deepEqual(second.rejected, ['dave@dest.test']);

      // The store's gauges are read at most once a second: the counters move first.
      const s = await scrapeUntil(
        'both messages settled',
        (x) => delivered(x) === 3 && delivered(x, 'notice') === 1 && x.value('relais_queue_recipients', { state: 'queued' }) === 0,
      );
      assert.equal(s.value('relais_submission_messages_accepted_total'), 2);
      assert.equal(s.value('relais_submission_recipients_accepted_total'), 5);
      assert.equal(s.value('relais_submission_rejected_total', { command: 'RCPT', reason: 'quota' }), 1);
      // permfail@ got the receiver's "550 5.1.1 no such user"; its sender was sent a failure notice, delivered.
      assert.ok(destination.refusals.some((r) => r.address === 'permfail@dest.test' && r.reply.startsWith('550')));
      assert.equal(s.value('relais_delivery_recipients_total', { outcome: 'failed', kind: 'message' }), 1);
      assert.equal(s.value('relais_delivery_recipients_total', { outcome: 'deferred', kind: 'message' }), 1);
      assert.equal(mailbox.messages.length, 1);
      // The clock stood still: every delivery so far took no time on it.
      const latency = s.histogram('relais_delivery_latency_seconds');
      assert.equal(latency.count, 3);
      assert.equal(latency.buckets.get('0.1'), 3);
      // The deferred recipient waits in the queue.
      assert.equal(s.value('relais_queue_recipients', { state: 'deferred' }), 1);
      assert.equal(s.value('relais_queue_recipients', { state: 'queued' }), 0);
      assert.equal(s.value('relais_queue_oldest_pending_age_seconds'), 0);
    });

    test('the oldest pending recipient ages with the clock', async () => {
      clock.advance(10 * MINUTE);
      const s = await scrape(base);
      assert.equal(s.value('relais_queue_oldest_pending_age_seconds'), 600);
    });

    test('refusals are counted by command and reason: bad recipients, a wrong password', async () => {
      const client = await RawSmtpClient.connect(t.port('submission'), { host: RELAY, localAddress: CLIENT });
      await client.command('EHLO client.test');
      await client.startTls();
      assert.match(await client.login(sender.username, 'not the password'), /^535 /);
      assert.match(await client.login(sender.username, sender.password), /^235 /);
      assert.match(await client.command('MAIL FROM:<sender@customer.test>'), /^250 /);
      assert.match(await client.command('RCPT TO:<no-domain>'), /^501 5\.1\.3 /);
      assert.match(await client.command('RCPT TO:<someone@[127.0.0.1]>'), /^550 5\.7\.1 /);
      assert.match(await client.command('DATA'), /^503 /);
      await client.command('QUIT');
      client.close();
      const s = await scrape(base);
      assert.equal(s.value('relais_submission_rejected_total', { command: 'AUTH', reason: 'auth_failed' }), 1);
      assert.equal(s.value('relais_submission_rejected_total', { command: 'RCPT', reason: 'bad_address' }), 1);
      assert.equal(s.value('relais_submission_rejected_total', { command: 'RCPT', reason: 'private_destination' }), 1);
      assert.equal(s.value('relais_submission_rejected_total', { command: 'DATA', reason: 'protocol' }), 1);
      // Refusals queue nothing.
      assert.equal(s.value('relais_submission_messages_accepted_total'), 2);
    });

    test('open SMTP sessions are counted while they last', async () => {
      const client = await RawSmtpClient.connect(t.port('smtps'), { host: RELAY, localAddress: CLIENT, implicitTls: true });
      try {
        assert.match(await client.login(sender.username, sender.password), /^235 /);
        await scrapeUntil('one session open', (s) => s.value('relais_smtp_sessions_open', { service: 'submission' }) === 1);
      } finally {
        client.close();
      }
      await scrapeUntil('no session open', (s) => s.value('relais_smtp_sessions_open', { service: 'submission' }) === 0);
    });

    test('a complaint suspends the credential: the suspended gauge, held mail, and MAIL FROM refused', async () => {
      const token = (await t.relay.tokens.add('feedback-loop', null)).secret;
      const copy = destination.messages.find((m) => m.raw.toString('latin1').includes('Subject: first'));
      assert.ok(copy, 'the receiver has the first message');
      const response = await fetch(`${base}/api/complaints`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'message/rfc822' },
        body: new Uint8Array(yahooStyleReport(copy.raw)),
      });
      assert.equal(response.status, 201, await response.clone().text());
      assert.equal(((await response.json()) as { suspended: boolean }).suspended, true);
      const s = await scrapeUntil('the suspension shows', (x) => x.value('relais_credentials_suspended', { reason: 'complaint' }) === 1);
      assert.equal(s.value('relais_credentials_suspended', { reason: 'manual' }), 0);
      // The deferred recipient is held with its credential, and held mail is no pending delivery.
      assert.equal(s.value('relais_queue_recipients', { state: 'held' }), 1);
      assert.equal(s.value('relais_queue_recipients', { state: 'deferred' }), 0);
      assert.equal(s.value('relais_queue_oldest_pending_age_seconds'), 0);

      await assert.rejects(
        sendWithNodemailer({ host: RELAY, port: t.port('submission'), ...sender, to: ['erin@dest.test'] }),
        (error: { responseCode?: number }) => error.responseCode === 550,
      );
      const after = await scrape(base);
      assert.equal(after.value('relais_submission_rejected_total', { command: 'MAIL', reason: 'suspended' }), 1);
    });

    test('reinstated, the held recipient is delivered: its latency counts from its acceptance', async () => {
      // The receiver now takes tempfail@ too.
      destination.setBehaviour({ localPartFailures: false });
      const credential = await t.relay.accounts.credential(sender.username);
      await t.relay.suspensions.reinstate(credential.id, { actor: 'test', note: 'resolved with the customer' });
      // The customer's notices of the suspension and the reinstatement go out through the same queue: wait for those too.
      const s = await scrapeUntil(
        'the held recipient delivered and the queue empty',
        (x) => delivered(x) === 4 && ['queued', 'deferred', 'held'].every((state) => x.value('relais_queue_recipients', { state }) === 0),
      );
      const latency = s.histogram('relais_delivery_latency_seconds');
      assert.equal(latency.count, 4);
      assert.equal(latency.sum, 600);
      assert.equal(latency.buckets.get('300'), 3);
      assert.equal(latency.buckets.get('900'), 4);
      assert.equal(s.value('relais_credentials_suspended', { reason: 'complaint' }), 0);
      for (const state of ['queued', 'deferred', 'held']) assert.equal(s.value('relais_queue_recipients', { state }), 0);
    });
  });
}
