import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import path from 'node:path';
import pg from 'pg';
import { describe, test } from 'node:test';
import { PG_ADMIN_URL } from '../support/postgres.js';
import { startTestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient } from '../support/smtp-clients.js';

/** When the store cannot commit, the client is told 451 4.3.0 and never 250; once it recovers, mail flows again. */
describe('store failure', () => {
  test('PostgreSQL unreachable: 451 4.3.0 at DATA, then 250 once it is back', async () => {
    const t = await startTestRelay({ store: 'postgres' });
    const sender = await t.addSender(100);
    const database = new URL(t.config.store.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
      assert.match(await client.login(sender.username, sender.password), /^235 /);
      assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^250 /);
      assert.match(await client.command('RCPT TO:<b@example.test>'), /^250 /);
      assert.match(await client.command('DATA'), /^354 /);
      // The database goes away under the relay between RCPT and the end of DATA.
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database]);
      assert.match(await client.command('Subject: s\r\n\r\nbody\r\n.'), /^451 4\.3\.0 /);
      assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^451 4\.3\.0 /);
      assert.ok(t.log.find('store_error').length > 0);
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^250 /);
      assert.match(await client.command('RCPT TO:<b@example.test>'), /^250 /);
      assert.match(await client.command('DATA'), /^354 /);
      const reply = await client.command('Subject: s\r\n\r\nbody\r\n.');
      assert.match(reply, /^250 2\.0\.0 Ok: queued as /);
      assert.equal(await t.relay.store.countMessages(), 1);
      client.close();
    } finally {
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end();
      await t.stop();
    }
  });

  test('SQLite locked by another writer: 451 4.3.0, then 250 once released', async () => {
    const t = await startTestRelay();
    const sender = await t.addSender(100);
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(await client.login(sender.username, sender.password), /^235 /);
    assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^250 /);
    assert.match(await client.command('RCPT TO:<b@example.test>'), /^250 /);
    assert.match(await client.command('DATA'), /^354 /);
    const intruder = new Database(path.join(t.dir, 'relais.db'));
    intruder.exec('BEGIN EXCLUSIVE');
    try {
      assert.match(await client.command('Subject: s\r\n\r\nbody\r\n.', ), /^451 4\.3\.0 /);
    } finally {
      intruder.exec('ROLLBACK');
      intruder.close();
    }
    assert.equal(await t.relay.store.countMessages(), 0);
    assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^250 /);
    assert.match(await client.command('RCPT TO:<b@example.test>'), /^250 /);
    assert.match(await client.command('DATA'), /^354 /);
    assert.match(await client.command('Subject: s\r\n\r\nbody\r\n.'), /^250 /);
    client.close();
    await t.stop();
  });
});
