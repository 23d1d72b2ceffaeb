import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { foldedField } from '../../src/dsn/delivery-report.js';
import { createLogger } from '../../src/log/logger.js';
import { escapeForDisplay, escapeJsonText, safeLine } from '../../src/shared/safe-text.js';

/** Raw bytes a terminal acts on: C0 controls, DEL, C1 controls, line/paragraph separators, bidi controls. */
const RAW_UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

test('display escaping makes every control character visible and leaves the rest alone', () => {
  assert.equal(escapeForDisplay('"q\x00\x7f\x1b[31m"@x.test'), '"q\\x00\\x7f\\x1b[31m"@x.test');
  assert.equal(escapeForDisplay('"v\x1b]0;pwn\x07"@x.test'), '"v\\x1b]0;pwn\\x07"@x.test');
  assert.equal(escapeForDisplay('a\r\nb\tc'), 'a\\r\\nb\\tc');
  assert.equal(escapeForDisplay('csi\x9b31m osc\x9d'), 'csi\\x9b31m osc\\x9d');
  assert.equal(escapeForDisplay('evil\u202etxt.exe \u2028'), 'evil\\u202etxt.exe \\u2028');
  assert.equal(escapeForDisplay('josé@exämple.test 日本'), 'josé@exämple.test 日本');
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => !RAW_UNSAFE.test(escapeForDisplay(s))));
});

test('JSON escaping: the value parses back unchanged and no raw control byte is left', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => {
      const text = escapeJsonText(JSON.stringify({ s }));
      assert.ok(!RAW_UNSAFE.test(text), JSON.stringify(text));
      assert.equal((JSON.parse(text) as { s: string }).s, s);
    }),
  );
});

test('remote text becomes one safe line, capped', () => {
  const hostile = '550 5.1.1 x\rAction: delivered\rStatus: 2.0.0\r\rPlease re-enter your password at http://phish.test/';
  assert.equal(safeLine(hostile), '550 5.1.1 x Action: delivered Status: 2.0.0 Please re-enter your password at http://phish.test/');
  assert.equal(safeLine('550-5.1.1 first\n550 5.1.1 second\x1b[2J'), '550-5.1.1 first 550 5.1.1 second\\x1b[2J');
  const long = safeLine(`550 ${'x'.repeat(5000)}`);
  assert.equal(long.length, 1000);
  assert.ok(long.endsWith('...'));
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => !RAW_UNSAFE.test(safeLine(s)) && safeLine(s).length <= 1000));
});

test('Diagnostic-Code is one folded field: short lines, continuation lines start with a space, no bare CR or LF', () => {
  const value = `smtp; ${safeLine('550 5.1.1 x\rAction: delivered\rStatus: 2.0.0\r\rPlease re-enter your password at http://phish.test/login now')}`;
  const field = foldedField('Diagnostic-Code', value);
  const lines = field.split('\r\n');
  assert.ok(lines.length > 1, field);
  assert.match(lines[0] as string, /^Diagnostic-Code: smtp; 550 5\.1\.1 /);
  for (const line of lines.slice(1)) assert.match(line, /^ \S/);
  for (const line of lines) assert.ok(line.length <= 78, line);
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(field), 'bare CR or LF');
  // Unfolding (RFC 5322 2.2.3) gives the value back.
  assert.equal(field.replace(/\r\n(?= )/g, ''), `Diagnostic-Code: ${value}`);
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (s) => {
      const folded = foldedField('Diagnostic-Code', safeLine(s));
      return folded.split('\r\n').every((line, i) => Buffer.byteLength(line) < 998 && (i === 0 || line.startsWith(' '))) && !/\r(?!\n)|(?<!\r)\n/.test(folded);
    }),
  );
});

test('log lines carry DEL, C1 and bidi controls escaped, and parse back to the same values', () => {
  const raw: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void raw.push(line) });
  const reply = '550 osc\x9d0;pwn\x07 csi\x9b2J del\x7f rtl\u202e esc\x1b[31m';
  logger.info({ event: 'delivery_attempt', reply }, 'delivery attempt');
  assert.equal(raw.length, 1);
  const line = (raw[0] as string).replace(/\n$/, '');
  assert.ok(!RAW_UNSAFE.test(line), JSON.stringify(line));
  assert.equal((JSON.parse(line) as { reply: string }).reply, reply);
});
