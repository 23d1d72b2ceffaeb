import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/shared/clock.js';
import { startTestRelay, type StoreKind, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient, openAuthenticated, sendOn } from '../support/smtp-clients.js';

const DAY = 86_400_000;

async function session(t: TestRelay, sender: { username: string; password: string }): Promise<RawSmtpClient> {
  const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
  const auth = await client.login(sender.username, sender.password);
  assert.match(auth, /^235 /);
  return client;
}

for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`sliding 24-hour quota (${store})`, () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 28, 14, 31, 10));
    let t: TestRelay;

    before(async () => {
      t = await startTestRelay({ store, clock });
    });
    after(() => t.stop());

    test('quota 5: the sixth recipient gets 451 4.7.1 with the time capacity frees', async () => {
      const sender = await t.addSender(5);
      const client = await session(t, sender);
      assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^250 /);
      for (let i = 0; i < 5; i++) assert.match(await client.command(`RCPT TO:<r${i}@example.test>`), /^250 /);
      const sixth = await client.command('RCPT TO:<r5@example.test>');
      // Units sent at 14:31:10 are counted in the 14:31 minute and leave the window at 14:32 the next day: the reply says which day.
      assert.equal(sixth, '451 4.7.1 Sending quota of 5 recipients per 24 hours reached; next free at 2026-11-29 14:32 UTC');
      assert.match(await client.command('DATA'), /^354 /);
      assert.match(await client.command('Subject: q\r\n\r\nq\r\n.'), /^250 /);
      const usage = await t.relay.quota.usage((await t.relay.accounts.credential(sender.username)).id);
      assert.equal(usage.sent, 5);
      assert.equal(usage.remaining, 0);
      assert.equal(usage.suspended?.reason, 'quota');
      assert.equal(usage.suspended?.liftsAt, Date.UTC(2026, 10, 29, 14, 32));
      client.close();
    });

    test('two stacked plans add up; adding a plan lifts the suspension at once', async () => {
      const sender = await t.addSender([2, 3]);
      const client = await session(t, sender);
      await client.command('MAIL FROM:<a@customer.test>');
      for (let i = 0; i < 5; i++) assert.match(await client.command(`RCPT TO:<r${i}@example.test>`), /^250 /);
      assert.match(await client.command('RCPT TO:<over@example.test>'), /^451 4\.7\.1 Sending quota of 5 /);
      await t.relay.accounts.addPlan(sender.username, { quota: 1 });
      assert.match(await client.command('RCPT TO:<over@example.test>'), /^250 /);
      assert.match(await client.command('RCPT TO:<over2@example.test>'), /^451 4\.7\.1 Sending quota of 6 /);
      client.close();
    });

    test('recipients of transactions that end without a message do not count (RSET, QUIT, rejected DATA)', async () => {
      const sender = await t.addSender(3);
      const id = (await t.relay.accounts.credential(sender.username)).id;
      const client = await session(t, sender);
      await client.command('MAIL FROM:<a@customer.test>');
      await client.command('RCPT TO:<r1@example.test>');
      await client.command('RCPT TO:<r2@example.test>');
      assert.equal((await t.relay.quota.usage(id)).held, 2);
      assert.match(await client.command('RSET'), /^250 /);
      assert.equal((await t.relay.quota.usage(id)).held, 0);
      await client.command('MAIL FROM:<a@customer.test>');
      for (let i = 0; i < 3; i++) assert.match(await client.command(`RCPT TO:<r${i}@example.test>`), /^250 /);
      await client.command('DATA');
      // Bare LF: the message is refused, its units are released.
      assert.match(await client.command('Subject: x\n\nbad\r\n.'), /^550 5\.5\.2 /);
      await client.command('MAIL FROM:<a@customer.test>');
      for (let i = 0; i < 3; i++) assert.match(await client.command(`RCPT TO:<r${i}@example.test>`), /^250 /);
      client.write('QUIT\r\n');
      await client.waitClosed();
      for (let i = 0; i < 50 && (await t.relay.quota.usage(id)).held > 0; i++) await new Promise((r) => setTimeout(r, 10));
      const usage = await t.relay.quota.usage(id);
      assert.equal(usage.sent, 0);
      assert.equal(usage.held, 0);
      assert.equal(usage.remaining, 3);
    });

    test('20 concurrent sessions on a quota of 50 accept exactly 50 recipients', async () => {
      const sender = await t.addSender(50);
      const connections = await Promise.all(Array.from({ length: 20 }, () => openAuthenticated({ port: t.port('submission'), ...sender })));
      const results = await Promise.all(
        connections.map(async (connection, c) => {
          let accepted = 0;
          for (let m = 0; m < 5; m++) {
            try {
              const to = [`a${c}-${m}@example.test`, `b${c}-${m}@example.test`];
              const info = await sendOn(connection, 'bulk@customer.test', to, `Subject: ${c}/${m}\r\n\r\nload\r\n`);
              accepted += info.accepted.length;
            } catch (error) {
              assert.match(String((error as Error).message), /451 4\.7\.1/);
              // As with any MTA, a transaction whose recipients were all refused is still open until RSET.
              await new Promise<void>((resolve) => connection.reset(() => resolve()));
            }
          }
          connection.quit();
          return accepted;
        }),
      );
      const total = results.reduce((a, b) => a + b, 0);
      assert.equal(total, 50);
      const usage = await t.relay.quota.usage((await t.relay.accounts.credential(sender.username)).id);
      assert.equal(usage.sent, 50);
      const queued = await t.relay.store.listQueue({ username: sender.username });
      assert.equal(queued.reduce((n, m) => n + m.recipients.length, 0), 50);
    });

    test('the window slides: sending resumes by itself once old units leave it', async () => {
      const sender = await t.addSender(2);
      const client = await session(t, sender);
      await client.command('MAIL FROM:<a@customer.test>');
      assert.match(await client.command('RCPT TO:<one@example.test>'), /^250 /);
      await client.command('DATA');
      await client.command('Subject: 1\r\n\r\n1\r\n.');
      clock.advance(6 * 3_600_000);
      await client.command('MAIL FROM:<a@customer.test>');
      assert.match(await client.command('RCPT TO:<two@example.test>'), /^250 /);
      await client.command('DATA');
      await client.command('Subject: 2\r\n\r\n2\r\n.');
      await client.command('MAIL FROM:<a@customer.test>');
      assert.match(await client.command('RCPT TO:<three@example.test>'), /^451 4\.7\.1 /);
      // 24 hours (and the counting minute) after the first message, its unit frees; the second still counts.
      clock.advance(DAY - 6 * 3_600_000 + 60_000);
      assert.match(await client.command('RCPT TO:<three@example.test>'), /^250 /);
      assert.match(await client.command('RCPT TO:<four@example.test>'), /^451 4\.7\.1 /);
      clock.advance(6 * 3_600_000);
      assert.match(await client.command('RCPT TO:<four@example.test>'), /^250 /);
      client.close();
    });

    test('no active plan: 451 4.7.1 that says so', async () => {
      const sender = await t.addSender([]);
      const client = await session(t, sender);
      await client.command('MAIL FROM:<a@customer.test>');
      assert.equal(await client.command('RCPT TO:<x@example.test>'), '451 4.7.1 No active sending plan for this credential; contact your provider');
      client.close();
    });
  });
}
