import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createTransport } from 'nodemailer';
import { EICAR, EICAR_VIRUS_NAME, startClamd, type ClamdPeer } from '../peers/clamd.js';
import { startDns, type DnsPeer, type DnsZones } from '../peers/dns.js';
import { startDnsbl, type DnsblPeer } from '../peers/dnsbl.js';
import { freePort } from '../peers/ports.js';
import { startReceiver, type ReceiverPeer } from '../peers/receiver.js';

/*
 * Each peer checked with a real client. clamd starts once, first, and comes up while the other tests run, as
 * the delivery tests should do it (with a real database it takes seconds).
 */
let clamdStarting: Promise<ClamdPeer>;
before(() => {
  clamdStarting = startClamd();
  clamdStarting.catch(() => undefined); // reported by the clamd test; must not be an unhandled rejection meanwhile
});
after(async () => {
  const clamd = await clamdStarting.catch(() => undefined);
  await clamd?.stop();
});

async function dnsCode(query: Promise<unknown>): Promise<string> {
  try {
    await query;
    return 'answered';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

const ZONES: DnsZones = {
  'example.test': { mx: [{ pref: 10, host: 'mx1.example.test' }, { pref: 20, host: 'mx2.example.test' }], txt: ['v=spf1 ip4:127.0.0.0/8 -all'] },
  'mx1.example.test': { a: ['127.0.0.21'], aaaa: ['::1'] },
  'mx2.example.test': { a: ['127.0.0.22'] },
  'nullmx.test': { mx: [{ pref: 0, host: '.' }] },
  'sel._domainkey.example.test': { txt: [`v=DKIM1; k=rsa; p=${'A'.repeat(400)}`] },
};

describe('dns (unbound)', () => {
  let dns: DnsPeer;
  before(async () => {
    dns = await startDns({ zones: ZONES });
  });
  after(() => dns.stop());

  test('answers MX, A, AAAA and TXT from the zones', async () => {
    const r = dns.resolver();
    assert.deepEqual(await r.resolveMx('example.test'), [
      { exchange: 'mx1.example.test', priority: 10 },
      { exchange: 'mx2.example.test', priority: 20 },
    ]);
    assert.deepEqual(await r.resolve4('mx1.example.test'), ['127.0.0.21']);
    assert.deepEqual(await r.resolve6('mx1.example.test'), ['::1']);
    assert.deepEqual(await r.resolveTxt('example.test'), [['v=spf1 ip4:127.0.0.0/8 -all']]);
    // Longer than 255 bytes: split into character-strings, which join back to the value.
    const dkim = await r.resolveTxt('sel._domainkey.example.test');
    assert.equal(dkim.length, 1);
    assert.equal(dkim[0]?.join(''), ZONES['sel._domainkey.example.test']?.txt?.[0]);
  });

  test('answers a null MX as MX 0 .', async () => {
    assert.deepEqual(await dns.resolver().resolveMx('nullmx.test'), [{ exchange: '', priority: 0 }]);
  });

  test('answers NXDOMAIN for absent names, NODATA for absent types, REFUSED outside the test world', async () => {
    const r = dns.resolver();
    assert.equal(await dnsCode(r.resolveMx('absent.test')), 'ENOTFOUND');
    assert.equal(await dnsCode(r.resolve4('www.example.test')), 'ENOTFOUND');
    assert.equal(await dnsCode(r.resolve4('example.test')), 'ENODATA');
    assert.equal(await dnsCode(r.resolve4('example.com')), 'EREFUSED');
  });

  test('setZones changes the answers at run time, also for a resolver that already asked', async () => {
    const r = dns.resolver();
    assert.deepEqual(await r.resolve4('mx2.example.test'), ['127.0.0.22']);
    await dns.setZones({ ...ZONES, 'mx2.example.test': { a: ['127.0.0.23'] }, 'new.test': { mx: [{ pref: 5, host: 'mx1.example.test' }] } });
    assert.deepEqual(await r.resolve4('mx2.example.test'), ['127.0.0.23']);
    assert.deepEqual(await r.resolveMx('new.test'), [{ exchange: 'mx1.example.test', priority: 5 }]);
    await dns.setZones(ZONES);
    assert.equal(await dnsCode(r.resolveMx('new.test')), 'ENOTFOUND');
  });
});

describe('dnsbl (rbldnsd behind unbound)', () => {
  let dnsbl: DnsblPeer;
  let dns: DnsPeer;
  before(async () => {
    dnsbl = await startDnsbl({ zones: { 'zen.test': { ips: ['127.0.0.11'] }, 'dbl.test': { domains: ['spam.test'] } } });
    dns = await startDns({
      zones: ZONES,
      forward: [
        { zone: 'zen.test', address: dnsbl.address, port: dnsbl.port },
        { zone: 'dbl.test', address: dnsbl.address, port: dnsbl.port },
      ],
    });
  });
  after(async () => {
    await dns.stop();
    await dnsbl.stop();
  });

  test('a listed IP answers A 127.0.0.2 and a TXT; an unlisted one NXDOMAIN', async () => {
    const r = dns.resolver();
    assert.deepEqual(await r.resolve4('11.0.0.127.zen.test'), ['127.0.0.2']);
    const txt = await r.resolveTxt('11.0.0.127.zen.test');
    assert.match(txt[0]?.join('') ?? '', /127\.0\.0\.11/);
    assert.equal(await dnsCode(r.resolve4('12.0.0.127.zen.test')), 'ENOTFOUND');
    assert.deepEqual(await r.resolve4('spam.test.dbl.test'), ['127.0.1.2']);
    assert.equal(await dnsCode(r.resolve4('ham.test.dbl.test')), 'ENOTFOUND');
    // The test DNS still answers its own zones.
    assert.deepEqual(await r.resolve4('mx1.example.test'), ['127.0.0.21']);
  });

  test('list and delist at run time show through unbound at once', async () => {
    const r = dns.resolver();
    assert.equal(await dnsCode(r.resolve4('5.0.0.127.zen.test')), 'ENOTFOUND');
    await dnsbl.list('127.0.0.5');
    assert.deepEqual(await r.resolve4('5.0.0.127.zen.test'), ['127.0.0.2']);
    await dnsbl.delist('127.0.0.5');
    assert.equal(await dnsCode(r.resolve4('5.0.0.127.zen.test')), 'ENOTFOUND');
    // Twice within a second: rbldnsd must still notice the second change.
    await dnsbl.list('127.0.0.5');
    assert.deepEqual(await r.resolve4('5.0.0.127.zen.test'), ['127.0.0.2']);
    await dnsbl.delist('127.0.0.5');
    assert.equal(await dnsCode(r.resolve4('5.0.0.127.zen.test')), 'ENOTFOUND');
    assert.deepEqual(dnsbl.entries('zen.test'), ['127.0.0.11']);
  });

  test('listDomain and delistDomain at run time', async () => {
    const r = dns.resolver();
    await dnsbl.listDomain('sender.test');
    assert.deepEqual(await r.resolve4('sender.test.dbl.test'), ['127.0.1.2']);
    await dnsbl.delistDomain('sender.test');
    assert.equal(await dnsCode(r.resolve4('sender.test.dbl.test')), 'ENOTFOUND');
  });
});

/** A raw SMTP client: sends each command after the previous reply and returns every reply (the greeting first). */
function smtpDialogue(address: string, port: number, commands: string[], localAddress = '127.0.0.5'): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port, localAddress });
    const replies: string[] = [];
    const pending = [...commands];
    let buffer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(3000, () => socket.destroy(new Error(`no reply after ${JSON.stringify(replies)}`)));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      // A reply is complete at a line with a space after the code.
      for (let m = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(buffer); m; m = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(buffer)) {
        replies.push(m[0].trimEnd());
        buffer = buffer.slice(m[0].length);
        const next = pending.shift();
        if (next === undefined) socket.end();
        else socket.write(`${next}\r\n`);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(replies));
  });
}

describe('receiver (smtp-server)', () => {
  let rx: ReceiverPeer;
  before(async () => {
    rx = await startReceiver({ address: '127.0.0.21', name: 'mx1.example.test' });
  });
  after(() => rx.stop());
  beforeEach(() => rx.reset());

  const transport = (options: { localAddress?: string; ignoreTLS?: boolean; requireTLS?: boolean } = {}) =>
    createTransport({
      host: rx.address,
      port: rx.port,
      name: 'client.test',
      localAddress: options.localAddress ?? '127.0.0.5',
      ignoreTLS: options.ignoreTLS ?? false,
      requireTLS: options.requireTLS ?? false,
      // Verify the receiver's self-signed certificate properly, by name.
      tls: { ca: [rx.certificate.cert], servername: rx.name },
      connectionTimeout: 3000,
      greetingTimeout: 3000,
      socketTimeout: 3000,
    });

  const mail = { from: 'sender@relais.test', to: 'rcpt@example.test', subject: 'peer self-test', text: 'hello' };

  test('accepts over STARTTLS and records peer IP, EHLO, TLS, envelope and the raw message', async () => {
    const info = await transport().sendMail(mail);
    assert.match(info.response, /^250 2\.6\.0 Ok: queued as [0-9A-F]{12}$/);
    const [m] = await rx.waitFor(1);
    assert.ok(m);
    assert.equal(m.remoteAddress, '127.0.0.5');
    assert.equal(m.localAddress, '127.0.0.21');
    assert.equal(m.helo, 'client.test');
    assert.equal(m.openingCommand, 'EHLO');
    assert.equal(m.tls?.protocol, 'TLSv1.3');
    assert.ok(m.tls?.cipher);
    assert.equal(m.mailFrom.address, 'sender@relais.test');
    assert.deepEqual(m.rcptTo.map((r) => r.address), ['rcpt@example.test']);
    assert.match(m.raw.toString(), /Subject: peer self-test\r\n/);
    assert.ok(info.response.endsWith(m.queueId));
  });

  test('records DSN parameters', async () => {
    await transport().sendMail({ ...mail, dsn: { ret: 'HDRS', envid: 'ENV-1', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;orig@example.test' } });
    const [m] = await rx.waitFor(1);
    assert.deepEqual(m?.dsn, { ret: 'HDRS', envid: 'ENV-1' });
    assert.deepEqual(m?.rcptTo[0]?.dsn, { notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;orig@example.test' });
  });

  test('without STARTTLS: not advertised, the message arrives in cleartext', async () => {
    rx.setBehaviour({ tls: 'none' });
    const [, ehlo] = await smtpDialogue(rx.address, rx.port, ['EHLO client.test', 'QUIT']);
    assert.doesNotMatch(ehlo ?? '', /STARTTLS/);
    assert.match(ehlo ?? '', /ENHANCEDSTATUSCODES/);
    await transport().sendMail(mail);
    const [m] = await rx.waitFor(1);
    assert.equal(m?.tls, null);
    await assert.rejects(transport({ requireTLS: true }).sendMail(mail));
  });

  test('broken TLS: STARTTLS advertised, the handshake fails; without TLS it goes through', async () => {
    rx.setBehaviour({ tls: 'broken' });
    const [, ehlo] = await smtpDialogue(rx.address, rx.port, ['EHLO client.test', 'QUIT']);
    assert.match(ehlo ?? '', /STARTTLS/);
    await assert.rejects(transport().sendMail(mail), /handshake failure/i);
    assert.equal(rx.refusals.at(-1)?.stage, 'starttls');
    await transport({ ignoreTLS: true }).sendMail(mail);
    assert.equal((await rx.waitFor(1))[0]?.tls, null);
  });

  test('refuses a source IP at connect with a 554 greeting, and accepts other IPs', async () => {
    rx.setBehaviour({ refuse: { ips: ['127.0.0.5'], at: 'connect' } });
    const replies = await smtpDialogue(rx.address, rx.port, ['EHLO client.test']);
    assert.deepEqual(replies, ['554 5.7.1 Service unavailable; client [127.0.0.5] blocked using zen.test']);
    await assert.rejects(transport().sendMail(mail), (err: { responseCode?: number }) => err.responseCode === 554);
    await transport({ localAddress: '127.0.0.6' }).sendMail(mail);
    assert.equal((await rx.waitFor(1))[0]?.remoteAddress, '127.0.0.6');
  });

  test('refuses a source IP at MAIL FROM', async () => {
    rx.setBehaviour({ refuse: { ips: ['127.0.0.5'], at: 'mail' } });
    const replies = await smtpDialogue(rx.address, rx.port, ['EHLO client.test', 'MAIL FROM:<a@relais.test>', 'QUIT']);
    assert.equal(replies[2], '554 5.7.1 Service unavailable; client [127.0.0.5] blocked using zen.test');
  });

  test('451 at RCPT, then recovers when the behaviour changes', async () => {
    rx.setBehaviour({ rcpt: { code: 451, message: '4.7.1 Greylisted, try again later' } });
    await assert.rejects(transport().sendMail(mail), (err: { response?: string }) => err.response === '451 4.7.1 Greylisted, try again later');
    rx.setBehaviour({ rcpt: undefined });
    await transport().sendMail(mail);
    assert.equal((await rx.waitFor(1)).length, 1);
    assert.equal(rx.refusals[0]?.stage, 'rcpt');
  });

  test('550 at DATA; 451 at DATA', async () => {
    rx.setBehaviour({ data: { code: 550, message: '5.7.1 Message refused as spam' } });
    await assert.rejects(transport().sendMail(mail), (err: { response?: string }) => err.response === '550 5.7.1 Message refused as spam');
    rx.setBehaviour({ data: { code: 451, message: '4.3.0 Temporary failure, try later' } });
    await assert.rejects(transport().sendMail(mail), (err: { responseCode?: number }) => err.responseCode === 451);
    assert.equal(rx.messages.length, 0);
  });

  test('failure injection by local part: tempfail, permfail, disconnect', async () => {
    const info = await transport().sendMail({ ...mail, to: ['ok@example.test', 'tempfail@example.test', 'permfail@example.test'] });
    assert.deepEqual(info.accepted, ['ok@example.test']);
    const replies = ((info as { rejectedErrors?: { response?: string }[] }).rejectedErrors ?? []).map((e) => e.response);
    assert.deepEqual(replies, [
      '451 4.2.0 <tempfail@example.test>: temporary failure (tempfail requested)',
      '550 5.1.1 <permfail@example.test>: no such user (permfail requested)',
    ]);
    assert.deepEqual((await rx.waitFor(1))[0]?.rcptTo.map((r) => r.address), ['ok@example.test']);

    await assert.rejects(transport().sendMail({ ...mail, to: 'disconnect@example.test' }));
    assert.equal(rx.refusals.at(-1)?.reply, 'connection dropped');
    assert.equal(rx.messages.length, 1);
  });

  test('drops the connection during DATA when told to', async () => {
    rx.setBehaviour({ data: 'disconnect' });
    const replies = await smtpDialogue(rx.address, rx.port, ['EHLO client.test', 'MAIL FROM:<a@relais.test>', 'RCPT TO:<b@example.test>', 'DATA', 'Subject: x\r\n\r\nbody\r\n.']);
    assert.equal(replies.length, 5, `no reply after the final dot, got ${JSON.stringify(replies)}`);
    assert.match(replies[4] ?? '', /^354 /);
    assert.equal(rx.messages.length, 0);
  });

  test('waitFor says what it saw when the messages do not come', async () => {
    await assert.rejects(rx.waitFor(1, 100), /got 0 of 1 messages within 100 ms/);
  });
});

test('a receiver can take a free port on another address and stop cleanly', async () => {
  const port = await freePort('127.0.0.22');
  const rx = await startReceiver({ address: '127.0.0.22', port, behaviour: { tls: 'none' } });
  assert.equal(rx.port, port);
  const [greeting] = await smtpDialogue('127.0.0.22', port, ['QUIT']);
  assert.match(greeting ?? '', /^220 mx\.receiver\.test ESMTP/);
  await rx.stop();
  await assert.rejects(smtpDialogue('127.0.0.22', port, []), /ECONNREFUSED/);
});

test('a receiver with a SIZE limit refuses a bigger message with 552', async () => {
  const rx = await startReceiver({ address: '127.0.0.23', size: 1000, behaviour: { tls: 'none' } });
  try {
    const replies = await smtpDialogue(rx.address, rx.port, ['EHLO client.test', 'MAIL FROM:<a@relais.test>', 'RCPT TO:<b@example.test>', 'DATA', `Subject: big\r\n\r\n${'x'.repeat(2000)}\r\n.`, 'QUIT']);
    assert.match(replies[1] ?? '', /SIZE 1000/);
    assert.match(replies[5] ?? '', /^552 5\.3\.4 /);
    assert.equal(rx.messages.length, 0);
    assert.equal(rx.refusals[0]?.stage, 'data');
  } finally {
    await rx.stop();
  }
});

/** clamd's INSTREAM: chunks prefixed with their 4-byte length, a zero length ends the stream. */
function instream(clamd: ClamdPeer, data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: clamd.address, port: clamd.port });
    const chunks: Buffer[] = [];
    socket.on('connect', () => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(data.length);
      socket.end(Buffer.concat([Buffer.from('zINSTREAM\0'), length, data, Buffer.alloc(4)]));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString().replace(/\0$/, '')));
  });
}

test('clamd finds EICAR over INSTREAM and passes a clean message', async () => {
  const clamd = await clamdStarting;
  assert.equal(await instream(clamd, Buffer.from(`Subject: eicar\r\n\r\n${EICAR}\r\n`)), `stream: ${EICAR_VIRUS_NAME} FOUND`);
  assert.equal(await instream(clamd, Buffer.from('Subject: clean\r\n\r\nhello\r\n')), 'stream: OK');
});
