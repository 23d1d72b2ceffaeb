import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { simpleParser } from 'mailparser';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/shared/clock.js';
import { startTestRelay, type StoreKind, type TestRelay } from '../support/relay-fixture.js';
import { freePort } from '../support/relay-process.js';
import { RawSmtpClient } from '../support/smtp-clients.js';

const MINUTE = 60_000;

/** The notices a subscription has sent, as the customer's mailbox would show them. */
async function notices(t: TestRelay, subscriptionId: number) {
  const sent = await t.relay.store.subscriptions.noticesSent(subscriptionId);
  return Promise.all(
    sent.map(async (n) => {
      const mail = await simpleParser((await t.relay.store.messageBody(n.queueId as string)) as Buffer);
      return { kind: n.kind, attachments: mail.attachments, to: mail.to && !Array.isArray(mail.to) ? mail.to.text : '', from: mail.from?.text ?? '', subject: mail.subject ?? '', text: mail.text ?? '', html: String(mail.html) };
    }),
  );
}

async function mailFrom(t: TestRelay, username: string, password: string): Promise<string> {
  const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, host: '127.0.104.1' });
  try {
    assert.match(await client.login(username, password), /^235 /);
    return await client.command('MAIL FROM:<billing@customer.test>');
  } finally {
    client.close();
  }
}

for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`subscription lifecycle on a 10-minute term (${store})`, () => {
    const start = Date.UTC(2026, 10, 29, 9, 0);
    const clock = new ManualClock(start);
    let t: TestRelay;

    before(async () => {
      // Fixed ports, as a real relay has: the parameter sheet prints the configured ones.
      const [submission, smtps] = [await freePort('127.0.104.1'), await freePort('127.0.104.1')];
      t = await startTestRelay({
        store,
        clock,
        address: '127.0.104.1',
        overrides: {
          listen: { submission: [`127.0.104.1:${submission}`], smtps: [`127.0.104.1:${smtps}`], smtp: [] },
          offers: { start: { quota: 3, price: '60.00 EUR' }, pro: { quota: 10, price: '120.00 EUR' } },
          lifecycle: { term: '10m', renewal_notice_before: '4m', reminder_before: '2m', downgrade_notice: '3m' },
          fees: { late_reinstatement: '25.00 EUR' },
          provider: { name: 'Example Hosting', from: 'billing@provider.test', support_email: 'support@provider.test', console_url: 'https://console.provider.test' },
        },
      });
    });
    after(() => t.stop());

    async function customerWithCredential(name: string, lang?: 'fr' | 'en') {
      await t.relay.accounts.addCustomer(name, `contact@${name}.test`, lang);
      return t.relay.accounts.addCredential(name);
    }

    test('not renewed: order, reminder, then suspended "expired" at the end; validated late: reinstated with the fee', async () => {
      clock.set(start);
      const { credential, password } = await customerWithCredential('lapsing');
      const s = await t.relay.subscriptions.subscribe(credential.username, 'start');
      assert.equal(s.termEnd, start + 10 * MINUTE);
      assert.equal((await t.relay.quota.usage(credential.id)).quota, 3);
      const [welcome] = await notices(t, s.id);
      assert.equal(welcome?.to, 'contact@lapsing.test');
      const sheet = welcome?.attachments.find((a) => a.contentType === 'application/pdf');
      assert.ok(sheet, 'the set-up notice carries the parameter sheet');
      const text = execFileSync('pdftotext', ['-layout', '-', '-'], { input: sheet.content }).toString().replace(/\s+/g, ' ');
      for (const expected of [
        'Technical parameter sheet',
        'Customer: lapsing',
        `SMTP username: ${credential.username}`,
        'Server name: relay.test',
        `${t.port('submission')} (STARTTLS)`,
        `${t.port('smtps')} (implicit TLS)`,
        '3 recipients per sliding 24 hours',
        'Offer: start (3), Term: 2026-11-29 - 2026-11-29',
        'include:_spf.relay.test',
        'Console: https://console.provider.test',
        'Support: support@provider.test',
      ]) assert.ok(text.includes(expected), `the sheet says "${expected}":\n${text}`);
      assert.ok(!text.includes(password), 'the password is never in the sheet');
      assert.match(text, /SMTP password: given to you when the service was set up/);

      clock.set(start + 5 * MINUTE);
      await t.relay.lifecycle.runNow();
      assert.deepEqual((await notices(t, s.id)).map((n) => n.kind), ['subscribed'], 'nothing is due before the notice time');

      clock.set(start + 6 * MINUTE);
      await t.relay.lifecycle.runNow();
      await t.relay.lifecycle.runNow();
      const [order] = await t.relay.subscriptions.orders({ open: true });
      assert.ok(order && order.subscriptionId === s.id);
      let sent = await notices(t, s.id);
      assert.deepEqual(sent.map((n) => n.kind), ['subscribed', 'renewal_order'], 'running twice sends the order once');
      const orderMail = sent[1] as (typeof sent)[number];
      assert.equal(orderMail.to, 'contact@lapsing.test');
      assert.match(orderMail.from, /"Example Hosting" <billing@provider\.test>/);
      assert.match(orderMail.subject, /Renewal of your start subscription/);
      assert.match(orderMail.text, new RegExp(`Renewal order no\\. ${order.id}`));
      assert.match(orderMail.html, new RegExp(`Renewal order no\\. ${order.id}`));

      clock.set(start + 8 * MINUTE + 30_000);
      await t.relay.lifecycle.runNow();
      await t.relay.lifecycle.runNow();
      assert.deepEqual((await notices(t, s.id)).map((n) => n.kind), ['subscribed', 'renewal_order', 'reminder']);
      assert.match(await mailFrom(t, credential.username, password), /^250 /, 'still sending before the end date');

      clock.set(start + 10 * MINUTE);
      await t.relay.lifecycle.runNow();
      await t.relay.lifecycle.runNow();
      sent = await notices(t, s.id);
      assert.deepEqual(sent.map((n) => n.kind), ['subscribed', 'renewal_order', 'reminder', 'expired']);
      assert.match((sent[3] as (typeof sent)[number]).text, /late reinstatement fee of 25\.00 EUR/);
      assert.equal((await t.relay.accounts.credential(credential.username)).holdReason, 'expired');
      assert.match(await mailFrom(t, credential.username, password), /^550 5\.7\.1 Sending suspended for this account \(expired since /);
      assert.equal((await t.relay.subscriptions.get(s.id)).status, 'expired');

      clock.set(start + 13 * MINUTE);
      const validated = await t.relay.subscriptions.validateRenewal(order.id, 'alice');
      assert.equal(validated.reinstated, true);
      assert.equal(validated.subscription.status, 'active');
      assert.equal(validated.subscription.termStart, start + 10 * MINUTE, 'the new term starts when the old one ended');
      assert.equal(validated.subscription.termEnd, start + 20 * MINUTE);
      assert.equal((await t.relay.accounts.credential(credential.username)).holdReason, null);
      assert.match(await mailFrom(t, credential.username, password), /^250 /);
      const history = await t.relay.suspensions.history(credential.id);
      const charge = history.find((e) => e.kind === 'charge');
      assert.deepEqual(charge?.detail, { fee: 'late_reinstatement', amount: '25.00', currency: 'EUR' });
      assert.deepEqual((await notices(t, s.id)).map((n) => n.kind).slice(4).sort(), ['reinstated', 'renewed']);
      await assert.rejects(t.relay.subscriptions.validateRenewal(order.id), /already validated/);
    });

    test('validated in time: the next term starts at the end date with no suspension, and the next order comes next term', async () => {
      clock.set(start);
      const { credential } = await customerWithCredential('renewing');
      const s = await t.relay.subscriptions.subscribe(credential.username, 'start');
      clock.set(start + 7 * MINUTE);
      await t.relay.lifecycle.runNow();
      const order = (await t.relay.subscriptions.orders({ open: true })).find((o) => o.subscriptionId === s.id);
      assert.ok(order);
      await t.relay.subscriptions.validateRenewal(order.id, 'alice');
      clock.set(start + 9 * MINUTE);
      await t.relay.lifecycle.runNow();
      assert.ok(!(await notices(t, s.id)).some((n) => n.kind === 'reminder'), 'no reminder for a validated order');
      clock.set(start + 10 * MINUTE + 1000);
      await t.relay.lifecycle.runNow();
      const renewed = await t.relay.subscriptions.get(s.id);
      assert.equal(renewed.termStart, start + 10 * MINUTE);
      assert.equal(renewed.status, 'active');
      assert.equal((await t.relay.accounts.credential(credential.username)).holdReason, null);
      assert.equal((await t.relay.quota.usage(credential.id)).quota, 3);
      clock.set(start + 16 * MINUTE + 1000);
      await t.relay.lifecycle.runNow();
      const kinds = (await notices(t, s.id)).map((n) => n.kind);
      assert.equal(kinds.filter((k) => k === 'renewal_order').length, 2, 'one order per term');
    });

    test('upgrade raises the quota at once and charges the difference pro rata; downgrade only before the notice deadline', async () => {
      clock.set(start);
      const { credential, password } = await customerWithCredential('growing', 'fr');
      const s = await t.relay.subscriptions.subscribe(credential.username, 'start');
      const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, host: '127.0.104.1' });
      assert.match(await client.login(credential.username, password), /^235 /);
      assert.match(await client.command('MAIL FROM:<a@growing.test>'), /^250 /);
      for (let i = 0; i < 3; i++) assert.match(await client.command(`RCPT TO:<r${i}@example.test>`), /^250 /);
      assert.match(await client.command('RCPT TO:<r3@example.test>'), /^451 4\.7\.1 Sending quota of 3 /);

      clock.set(start + 5 * MINUTE);
      const { charge } = await t.relay.subscriptions.upgrade(s.id, 'pro', 'alice');
      assert.equal(charge, '30.00 EUR', 'half the term left: half of the 60.00 EUR difference');
      assert.match(await client.command('RCPT TO:<r3@example.test>'), /^250 /, 'the RCPT over the old quota is accepted at once');
      client.close();
      assert.equal((await t.relay.quota.usage(credential.id)).quota, 10);

      clock.set(start + 6 * MINUTE);
      const asked = await t.relay.subscriptions.downgrade(s.id, 'start', 'alice');
      assert.equal(asked.nextOffer, 'start');
      assert.equal((await t.relay.quota.usage(credential.id)).quota, 10, 'a downgrade waits for the next term');
      clock.set(start + 7 * MINUTE + 1);
      await assert.rejects(t.relay.subscriptions.downgrade(s.id, 'start'), /must be asked by 2026-11-29T09:07:00\.000Z/);
      await t.relay.lifecycle.runNow();
      const order = (await t.relay.subscriptions.orders({ open: true })).find((o) => o.subscriptionId === s.id);
      assert.ok(order);
      await t.relay.subscriptions.validateRenewal(order.id);
      clock.set(start + 10 * MINUTE);
      await t.relay.lifecycle.runNow();
      const next = await t.relay.subscriptions.get(s.id);
      assert.equal(next.offer, 'start');
      assert.equal((await t.relay.quota.usage(credential.id)).quota, 3, 'the downgrade applies on the first day of the new term');
      const sent = await notices(t, s.id);
      assert.match((sent.find((n) => n.kind === 'renewal_order') as (typeof sent)[number]).subject, /Renouvellement de votre abonnement/, 'in the customer\'s language');
    });
  });
}
