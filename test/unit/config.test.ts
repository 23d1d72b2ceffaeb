import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration, formatDuration } from '../../src/config/duration.js';
import { parseConfig } from '../../src/config/load.js';
import { parseSize } from '../../src/config/size.js';

test('durations as operators write them', () => {
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.throws(() => parseDuration('15 minutes'), /is not a duration/);
  assert.throws(() => parseDuration(''), /empty/);
  assert.equal(formatDuration(5_400_000), '1h30m');
});

test('sizes', () => {
  assert.equal(parseSize('25MB'), 26_214_400);
  assert.equal(parseSize(1000), 1000);
  assert.equal(parseSize('512kb'), 524_288);
  assert.throws(() => parseSize('lots'), /is not a size/);
});

test('defaults are safe and listen on loopback high ports', () => {
  const config = parseConfig({});
  assert.deepEqual(config.listen, {
    submission: ['127.0.0.1:2587'],
    smtps: ['127.0.0.1:2465'],
    smtp: ['127.0.0.1:2525'],
    console: ['127.0.0.1:8025'],
    // Mail to the relay itself is off until the operator opens it.
    inbound: [],
    // No load balancer: no PROXY header is expected or accepted.
    proxy_from: [],
    proxy_timeout: 5000,
  });
  assert.equal(config.abuse.complaints_to_suspend, 1);
  assert.equal(config.complaints.address, undefined);
  assert.equal(config.store.url, 'sqlite:data/relais.db');
  assert.equal(config.submission.allow_plain_auth_on_loopback, false);
  assert.equal(config.submission.reject_bare_newlines, true);
  assert.equal(config.quota.window, 86_400_000);
  assert.equal(config.queue.retry_every, 900_000);
  assert.equal(config.queue.give_up_after, 604_800_000);
  assert.equal(config.queue.delay_notice_after, 3_600_000);
});

test('complaints.address must be a plain address', () => {
  assert.equal(parseConfig({ complaints: { address: 'Abuse@Relay.Example' } }).complaints.address, 'abuse@relay.example');
  assert.throws(() => parseConfig({ complaints: { address: 'abuse' } }), /complaints\.address: expected a plain address/);
  assert.throws(() => parseConfig({ complaints: { address: '"a b"@relay.example' } }), /complaints\.address: expected a plain address/);
});

test('errors name the key and what is expected', () => {
  assert.throws(() => parseConfig({ store: { url: 'mysql://x' } }), /store\.url: expected "sqlite:PATH" or "postgres:/);
  assert.throws(() => parseConfig({ submission: { max_recipients: 0 } }), /submission\.max_recipients: /);
  assert.throws(() => parseConfig({ quota: { windw: '1h' } } as never), /unknown setting "quota\.windw"/);
  assert.throws(() => parseConfig({ listen: { smtps: ['[::1]:465', 'nope'] } }), /listen\.smtps\[1\]: expected "address:port"/);
});

test('what start would refuse is refused at check time, in plain words, one line per key', () => {
  const problems = (raw: object) => {
    try {
      parseConfig(raw as never);
    } catch (error) {
      return (error as Error).message.split('\n').slice(1).map((l) => l.trim());
    }
    return [];
  };
  assert.deepEqual(problems({ listen: { submission: ['127.0.0.1:99999'] } }), [
    'listen.submission[0]: expected "address:port" (a port up to 65535), for example "0.0.0.0:587" or "[::]:587"',
  ]);
  assert.match(problems({ dns: { servers: ['1.1.1.1:abc'] } })[0] as string, /^dns\.servers\[0\]: expected "IP" or "IP:port"/);
  assert.match(problems({ outbound: { ips: [{ address: '1.2.3' }] } })[0] as string, /^outbound\.ips\[0\]\.address: expected an IPv4 or IPv6 address/);
  assert.deepEqual(problems({ submission: { max_recipients: 'ten' } }), ['submission.max_recipients: expected a number, not text']);
  assert.match(problems({ submission: { idle_timeout: [1] } })[0] as string, /^submission\.idle_timeout: expected a duration such as "30s"/);
  assert.deepEqual(problems({ outbound: { tls: 'maybe' } }), ['outbound.tls: expected one of "may", "encrypt"']);
  // Good forms stay good.
  assert.deepEqual(problems({ listen: { smtps: ['[::1]:465', 'mail.example.com:465'] }, dns: { servers: ['::1', '[::1]:53', '127.0.0.1:5353'] } }), []);
  for (const lines of [problems({ submission: { max_recipients: 'ten' }, dns: { servers: ['x'] } })]) {
    for (const line of lines) assert.doesNotMatch(line, /Invalid input|received/);
  }
});

test('node.name: the host name by default, a plain name otherwise; a short default lease', () => {
  const config = parseConfig({});
  assert.match(config.node.name, /^[A-Za-z0-9][A-Za-z0-9._-]*$/);
  assert.equal(config.queue.lease_time, 60_000);
  assert.equal(parseConfig({ node: { name: 'relay-2.dc1' } }).node.name, 'relay-2.dc1');
  // "/" separates the node from the process in a lease owner: a name holding one would match another node's leases.
  assert.throws(() => parseConfig({ node: { name: 'a/b' } }), /node\.name: expected a name of letters, digits/);
  assert.throws(() => parseConfig({ node: { name: '' } }), /node\.name: /);
});
