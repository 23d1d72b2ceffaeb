import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { spfWithInclude } from '../../src/sender-auth/domain-check.js';
import { fromDomain, headerFields, signingDomains } from '../../src/sender-auth/message-identity.js';
import { SecretBox, SecretKeyMismatch } from '../../src/sender-auth/secret-box.js';
import { MAX_RECORDS, planSpf } from '../../src/sender-auth/spf-record.js';

const fields = (header: string) => headerFields(Buffer.from(`${header}\r\n\r\nbody\r\n`, 'latin1'));

describe('which domain signs: the From header', () => {
  test('display names, quotes, comments, folding and case do not mislead it', () => {
    assert.equal(fromDomain(fields('From: Shop <shop@Example.COM>')), 'example.com');
    assert.equal(fromDomain(fields('From: "Evil <x@attacker.test>" <shop@example.com>')), 'example.com');
    assert.equal(fromDomain(fields('From: (x@attacker.test) shop@example.com (Shop)')), 'example.com');
    assert.equal(fromDomain(fields('Subject: x\r\nFROM:\r\n\t"Shop, Inc." <shop@sub.example.com.>')), 'sub.example.com');
    assert.equal(fromDomain(fields('From: first@one.test, second@two.test')), 'one.test');
    assert.equal(fromDomain(fields('Subject: no from')), null);
    assert.equal(fromDomain(fields('From: undisclosed')), null);
    assert.equal(fromDomain(fields('From: <a@b@c>')), null);
    assert.equal(fromDomain(fields(`From: ${'('.repeat(50_000)}a@b.test`)), null);
  });

  test('the d= of every DKIM-Signature already present, however folded', () => {
    const header = 'DKIM-Signature: v=1; a=rsa-sha256;\r\n d=Customer.TEST; s=a; b=xyz\r\ndkim-signature: v=1;d=other.test;s=b\r\nFrom: a@customer.test';
    assert.deepEqual([...signingDomains(fields(header))].sort(), ['customer.test', 'other.test']);
    assert.deepEqual([...signingDomains(fields('X-DKIM-Note: d=fake.test\r\nFrom: a@b.test'))], []);
  });
});

describe('the relay SPF record', () => {
  test('IPv4 and IPv6 addresses, duplicates once; none configured names the host', () => {
    assert.deepEqual(planSpf('_spf.r.test', ['192.0.2.1', '2001:DB8::1', '192.0.2.1'], 'r.test').records, [
      { name: '_spf.r.test', value: 'v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 -all' },
    ]);
    const none = planSpf('_spf.r.test', [], 'r.test');
    assert.deepEqual(none.records, [{ name: '_spf.r.test', value: 'v=spf1 a:r.test -all' }]);
    assert.equal(none.lookups, 2);
  });

  test('a custom root gets prefixed sub-records; too many addresses is refused with what to do', () => {
    const many = Array.from({ length: 30 }, (_, i) => `2001:db8:${i.toString(16)}::${(i + 4096).toString(16)}`);
    const plan = planSpf('spf.example.net', many, 'r.test');
    assert.ok(plan.records.length > 1);
    assert.equal(plan.records[1]?.name, '_spf2.spf.example.net');
    assert.ok(plan.records.every((r) => r.value.length <= 255));
    const huge = Array.from({ length: 250 }, (_, i) => `198.51.${Math.floor(i / 200)}.${i % 200}`);
    assert.throws(() => planSpf('_spf.r.test', huge, 'r.test'), new RegExp(`do not fit in ${MAX_RECORDS} SPF records.*CIDR`));
  });

  test('the include goes before all or redirect=, or a record is made', () => {
    assert.equal(spfWithInclude('v=spf1 mx -all', '_spf.r.test'), 'v=spf1 mx include:_spf.r.test -all');
    assert.equal(spfWithInclude('v=spf1 a redirect=_spf.isp.test', '_spf.r.test'), 'v=spf1 a include:_spf.r.test redirect=_spf.isp.test');
    assert.equal(spfWithInclude('v=spf1 mx', '_spf.r.test'), 'v=spf1 mx include:_spf.r.test');
    assert.equal(spfWithInclude(null, '_spf.r.test'), 'v=spf1 include:_spf.r.test ~all');
  });
});

describe('secrets at rest', () => {
  test('sealed values open only with the same key and the same context, and are never the same twice', () => {
    const box = new SecretBox(crypto.randomBytes(32));
    const a = box.seal('-----BEGIN PRIVATE KEY-----', 'dkim:a.test:s');
    assert.notEqual(a, box.seal('-----BEGIN PRIVATE KEY-----', 'dkim:a.test:s'));
    assert.equal(box.open(a, 'dkim:a.test:s'), '-----BEGIN PRIVATE KEY-----');
    assert.throws(() => box.open(a, 'dkim:b.test:s'), SecretKeyMismatch);
    assert.throws(() => new SecretBox(crypto.randomBytes(32)).open(a, 'dkim:a.test:s'), SecretKeyMismatch);
    const [v, iv, tag, body] = a.split(':');
    const flipped = Buffer.from(body as string, 'base64');
    flipped[0] = (flipped[0] as number) ^ 1;
    assert.throws(() => box.open([v, iv, tag, flipped.toString('base64')].join(':'), 'dkim:a.test:s'), SecretKeyMismatch);
    assert.throws(() => box.open('garbage', 'dkim:a.test:s'), SecretKeyMismatch);
  });
});
