import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/shared/clock.js';
import { AuthGuard } from '../../src/submission/auth-guard.js';
import { parseMailFrom, parseRcptTo } from '../../src/submission/envelope-parser.js';
import { addTraceHeaders } from '../../src/submission/message-headers.js';
import { decodePlain } from '../../src/submission/sasl.js';

test('MAIL FROM parameters', () => {
  const ok = parseMailFrom('FROM:<a@b.test> SIZE=100 BODY=8BITMIME RET=full ENVID=abc+2B SMTPUTF8', 1000);
  assert.deepEqual(ok, { ok: true, value: { address: 'a@b.test', size: 100, body: '8BITMIME', smtputf8: true, ret: 'FULL', envid: 'abc+2B', parameters: ['SIZE', 'BODY', 'RET', 'ENVID', 'SMTPUTF8'] } });
  const nullSender = parseMailFrom('FROM:<>', 1000);
  assert.ok(nullSender.ok && nullSender.value.address === '');
  const utf8 = parseMailFrom(`FROM:<${Buffer.from('jos\u00e9@b.test').toString('latin1')}> SMTPUTF8`, 1000);
  assert.ok(utf8.ok && utf8.value.address === 'jos\u00e9@b.test');
  const bad = parseMailFrom('FROM:<a@b.test> SIZE=2000', 1000);
  assert.ok(!bad.ok && bad.reply.code === 552);
});

test('RCPT TO parameters and domain', () => {
  const ok = parseRcptTo('TO:<User@Example.TEST> NOTIFY=success,failure ORCPT=rfc822;User@Example.TEST', false);
  assert.deepEqual(ok, { ok: true, value: { address: 'User@Example.TEST', domain: 'example.test', notify: 'SUCCESS,FAILURE', orcpt: 'rfc822;User@Example.TEST', parameters: ['NOTIFY', 'ORCPT'] } });
  const never = parseRcptTo('TO:<a@b.test> NOTIFY=NEVER,DELAY', false);
  assert.ok(!never.ok);
  const literal = parseRcptTo('TO:<a@[127.0.0.1]>', false);
  assert.ok(literal.ok);
});

test('SASL PLAIN decoding', () => {
  const enc = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(decodePlain(enc('\0user\0pass word')), { ok: true, username: 'user', password: 'pass word' });
  assert.deepEqual(decodePlain(enc('user\0user\0p')), { ok: true, username: 'user', password: 'p' });
  assert.deepEqual(decodePlain(enc('admin\0user\0p')), { ok: false, reason: 'malformed' });
  assert.deepEqual(decodePlain('***'), { ok: false, reason: 'undecodable' });
});

test('trace headers go on top; Message-ID and Date only when missing; headerless bodies stay valid', () => {
  const trace = { queueId: 'Q1', hostname: 'relay.test', heloName: 'pc', clientIp: '192.0.2.1', tls: null, username: 'u', recipients: ['r@x.test'], at: 0 };
  const out = addTraceHeaders(Buffer.from('Subject: a\r\n\r\nbody\r\n'), trace).toString();
  assert.match(out, /^Received: from pc \(\[192\.0\.2\.1\]\)\r\n\t\(authenticated as u\)\r\n\tby relay\.test \(Relais\) with ESMTPA id Q1\r\n\tfor <r@x\.test>;/);
  assert.match(out, /Subject: a\r\nMessage-ID: <Q1\.0@relay\.test>\r\nDate: Thu, 01 Jan 1970 00:00:00 \+0000\r\n\r\nbody\r\n$/);
  const empty = addTraceHeaders(Buffer.alloc(0), trace).toString();
  assert.match(empty, /Date: .*\r\n\r\n$/);
  const kept = addTraceHeaders(Buffer.from('message-id: <x@y>\r\ndate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nb\r\n'), trace).toString();
  assert.ok(!kept.includes('Message-ID: <Q1'));
});

const guardOptions = { maxFailuresPerIp: 3, maxFailuresPerUser: 4, failureWindowMs: 60_000, blockForMs: 600_000, maxParallelPerIp: 2 };

async function permitFor(guard: AuthGuard, ip: string, username: string) {
  const admission = await guard.admit(ip, username);
  if (!admission.allowed) throw new Error(`${ip} refused`);
  return admission.permit;
}

test('auth guard: per-IP limit, cool-down, and a username under attack still open to its known addresses', async () => {
  const clock = new ManualClock(0);
  const guard = new AuthGuard(guardOptions, clock);
  (await permitFor(guard, '10.0.0.1', 'alice')).succeeded();
  for (let i = 0; i < 2; i++) assert.deepEqual(guard.recordFailure('10.9.9.9', 'alice'), { ipBlocked: false, usernameBlocked: false });
  assert.equal(guard.recordFailure('10.9.9.9', 'alice').ipBlocked, true);
  assert.equal(guard.check('10.9.9.9').allowed, false);
  assert.equal(guard.recordFailure('10.8.8.8', 'alice').usernameBlocked, true);
  assert.equal(guard.check('10.7.7.7', 'alice').allowed, false);
  assert.equal(guard.check('10.0.0.1', 'alice').allowed, true);
  clock.advance(600_001);
  assert.equal(guard.check('10.9.9.9').allowed, true);
  assert.equal(guard.check('10.7.7.7', 'alice').allowed, true);
});

test('auth guard: checks in flight count, so parallel guesses get no more tries than serial ones', async () => {
  const guard = new AuthGuard({ ...guardOptions, maxFailuresPerIp: 5, maxParallelPerIp: 2 }, new ManualClock(0));
  const admissions = Array.from({ length: 40 }, () => guard.admit('10.6.6.6', 'bob'));
  let running = 0;
  let peak = 0;
  let guesses = 0;
  let refused = 0;
  await Promise.all(
    admissions.map(async (pending) => {
      const admission = await pending;
      if (!admission.allowed) return void refused++;
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
      guesses++;
      admission.permit.failed();
    }),
  );
  assert.equal(guesses, 5);
  assert.equal(refused, 35);
  assert.equal(peak, 2);
});

test('auth guard: a valid login clears the username, not the address', async () => {
  const guard = new AuthGuard({ ...guardOptions, maxFailuresPerIp: 3, maxFailuresPerUser: 100 }, new ManualClock(0));
  for (let round = 0; round < 2; round++) {
    (await permitFor(guard, '10.5.5.5', 'victim')).failed();
    (await permitFor(guard, '10.5.5.5', 'own')).succeeded();
  }
  assert.equal((await permitFor(guard, '10.5.5.5', 'victim')).failed().ipBlocked, true);
  assert.equal((await guard.admit('10.5.5.5', 'own')).allowed, false);
});
