import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { simpleParser } from 'mailparser';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

const run = promisify(execFile);

async function swaks(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('swaks', args, { timeout: 30_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

describe('submission with real clients', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };

  before(async () => {
    // The Received test below checks the credential is named when the operator asks (off by default).
    t = await startTestRelay({ overrides: { submission: { received_shows_credential: true } } });
    sender = await t.addSender(1000);
  });
  after(() => t.stop());

  test('nodemailer submits over STARTTLS with AUTH PLAIN, and the message is queued', async () => {
    const result = await sendWithNodemailer({ port: t.port('submission'), ...sender, method: 'PLAIN', to: ['alice@example.test', 'bob@example.test'] });
    const id = /queued as (\w+)/.exec(result.response)?.[1];
    assert.ok(id, result.response);
    const message = await t.relay.store.findMessage(id);
    assert.equal(message?.mailFrom, 'sender@customer.test');
    assert.deepEqual(message?.recipients.map((r) => [r.address, r.state]), [
      ['alice@example.test', 'queued'],
      ['bob@example.test', 'queued'],
    ]);
    assert.equal(message?.username, sender.username);
  });

  test('nodemailer submits over implicit TLS with AUTH LOGIN', async () => {
    const result = await sendWithNodemailer({ port: t.port('smtps'), implicitTls: true, ...sender, method: 'LOGIN' });
    assert.match(result.response, /^250 2\.0\.0 Ok: queued as \w+/);
  });

  test('the extra plain port offers STARTTLS and accepts after it', async () => {
    const result = await sendWithNodemailer({ port: t.port('smtp'), ...sender, method: 'LOGIN' });
    assert.match(result.response, /^250 /);
  });

  test('swaks submits with STARTTLS + AUTH PLAIN and implicit TLS + AUTH LOGIN', async () => {
    const common = ['--auth-user', sender.username, '--auth-password', sender.password, '--from', 'app@anywhere.test', '--to', 'carol@example.test'];
    const starttls = await swaks(['--server', `127.0.0.1:${t.port('submission')}`, '--tls', '--auth', 'PLAIN', ...common]);
    assert.equal(starttls.code, 0, starttls.output);
    assert.match(starttls.output, /250 2\.0\.0 Ok: queued as/);
    const implicit = await swaks(['--server', `127.0.0.1:${t.port('smtps')}`, '--tlsc', '--auth', 'LOGIN', ...common]);
    assert.equal(implicit.code, 0, implicit.output);
    assert.match(implicit.output, /250 2\.0\.0 Ok: queued as/);
  });

  test('a wrong password gets 535 5.7.8 (swaks and nodemailer)', async () => {
    const out = await swaks([
      '--server', `127.0.0.1:${t.port('submission')}`, '--tls', '--auth', 'PLAIN',
      '--auth-user', sender.username, '--auth-password', 'wrong-password', '--from', 'a@b.test', '--to', 'c@d.test',
    ]);
    assert.notEqual(out.code, 0);
    assert.match(out.output, /535 5\.7\.8 /);
    await assert.rejects(sendWithNodemailer({ port: t.port('submission'), username: sender.username, password: 'nope' }), (error: Error & { responseCode?: number }) => {
      assert.equal(error.responseCode, 535);
      return true;
    });
  });

  test('a disabled credential gets 535, and works again once enabled', async () => {
    const other = await t.addSender(10);
    await t.relay.accounts.setEnabled(other.username, false);
    await assert.rejects(sendWithNodemailer({ port: t.port('submission'), ...other }), /535/);
    await t.relay.accounts.setEnabled(other.username, true);
    const ok = await sendWithNodemailer({ port: t.port('submission'), ...other });
    assert.match(ok.response, /^250 /);
  });

  test('MAIL and RCPT without AUTH get 530 5.7.0 whatever the recipient domain', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    await client.command('EHLO client.test');
    assert.match(await client.command('MAIL FROM:<a@relay.test>'), /^530 5\.7\.0 /);
    assert.match(await client.command('RCPT TO:<someone@relay.test>'), /^530 5\.7\.0 /);
    assert.match(await client.command('RCPT TO:<someone@gmail.test>'), /^530 5\.7\.0 /);
    assert.match(await client.command('DATA'), /^530 5\.7\.0 /);
    client.close();
  });

  test('AUTH is neither offered nor accepted before STARTTLS', async () => {
    const client = await RawSmtpClient.connect(t.port('submission'));
    const ehlo = await client.command('EHLO client.test');
    assert.match(ehlo, /STARTTLS/);
    assert.doesNotMatch(ehlo, /AUTH/);
    const auth = await client.command(`AUTH PLAIN ${Buffer.from(`\0${sender.username}\0${sender.password}`).toString('base64')}`);
    assert.match(auth, /^538 5\.7\.11 /);
    await client.startTls();
    const ehlo2 = await client.command('EHLO client.test');
    assert.match(ehlo2, /AUTH PLAIN LOGIN/);
    assert.doesNotMatch(ehlo2, /STARTTLS/);
    client.close();
  });

  test('EHLO advertises the extensions; DSN parameters are kept with the message', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    const ehlo = await client.command('EHLO client.test');
    for (const ext of ['PIPELINING', 'SIZE 26214400', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN', 'AUTH PLAIN LOGIN']) {
      assert.match(ehlo, new RegExp(`250[- ]${ext}`));
    }
    assert.match(await client.command(`AUTH PLAIN ${Buffer.from(`\0${sender.username}\0${sender.password}`).toString('base64')}`), /^235 /);
    assert.match(await client.command('MAIL FROM:<bounce@customer.test> RET=HDRS ENVID=QQ314159'), /^250 /);
    assert.match(await client.command('RCPT TO:<dan@example.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;dan@example.test'), /^250 /);
    assert.match(await client.command('RCPT TO:<eve@example.test> NOTIFY=NEVER'), /^250 /);
    assert.match(await client.command('DATA'), /^354 /);
    const reply = await client.command('Subject: dsn\r\n\r\nbody\r\n.');
    const id = /queued as (\w+)/.exec(reply)?.[1] as string;
    const message = await t.relay.store.findMessage(id);
    assert.equal(message?.ret, 'HDRS');
    assert.equal(message?.envid, 'QQ314159');
    assert.deepEqual(message?.recipients.map((r) => [r.notify, r.orcpt]), [
      ['FAILURE,DELAY', 'rfc822;dan@example.test'],
      [ 'NEVER', null],
    ]);
    client.close();
  });

  test('the relay adds Received (TLS version, credential), Message-ID and Date when missing', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    await client.login(sender.username, sender.password);
    await client.command('MAIL FROM:<x@customer.test>');
    await client.command('RCPT TO:<y@example.test>');
    await client.command('DATA');
    const reply = await client.command('Subject: bare\r\n\r\nno id, no date\r\n.');
    const id = /queued as (\w+)/.exec(reply)?.[1] as string;
    const body = (await t.relay.store.messageBody(id)) as Buffer;
    const parsed = await simpleParser(body);
    const received = String(parsed.headers.get('received'));
    assert.match(received, /TLSv1\.[23]/);
    assert.match(received, new RegExp(`authenticated as ${sender.username}`));
    assert.match(received, /by relay\.test/);
    assert.match(parsed.messageId ?? '', /@relay\.test>$/);
    assert.ok(parsed.date instanceof Date);
    assert.equal(parsed.subject, 'bare');
    assert.equal(parsed.text?.trim(), 'no id, no date');

    // A client's own Message-ID and Date are kept as they are.
    await client.command('MAIL FROM:<x@customer.test>');
    await client.command('RCPT TO:<y@example.test>');
    await client.command('DATA');
    const reply2 = await client.command('Message-ID: <mine@customer.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nx\r\n.');
    const parsed2 = await simpleParser((await t.relay.store.messageBody(/queued as (\w+)/.exec(reply2)?.[1] as string)) as Buffer);
    assert.equal(parsed2.messageId, '<mine@customer.test>');
    assert.equal(parsed2.date?.toISOString(), '2026-11-27T10:00:00.000Z');
    client.close();
  });

  test('any sender address is allowed, and one body is stored for many recipients', async () => {
    const to = Array.from({ length: 30 }, (_, i) => `user${i}@domain${i % 3}.test`);
    const result = await sendWithNodemailer({ port: t.port('submission'), ...sender, from: 'ceo@some-other-provider.test', to });
    assert.equal(result.accepted.length, 30);
    const id = /queued as (\w+)/.exec(result.response)?.[1] as string;
    const bodies = await t.relay.store.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM message_bodies WHERE message_id = ?', [id]);
    assert.equal(Number(bodies?.n), 1);
    const message = await t.relay.store.findMessage(id);
    assert.equal(message?.recipients.length, 30);
  });

  test('logs have one line per session and per rejected command, and never a password', async () => {
    const sessions = t.log.find('session');
    assert.ok(sessions.length > 0);
    assert.ok(sessions.some((s) => s.credential === sender.username && typeof s.client_ip === 'string'));
    const accepted = t.log.find('accepted').map((a) => a.message_id);
    // The last clients may still be closing: their session lines come once the relay sees the close.
    const sessionIds = () => t.log.find('session').flatMap((s) => s.message_ids as string[]);
    for (let i = 0; i < 100 && sessionIds().length < accepted.length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(sessionIds().sort(), [...accepted].sort());
    assert.ok(t.log.find('rejected').some((r) => typeof r.reply === 'string' && (r.reply as string).startsWith('530')));
    assert.ok(t.log.find('accepted').every((a) => typeof a.message_id === 'string'));
    // One size everywhere: the accepted line says what queue list and queue show say.
    for (const a of t.log.find('accepted').slice(0, 5)) {
      assert.equal(a.size, (await t.relay.store.findMessage(String(a.message_id)))?.size, `size of ${String(a.message_id)}`);
    }
    const all = t.log.raw.join('\n');
    assert.ok(!all.includes(sender.password), 'a password reached the log');
    assert.ok(!all.includes(Buffer.from(`\0${sender.username}\0${sender.password}`).toString('base64')), 'an AUTH payload reached the log');
  });
});
