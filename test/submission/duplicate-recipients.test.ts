import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient } from '../support/smtp-clients.js';

/** A recipient given twice in one transaction is queued once and counted once, and the client still gets 250. */
describe('repeated RCPT in one transaction', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay();
  });
  after(() => t.stop());

  test('same mailbox (domain in any case) is one recipient and one unit of quota; a local part in another case is another', async () => {
    const sender = await t.addSender(2);
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(await client.login(sender.username, sender.password), /^235 /);
    assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^250 /);
    assert.match(await client.command('RCPT TO:<dup@example.test>'), /^250 2\.1\.5 /);
    assert.match(await client.command('RCPT TO:<dup@example.test>'), /^250 2\.1\.5 /);
    assert.match(await client.command('RCPT TO:<dup@EXAMPLE.Test>'), /^250 2\.1\.5 /);
    assert.match(await client.command('RCPT TO:<Dup@example.test>'), /^250 2\.1\.5 /);
    // Quota 2: the duplicates took nothing, so the two distinct mailboxes used it all.
    assert.match(await client.command('RCPT TO:<third@example.test>'), /^451 4\.7\.1 /);
    assert.match(await client.command('RCPT TO:<dup@example.test>'), /^250 2\.1\.5 /, 'a repeat is no new unit, even at the quota');
    assert.match(await client.command('DATA'), /^354 /);
    const done = await client.command('Subject: dup\r\n\r\nbody\r\n.');
    assert.match(done, /^250 /);
    client.close();
    const id = /queued as (\w+)/.exec(done)?.[1] as string;
    const message = await t.relay.store.findMessage(id);
    assert.deepEqual(message?.recipients.map((r) => r.address), ['dup@example.test', 'Dup@example.test']);
    const usage = await t.relay.quota.usage((await t.relay.accounts.credential(sender.username)).id);
    assert.equal(usage.sent, 2);
  });
});
