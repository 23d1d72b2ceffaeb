import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

describe('hostile input', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };

  before(async () => {
    t = await startTestRelay({
      overrides: { auth: { max_failures_per_ip: 5, max_failures_per_user: 1000, block_for: '1h' }, submission: { max_message_size: '1MB' } },
    });
    sender = await t.addSender(100_000);
  });
  after(() => t.stop());

  async function authenticated(): Promise<RawSmtpClient> {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(await client.login(sender.username, sender.password), /^235 /);
    return client;
  }

  async function queuedCount(): Promise<number> {
    return t.relay.store.countMessages();
  }

  test('malformed commands get clear 5xx replies and the session goes on', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(await client.command('EHLO'), /^501 5\.5\.4 Syntax: EHLO hostname/);
    assert.match(await client.command('FOO bar'), /^500 5\.5\.2 /);
    assert.match(await client.command(''), /^500 5\.5\.2 /);
    assert.match(await client.command('\x00\x01\x02binary'), /^500 5\.5\.2 /);
    assert.match(await client.command('EHLO client.test'), /^250-relay\.test/);
    assert.match(await client.command('AUTH CRAM-MD5'), /^504 5\.5\.4 /);
    assert.match(await client.command('AUTH PLAIN !!!notbase64'), /^501 5\.5\.2 /);
    assert.match(await client.login(sender.username, sender.password), /^235 /);
    assert.match(await client.command('MAIL FROM:'), /^501 5\.5\.4 /);
    assert.match(await client.command('MAIL FROM:<no-at-sign>'), /^501 5\.1\.7 /);
    assert.match(await client.command('MAIL FROM:<a@b.test> FROBNICATE=1'), /^555 5\.5\.4 /);
    assert.match(await client.command('MAIL FROM:<a@b.test> SIZE=99999999999'), /^552 5\.3\.4 /);
    assert.match(await client.command('RCPT TO:<x@y.test>'), /^503 5\.5\.1 /);
    assert.match(await client.command('DATA'), /^503 5\.5\.1 /);
    assert.match(await client.command('MAIL FROM:<>'), /^250 /);
    assert.match(await client.command('MAIL FROM:<a@b.test>'), /^503 5\.5\.1 /);
    assert.match(await client.command('RCPT TO:<postmaster>'), /^501 5\.1\.3 /);
    assert.match(await client.command('RCPT TO:<x@y.test> NOTIFY=SOMETIMES'), /^501 5\.5\.4 /);
    assert.match(await client.command('RCPT TO:<jos\u00e9@y.test>'), /^553 5\.6\.7 /);
    assert.match(await client.command('RCPT TO:<x@y.test>'), /^250 /);
    assert.match(await client.command('DATA extra'), /^501 5\.5\.4 /);
    assert.match(await client.command('BDAT 10 LAST'), /^502 5\.5\.1 /);
    assert.match(await client.command('NOOP'), /^250 /);
    assert.match(await client.command('DATA'), /^354 /);
    assert.match(await client.command('Subject: still fine\r\n\r\nok\r\n.'), /^250 2\.0\.0 Ok: queued as /);
    assert.match(await client.command('QUIT'), /^221 /);
  });

  test('a 1 MB command line gets 500 5.5.2 and the session goes on', async () => {
    const client = await authenticated();
    client.write(`MAIL FROM:<${'a'.repeat(1024 * 1024)}@b.test>\r\n`);
    assert.match(await client.reply(), /^500 5\.5\.2 Line too long/);
    client.write(`${'x'.repeat(1024 * 1024)}\r\n`);
    assert.match(await client.reply(), /^500 5\.5\.2 Line too long/);
    assert.match(await client.command('NOOP'), /^250 /);
    assert.match(await client.command('MAIL FROM:<a@b.test>'), /^250 /);
    client.close();
  });

  test('a 1 MB line inside DATA is refused with 500 5.5.2, nothing is queued, the session goes on', async () => {
    const client = await authenticated();
    const before = await queuedCount();
    await client.command('MAIL FROM:<a@b.test>');
    await client.command('RCPT TO:<c@d.test>');
    await client.command('DATA');
    client.write(`Subject: long\r\n\r\n${'y'.repeat(1000 * 1000)}\r\n.\r\n`);
    assert.match(await client.reply(), /^500 5\.5\.2 Message has a line longer than 998 octets/);
    assert.equal(await queuedCount(), before);
    assert.match(await client.command('MAIL FROM:<a@b.test>'), /^250 /);
    client.close();
  });

  test('a message over the size limit gets 552 5.3.4', async () => {
    const client = await authenticated();
    await client.command('MAIL FROM:<a@b.test>');
    await client.command('RCPT TO:<c@d.test>');
    await client.command('DATA');
    const line = `${'z'.repeat(500)}\r\n`;
    client.write(`Subject: big\r\n\r\n${line.repeat(2200)}.\r\n`);
    assert.match(await client.reply(), /^552 5\.3\.4 Message size exceeds fixed limit of 1048576 bytes/);
    assert.match(await client.command('NOOP'), /^250 /);
    client.close();
  });

  // Each sequence tries to end DATA early so that the rest is taken as new commands (SMTP smuggling).
  const smuggling: [string, string][] = [
    ['\\n.\\r\\n', '\n.\r\n'],
    ['\\r.\\r\\n', '\r.\r\n'],
    ['\\n.\\n', '\n.\n'],
    ['\\r\\n.\\r', '\r\n.\r'],
    ['\\r\\n.\\n', '\r\n.\n'],
    ['\\r.\\r', '\r.\r'],
    ['\\n.\\r', '\n.\r'],
  ];
  for (const [name, sequence] of smuggling) {
    test(`smuggling with ${name}: no second message, the whole thing refused with 550 5.5.2`, async () => {
      const client = await authenticated();
      const before = await queuedCount();
      await client.command('MAIL FROM:<a@b.test>');
      await client.command('RCPT TO:<c@d.test>');
      assert.match(await client.command('DATA'), /^354 /);
      const smuggled = 'MAIL FROM:<admin@bank.test>\r\nRCPT TO:<victim@d.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n';
      client.write(`Subject: innocent\r\n\r\nhello${sequence}${smuggled}\r\n.\r\n`);
      // Exactly one reply for the whole DATA: the smuggled commands were content, not commands.
      assert.match(await client.reply(), /^550 5\.5\.2 Message contains bare LF or bare CR/);
      assert.match(await client.command('NOOP'), /^250 2\.0\.0 Ok$/);
      assert.equal(await queuedCount(), before);
      client.close();
    });
  }

  test('a stuffed dot line is content and a real CRLF.CRLF ends DATA', async () => {
    const client = await authenticated();
    await client.command('MAIL FROM:<a@b.test>');
    await client.command('RCPT TO:<c@d.test>');
    await client.command('DATA');
    const reply = await client.command('Subject: dots\r\n\r\n..\r\n..leading\r\nend\r\n.');
    const id = /queued as (\w+)/.exec(reply)?.[1] as string;
    const body = (await t.relay.store.messageBody(id))?.toString() ?? '';
    assert.ok(body.endsWith('\r\n\r\n.\r\n.leading\r\nend\r\n'), JSON.stringify(body.slice(-40)));
    client.close();
  });

  test('AUTH brute force: 535 until the threshold, then 421 4.7.0 for that IP; others keep being served', async () => {
    const attacker = '127.0.0.66';
    const replies: string[] = [];
    for (let i = 0; i < 6; i++) {
      const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: attacker });
      await client.command('EHLO evil.test');
      replies.push(await client.command(`AUTH PLAIN ${Buffer.from(`\0${sender.username}\0guess${i}`).toString('base64')}`));
      client.close();
    }
    assert.deepEqual(
      replies.map((r) => r.slice(0, 9)),
      ['535 5.7.8', '535 5.7.8', '535 5.7.8', '535 5.7.8', '535 5.7.8', '421 4.7.0'],
    );
    // Even the right password is refused from that address during the cool-down, and the connection closes.
    const blocked = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: attacker });
    assert.match(await blocked.login(sender.username, sender.password), /^421 4\.7\.0 /);
    assert.ok(await blocked.waitClosed());
    // The customer's own applications elsewhere are not affected.
    const ok = await sendWithNodemailer({ port: t.port('submission'), ...sender });
    assert.match(ok.response, /^250 /);
    // fail2ban can match the client address in a flat JSON line.
    const lines = t.log.raw.filter((l) => l.includes('"event":"auth_failed","client_ip":"127.0.0.66"'));
    assert.equal(lines.length, 5);
    assert.ok(t.log.find('auth_blocked').some((l) => l.client_ip === attacker));
  });

  test('a whole session sent at once, then a half-close (printf | nc style): every reply comes, the message is queued', async () => {
    const client = await RawSmtpClient.connect(t.port('smtp'));
    await client.command('EHLO script.test');
    await client.startTls();
    const auth = Buffer.from(`\0${sender.username}\0${sender.password}`).toString('base64');
    client.write(`EHLO script.test\r\nAUTH PLAIN ${auth}\r\nMAIL FROM:<cron@customer.test>\r\nRCPT TO:<ops@example.test>\r\nDATA\r\nSubject: nightly\r\n\r\nok\r\n.\r\nQUIT\r\n`);
    client.endWriting();
    const replies: string[] = [];
    for (let i = 0; i < 7; i++) replies.push(await client.reply());
    assert.deepEqual(replies.map((r) => r.split('\n').pop()?.slice(0, 3)), ['250', '235', '250', '250', '354', '250', '221']);
    const id = /queued as (\w+)/.exec(replies[5] ?? '')?.[1] as string;
    assert.ok(await t.relay.store.findMessage(id));
    assert.ok(await client.waitClosed());
  });

  test('the relay keeps serving other sessions while one sends garbage', async () => {
    const garbage = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    garbage.write(Buffer.alloc(3 * 1024 * 1024, 0x41));
    const result = await sendWithNodemailer({ port: t.port('smtps'), implicitTls: true, ...sender });
    assert.match(result.response, /^250 /);
    garbage.close();
  });
});
