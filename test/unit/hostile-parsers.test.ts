import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthExchange } from '../../src/submission/auth-exchange.js';
import { parseMailFrom, parseRcptTo } from '../../src/submission/envelope-parser.js';
import { REPLY } from '../../src/submission/replies.js';
import { decodePlain } from '../../src/submission/sasl.js';

/** Issue 6, items 9 and 12: what the parsers make of addresses and AUTH responses hostile or unusual clients send. */

const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

test('control characters in MAIL FROM and RCPT TO are refused with 501 5.1.3, quoted or not', () => {
  const mail = parseMailFrom('FROM:<"q\x00\x7f\x1b[31m"@x.test>', 1000);
  assert.deepEqual(mail, { ok: false, reply: REPLY.controlInAddress });
  assert.equal(REPLY.controlInAddress.code, 501);
  assert.equal(REPLY.controlInAddress.status, '5.1.3');
  assert.deepEqual(parseRcptTo('TO:<"v\x1b]0;pwn\x07"@x.test>', false), { ok: false, reply: REPLY.controlInAddress });
  for (const path of ['a\x1b@x.test', 'a@x\x00.test', '"a\\\x07"@x.test', '"\t"@x.test', 'a@x.test\x7f', '@r\x1b:a@x.test']) {
    assert.deepEqual(parseRcptTo(`TO:<${path}>`, false), { ok: false, reply: REPLY.controlInAddress }, JSON.stringify(path));
    assert.deepEqual(parseMailFrom(`FROM:<${path}>`, 1000), { ok: false, reply: REPLY.controlInAddress }, JSON.stringify(path));
  }
  // Under SMTPUTF8, C1 controls are control characters too (U+009B is a terminal's CSI).
  assert.deepEqual(parseRcptTo(`TO:<${latin1('a\u009b31m@x.test')}>`, true), { ok: false, reply: REPLY.controlInAddress });
  assert.deepEqual(parseMailFrom(`FROM:<${latin1('a\u0085@x.test')}> SMTPUTF8`, 1000), { ok: false, reply: REPLY.controlInAddress });
  assert.deepEqual(parseRcptTo('TO:<a@x.test> ORCPT=rfc822;a\x1b@x.test', false), { ok: false, reply: REPLY.badParameter('ORCPT') });
});

test('quoted local parts follow RFC 5321: qtextSMTP and quoted pairs, UTF-8 only under SMTPUTF8', () => {
  const ok = (path: string, utf8 = false) => {
    const parsed = parseRcptTo(`TO:<${path}>`, utf8);
    assert.ok(parsed.ok, `${JSON.stringify(path)}: ${JSON.stringify(parsed)}`);
    return parsed.value;
  };
  assert.equal(ok('"a b"@x.test').address, '"a b"@x.test');
  assert.equal(ok('"a\\"b"@x.test').address, '"a\\"b"@x.test');
  assert.equal(ok('"a\\\\"@x.test').address, '"a\\\\"@x.test');
  assert.equal(ok('""@x.test').address, '""@x.test');
  assert.equal(ok(latin1('"jos\u00e9 b"@x.test'), true).address, '"jos\u00e9 b"@x.test');
  for (const bad of ['"a"b"@x.test', '"a\\"@x.test', 'a b@x.test', 'a..b@x.test', '.a@x.test', 'a.@x.test', '"a"."b"@x.test', 'a"b"@x.test', '@x.test', 'a@', 'a@-']) {
    const parsed = parseRcptTo(`TO:<${bad}>`, false);
    // 5.1.3 for a bad address, 5.5.4 when an odd quote leaves the path unterminated.
    assert.ok(!parsed.ok && parsed.reply.code === 501, `${JSON.stringify(bad)} ${JSON.stringify(parsed)}`);
  }
  assert.deepEqual(parseRcptTo(`TO:<${latin1('"jos\u00e9"@x.test')}>`, false), { ok: false, reply: REPLY.needUtf8 });
  // Bytes that are not UTF-8 are no SMTPUTF8 address.
  assert.deepEqual(parseRcptTo('TO:<\xff\xfe@x.test>', true), { ok: false, reply: REPLY.badRecipient });
  assert.deepEqual(parseMailFrom('FROM:<\xc3@x.test> SMTPUTF8', 1000), { ok: false, reply: REPLY.badSender });
});

test('a ">" inside a quoted local part does not end the path', () => {
  assert.deepEqual(parseRcptTo('TO:<"a>b"@x.test>', false), {
    ok: true,
    value: { address: '"a>b"@x.test', domain: 'x.test', notify: null, orcpt: null, parameters: [] },
  });
  assert.deepEqual(parseRcptTo('TO:<"a>b"@x.test> NOTIFY=NEVER', false), {
    ok: true,
    value: { address: '"a>b"@x.test', domain: 'x.test', notify: 'NEVER', orcpt: null, parameters: ['NOTIFY'] },
  });
  const mail = parseMailFrom('FROM:<"x> SIZE=1 y"@x.test> SIZE=5', 1000);
  assert.ok(mail.ok && mail.value.address === '"x> SIZE=1 y"@x.test' && mail.value.size === 5);
  assert.ok(parseMailFrom('FROM:<"a\\">"@x.test>', 1000).ok);
  // An unterminated quote or path is a syntax error, not an address.
  assert.equal(parseRcptTo('TO:<"a>b@x.test>', false).ok, false);
  const unclosed = parseMailFrom('FROM:<a@x.test', 1000);
  assert.ok(!unclosed.ok && unclosed.reply.status === '5.5.4');
  // What already worked still does: a space after the colon, no angle brackets, a source route, <>.
  assert.ok(parseMailFrom('FROM: <a@x.test>', 1000).ok);
  assert.ok(parseRcptTo('TO:a@x.test', false).ok);
  const routed = parseRcptTo('TO:<@r1.test,@[IPv6:::1]:a@x.test>', false);
  assert.ok(routed.ok && routed.value.address === 'a@x.test');
  assert.ok(parseMailFrom('FROM:<>', 1000).ok);
  const junk = parseRcptTo('TO:<a@x.test>junk', false);
  assert.ok(!junk.ok && junk.reply.code === 555);
});

test('address literals: IPv6 with its tag and IPv4 dotted quads, valid addresses only; the domain keeps the brackets', () => {
  const rcpt = parseRcptTo('TO:<u@[IPv6:2001:db8::1]>', false);
  assert.deepEqual(rcpt, { ok: true, value: { address: 'u@[IPv6:2001:db8::1]', domain: '[ipv6:2001:db8::1]', notify: null, orcpt: null, parameters: [] } });
  const mail = parseMailFrom('FROM:<u@[IPv6:2001:db8::1]>', 1000);
  assert.ok(mail.ok && mail.value.address === 'u@[IPv6:2001:db8::1]');
  assert.ok(parseRcptTo('TO:<u@[ipv6:::ffff:192.0.2.1]>', false).ok);
  assert.deepEqual(parseRcptTo('TO:<a@[127.0.0.1]>', false), { ok: true, value: { address: 'a@[127.0.0.1]', domain: '[127.0.0.1]', notify: null, orcpt: null, parameters: [] } });
  for (const bad of ['[2001:db8::1]', '[IPv6:2001:db8::1::2]', '[IPv6:fe80::1%eth0]', '[IPv6:]', '[1.2.3.256]', '[1.2.3]', '[x-tag:stuff]', '[]', '[1.2.3.4']) {
    const parsed = parseRcptTo(`TO:<u@${bad}>`, false);
    assert.ok(!parsed.ok && parsed.reply.code === 501 && parsed.reply.status === '5.1.3', `${bad}: ${JSON.stringify(parsed)}`);
    const sender = parseMailFrom(`FROM:<u@${bad}>`, 1000);
    assert.ok(!sender.ok && sender.reply.code === 501, bad);
  }
  assert.deepEqual(parseRcptTo('TO:<u@[IPv6:zz::1]>', false), { ok: false, reply: REPLY.badAddressLiteral });
});

test('AUTH PLAIN = is an empty initial response (RFC 4954 4): not a PLAIN message, so a failed login', () => {
  const exchange = new AuthExchange();
  assert.deepEqual(exchange.start('PLAIN ='), { kind: 'malformed' });
  assert.equal(exchange.active, false);
  // Without "=", no initial response at all: the server prompts.
  assert.deepEqual(exchange.start('PLAIN'), { kind: 'prompt', challenge: '' });
  // An empty line answering the prompt is an empty response too.
  assert.deepEqual(exchange.next(''), { kind: 'malformed' });
  // RFC 4616: authcid and passwd are 1*SAFE.
  const enc = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(decodePlain(enc('\0\0')), { ok: false, reason: 'malformed' });
  assert.deepEqual(decodePlain(enc('\0user\0')), { ok: false, reason: 'malformed' });
  assert.deepEqual(decodePlain(enc('\0\0pass')), { ok: false, reason: 'malformed' });
  assert.deepEqual(decodePlain(enc('a\0b\0c\0d')), { ok: false, reason: 'malformed' });
  // "=" is only the empty initial response, not a base64 text of its own.
  assert.equal(exchange.start('PLAIN').kind, 'prompt');
  assert.deepEqual(exchange.next('='), { kind: 'reply', reply: REPLY.authUndecodable });
});

test('AUTH LOGIN = is an empty username: the password is still asked for, then the login fails', () => {
  const exchange = new AuthExchange();
  assert.deepEqual(exchange.start('LOGIN ='), { kind: 'prompt', challenge: Buffer.from('Password:').toString('base64') });
  assert.deepEqual(exchange.next(Buffer.from('secret').toString('base64')), { kind: 'malformed' });
  assert.equal(exchange.active, false);
  assert.equal(exchange.start('LOGIN').kind, 'prompt');
  assert.equal(exchange.next(Buffer.from('user').toString('base64')).kind, 'prompt');
  assert.deepEqual(exchange.next(''), { kind: 'malformed' });
  assert.equal(exchange.start('LOGIN').kind, 'prompt');
  assert.deepEqual(exchange.next('*'), { kind: 'reply', reply: REPLY.authCancelled });
});

test('a new AUTH drops a conversation left half-way', () => {
  const exchange = new AuthExchange();
  assert.equal(exchange.start('LOGIN').kind, 'prompt');
  assert.equal(exchange.start('CRAM-MD5').kind, 'reply');
  assert.equal(exchange.active, false);
  exchange.start('PLAIN');
  exchange.cancel();
  assert.equal(exchange.active, false);
});
