import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_IP_BLOCK_PATTERNS, classifyReply, compilePatterns } from '../../src/delivery/reply-classifier.js';
import { IpPool } from '../../src/delivery/ip-pool.js';
import { statusOf } from '../../src/delivery/deliver-job.js';
import { wantsNotice } from '../../src/dsn/notice-policy.js';
import { nextState } from '../../src/queue/retry-schedule.js';

const patterns = compilePatterns(DEFAULT_IP_BLOCK_PATTERNS);
const MINUTE = 60_000;

test('reply classification: a table of patterns, 421 and IP-blaming texts move to another address', () => {
  const cases: [number, string, string][] = [
    [250, '2.0.0 Ok: queued', 'delivered'],
    [451, '4.2.0 Mailbox full', 'defer'],
    [550, '5.1.1 User unknown', 'fail'],
    [552, '5.2.2 Mailbox full', 'fail'],
    [421, '4.7.0 Too many connections from your IP', 'blocked-ip'],
    [554, '5.7.1 Service unavailable; client [127.0.0.11] blocked using zen.test', 'blocked-ip'],
    [550, '5.7.1 Your IP address is listed in a DNSBL', 'blocked-ip'],
    [550, '5.7.606 Access denied, banned sending IP [192.0.2.1]', 'blocked-ip'],
    [554, '5.7.1 Message rejected due to poor reputation', 'blocked-ip'],
    [450, '4.7.1 Client host rejected: cannot find your hostname', 'blocked-ip'],
    [550, '5.7.1 Message content rejected as spam', 'fail'],
  ];
  for (const [code, text, verdict] of cases) assert.equal(classifyReply(code, `${code} ${text}`, patterns), verdict, text);
  assert.equal(classifyReply(550, '550 5.7.1 custom-block', compilePatterns(['custom-block'])), 'blocked-ip');
});

test('retry schedule: every retryEvery until give-up, the last attempt at give-up, then failed', () => {
  const schedule = { retryEvery: 15 * MINUTE, giveUpAt: 7 * 1440 * MINUTE };
  assert.deepEqual(nextState('defer', schedule, 0), { state: 'deferred', nextAttemptAt: 15 * MINUTE, expired: false });
  assert.deepEqual(nextState('defer', schedule, schedule.giveUpAt - MINUTE), { state: 'deferred', nextAttemptAt: schedule.giveUpAt, expired: false });
  assert.deepEqual(nextState('defer', schedule, schedule.giveUpAt), { state: 'failed', nextAttemptAt: schedule.giveUpAt, expired: true });
  assert.equal(nextState('fail', schedule, 0).state, 'failed');
  assert.equal(nextState('delivered', schedule, 0).state, 'delivered');
  let attempts = 0;
  for (let now = 0, state = 'deferred'; state === 'deferred'; attempts++) {
    const n = nextState('defer', schedule, now);
    state = n.state;
    now = n.nextAttemptAt;
  }
  assert.equal(attempts, 7 * 24 * 4 + 1, 'a 7-day schedule at 15 minutes is 673 attempts');
});

test('notices honour NOTIFY, never go to a null sender, and notices get none', () => {
  const m = { mailFrom: 'a@b.test', kind: 'message' };
  assert.equal(wantsNotice('failure', m, null), true);
  assert.equal(wantsNotice('delay', m, null), true);
  assert.equal(wantsNotice('delay', m, 'FAILURE'), false);
  assert.equal(wantsNotice('failure', m, 'SUCCESS,FAILURE'), true);
  assert.equal(wantsNotice('failure', m, 'NEVER'), false);
  assert.equal(wantsNotice('failure', { mailFrom: '', kind: 'message' }, null), false);
  assert.equal(wantsNotice('failure', { mailFrom: 'x@y.test', kind: 'notice' }, null), false);
});

test('status codes for notices come from the reply, in the verdict\'s class', () => {
  assert.equal(statusOf('550 5.1.1 no such user', 'fail'), '5.1.1');
  assert.equal(statusOf('554 5.7.1 blocked', 'defer'), '4.7.1');
  assert.equal(statusOf('connection refused', 'defer', '4.4.1'), '4.4.1');
});

test('IP pool: round robin, avoidance per destination, out of rotation', () => {
  const pool = IpPool.fromConfig([{ address: '10.0.0.1' }, { address: '10.0.0.2', ehlo: 'two.example' }], 'relay.example');
  const none = new Set<string | null>();
  assert.equal(pool.choose('a.test', none, 0)?.address, '10.0.0.1');
  assert.equal(pool.choose('a.test', none, 0)?.ehlo, 'two.example');
  pool.avoid('10.0.0.1', 'a.test', 1000, 'blocked');
  assert.equal(pool.choose('a.test', none, 0)?.address, '10.0.0.2');
  assert.equal(pool.choose('a.test', none, 0)?.address, '10.0.0.2');
  assert.equal(pool.choose('b.test', new Set(['10.0.0.2']), 0)?.address, '10.0.0.1');
  assert.equal(pool.choose('a.test', new Set(['10.0.0.2']), 0), undefined);
  assert.equal(pool.choose('a.test', new Set(['10.0.0.2']), 1000)?.address, '10.0.0.1');
  assert.deepEqual(pool.avoidedFor('10.0.0.1', 0), ['a.test']);
  pool.prune(1000);
  assert.deepEqual(pool.avoidedFor('10.0.0.1', 0), []);
  pool.setOutOfRotation('10.0.0.2', 'listed on zen.test');
  assert.equal(pool.choose('c.test', new Set(['10.0.0.1']), 0), undefined);
  assert.deepEqual(IpPool.fromConfig([], 'relay.example').ips, [{ address: null, ehlo: 'relay.example' }]);
});

test('IP pool: with every address avoided, the one whose avoidance ends first carries the retry', () => {
  const pool = IpPool.fromConfig([{ address: '10.0.0.1' }, { address: '10.0.0.2' }, { address: '10.0.0.3' }], 'relay.example');
  pool.avoid('10.0.0.1', 'a.test', 3000, 'blocked');
  pool.avoid('10.0.0.2', 'a.test', 1000, 'blocked');
  pool.avoid('10.0.0.3', 'a.test', 2000, 'blocked');
  assert.equal(pool.choose('a.test', new Set(), 0), undefined);
  assert.equal(pool.leastRecentlyAvoided('a.test', 0)?.address, '10.0.0.2');
  // An address out of rotation (blocklisted) is no candidate: with every address listed, mail waits in the queue.
  pool.setOutOfRotation('10.0.0.2', 'listed on zen.test');
  assert.equal(pool.leastRecentlyAvoided('a.test', 0)?.address, '10.0.0.3');
  for (const a of ['10.0.0.1', '10.0.0.3']) pool.setOutOfRotation(a, 'listed');
  assert.equal(pool.leastRecentlyAvoided('a.test', 0), undefined);
  assert.equal(pool.anyUsable(), false);
  // The operator's alerts still leave, from the listed address avoided longest ago.
  assert.equal(pool.leastRecentlyAvoided('a.test', 0, { lastResort: true })?.address, '10.0.0.2');
});

test('IP pool: a pinned credential uses only its addresses', () => {
  const pool = IpPool.fromConfig([{ address: '10.0.0.1' }, { address: '10.0.0.2' }, { address: '10.0.0.3' }], 'relay.example');
  const pinned = new Set(['10.0.0.3']);
  for (let i = 0; i < 4; i++) assert.equal(pool.choose('a.test', new Set(), 0, pinned)?.address, '10.0.0.3');
  assert.equal(pool.choose('a.test', new Set(['10.0.0.3']), 0, pinned), undefined);
  pool.avoid('10.0.0.3', 'a.test', 1000, 'blocked');
  assert.equal(pool.leastRecentlyAvoided('a.test', 0, { allowed: pinned })?.address, '10.0.0.3');
  pool.setOutOfRotation('10.0.0.3', 'listed');
  assert.equal(pool.anyUsable(pinned), false);
  assert.equal(pool.leastRecentlyAvoided('a.test', 0, { allowed: pinned }), undefined);
});
