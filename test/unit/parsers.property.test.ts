import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AuthExchange, type AuthStep } from '../../src/submission/auth-exchange.js';
import { parseMailFrom, parseRcptTo } from '../../src/submission/envelope-parser.js';
import type { Reply } from '../../src/submission/replies.js';
import { decodeBase64, decodePlain } from '../../src/submission/sasl.js';

/**
 * Property tests of the command parsers: any argument a client can send gets a value or one 5xx reply, never an
 * exception; what is accepted is what was sent.
 */

const RUNS = 3000;

/** Command arguments as the session sees them: latin1 text of arbitrary bytes, with SMTP's special characters often. */
const latin1 = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...'<>"\\@[]:.,; \t=+'.split('')) },
      { weight: 2, arbitrary: fc.constantFrom('FROM:', 'TO:', 'IPv6:', '::1', 'a', 'SMTPUTF8', 'NOTIFY=', 'ORCPT=rfc822;', 'SIZE=') },
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)) },
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

const pathLike = latin1.map((inner) => inner);

function assertRefusal(reply: Reply): void {
  assert.ok(reply.code >= 500 && reply.code <= 599, `a ${reply.code} reply`);
  assert.match(reply.status, /^5\.\d\.\d+$/);
  assert.ok(reply.text.length > 0);
}

const CONTROL = /[\x00-\x1f\x7f]/;

test('envelope parser: never throws; a value, or one 5xx reply', () => {
  fc.assert(
    fc.property(latin1, pathLike, fc.boolean(), (args, path, utf8) => {
      for (const input of [args, `FROM:<${path}>`, `FROM:${path}`, `FROM:<${path}> ${args}`]) {
        const mail = parseMailFrom(input, 1000);
        if (!mail.ok) assertRefusal(mail.reply);
        else assert.ok(!CONTROL.test(mail.value.address));
      }
      for (const input of [args, `TO:<${path}>`, `TO:${path}`, `TO:<${path}> ${args}`]) {
        const rcpt = parseRcptTo(input, utf8);
        if (!rcpt.ok) assertRefusal(rcpt.reply);
        else {
          assert.ok(!CONTROL.test(rcpt.value.address));
          assert.ok(rcpt.value.domain.length > 0);
          assert.equal(rcpt.value.domain, rcpt.value.domain.toLowerCase());
          assert.ok(rcpt.value.address.includes('@'));
        }
      }
    }),
    { numRuns: RUNS },
  );
});

test('envelope parser: a control character anywhere in a path is refused with 501 5.1.3', () => {
  const control = fc.oneof(fc.integer({ min: 0, max: 0x1f }), fc.constant(0x7f)).map((code) => String.fromCharCode(code));
  const safe = fc.string({ unit: fc.constantFrom(...'abc."\\>@[]:'.split('')), maxLength: 10 });
  fc.assert(
    fc.property(safe, control, safe, fc.boolean(), (before, c, after, utf8) => {
      const path = `${before}${c}${after}@x.test`;
      const mail = parseMailFrom(`FROM:<${path}>${utf8 ? ' SMTPUTF8' : ''}`, 1000);
      const rcpt = parseRcptTo(`TO:<${path}>`, utf8);
      // The path may end early at an unquoted ">": then the command is refused some other way, but still refused.
      assert.equal(mail.ok, false);
      assert.equal(rcpt.ok, false);
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'abc. '.split('')), maxLength: 8 }), control, (text, c) => {
      for (const path of [`"${text}${c}"@x.test`, `a${c}b@x.test`, `ab@x${c}.test`]) {
        const mail = parseMailFrom(`FROM:<${path}>`, 1000);
        const rcpt = parseRcptTo(`TO:<${path}>`, false);
        assert.ok(!mail.ok && mail.reply.code === 501 && mail.reply.status === '5.1.3', JSON.stringify(path));
        assert.ok(!rcpt.ok && rcpt.reply.code === 501 && rcpt.reply.status === '5.1.3', JSON.stringify(path));
      }
    }),
    { numRuns: RUNS },
  );
});

const ATEXT = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&\'*+-/=?^_`{|}~';
const atom = fc.string({ unit: fc.constantFrom(...ATEXT.split('')), minLength: 1, maxLength: 8 });
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));

test('envelope parser: any dot-atom or quoted local part is accepted and kept as sent', () => {
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 20 });
  const quoted = printable.map((text) => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
  const local = fc.oneof(fc.array(atom, { minLength: 1, maxLength: 4 }).map((atoms) => atoms.join('.')), quoted);
  fc.assert(
    fc.property(local, domain, (localPart, domainName) => {
      const address = `${localPart}@${domainName}`;
      const rcpt = parseRcptTo(`TO:<${address}> NOTIFY=NEVER`, false);
      assert.deepEqual(rcpt, { ok: true, value: { address, domain: domainName, notify: 'NEVER', orcpt: null, parameters: ['NOTIFY'] } });
      const mail = parseMailFrom(`FROM:<${address}> SIZE=10`, 1000);
      assert.ok(mail.ok && mail.value.address === address && mail.value.size === 10, JSON.stringify(mail));
      assert.deepEqual(mail.value.parameters, ['SIZE']);
    }),
    { numRuns: RUNS },
  );
});

test('envelope parser: IP address literals are accepted when they are valid addresses', () => {
  fc.assert(
    fc.property(fc.ipV4(), fc.ipV6(), fc.mixedCase(fc.constant('ipv6')), (v4, v6, tag) => {
      const four = parseRcptTo(`TO:<u@[${v4}]>`, false);
      assert.ok(four.ok && four.value.domain === `[${v4}]`, `${v4}: ${JSON.stringify(four)}`);
      const six = parseRcptTo(`TO:<u@[${tag}:${v6}]>`, false);
      assert.ok(six.ok && six.value.domain === `[ipv6:${v6.toLowerCase()}]`, `${v6}: ${JSON.stringify(six)}`);
      assert.ok(parseMailFrom(`FROM:<u@[${tag}:${v6}]>`, 1000).ok);
      // Without its tag an IPv6 address is no literal at all (RFC 5321 4.1.3).
      const bare = parseRcptTo(`TO:<u@[${v6}]>`, false);
      assert.ok(!bare.ok && bare.reply.code === 501);
    }),
    { numRuns: RUNS },
  );
});

// ---- SASL ----

const anyText = fc.string({ unit: 'binary', maxLength: 40 });

function assertStep(step: AuthStep): void {
  assert.ok(step, 'one step for every line');
  if (step.kind === 'reply') assertRefusal(step.reply);
  if (step.kind === 'prompt') assert.ok(decodeBase64(step.challenge) !== undefined);
}

test('SASL: decoding never throws, whatever the client sends', () => {
  fc.assert(
    fc.property(fc.oneof(latin1, anyText, fc.base64String({ maxLength: 40 })), (text) => {
      const decoded = decodeBase64(text);
      assert.ok(decoded === undefined || typeof decoded === 'string');
      const plain = decodePlain(text);
      if (plain.ok) assert.ok(plain.username !== '' && plain.password !== '');
      else assert.ok(plain.reason === 'undecodable' || plain.reason === 'malformed');
    }),
    { numRuns: RUNS },
  );
});

test('SASL PLAIN: encode then decode gives back the username and password', () => {
  const part = fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\0'));
  fc.assert(
    fc.property(part, part, fc.boolean(), (username, password, withAuthzid) => {
      const encoded = Buffer.from(`${withAuthzid ? username : ''}\0${username}\0${password}`, 'utf8').toString('base64');
      assert.deepEqual(decodePlain(encoded), { ok: true, username, password });
      const exchange = new AuthExchange();
      assert.deepEqual(exchange.start(`PLAIN ${encoded}`), { kind: 'credentials', username, password });
      assert.deepEqual(exchange.start('PLAIN'), { kind: 'prompt', challenge: '' });
      assert.deepEqual(exchange.next(encoded), { kind: 'credentials', username, password });
      assert.equal(exchange.active, false);
    }),
    { numRuns: RUNS },
  );
});

test('SASL LOGIN: encode then decode gives back the username and password', () => {
  const part = fc.string({ unit: 'binary', minLength: 1, maxLength: 30 });
  fc.assert(
    fc.property(part, part, (username, password) => {
      const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
      const exchange = new AuthExchange();
      assert.equal(exchange.start('LOGIN').kind, 'prompt');
      assert.equal(exchange.next(b64(username)).kind, 'prompt');
      assert.deepEqual(exchange.next(b64(password)), { kind: 'credentials', username, password });
      assert.equal(exchange.start(`login ${b64(username)}`).kind, 'prompt');
      assert.deepEqual(exchange.next(b64(password)), { kind: 'credentials', username, password });
    }),
    { numRuns: RUNS },
  );
});

test('AUTH exchange: any sequence of AUTH commands and response lines gets one step each, never an exception', () => {
  const mechanism = fc.constantFrom('PLAIN', 'plain', 'LOGIN', 'Login', 'CRAM-MD5', '', 'PLAIN =', 'LOGIN =');
  const action = fc.oneof(
    fc.tuple(mechanism, fc.oneof(fc.constant(''), latin1, fc.base64String({ maxLength: 24 }))).map(([m, rest]) => ({ start: `${m} ${rest}` })),
    fc.oneof(latin1, fc.base64String({ maxLength: 24 }), fc.constantFrom('*', '=', '')).map((line) => ({ line })),
  );
  fc.assert(
    fc.property(fc.array(action, { maxLength: 12 }), (actions) => {
      const exchange = new AuthExchange();
      for (const a of actions) {
        const wasActive = exchange.active;
        const step = 'start' in a ? exchange.start(a.start) : exchange.next(a.line);
        assertStep(step);
        assert.equal(exchange.active, step.kind === 'prompt', 'waits for a response exactly when it prompted');
        if ('line' in a && !wasActive) assert.equal(step.kind, 'reply');
      }
    }),
    { numRuns: RUNS },
  );
});
