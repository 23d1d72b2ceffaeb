import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { parseConfig } from '../../src/config/load.js';
import { systemMailBody, systemMessage } from '../../src/queue/system-mail.js';
import { classifyCodes, ipQueryName } from '../../src/reputation/dnsbl-lookup.js';
import { fromHeaderDomains, senderDomain } from '../../src/reputation/sender-domains.js';

test('DNSBL query names: reversed octets for IPv4, reversed nibbles for IPv6 (RFC 5782)', () => {
  assert.equal(ipQueryName('192.0.2.99', 'zen.test'), '99.2.0.192.zen.test');
  assert.equal(ipQueryName('2001:db8::1', 'zen.test'), `1.0.0.0.${'0.'.repeat(20)}8.b.d.0.1.0.0.2.zen.test`);
  assert.equal(ipQueryName('::ffff:192.0.2.1', 'z.test'), ipQueryName('0:0:0:0:0:ffff:c000:201', 'z.test'));
  assert.throws(() => ipQueryName('mail.example', 'zen.test'), /not an IP address/);
});

test('answer codes: 127.0.0.2 and up list; 127.255.255.x (query refused), 127.0.0.1 and non-loopback are errors', () => {
  assert.deepEqual(classifyCodes([]), null);
  assert.deepEqual(classifyCodes(['127.0.0.2']), { listed: '127.0.0.2' });
  assert.deepEqual(classifyCodes(['127.0.0.4', '127.0.0.2']), { listed: '127.0.0.2,127.0.0.4' });
  assert.match((classifyCodes(['127.255.255.254']) as { error: string }).error, /refused the query/);
  assert.match((classifyCodes(['127.0.0.2', '127.255.255.252']) as { error: string }).error, /refused/);
  assert.ok('error' in (classifyCodes(['127.0.0.1']) as object));
  assert.ok('error' in (classifyCodes(['192.0.2.1']) as object));
});

test('sender domains: the envelope address and every address of the From header, nothing from display names', () => {
  assert.equal(senderDomain('Alice@Example.TEST'), 'example.test');
  assert.equal(senderDomain('a@[192.0.2.1]'), null);
  assert.equal(senderDomain(''), null);
  assert.equal(senderDomain('a@localhost'), null);
  const message = (header: string) => Buffer.from(`${header}\r\nSubject: x\r\n\r\nFrom: body@body.test\r\n`);
  assert.deepEqual(fromHeaderDomains(message('From: "Sales @ evil.test" <sales@shop.test>')), ['shop.test']);
  assert.deepEqual(fromHeaderDomains(message('from: a@one.test, B <b@two.test> (c@comment.test)')), ['one.test', 'two.test']);
  assert.deepEqual(fromHeaderDomains(message('From: Folded\r\n <folded@fold.test>')), ['fold.test']);
  assert.deepEqual(fromHeaderDomains(message('To: x@to.test')), []);
  assert.deepEqual(fromHeaderDomains(Buffer.from('From: only@header.test\r\n')), ['header.test']);
  // A hostile From of 60 KB without separators or "@" costs linear time, not quadratic.
  const started = performance.now();
  assert.deepEqual(fromHeaderDomains(message(`From: ${'a'.repeat(990)}${'\r\n '.concat('a'.repeat(990)).repeat(60)}`)), []);
  assert.deepEqual(fromHeaderDomains(message(`From: ${'a.'.repeat(30_000)}`)), []);
  assert.ok(performance.now() - started < 2000);
});

test('system mail: from the postmaster, one-line headers whatever the text, base64 body, kind system', async () => {
  const settings = { hostname: 'relay.test', retryEvery: 1000, giveUpAfter: 10_000, delayNoticeAfter: 5000 };
  const m = systemMessage({ to: ['ops@ops.test'], subject: 'Listed\r\nBcc: victim@x.test é', text: 'line one\nline two' }, settings, Date.UTC(2026, 0, 1));
  assert.equal(m.kind, 'system');
  assert.equal(m.mailFrom, 'postmaster@relay.test');
  assert.equal(m.credentialId, null);
  assert.deepEqual(m.recipients, [{ address: 'ops@ops.test', domain: 'ops.test', orcpt: null, notify: 'NEVER' }]);
  const parsed = await simpleParser(m.body);
  assert.equal(parsed.subject, 'Listed Bcc: victim@x.test é');
  assert.equal(parsed.headers.get('bcc'), undefined);
  assert.equal(parsed.text?.trim(), 'line one\nline two');
  assert.equal(parsed.messageId, `<${m.id}@relay.test>`);
  assert.ok(systemMailBody({ to: ['a@b.test'], subject: 's', text: 'x'.repeat(5000) }, 'ID', settings, 0).toString().split('\r\n').every((l) => l.length <= 998));
});

test('config: dnsbl and alerts keys, with clear errors', () => {
  const c = parseConfig({});
  assert.equal(c.dnsbl.interval, 300_000);
  assert.deepEqual(c.dnsbl.ip_zones, []);
  assert.equal(c.alerts.email, undefined);
  const set = parseConfig({ dnsbl: { interval: '1s', ip_zones: ['ZEN.Spamhaus.org.'], domain_zones: ['dbl.test'] }, alerts: { email: 'ops@example.org' } });
  assert.deepEqual(set.dnsbl.ip_zones, ['zen.spamhaus.org']);
  assert.throws(() => parseConfig({ dnsbl: { ip_zones: ['not a zone'] } }), /DNS zone name/);
  assert.throws(() => parseConfig({ alerts: { email: 'nobody' } }), /e-mail address/);
});
