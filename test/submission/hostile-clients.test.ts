import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * Attacks an anonymous or authenticated client can make on the submission ports, each asserting that the
 * relay stays up for everyone else. Limits are the shipped defaults unless a test says why not.
 */

function connect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Reads until `pattern` shows up in what the server sent, or the connection ends. */
function readUntil(socket: net.Socket, pattern: RegExp, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`no ${pattern} within ${timeoutMs} ms; got ${JSON.stringify(text)}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (pattern.test(text)) done();
    };
    const onClose = () => done(pattern.test(text) ? undefined : new Error(`closed before ${pattern}; got ${JSON.stringify(text)}`));
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      if (error) reject(error);
      else resolve(text);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

function closedWithin(socket: net.Socket, timeoutMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed || socket.readableEnded) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    };
    socket.resume();
    socket.once('end', done);
    socket.once('close', done);
  });
}

/** Server-side sockets of the relay's port stuck in CLOSE-WAIT: the client left and the relay did not notice. */
function closeWaitCount(port: number): number {
  const out = execFileSync('ss', ['-Htn', 'state', 'close-wait', `( sport = :${port} )`]).toString();
  return out.split('\n').filter((l) => l.trim()).length;
}

/** A client from `address` greeted with 220 within `timeoutMs`: a freed slot is seen as soon as the relay has it. */
async function greetedSoon(port: number, address: string, timeoutMs = 10_000): Promise<RawSmtpClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = await RawSmtpClient.connect(port, { localAddress: address });
    if (client.greeting.startsWith('220 ') || Date.now() > deadline) return client;
    client.close();
    await new Promise((r) => setTimeout(r, 20));
  }
}

const plainAuth = (username: string, password: string) => Buffer.from(`\0${username}\0${password}`).toString('base64');

describe('hostile clients: connection slots', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };

  before(async () => {
    // A small pool of slots makes a leak visible after a few dozen attacks instead of 2,000.
    t = await startTestRelay({ overrides: { submission: { max_connections: 20 } } });
    sender = await t.addSender(1000);
  });
  after(() => t.stop());

  test('clients that leave at any point of the TLS handshake free their slot at once', async () => {
    const port = t.port('submission');
    const smtps = t.port('smtps');
    /** A connection that has been told 220 to its STARTTLS and may now start its handshake. */
    const readyForTls = async (address: string) => {
      const s = await connect(port, address);
      await readUntil(s, /^220 /m);
      s.write('EHLO x\r\nSTARTTLS\r\n');
      await readUntil(s, /220 2\.0\.0/);
      return s;
    };
    const attacks: ((address: string) => Promise<void>)[] = [
      // FIN right after the 220 (the published attack)
      async (address) => void (await readyForTls(address)).end(),
      // the same with a reset instead of a FIN
      async (address) => void (await readyForTls(address)).resetAndDestroy(),
      // half a ClientHello, then FIN
      async (address) => void (await readyForTls(address)).end(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])),
      // implicit TLS: connect and leave without a handshake
      async (address) => void (await connect(smtps, address)).end(),
      // a full handshake, then FIN before reading the banner
      async (address) => {
        const s = await readyForTls(address);
        s.removeAllListeners('data');
        const secure = tls.connect({ socket: s, rejectUnauthorized: false });
        secure.on('error', () => undefined);
        await new Promise((resolve) => secure.once('secureConnect', resolve));
        secure.end();
      },
    ];
    for (let round = 0; round < 4; round++) {
      await Promise.all(attacks.flatMap((attack, i) => [1, 2, 3, 4].map((k) => attack(`127.0.${10 + i}.${round * 4 + k}`))));
    }
    // 80 attack connections through 20 slots: any leak would lock the next client out.
    let waitedMs = 0;
    while (closeWaitCount(port) + closeWaitCount(smtps) > 0 && waitedMs < 10_000) {
      await new Promise((r) => setTimeout(r, 50));
      waitedMs += 50;
    }
    assert.equal(closeWaitCount(port) + closeWaitCount(smtps), 0, 'sockets left in CLOSE-WAIT');
    const clients = await Promise.all(Array.from({ length: 20 }, () => RawSmtpClient.connect(t.port('smtp'))));
    for (const client of clients) assert.match(client.greeting, /^220 /);
    for (const client of clients) client.close();
    (await greetedSoon(port, '127.0.0.1')).close();
    const result = await sendWithNodemailer({ port, ...sender });
    assert.match(result.response, /^250 /);
  });

  test('STARTTLS then silence, and implicit TLS without a handshake, are dropped after tls_handshake_timeout (10 s)', { timeout: 40_000 }, async () => {
    const plain = await connect(t.port('submission'), '127.0.1.1');
    await readUntil(plain, /^220 /m);
    plain.write('STARTTLS\r\n');
    await readUntil(plain, /220 2\.0\.0/);
    const implicit = await connect(t.port('smtps'), '127.0.1.2');
    const [a, b] = await Promise.all([closedWithin(plain, 25_000), closedWithin(implicit, 25_000)]);
    for (const ms of [a, b]) {
      assert.ok(ms >= 9_500, `closed after ${ms} ms, before the 10 s handshake timeout`);
      // Generous: a busy machine may be late, but the idle timeout (5 min) must not be what closed it.
      assert.ok(ms < 20_000, `closed after ${ms} ms, well after the 10 s handshake timeout`);
    }
    assert.ok(t.log.find('tls_failed').some((l) => /no TLS handshake within 10000 ms/.test(String(l.error))));
  });
});

describe('hostile clients: per-address limits (defaults)', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };

  before(async () => {
    t = await startTestRelay();
    sender = await t.addSender(1000);
  });
  after(() => t.stop());

  test('past 50 connections from one address, 421 4.7.0 for that address only', async () => {
    const port = t.port('submission');
    const held = await Promise.all(Array.from({ length: 50 }, () => RawSmtpClient.connect(port, { localAddress: '127.0.2.1' })));
    for (const client of held) assert.match(client.greeting, /^220 /);
    const extra = await RawSmtpClient.connect(port, { localAddress: '127.0.2.1' });
    assert.equal(extra.greeting, '421 4.7.0 Too many connections from your address (at most 50 at once); close idle ones and try again later');
    assert.ok(await extra.waitClosed());
    const other = await RawSmtpClient.connect(port, { localAddress: '127.0.2.2' });
    assert.match(other.greeting, /^220 /);
    other.close();
    // A slot comes back as soon as one of the 50 leaves.
    held.pop()?.close();
    const again = await greetedSoon(port, '127.0.2.1');
    assert.match(again.greeting, /^220 /);
    again.close();
    for (const client of held) client.close();
    assert.ok(t.log.find('connection_refused').some((l) => l.client_ip === '127.0.2.1' && l.reason === 'per_ip'));
  });

  test('past 300 new connections a minute from one address, 421 4.7.0; other addresses are served', async () => {
    const port = t.port('smtp');
    for (let i = 0; i < 300; i += 25) {
      await Promise.all(
        Array.from({ length: 25 }, async () => {
          const client = await RawSmtpClient.connect(port, { localAddress: '127.0.2.3' });
          assert.match(client.greeting, /^220 /);
          client.close();
        }),
      );
    }
    const refused = await RawSmtpClient.connect(port, { localAddress: '127.0.2.3' });
    assert.equal(refused.greeting, '421 4.7.0 Too many new connections from your address (at most 300 per minute); reuse connections and try again later');
    const result = await sendWithNodemailer({ port: t.port('submission'), ...sender });
    assert.match(result.response, /^250 /);
  });

  test('implicit TLS: the refusal comes after the handshake, so a client can read it', async () => {
    const held = await Promise.all(Array.from({ length: 50 }, () => connect(t.port('smtps'), '127.0.2.4')));
    const extra = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: '127.0.2.4' });
    assert.match(extra.greeting, /^421 4\.7\.0 Too many connections from your address/);
    for (const socket of held) socket.destroy();
  });
});

describe('hostile clients: authentication', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };
  let victim: { username: string; password: string };

  before(async () => {
    t = await startTestRelay();
    sender = await t.addSender(1000);
    victim = await t.addSender(1000);
  });
  after(() => t.stop());

  test('400 parallel guesses from one address: at most 10 are checked, the rest get 421; other customers log in meanwhile', async () => {
    const attacker = '127.0.3.1';
    const replies: string[] = [];
    const attack = Promise.all(
      Array.from({ length: 50 }, async (_, c) => {
        const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: attacker });
        await client.command('EHLO evil.test');
        // Eight guesses pipelined on each of the 50 connections the address may open.
        client.write(Array.from({ length: 8 }, (_, i) => `AUTH PLAIN ${plainAuth(victim.username, `guess-${c}-${i}`)}\r\n`).join(''));
        for (let i = 0; i < 8; i++) {
          const reply = await client.reply().catch(() => null);
          if (reply === null) break;
          replies.push(reply);
          if (reply.startsWith('421')) break;
        }
        client.close();
      }),
    );
    // A customer elsewhere logs in while the attack runs.
    const started = Date.now();
    const ok = await sendWithNodemailer({ port: t.port('submission'), ...sender });
    const loginMs = Date.now() - started;
    await attack;
    assert.match(ok.response, /^250 /);
    // Unbounded, the guesses held the hashing threads for about 25 s; generous for a busy machine.
    assert.ok(loginMs < 8000, `another customer waited ${loginMs} ms during the attack`);
    const failed = replies.filter((r) => r.startsWith('535 5.7.8')).length;
    const blocked = replies.filter((r) => r.startsWith('421 4.7.0 Too many failed authentication attempts')).length;
    assert.ok(failed <= 10, `${failed} guesses were checked; the limit is 10`);
    assert.equal(failed + blocked, replies.length, `unexpected replies: ${replies.filter((r) => !/^(535|421)/.test(r)).join(' | ')}`);
    assert.equal(t.log.raw.filter((l) => l.includes(`"event":"auth_failed","client_ip":"${attacker}"`)).length, failed);
  });

  test('a username guessed at from many addresses is locked, and the reply names the username, not the address', async () => {
    const target = await t.addSender(1000);
    const replies: string[] = [];
    // 30 failures for one username (auth.max_failures_per_user), three from each of ten addresses.
    for (let a = 0; a < 10; a++) {
      const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: `127.0.5.${a + 1}` });
      await client.command('EHLO evil.test');
      for (let i = 0; i < 3; i++) replies.push(await client.command(`AUTH PLAIN ${plainAuth(target.username, `nope-${a}-${i}`)}`));
      client.close();
    }
    assert.ok(replies.every((r) => r.startsWith('535 ')), replies.join(' | '));
    const fresh = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: '127.0.5.99' });
    assert.equal(
      await fresh.login(target.username, target.password),
      '421 4.7.0 Too many failed authentication attempts for this username; try again later',
    );
    fresh.close();
  });

  test('a valid login between guesses does not reset the address count', async () => {
    const attacker = '127.0.3.2';
    let guesses = 0;
    let blockedAt = -1;
    for (let round = 0; round < 5 && blockedAt < 0; round++) {
      const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: attacker });
      await client.command('EHLO evil.test');
      for (let i = 0; i < 4; i++) {
        const reply = await client.command(`AUTH PLAIN ${plainAuth(victim.username, `wrong-${round}-${i}`)}`);
        if (reply.startsWith('421')) {
          blockedAt = guesses;
          break;
        }
        assert.match(reply, /^535 /);
        guesses++;
      }
      if (blockedAt < 0) assert.match(await client.command(`AUTH PLAIN ${plainAuth(sender.username, sender.password)}`), /^235 /);
      client.close();
    }
    assert.equal(blockedAt, 10);
  });

  test('an over-long line during AUTH LOGIN cancels the exchange: the next line is a command, not the password', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: '127.0.3.3' });
    await client.command('EHLO client.test');
    assert.match(await client.command('AUTH LOGIN'), /^334 VXNlcm5hbWU6$/);
    assert.match(await client.command('x'.repeat(10_000)), /^500 5\.5\.2 Line too long/);
    assert.match(await client.command(Buffer.from(sender.password).toString('base64')), /^500 5\.5\.2 Command not recognized/);
    assert.match(await client.command('NOOP'), /^250 /);
    assert.equal(t.log.find('auth_failed').filter((l) => l.client_ip === '127.0.3.3').length, 0);
    client.close();
  });

  test('SASL responses never reach the log: after 538 on a plain port, and after 503 Already authenticated', async () => {
    const user64 = Buffer.from(sender.username).toString('base64');
    const pass64 = Buffer.from(sender.password).toString('base64');
    const plain = await RawSmtpClient.connect(t.port('smtp'), { localAddress: '127.0.3.4' });
    await plain.command('EHLO client.test');
    assert.match(await plain.command('AUTH LOGIN'), /^538 5\.7\.11 /);
    assert.match(await plain.command(user64), /^500 /);
    assert.match(await plain.command(pass64), /^500 /);
    plain.close();
    const secure = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: '127.0.3.4' });
    assert.match(await secure.login(sender.username, sender.password), /^235 /);
    assert.match(await secure.command('AUTH LOGIN'), /^503 5\.5\.1 Already authenticated/);
    assert.match(await secure.command(user64), /^500 /);
    assert.match(await secure.command(pass64), /^500 /);
    secure.close();
    const all = t.log.raw.join('\n');
    for (const secret of [pass64, user64, sender.password]) {
      for (const piece of [secret, secret.slice(0, 8), secret.slice(4, 12)]) assert.ok(!all.includes(piece), `"${piece}" reached the log`);
    }
    assert.ok(t.log.find('rejected').some((l) => l.command === '(unrecognized)' && l.client_ip === '127.0.3.4'));
  });
});

describe('hostile clients: protocol state', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };

  before(async () => {
    // A transaction before STARTTLS needs AUTH in clear, which only loopback clients may be allowed.
    t = await startTestRelay({ overrides: { submission: { allow_plain_auth_on_loopback: true } } });
    sender = await t.addSender(5);
  });
  after(() => t.stop());

  test('STARTTLS in the middle of a transaction forgets EHLO, AUTH and the transaction (RFC 3207 4.2); its quota comes back', async () => {
    const client = await RawSmtpClient.connect(t.port('smtp'));
    assert.match(await client.login(sender.username, sender.password), /^235 /);
    assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^250 /);
    for (let i = 0; i < 5; i++) assert.match(await client.command(`RCPT TO:<r${i}@example.test>`), /^250 /);
    await client.startTls();
    assert.match(await client.command(`AUTH PLAIN ${plainAuth(sender.username, sender.password)}`), /^503 5\.5\.1 Send EHLO first/);
    assert.match(await client.command('EHLO client.test'), /AUTH PLAIN LOGIN/);
    assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^530 5\.7\.0 /);
    assert.match(await client.command(`AUTH PLAIN ${plainAuth(sender.username, sender.password)}`), /^235 /);
    assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^250 /);
    // The five units reserved before STARTTLS were released: all five are free again.
    for (let i = 0; i < 5; i++) assert.match(await client.command(`RCPT TO:<s${i}@example.test>`), /^250 /);
    client.close();
  });

  test('ESMTP parameters after HELO get 555', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(await client.command('HELO old.test'), /^250 /);
    assert.match(await client.command(`AUTH PLAIN ${plainAuth(sender.username, sender.password)}`), /^235 /);
    assert.match(await client.command('MAIL FROM:<a@customer.test> SIZE=100'), /^555 5\.5\.4 /);
    assert.match(await client.command('MAIL FROM:<a@customer.test>'), /^250 /);
    assert.match(await client.command('RCPT TO:<b@example.test> NOTIFY=NEVER'), /^555 5\.5\.4 /);
    assert.match(await client.command('RCPT TO:<b@example.test>'), /^250 /);
    client.close();
  });
});

describe('hostile clients: content and commands that move no mail (defaults)', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };

  before(async () => {
    t = await startTestRelay();
    sender = await t.addSender(1000);
  });
  after(() => t.stop());

  test('a NUL byte in DATA gets 550 5.6.0 and nothing is queued; the session goes on', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true });
    assert.match(await client.login(sender.username, sender.password), /^235 /);
    const before = await t.relay.store.countMessages();
    await client.command('MAIL FROM:<a@customer.test>');
    await client.command('RCPT TO:<b@example.test>');
    assert.match(await client.command('DATA'), /^354 /);
    assert.match(await client.command('Subject: nul\r\n\r\nbefore\x00after\r\n.'), /^550 5\.6\.0 /);
    assert.equal(await t.relay.store.countMessages(), before);
    assert.match(await client.command('NOOP'), /^250 /);
    client.close();
  });

  test('thousands of pipelined EHLO and NOOP, never read: the session ends after 100 plus max_errors, with 421', async () => {
    const socket = await connect(t.port('smtp'), '127.0.4.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('EHLO flood.test\r\nNOOP\r\n'.repeat(20_000));
    await gone;
    const finals = text.split('\r\n').filter((l) => /^\d{3} /.test(l));
    // The banner, 100 free commands, 20 counted as errors, then the 421: not 40,000 answers.
    assert.equal(finals.length, 1 + 120 + 1, `${finals.length} replies`);
    assert.equal(finals.at(-1), '421 4.7.0 Too many errors, closing connection');
  });

  test('a long-lived application session: NOOPs between messages never run out', async () => {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, localAddress: '127.0.4.2' });
    assert.match(await client.login(sender.username, sender.password), /^235 /);
    for (let message = 0; message < 3; message++) {
      for (let i = 0; i < 90; i++) assert.match(await client.command('NOOP'), /^250 /);
      await client.command('MAIL FROM:<app@customer.test>');
      await client.command('RCPT TO:<r@example.test>');
      await client.command('DATA');
      assert.match(await client.command(`Subject: ${message}\r\n\r\nok\r\n.`), /^250 2\.0\.0 Ok: queued/);
    }
    client.close();
  });
});
