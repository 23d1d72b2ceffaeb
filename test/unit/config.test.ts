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
  assert.deepEqual(config.listen, { submission: ['127.0.0.1:2587'], smtps: ['127.0.0.1:2465'], smtp: ['127.0.0.1:2525'] });
  assert.equal(config.store.url, 'sqlite:data/relais.db');
  assert.equal(config.submission.allow_plain_auth_on_loopback, false);
  assert.equal(config.submission.reject_bare_newlines, true);
  assert.equal(config.quota.window, 86_400_000);
  assert.equal(config.queue.retry_every, 900_000);
  assert.equal(config.queue.give_up_after, 604_800_000);
  assert.equal(config.queue.delay_notice_after, 3_600_000);
});

test('errors name the key and what is expected', () => {
  assert.throws(() => parseConfig({ store: { url: 'mysql://x' } }), /store\.url: expected "sqlite:PATH" or "postgres:/);
  assert.throws(() => parseConfig({ submission: { max_recipients: 0 } }), /submission\.max_recipients: /);
  assert.throws(() => parseConfig({ quota: { windw: '1h' } } as never), /unknown setting "quota\.windw"/);
  assert.throws(() => parseConfig({ listen: { smtps: ['[::1]:465', 'nope'] } }), /listen\.smtps\[1\]: expected "address:port"/);
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
