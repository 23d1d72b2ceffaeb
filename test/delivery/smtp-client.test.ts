import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OutboundSession, type ClientTimeouts, type ConnectResult } from '../../src/delivery/smtp-client.js';
import { freePort } from '../../bench/peers/loopback.js';
import { startReceiver } from '../peers/receiver.js';
import { serveMail, startScriptedReceiver, type ScriptedConnection, type ScriptedReceiverPeer } from '../peers/scripted-receiver.js';

/**
 * The SMTP client on its own against real receivers: pipelining, reply bounds and format, 421, the bytes of
 * the message data, the ESMTP parameters it passes on. Each receiver gets its own 127.0.0.x address.
 */

const TIMEOUTS: ClientTimeouts = { connect: 2000, greeting: 2000, command: 2000, dataEnd: 2000 };
const SOURCE = { address: '127.0.0.11', ehlo: 'out.client.test' };
const peers: { stop(): Promise<void> }[] = [];
after(async () => {
  for (const p of peers) await p.stop();
});

async function scripted(address: string, script: (c: ScriptedConnection) => Promise<void>): Promise<ScriptedReceiverPeer> {
  const peer = await startScriptedReceiver({ address, port: await freePort(address), script });
  peers.push(peer);
  return peer;
}

function open(peer: { address: string; port: number }, tls: 'may' | 'encrypt' = 'may'): Promise<ConnectResult> {
  return OutboundSession.open({ name: 'mx.client.test', ip: peer.address, port: peer.port }, SOURCE, tls, TIMEOUTS);
}

async function session(peer: { address: string; port: number }): Promise<OutboundSession> {
  const opened = await open(peer);
  assert.ok(opened.ok, opened.ok ? '' : opened.reply);
  return opened.session;
}

const BODY = Buffer.from('Subject: t\r\n\r\nhello\r\n');

describe('outbound SMTP client against real receivers', () => {
  test('PIPELINING offered: MAIL, every RCPT and DATA leave in one write, before the first reply', async () => {
    let ahead: string[] = [];
    let segment = '';
    const peer = await scripted('127.0.0.51', async (c) => {
      c.write('220 mx ESMTP\r\n');
      c.write(`${(await c.command(), '250-mx\r\n250-PIPELINING\r\n250 8BITMIME')}\r\n`);
      const mail = await c.command();
      await sleep(150);
      ahead = [mail, ...c.pendingLines()];
      segment = c.segments.at(-1)?.toString() ?? '';
      c.write('250 2.1.0 Ok\r\n');
      await serveMail(c);
    });
    const s = await session(peer);
    const result = await s.send('a@client.test', ['b@x.test', 'c@x.test'], BODY, BODY.length);
    assert.equal(result.stage, 'done');
    assert.deepEqual(ahead, ['MAIL FROM:<a@client.test>', 'RCPT TO:<b@x.test>', 'RCPT TO:<c@x.test>', 'DATA']);
    // One write arrives as one segment on loopback: the whole envelope in a single packet, not four.
    assert.equal(segment, 'MAIL FROM:<a@client.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n');
    s.close();
  });

  test('without PIPELINING: one command, then its reply, then the next', async () => {
    let ahead: string[] = ['unset'];
    const peer = await scripted('127.0.0.52', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await c.command();
      c.write('250-mx\r\n250 8BITMIME\r\n');
      await c.command();
      await sleep(150);
      ahead = c.pendingLines();
      c.write('250 2.1.0 Ok\r\n');
      await serveMail(c);
    });
    const s = await session(peer);
    const result = await s.send('a@client.test', ['b@x.test'], BODY, BODY.length);
    assert.equal(result.stage, 'done');
    assert.deepEqual(ahead, []);
    s.close();
  });

  test('a reply larger than the bound drops the connection with a clear reason', async () => {
    let closed = false;
    const peer = await scripted('127.0.0.53', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await c.command();
      // 400 lines of 100 bytes, sent at once: 40 KB of EHLO reply.
      c.write(Array.from({ length: 400 }, (_, i) => `250-X-EXTENSION-${i} ${'a'.repeat(80)}\r\n`).join(''));
      await c.closed;
      closed = true;
    });
    const opened = await open(peer);
    assert.equal(opened.ok, false);
    assert.ok(!opened.ok);
    assert.equal(opened.trouble, 'dropped');
    assert.match(opened.reply, /SMTP reply format \(reply (longer than 100 lines|larger than \d+ bytes)\); connection dropped while waiting for the reply to EHLO/);
    await sleep(50);
    assert.ok(closed, 'the receiver saw the connection closed');
  });

  test('a reply line longer than the bound, without an end, drops the connection', async () => {
    const peer = await scripted('127.0.0.54', async (c) => {
      c.write(`220 ${'x'.repeat(10_000)}`);
      await c.closed;
    });
    const opened = await open(peer);
    assert.ok(!opened.ok);
    assert.match(opened.reply, /reply line longer than 2048 bytes.*greeting/);
  });

  test('a multi-line reply whose code changes, or a line without a code, is a protocol error', async () => {
    const peer = await scripted('127.0.0.55', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await c.command();
      c.write(c.index === 0 ? '250-mx\r\n550 PIPELINING\r\n' : '250-mx\r\nPIPELINING\r\n');
      await c.closed;
    });
    const first = await open(peer);
    assert.ok(!first.ok);
    assert.match(first.reply, /changes its code from 250 to 550/);
    const second = await open(peer);
    assert.ok(!second.ok);
    assert.match(second.reply, /malformed reply line "PIPELINING"/);
  });

  test('a 421 to RCPT ends the session; the reply goes up for every recipient not refused already', async () => {
    const peer = await scripted('127.0.0.56', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await c.command();
      c.write('250-mx\r\n250 PIPELINING\r\n');
      await c.command();
      c.write('250 2.1.0 Ok\r\n');
      await c.command();
      c.write('250 2.1.5 Ok\r\n');
      await c.command();
      c.socket.end('421 4.7.0 Too busy, closing\r\n');
    });
    const s = await session(peer);
    const result = await s.send('a@client.test', ['b@x.test', 'c@x.test', 'd@x.test'], BODY, BODY.length);
    assert.equal(result.stage, 'rcpt');
    assert.equal(result.code, 421);
    assert.deepEqual(result.rejected.map((r) => [r.address, r.code]).sort(), [['b@x.test', 421], ['c@x.test', 421], ['d@x.test', 421]]);
    assert.equal(s.usable, false);
    assert.equal(await s.readyForNext(), false);
  });

  test('a server closing during the data: stage "connection" with a precise reason', async () => {
    const peer = await scripted('127.0.0.57', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await c.command();
      c.write('250 mx\r\n');
      await c.command();
      c.write('250 Ok\r\n');
      await c.command();
      c.write('250 Ok\r\n');
      await c.command();
      c.write('354 go\r\n');
      await c.data();
      c.socket.end();
    });
    const s = await session(peer);
    const result = await s.send('a@client.test', ['b@x.test'], BODY, BODY.length);
    assert.equal(result.stage, 'connection');
    assert.match(result.reply, /connection (closed|reset) by the server while waiting for the reply to the end of the message data/);
    assert.equal(s.usable, false);
  });

  test('the data is dot-stuffed and ends with CRLF.CRLF even without a final CRLF', async () => {
    const bodies: Buffer[] = [];
    const peer = await scripted('127.0.0.58', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await serveMail(c, { onMessage: (m) => bodies.push(m.data) });
    });
    const s = await session(peer);
    const cases = ['.starts with a dot\r\nmiddle\r\n..two\r\n.\r\nlast', 'plain\r\n', '', '.'];
    for (const text of cases) {
      const result = await s.send('a@client.test', ['b@x.test'], Buffer.from(text), text.length);
      assert.equal(result.stage, 'done', text);
      assert.ok(await s.readyForNext());
    }
    assert.deepEqual(
      bodies.map((b) => b.toString()),
      ['..starts with a dot\r\nmiddle\r\n...two\r\n..\r\nlast\r\n', 'plain\r\n', '', '..\r\n'],
    );
    s.close();
  });

  test('no RSET after a clean transaction; RSET after a refused one', async () => {
    const peer = await scripted('127.0.0.59', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await serveMail(c, { rcptReply: (line) => (line.includes('refused@') ? '550 5.1.1 No such user\r\n' : '250 2.1.5 Ok\r\n') });
    });
    const s = await session(peer);
    assert.equal((await s.send('a@client.test', ['b@x.test'], BODY, BODY.length)).stage, 'done');
    assert.ok(await s.readyForNext());
    assert.equal((await s.send('a@client.test', ['c@x.test'], BODY, BODY.length)).stage, 'done');
    assert.ok(await s.readyForNext());
    const refused = await s.send('a@client.test', ['refused@x.test'], BODY, BODY.length);
    assert.equal(refused.stage, 'rcpt');
    assert.equal(refused.code, 550);
    assert.ok(await s.readyForNext());
    assert.equal((await s.send('a@client.test', ['d@x.test'], BODY, BODY.length)).stage, 'done');
    s.close();
    await sleep(50);
    const verbs = (peer.commands[0] ?? []).map((l) => l.split(/[ :]/)[0]);
    // This receiver takes the pipelined DATA even with no recipient: the client ends it empty, then RSETs.
    assert.deepEqual(verbs, ['EHLO', 'MAIL', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA', 'RSET', 'MAIL', 'RCPT', 'DATA', 'QUIT']);
  });

  test('8-bit data goes with BODY=8BITMIME to a server offering it; SMTPUTF8 when an address needs it', async () => {
    const rx = await startReceiver({ address: '127.0.0.60', port: await freePort('127.0.0.60'), behaviour: { tls: 'none' } });
    peers.push(rx);
    const s = await session(rx);
    const eight = Buffer.from('Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n', 'utf8');
    assert.equal((await s.send('a@client.test', ['b@x.test'], eight, eight.length)).stage, 'done');
    assert.ok(await s.readyForNext());
    assert.equal((await s.send('a@client.test', ['b@x.test'], BODY, BODY.length)).stage, 'done');
    assert.ok(await s.readyForNext());
    assert.equal((await s.send('a@client.test', ['jos\u00e9@x.test'], BODY, BODY.length)).stage, 'done');
    const messages = await rx.waitFor(3);
    assert.equal(messages[0]?.mailFrom.args.BODY, '8BITMIME');
    assert.equal(messages[1]?.mailFrom.args.BODY, undefined);
    assert.equal(messages[2]?.mailFrom.args.SMTPUTF8, true);
    assert.equal(messages[2]?.rcptTo[0]?.address, 'jos\u00e9@x.test');
    s.close();
  });

  test('a non-ASCII recipient for a server without SMTPUTF8 fails permanently with 5.6.7; the others go', async () => {
    const mails: { mail: string; rcpts: string[] }[] = [];
    const peer = await scripted('127.0.0.61', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await serveMail(c, { extensions: ['PIPELINING', '8BITMIME'], onMessage: (m) => mails.push(m) });
    });
    const s = await session(peer);
    const result = await s.send('a@client.test', ['jos\u00e9@x.test', 'bob@x.test'], BODY, BODY.length);
    assert.equal(result.stage, 'done');
    assert.ok(result.stage === 'done');
    assert.deepEqual(result.accepted, ['bob@x.test']);
    assert.equal(result.rejected[0]?.address, 'jos\u00e9@x.test');
    assert.equal(result.rejected[0]?.code, 553);
    assert.match(result.rejected[0]?.reply ?? '', /^553 5\.6\.7 /);
    assert.deepEqual(mails[0]?.rcpts, ['RCPT TO:<bob@x.test>']);
    assert.equal(mails[0]?.mail, 'MAIL FROM:<a@client.test>', 'no SMTPUTF8 to a server that does not offer it');
    s.close();
  });

  test('DSN parameters go on only when offered, and the result says so', async () => {
    const mails: { mail: string; rcpts: string[] }[] = [];
    const peer = await scripted('127.0.0.62', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await serveMail(c, { extensions: c.index === 0 ? ['PIPELINING', 'DSN'] : ['PIPELINING'], onMessage: (m) => mails.push(m) });
    });
    const options = { envid: 'ID1', ret: 'HDRS', recipientDsn: new Map([['b@x.test', { notify: 'SUCCESS,DELAY', orcpt: 'rfc822;b@x.test' }]]) };
    for (let i = 0; i < 2; i++) {
      const s = await session(peer);
      const result = await s.send('a@client.test', ['b@x.test'], BODY, BODY.length, options);
      assert.ok(result.stage === 'done');
      assert.equal(result.dsnPassed, i === 0);
      s.close();
    }
    assert.equal(mails[0]?.mail, 'MAIL FROM:<a@client.test> RET=HDRS ENVID=ID1');
    assert.deepEqual(mails[0]?.rcpts, ['RCPT TO:<b@x.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@x.test']);
    assert.equal(mails[1]?.mail, 'MAIL FROM:<a@client.test>');
    assert.deepEqual(mails[1]?.rcpts, ['RCPT TO:<b@x.test>']);
  });

  test('a 454 to STARTTLS under "may": the session goes on in clear on the same connection', async () => {
    const mails: { mail: string }[] = [];
    const peer = await scripted('127.0.0.63', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await c.command();
      c.write('250-mx\r\n250 STARTTLS\r\n');
      assert.equal(await c.command(), 'STARTTLS');
      c.write('454 4.7.0 TLS not available due to temporary reason\r\n');
      await serveMail(c, { onMessage: (m) => mails.push(m) });
    });
    const s = await session(peer);
    assert.equal(s.tls, null);
    assert.equal((await s.send('a@client.test', ['b@x.test'], BODY, BODY.length)).stage, 'done');
    assert.equal(peer.connectionCount(), 1);
    s.close();
    const refused = await open(peer, 'encrypt');
    assert.ok(!refused.ok);
    assert.equal(refused.trouble, 'tls');
  });

  test('a close right after STARTTLS, before its reply: "may" goes on in clear on a new connection, "encrypt" fails', async () => {
    const peer = await scripted('127.0.0.64', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await c.command();
      c.write('250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n');
      const next = await c.command();
      if (next === 'STARTTLS') {
        c.socket.end();
        return;
      }
      c.write('250 2.1.0 Ok\r\n');
      await serveMail(c);
    });
    const s = await session(peer);
    assert.equal(s.tls, null);
    assert.equal(peer.connectionCount(), 2);
    assert.equal((await s.send('a@client.test', ['b@x.test'], BODY, BODY.length)).stage, 'done');
    s.close();
    const refused = await open(peer, 'encrypt');
    assert.ok(!refused.ok);
    assert.equal(refused.trouble, 'tls');
    assert.match(refused.reply, /connection closed by the server while waiting for the reply to STARTTLS/);
  });

  test('a server that closes or resets at any stage: classified, with the stage named', async () => {
    // [stage after which the server goes, close or reset, what the client reports]
    const cases: [string, 'close' | 'reset', RegExp][] = [
      ['connect', 'close', /^connection closed by the server while waiting for the greeting$/],
      ['greeting', 'reset', /^connection reset by the server while waiting for the reply to EHLO$/],
      ['EHLO', 'close', /while waiting for the reply to MAIL FROM$/],
      ['MAIL', 'reset', /^connection reset by the server while waiting for the reply to RCPT TO$/],
      ['RCPT', 'close', /while waiting for the reply to DATA$/],
    ];
    let current = 0;
    const peer = await scripted('127.0.0.65', async (c) => {
      const [stage, how] = cases[current] as [string, 'close' | 'reset', RegExp];
      const go = (): void => {
        if (how === 'reset') c.reset();
        else c.socket.end();
      };
      if (stage === 'connect') return go();
      c.write('220 mx ESMTP\r\n');
      if (stage === 'greeting') {
        await c.command();
        return go();
      }
      await c.command();
      c.write('250 mx\r\n');
      if (stage === 'EHLO') {
        await c.command();
        return go();
      }
      await c.command();
      c.write('250 Ok\r\n');
      await c.command();
      if (stage === 'MAIL') return go();
      c.write('250 Ok\r\n');
      await c.command();
      go();
    });
    for (current = 0; current < cases.length; current++) {
      const [stage, , expected] = cases[current] as [string, 'close' | 'reset', RegExp];
      const opened = await open(peer);
      if (stage === 'connect' || stage === 'greeting') {
        assert.ok(!opened.ok, stage);
        assert.equal(opened.trouble, 'dropped', stage);
        assert.match(opened.reply, expected, stage);
        continue;
      }
      assert.ok(opened.ok, stage);
      const result = await opened.session.send('a@client.test', ['b@x.test'], BODY, BODY.length);
      assert.equal(result.stage, 'connection', stage);
      assert.match(result.reply, expected, stage);
      assert.equal(opened.session.usable, false, stage);
      assert.equal(await opened.session.readyForNext(), false, stage);
    }
  });

  test('a reply nobody asked for between transactions: the connection is not reused', async () => {
    const peer = await scripted('127.0.0.66', async (c) => {
      c.write('220 mx ESMTP\r\n');
      await serveMail(c, {
        onMessage: () => setTimeout(() => c.write('250 2.0.0 and another one\r\n'), 20),
      });
    });
    const s = await session(peer);
    assert.equal((await s.send('a@client.test', ['b@x.test'], BODY, BODY.length)).stage, 'done');
    await sleep(100);
    assert.equal(s.usable, false);
    assert.equal(await s.readyForNext(), false);
    const again = await s.send('a@client.test', ['c@x.test'], BODY, BODY.length);
    assert.equal(again.stage, 'connection');
  });
});
