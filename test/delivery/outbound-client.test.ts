import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { serveMail, startScriptedReceiver, type ScriptedReceiverPeer } from '../peers/scripted-receiver.js';
import { SENDER, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { RawSmtpClient } from '../support/smtp-clients.js';

/**
 * The outbound client against receivers that misbehave on purpose (issue 7, items 6, 7, 8 and 17), end to end:
 * submission, queue, delivery, and what the recipient's state says afterwards.
 */

const SECOND = 1000;

interface Timed {
  ehloAt: number;
  closedAt: number;
  closed: Promise<void>;
}

describe('outbound client: deadlines, TLS fallback and DSN pass-through, end to end', () => {
  let w: DeliveryWorld;
  const scripted: ScriptedReceiverPeer[] = [];
  const endless: Timed[] = [];
  const received: { mail: string; rcpts: string[]; connection: number; starttlsSeen: boolean }[] = [];

  before(async () => {
    w = await startDeliveryWorld({
      zones: {
        'endless.test': { mx: [{ pref: 10, host: 'mx.endless.test' }] },
        'mx.endless.test': { a: ['127.0.0.41'] },
        'slowgreeting.test': { mx: [{ pref: 10, host: 'mx.slowgreeting.test' }] },
        'mx.slowgreeting.test': { a: ['127.0.0.42'] },
        'tlsreset.test': { mx: [{ pref: 10, host: 'mx.tlsreset.test' }] },
        'mustencrypt.test': { mx: [{ pref: 10, host: 'mx.tlsreset.test' }] },
        'mx.tlsreset.test': { a: ['127.0.0.43'] },
        'nodsn.test': { mx: [{ pref: 10, host: 'mx.nodsn.test' }] },
        'mx.nodsn.test': { a: ['127.0.0.45'] },
        'dsn.test': { mx: [{ pref: 10, host: 'mx.dsn.test' }] },
        'mx.dsn.test': { a: ['127.0.0.46'] },
      },
      receivers: [{ address: '127.0.0.46', name: 'mx.dsn.test' }],
      overrides: {
        outbound: {
          // A short command deadline for the endless reply; connect and greeting as in issue 7 item 7.
          timeouts: { connect: '3s', greeting: '5s', command: '2s', data_end: '5s' },
          tls_policies: { 'mustencrypt.test': 'encrypt' },
        },
      },
    });

    // One 250- line every 0.5 s after EHLO, for as long as the client listens.
    scripted.push(
      await startScriptedReceiver({
        address: '127.0.0.41',
        port: w.port,
        async script(c) {
          c.write('220 mx.endless.test ESMTP\r\n');
          await c.command();
          const timing: Timed = { ehloAt: Date.now(), closedAt: 0, closed: c.closed.then(() => void (timing.closedAt = Date.now())) };
          endless.push(timing);
          for (let i = 0; !c.isClosed(); i++) {
            c.write(`250-mx.endless.test line ${i}\r\n`);
            await sleep(500);
          }
        },
      }),
    );
    // The greeting after 4 s: longer than connect (3 s), shorter than greeting (5 s).
    scripted.push(
      await startScriptedReceiver({
        address: '127.0.0.42',
        port: w.port,
        async script(c) {
          await sleep(4 * SECOND);
          c.write('220 mx.slowgreeting.test ESMTP\r\n');
          await serveMail(c, { onMessage: (m) => received.push({ ...m, connection: c.index, starttlsSeen: false }) });
        },
      }),
    );
    // STARTTLS offered and answered 220; the ClientHello gets a TCP reset. A client not asking for STARTTLS is served.
    scripted.push(
      await startScriptedReceiver({
        address: '127.0.0.43',
        port: w.port,
        async script(c) {
          c.write('220 mx.tlsreset.test ESMTP\r\n');
          const ehlo = await c.command();
          assert.match(ehlo, /^EHLO /);
          c.write('250-mx.tlsreset.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n');
          const next = await c.command();
          if (next === 'STARTTLS') {
            c.write('220 2.0.0 Ready to start TLS\r\n');
            await c.waitForBytes();
            c.reset();
            return;
          }
          // Not STARTTLS: hand the line back to an ordinary conversation.
          c.write(next.startsWith('MAIL') ? '250 2.1.0 Ok\r\n' : '502 5.5.1 unexpected\r\n');
          await serveMail(c, {
            extensions: ['PIPELINING', 'STARTTLS'],
            onMessage: (m) => received.push({ ...m, mail: m.mail || next, connection: c.index, starttlsSeen: false }),
          });
        },
      }),
    );
    // A receiver without DSN: the parameters must not reach it.
    scripted.push(
      await startScriptedReceiver({
        address: '127.0.0.45',
        port: w.port,
        async script(c) {
          c.write('220 mx.nodsn.test ESMTP\r\n');
          await serveMail(c, { extensions: ['PIPELINING', '8BITMIME'], onMessage: (m) => received.push({ ...m, connection: c.index, starttlsSeen: false }) });
        },
      }),
    );
  });
  after(async () => {
    await w.stop();
    for (const s of scripted) await s.stop();
  });
  beforeEach(async () => {
    await w.settle(20 * SECOND);
    received.length = 0;
  });

  async function submit(to: string, params: { mail?: string; rcpt?: string } = {}): Promise<string> {
    const client = await RawSmtpClient.connect(w.relay.port('smtps'), { implicitTls: true });
    await client.login(w.sender.username, w.sender.password);
    assert.match(await client.command(`MAIL FROM:<${SENDER}>${params.mail ? ` ${params.mail}` : ''}`), /^250 /);
    assert.match(await client.command(`RCPT TO:<${to}>${params.rcpt ? ` ${params.rcpt}` : ''}`), /^250 /);
    await client.command('DATA');
    const reply = await client.command('Subject: outbound client\r\n\r\nHello.\r\n.');
    client.close();
    return /queued as (\w+)/.exec(reply)?.[1] as string;
  }

  async function recipient(id: string): Promise<{ state: string; lastReply: string | null }> {
    const m = await w.relay.relay.store.findMessage(id);
    const r = m?.recipients[0];
    return { state: r?.state ?? 'missing', lastReply: r?.lastReply ?? null };
  }

  test('an endless multi-line EHLO reply (a line every 0.5 s) ends at the command deadline; the recipient is deferred', async () => {
    const started = Date.now();
    const id = await submit('ann@endless.test');
    await w.settle(20 * SECOND);
    const r = await recipient(id);
    assert.equal(r.state, 'deferred');
    assert.match(r.lastReply ?? '', /timed out: no complete reply to EHLO within 2 s/);
    assert.ok(endless.length >= 1, 'the receiver saw EHLO');
    // The recipient's state can be written a moment before this side of the socket hears of the close.
    await Promise.race([Promise.all(endless.map((t) => t.closed)), sleep(3 * SECOND)]);
    for (const t of endless) {
      assert.ok(t.closedAt > 0, `the client closed the connection: ${JSON.stringify(endless)} now ${Date.now()}`);
      const held = t.closedAt - t.ehloAt;
      // Broken, the connection was held for as long as the lines kept coming; the upper bound allows a busy machine.
      assert.ok(held >= 1800 && held < 10_000, `the client held the connection ${held} ms after EHLO; the deadline is 2 s`);
    }
    assert.ok(Date.now() - started < 40 * SECOND);
    await w.relay.relay.store.delivery.deleteMessage(id, null);
  });

  test('a greeting after 4 s with connect 3 s and greeting 5 s is waited for: delivered', async () => {
    const id = await submit('bob@slowgreeting.test');
    await w.settle(20 * SECOND);
    assert.equal((await recipient(id)).state, 'delivered');
    assert.equal(received.length, 1);
    assert.match(received[0]?.rcpts[0] ?? '', /^RCPT TO:<bob@slowgreeting\.test>/);
  });

  test('STARTTLS then a TCP reset in the handshake: under "may" the next connection delivers in clear', async () => {
    const rx = scripted[2] as ScriptedReceiverPeer;
    const before = rx.connectionCount();
    const id = await submit('carl@tlsreset.test');
    await w.settle(20 * SECOND);
    assert.equal((await recipient(id)).state, 'delivered');
    const conversations = rx.commands.slice(before);
    assert.equal(conversations.length, 2, 'one connection for the TLS attempt, one in clear');
    assert.deepEqual(conversations[0]?.slice(1), ['STARTTLS']);
    assert.ok(!conversations[1]?.includes('STARTTLS'), 'the fallback connection does not try TLS again');
    assert.equal(received.length, 1);
    assert.equal(received[0]?.connection, before + 1);
  });

  test('the same reset under "encrypt": never in clear, deferred with a TLS reason', async () => {
    const rx = scripted[2] as ScriptedReceiverPeer;
    const before = rx.connectionCount();
    const id = await submit('dora@mustencrypt.test');
    await w.settle(20 * SECOND);
    const r = await recipient(id);
    assert.equal(r.state, 'deferred');
    assert.match(r.lastReply ?? '', /TLS handshake failed: connection reset/);
    assert.equal(received.length, 0);
    for (const conversation of rx.commands.slice(before)) assert.ok(!conversation.some((l) => l.startsWith('MAIL')), 'no MAIL in clear');
    await w.relay.relay.store.delivery.deleteMessage(id, null);
  });

  test('NOTIFY, ORCPT, ENVID and RET reach a next hop that offers DSN', async () => {
    const id = await submit('erin@dsn.test', { mail: 'RET=HDRS ENVID=QQ+2B42', rcpt: 'NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;erin+2Bx@dsn.test' });
    const [message] = await w.receiver('127.0.0.46').waitFor(1);
    // The receiver decodes xtext: "+2B" arriving as "+" shows ENVID went on as submitted, still encoded.
    assert.deepEqual(message?.dsn, { ret: 'HDRS', envid: 'QQ+42' });
    assert.deepEqual(message?.rcptTo[0]?.dsn?.notify, ['SUCCESS', 'FAILURE']);
    assert.equal(message?.rcptTo[0]?.args.ORCPT, 'rfc822;erin+x@dsn.test');
    await w.settle();
    assert.equal((await recipient(id)).state, 'delivered');
  });

  test('...and are absent for one that does not offer DSN', async () => {
    const id = await submit('fred@nodsn.test', { mail: 'RET=FULL ENVID=E1', rcpt: 'NOTIFY=SUCCESS ORCPT=rfc822;fred@nodsn.test' });
    await w.settle();
    assert.equal((await recipient(id)).state, 'delivered');
    assert.equal(received.length, 1);
    assert.doesNotMatch(received[0]?.mail ?? '', /RET=|ENVID=/);
    assert.doesNotMatch(received[0]?.rcpts[0] ?? '', /NOTIFY=|ORCPT=/);
    assert.match(received[0]?.rcpts[0] ?? '', /^RCPT TO:<fred@nodsn\.test>$/);
  });
});

