import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataReader, type DataResult } from '../../src/submission/data-reader.js';

function read(input: string, chunkSizes?: number[], normalize = false): { result: DataResult; rest: string } | undefined {
  const reader = new DataReader({ maxSize: 1_000_000, maxLineLength: 998, normalizeBareNewlines: normalize });
  const bytes = Buffer.from(input, 'latin1');
  let offset = 0;
  let i = 0;
  while (offset < bytes.length) {
    const size = chunkSizes ? (chunkSizes[i++ % chunkSizes.length] as number) : bytes.length;
    const rest = reader.push(bytes.subarray(offset, offset + size));
    offset += size;
    if (rest !== undefined) {
      return { result: reader.result(), rest: Buffer.concat([rest, bytes.subarray(offset)]).toString('latin1') };
    }
  }
  return undefined;
}

const MESSAGE = 'Subject: t\r\n\r\nline one\r\n..stuffed\r\n.\r\nNOOP\r\n';

test('ends only at CRLF.CRLF, whatever the chunking, and unstuffs dots', () => {
  for (let split = 1; split <= MESSAGE.length; split++) {
    for (const sizes of [[split], [split, 1], [1, split]]) {
      const out = read(MESSAGE, sizes);
      assert.ok(out, `no end with chunks ${sizes}`);
      assert.equal(out.result.body.toString('latin1'), 'Subject: t\r\n\r\nline one\r\n.stuffed\r\n');
      assert.equal(out.rest, 'NOOP\r\n');
      assert.equal(out.result.bareNewline, false);
    }
  }
});

test('a message that is only the terminator is empty', () => {
  const out = read('.\r\nQUIT\r\n');
  assert.equal(out?.result.body.length, 0);
  assert.equal(out?.rest, 'QUIT\r\n');
});

test('smuggling sequences never end the message and are flagged', () => {
  for (const sequence of ['\n.\r\n', '\r.\r\n', '\n.\n', '\r\n.\r', '\r\n.\n', '\r.\r', '\n.\r', '\r\n.\r\r\n']) {
    const input = `Subject: s\r\n\r\nhi${sequence}MAIL FROM:<x@y>\r\n.\r\n`;
    for (const sizes of [undefined, [1], [2], [3], [7]]) {
      const out = read(input, sizes);
      assert.ok(out, JSON.stringify(sequence));
      assert.equal(out.rest, '', `ended early on ${JSON.stringify(sequence)}`);
      assert.equal(out.result.bareNewline, true, JSON.stringify(sequence));
      assert.ok(out.result.body.toString('latin1').includes('MAIL FROM:<x@y>'));
    }
  }
});

test('bare newlines can be normalised to CRLF instead of refused', () => {
  const out = read('a\nb\rc\r\n.\r\n', undefined, true);
  assert.equal(out?.result.body.toString('latin1'), 'a\r\nb\r\nc\r\n');
  assert.equal(out?.result.bareNewline, true);
});

test('long lines and size are measured', () => {
  const long = read(`${'x'.repeat(999)}\r\n.\r\n`);
  assert.equal(long?.result.longLine, true);
  const fine = read(`${'x'.repeat(998)}\r\n.\r\n`);
  assert.equal(fine?.result.longLine, false);
  const reader = new DataReader({ maxSize: 10, maxLineLength: 0, normalizeBareNewlines: false });
  reader.push(Buffer.from('0123456789abcdef\r\n'));
  assert.ok(reader.push(Buffer.from('.\r\n')) !== undefined);
  assert.equal(reader.result().tooBig, true);
  assert.equal(reader.result().body.length, 0);
});
