import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { dotStuffed } from '../../src/delivery/smtp/dot-stuff.js';
import { ReplyError, ReplyReader, type SmtpReply } from '../../src/delivery/smtp/reply-reader.js';

/**
 * The outbound client's two byte-level parts, by property: the reply reader sees the same replies however a
 * server's bytes are cut into segments, and the dot-stuffed data, read back the way a receiver unstuffs it,
 * is the body (with a final CRLF added when it lacked one).
 */

const RUNS = 1000;

function split(input: Buffer, positions: number[]): Buffer[] {
  const points = [...new Set(positions.map((p) => p % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(input.subarray(from, point));
    from = point;
  }
  chunks.push(input.subarray(from));
  return chunks;
}

const cuts = fc.array(fc.noBias(fc.nat({ max: 0xffffffff })), { maxLength: 12 });
const text = fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ' '));
const reply = fc.record({
  code: fc.integer({ min: 200, max: 559 }),
  texts: fc.array(text, { minLength: 1, maxLength: 5 }),
});

test('replies come out the same however the bytes are cut', () => {
  fc.assert(
    fc.property(fc.array(reply, { minLength: 1, maxLength: 6 }), cuts, (replies, positions) => {
      const wire = Buffer.from(
        replies.map((r) => r.texts.map((t, i) => `${r.code}${i === r.texts.length - 1 ? ' ' : '-'}${t}\r\n`).join('')).join(''),
        'utf8',
      );
      const reader = new ReplyReader({ maxLineBytes: 4096, maxLines: 10, maxReplyBytes: 65536 });
      const got: SmtpReply[] = [];
      for (const chunk of split(wire, positions)) got.push(...reader.push(chunk));
      assert.deepEqual(
        got.map((r) => [r.code, r.lines.map((l) => l.slice(4))]),
        replies.map((r) => [r.code, r.texts]),
      );
      assert.equal(reader.pendingBytes, 0);
    }),
    { numRuns: RUNS },
  );
});

test('bounds hold whatever the cut: an endless line or reply is refused, never buffered', () => {
  fc.assert(
    fc.property(cuts, fc.boolean(), (positions, oneLine) => {
      const wire = oneLine ? Buffer.alloc(5000, 0x61) : Buffer.from('250-x\r\n'.repeat(500));
      const reader = new ReplyReader({ maxLineBytes: 512, maxLines: 100, maxReplyBytes: 2048 });
      assert.throws(() => {
        for (const chunk of split(wire, positions)) reader.push(chunk);
      }, ReplyError);
    }),
    { numRuns: RUNS },
  );
});

/** What a receiver does with the data (RFC 5321 4.5.2): up to the first CRLF.CRLF, one leading dot off each line. */
function unstuff(wire: Buffer): Buffer {
  const text = `\r\n${wire.toString('latin1')}`;
  const end = text.indexOf('\r\n.\r\n');
  assert.ok(end >= 0, 'the data has an end');
  assert.equal(end + 5, text.length, 'nothing after the end of the data');
  return Buffer.from(text.slice(2, end + 2).replace(/(^|\r\n)\./g, '$1'), 'latin1');
}

test('dot-stuffing: the receiver reads back the body, a final CRLF added when missing', () => {
  const piece = fc.constantFrom('.', '..', '\r\n', '\r\n.', 'a', ' ', '\r\n.\r\n', 'x.y');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
      const body = pieces.join('');
      // Bodies come CRLF-normalised from submission: no bare CR or LF.
      fc.pre(!/\r(?!\n)|(?<!\r)\n/.test(body));
      const wire = Buffer.concat(dotStuffed(Buffer.from(body, 'latin1')));
      const expected = body === '' || body.endsWith('\r\n') ? body : `${body}\r\n`;
      assert.equal(unstuff(wire).toString('latin1'), expected);
    }),
    { numRuns: RUNS },
  );
});
