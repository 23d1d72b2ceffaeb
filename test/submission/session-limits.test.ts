import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient } from '../support/smtp-clients.js';

describe('session limits', () => {
  let t: TestRelay;

  before(async () => {
    t = await startTestRelay({ overrides: { submission: { idle_timeout: '500ms', max_connections: 3, max_errors: 3 } } });
  });
  after(() => t.stop());

  test('an idle client gets 421 4.4.2 and is disconnected', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(await client.reply(5000), /^421 4\.4\.2 /);
    assert.ok(await client.waitClosed());
  });

  test('too many errors in one session: 421 4.7.0 and disconnection', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(await client.command('BOGUS'), /^500 /);
    assert.match(await client.command('BOGUS'), /^500 /);
    client.write('BOGUS\r\n');
    assert.match(await client.reply(), /^500 /);
    assert.match(await client.reply(), /^421 4\.7\.0 Too many errors/);
    assert.ok(await client.waitClosed());
  });

  test('past max_connections, a new client gets 421 4.7.0; the others are served', async () => {
    const open = await Promise.all([1, 2, 3].map(() => RawSmtpClient.connect(t.port('smtps'), { implicitTls: true })));
    const extra = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(extra.greeting, /^421 4\.7\.0 Too many connections/);
    assert.ok(await extra.waitClosed());
    for (const client of open) assert.match(await client.command('NOOP'), /^250 /);
    for (const client of open) client.close();
  });
});
