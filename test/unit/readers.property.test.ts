import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DataReader, type DataReaderOptions, type DataResult } from '../../src/submission/data-reader.js';
import { LineReader, type CommandInput } from '../../src/submission/line-reader.js';

/**
 * Property tests of the two stream readers: whatever bytes a client sends, however its segments are cut, the
 * readers must see the same thing. Bytes are drawn mostly from the ones that matter (CR, LF, dot, NUL) so the
 * interesting sequences (CRLF.CRLF, bare CR/LF, ".\r" at a cut) come up often.
 */

const RUNS = 2000;

const byte = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0x0d, 0x0a, 0x2e) },
  { weight: 1, arbitrary: fc.constantFrom(0x00, 0x41, 0x20) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const bytes = (maxLength: number) => fc.array(byte, { maxLength }).map((list) => Buffer.from(list));
/** Like `bytes`, with whole CRLF, CRLF.CRLF and ".\r" often enough that most inputs end DATA somewhere. */
const wireBytes = (maxFragments: number) =>
  fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: byte.map((b) => [b]) },
        { weight: 2, arbitrary: fc.constantFrom('\r\n', '\r\n.\r\n', '.\r', '..', '\r\n.').map((text) => [...Buffer.from(text)]) },
      ),
      { maxLength: maxFragments },
    )
    .map((fragments) => Buffer.from(fragments.flat()));

/** Cut points, taken modulo the input's length so one draw fits any input; unbiased, so they land anywhere. */
const cuts = fc.array(fc.noBias(fc.nat({ max: 0xffffffff })), { maxLength: 16 });

function split(input: Buffer, positions: number[]): Buffer[] {
  const points = [...new Set(positions.map((p) => p % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    if (point <= from) continue;
    chunks.push(input.subarray(from, point));
    from = point;
  }
  chunks.push(input.subarray(from));
  return chunks;
}

// ---- LineReader ----

/** Runs of ordinary bytes around the limit, so lines of exactly the limit, one more, and a CR at a cut come up. */
const commandBytes = (maxFragments: number) =>
  fc
    .array(
      fc.oneof(
        { weight: 2, arbitrary: byte.map((b) => [b]) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 14 }).map((n) => new Array<number>(n).fill(0x61)) },
        { weight: 2, arbitrary: fc.constantFrom('\r\n', '\r', '\n').map((text) => [...Buffer.from(text)]) },
      ),
      { maxLength: maxFragments },
    )
    .map((fragments) => Buffer.from(fragments.flat()));

function readLines(maxLength: number, chunks: Buffer[], observe?: (reader: LineReader, chunk: Buffer) => void): CommandInput[] {
  const reader = new LineReader(maxLength);
  const out: CommandInput[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    observe?.(reader, chunk);
    for (let input = reader.next(); input !== undefined; input = reader.next()) out.push(input);
  }
  return out;
}

/** What the command stream means, written the obvious way: lines end at LF, an optional CR before it is dropped. */
function modelLines(maxLength: number, input: Buffer): CommandInput[] {
  const out: CommandInput[] = [];
  let from = 0;
  for (let newline = input.indexOf(0x0a); newline >= 0; newline = input.indexOf(0x0a, from)) {
    let end = newline;
    if (end > from && input[end - 1] === 0x0d) end--;
    out.push(end - from > maxLength ? { kind: 'too-long' } : { kind: 'line', line: input.toString('latin1', from, end) });
    from = newline + 1;
  }
  return out;
}

test('LineReader: any chunking of any bytes gives the lines and too-long notices of the whole input', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 12 }), commandBytes(30), cuts, (maxLength, input, fractions) => {
      const expected = modelLines(maxLength, input);
      assert.deepEqual(readLines(maxLength, [input]), expected);
      assert.deepEqual(readLines(maxLength, split(input, fractions)), expected);
    }),
    { numRuns: RUNS },
  );
});

test('LineReader: byte by byte, a line of exactly the limit is a line even with the CR and LF in separate segments', () => {
  const input = Buffer.from('abcde\r\nabcdef\r\nx\r\n');
  const oneByOne = [...input].map((b) => Buffer.from([b]));
  assert.deepEqual(readLines(5, oneByOne), [{ kind: 'line', line: 'abcde' }, { kind: 'too-long' }, { kind: 'line', line: 'x' }]);
});

test('LineReader: never holds more than the limit (and a CR) between reads, nor more than that plus one segment', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 12 }), commandBytes(60), cuts, (maxLength, input, fractions) => {
      let held = 0;
      readLines(maxLength, split(input, fractions), (reader, chunk) => {
        assert.ok(reader.buffered <= held + chunk.length);
        held = maxLength + 1;
      });
      const reader = new LineReader(maxLength);
      for (const chunk of split(input, fractions)) {
        reader.push(chunk);
        while (reader.next() !== undefined);
        assert.ok(reader.buffered <= maxLength + 1, `holds ${reader.buffered} bytes with a limit of ${maxLength}`);
      }
    }),
    { numRuns: RUNS },
  );
});

test('LineReader: a long line without a newline costs no memory', () => {
  const reader = new LineReader(10);
  for (let i = 0; i < 1000; i++) {
    reader.push(Buffer.alloc(1000, 0x61));
    assert.equal(reader.next(), undefined);
    assert.ok(reader.buffered <= 11);
  }
  reader.push(Buffer.from('\r\nNOOP\r\n'));
  assert.deepEqual([reader.next(), reader.next(), reader.next()], [{ kind: 'too-long' }, { kind: 'line', line: 'NOOP' }, undefined]);
});

// ---- DataReader ----

interface DataOutcome {
  result: DataResult;
  rest: Buffer;
}

function readData(options: DataReaderOptions, chunks: Buffer[]): DataOutcome | undefined {
  const reader = new DataReader(options);
  for (let i = 0; i < chunks.length; i++) {
    const rest = reader.push(chunks[i] as Buffer);
    if (rest !== undefined) {
      // Whatever comes after the end is never content, even if pushed to the finished reader.
      const later = chunks.slice(i + 1).map((chunk) => reader.push(chunk) ?? Buffer.from('(undefined)'));
      return { result: reader.result(), rest: Buffer.concat([rest, ...later]) };
    }
  }
  return undefined;
}

/** Where DATA must end: the first "." line, a line starting at the beginning or right after a CRLF. */
function modelEnd(input: Buffer): number | undefined {
  for (let k = 0; k + 3 <= input.length; k++) {
    const lineStart = k === 0 || (input[k - 2] === 0x0d && input[k - 1] === 0x0a);
    if (lineStart && input[k] === 0x2e && input[k + 1] === 0x0d && input[k + 2] === 0x0a) return k + 3;
  }
  return undefined;
}

const dataOptions = fc.record({
  maxSize: fc.oneof(fc.constant(1_000_000), fc.integer({ min: 0, max: 40 })),
  maxLineLength: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 })),
  normalizeBareNewlines: fc.boolean(),
});

test('DataReader: any chunking gives the same body, flags, size and rest as one chunk', () => {
  fc.assert(
    fc.property(dataOptions, wireBytes(80), cuts, (options, input, fractions) => {
      const whole = readData(options, [input]);
      const chunked = readData(options, split(input, fractions));
      assert.deepEqual(chunked, whole);
    }),
    { numRuns: RUNS },
  );
});

test('DataReader: ends exactly at the first CRLF.CRLF and nowhere else', () => {
  fc.assert(
    fc.property(dataOptions, wireBytes(80), cuts, (options, input, fractions) => {
      const end = modelEnd(input);
      const out = readData(options, split(input, fractions));
      if (end === undefined) assert.equal(out, undefined);
      else assert.deepEqual(out?.rest, input.subarray(end));
    }),
    { numRuns: RUNS },
  );
});

test('DataReader: flags and size say what the content holds', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10 }), wireBytes(80), (maxLineLength, input) => {
      const out = readData({ maxSize: 1_000_000, maxLineLength, normalizeBareNewlines: false }, [input]);
      if (!out) return;
      const { body, size, nul, longLine, bareNewline, tooBig } = out.result;
      assert.equal(tooBig, false);
      assert.equal(size, body.length);
      assert.equal(nul, body.includes(0));
      const text = body.toString('latin1');
      assert.equal(longLine, text.split(/[\r\n]/).some((line) => line.length > maxLineLength));
      const wire = input.toString('latin1', 0, modelEnd(input));
      assert.equal(bareNewline, /\r(?!\n)|(?<!\r)\n/.test(wire));
    }),
    { numRuns: RUNS },
  );
});

test('DataReader: with normalisation the body never holds a bare CR or LF', () => {
  fc.assert(
    fc.property(wireBytes(80), cuts, (input, fractions) => {
      const out = readData({ maxSize: 1_000_000, maxLineLength: 0, normalizeBareNewlines: true }, split(input, fractions));
      if (!out) return;
      assert.doesNotMatch(out.result.body.toString('latin1'), /\r(?!\n)|(?<!\r)\n/);
      const plain = readData({ maxSize: 1_000_000, maxLineLength: 0, normalizeBareNewlines: false }, [input]);
      if (!out.result.bareNewline) assert.deepEqual(out.result.body, plain?.result.body);
    }),
    { numRuns: RUNS },
  );
});

test('DataReader: dot-stuffing round trip, whatever the lines and the chunking', () => {
  const lineByte = fc.oneof(fc.constantFrom(0x2e, 0x2e, 0x20, 0x00), fc.integer({ min: 0, max: 255 }).filter((b) => b !== 0x0d && b !== 0x0a));
  const line = fc.array(lineByte, { maxLength: 12 }).map((list) => Buffer.from(list).toString('latin1'));
  fc.assert(
    fc.property(fc.array(line, { maxLength: 10 }), bytes(20), cuts, fc.boolean(), (lines, after, fractions, normalize) => {
      const body = lines.map((l) => `${l}\r\n`).join('');
      const stuffed = lines.map((l) => `${l.startsWith('.') ? '.' : ''}${l}\r\n`).join('');
      const wire = Buffer.concat([Buffer.from(`${stuffed}.\r\n`, 'latin1'), after]);
      const out = readData({ maxSize: 1_000_000, maxLineLength: 0, normalizeBareNewlines: normalize }, split(wire, fractions));
      assert.ok(out, 'the terminator was missed');
      assert.equal(out.result.body.toString('latin1'), body);
      assert.deepEqual(out.rest, after);
      assert.equal(out.result.bareNewline, false);
      assert.equal(out.result.nul, body.includes('\0'));
    }),
    { numRuns: RUNS },
  );
});

test('DataReader: NUL anywhere in the content is flagged, and only there', () => {
  const options = { maxSize: 1000, maxLineLength: 998, normalizeBareNewlines: false };
  assert.equal(readData(options, [Buffer.from('a\0b\r\n.\r\n')])?.result.nul, true);
  assert.equal(readData(options, [Buffer.from('\0\r\n.\r\n')])?.result.nul, true);
  assert.equal(readData(options, [Buffer.from('.\0\r\n.\r\n')])?.result.nul, true);
  assert.equal(readData(options, [Buffer.from('ab\r\n.\r\n\0')])?.result.nul, false);
  const big = readData({ ...options, maxSize: 2 }, [Buffer.from('abc\0\r\n.\r\n')]);
  assert.equal(big?.result.tooBig, true);
  assert.equal(big?.result.nul, true);
});

test('DataReader: bytes pushed after the end are handed back whole, never added to the message', () => {
  const reader = new DataReader({ maxSize: 1000, maxLineLength: 998, normalizeBareNewlines: true });
  assert.deepEqual(reader.push(Buffer.from('one\r\n.\r\nMAIL FROM:<a@b.test>\r\nDA')), Buffer.from('MAIL FROM:<a@b.test>\r\nDA'));
  assert.deepEqual(reader.push(Buffer.from('TA\r\n')), Buffer.from('TA\r\n'));
  assert.deepEqual(reader.push(Buffer.from('Subject: two\n')), Buffer.from('Subject: two\n'));
  assert.equal(reader.result().body.toString(), 'one\r\n');
  assert.equal(reader.result().bareNewline, false);
});
