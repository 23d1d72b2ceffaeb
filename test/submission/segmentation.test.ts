import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';

/**
 * Issue 6, item 8: a message must never depend on how the client's bytes are cut into TCP segments. Whole
 * pipelined sessions are replayed cut at every byte boundary around the ends of DATA (where a reader hands over
 * to the next) and at random places, and must give the same replies and queue the same messages as when sent in
 * one write.
 */

interface TestedRelay {
  t: TestRelay;
  /** The AUTH PLAIN initial response of its sender. */
  auth: string;
  bareAccepted: boolean;
}

/**
 * A loopback relay with AUTH in clear, so a raw socket can run a whole session, and no per-address rate limit
 * to trip. `busy`: no login cache, so every AUTH costs a real password hash (tens of milliseconds, off the event
 * loop), during which the segments that follow arrive and queue up as separate chunks; without it, each
 * segment is mostly answered before the next one arrives. Both are ways a client's bytes really reach a server.
 */
async function startRelay(options: { rejectBareNewlines: boolean; busy: boolean }): Promise<TestedRelay> {
  const t = await startTestRelay({
    overrides: {
      submission: {
        allow_plain_auth_on_loopback: true,
        reject_bare_newlines: options.rejectBareNewlines,
        max_connection_rate_per_ip: 1_000_000,
      },
      ...(options.busy ? { auth: { cache_ttl: '0s' } } : {}),
    },
  });
  const sender = await t.addSender(10_000_000);
  return { t, auth: Buffer.from(`\0${sender.username}\0${sender.password}`).toString('base64'), bareAccepted: !options.rejectBareNewlines };
}

interface Outcome {
  /** Every reply, the queue ids replaced by "#n" in order of appearance. */
  replies: string[];
  /** The queued messages in the order of their 250s, without the trace headers the relay put on top. */
  bodies: string[];
}

/**
 * Runs one session: waits for the greeting, then writes the segments one at a time, each after the server has
 * surely read the one before (loopback and nodelay: a write is in the server's socket within the same turn of the
 * event loop, and read in its poll phase, before the next timer fires).
 */
async function runSession(t: TestRelay, segments: Buffer[], timeoutMs = 5000): Promise<Outcome> {
  const socket = net.connect({ host: '127.0.0.1', port: t.port('smtp'), noDelay: true });
  let received = '';
  let closed = false;
  const wake: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    wake.splice(0).forEach((w) => w());
  });
  socket.on('close', () => {
    closed = true;
    wake.splice(0).forEach((w) => w());
  });
  socket.on('error', () => undefined);
  const deadline = Date.now() + timeoutMs;
  const waitFor = async (done: () => boolean) => {
    while (!done()) {
      if (Date.now() > deadline) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20);
        wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  try {
    await waitFor(() => closed || /\r\n/.test(received));
    for (const segment of segments) {
      if (closed) break;
      await new Promise<void>((resolve) => socket.write(segment, () => resolve()));
      await sleep(1);
    }
    await waitFor(() => closed);
  } finally {
    socket.destroy();
  }
  const replies = splitReplies(received);
  const ids: string[] = [];
  const normalised = replies.map((reply) =>
    reply.replace(/queued as (\S+)/, (_, id: string) => {
      ids.push(id);
      return `queued as #${ids.length}`;
    }),
  );
  if (!closed) normalised.push('(no close within the time limit)');
  const bodies: string[] = [];
  for (const id of ids) {
    const body = (await t.relay.store.messageBody(id))?.toString('latin1') ?? '(not in the store)';
    bodies.push(withoutTrace(body));
  }
  return { replies: normalised, bodies };
}

function splitReplies(text: string): string[] {
  const replies: string[] = [];
  let current = '';
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    current += `${line}\n`;
    if (!/^\d{3}-/.test(line)) {
      replies.push(current.trimEnd());
      current = '';
    }
  }
  if (current) replies.push(`(incomplete) ${current.trimEnd()}`);
  return replies;
}

/** The message as the client wrote it: every test message starts with its own Message-ID, under the relay's trace lines. */
function withoutTrace(body: string): string {
  const start = body.indexOf('Message-ID: <');
  if (start < 0) return `(no Message-ID) ${body}`;
  assert.match(body.slice(0, start), /^(Received:[^\r\n]*\r\n([ \t][^\r\n]*\r\n)*)*$/, 'only trace headers above the message');
  return body.slice(start);
}

function cutAt(script: Buffer, points: number[]): Buffer[] {
  const sorted = [...new Set(points)].filter((p) => p > 0 && p < script.length).sort((a, b) => a - b);
  const segments: Buffer[] = [];
  let from = 0;
  for (const point of sorted) {
    segments.push(script.subarray(from, point));
    from = point;
  }
  segments.push(script.subarray(from));
  return segments;
}

/** A small deterministic generator (mulberry32), so a failure names a seed that replays it. */
function random(seed: number): () => number {
  let state = Math.imul(seed, 0x9e3779b9) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 0x100000000;
  };
}

/** With a Date of their own, so the relay adds nothing but its Received line. */
const DATE = 'Date: Mon, 1 Jan 2024 00:00:00 +0000';
const LONG_LINE = `long: ${'0123456789'.repeat(90)}`;
const MESSAGE_ONE = ['Message-ID: <one@client.test>', DATE, 'Subject: one', '', '.leading dot', '.', '..', 'last line of one', ''].join('\r\n');
const MESSAGE_TWO = ['Message-ID: <two@client.test>', DATE, 'Subject: two', '', LONG_LINE, '.', ''].join('\r\n');
const MESSAGE_BARE = `Message-ID: <bare@client.test>\r\n${DATE}\r\nSubject: bare\r\n\r\nbare LF\nhere\r\nbare CR\rthere\r\n`;
const MESSAGE_THREE = ['Message-ID: <three@client.test>', DATE, 'Subject: three', '', 'three', ''].join('\r\n');

const stuff = (message: string) => message.replace(/^\./gm, '..');

function transaction(recipient: string, message: string): string {
  return `MAIL FROM:<sender@customer.test>\r\nRCPT TO:<${recipient}>\r\nDATA\r\n${stuff(message)}.\r\n`;
}

function sessionScript(auth: string): Buffer {
  return Buffer.from(
    `EHLO client.test\r\nAUTH PLAIN ${auth}\r\n` +
      transaction('r1@example.test', MESSAGE_ONE) +
      'RSET\r\n' +
      transaction('r2@example.test', MESSAGE_TWO) +
      transaction('r3@example.test', MESSAGE_BARE) +
      transaction('r4@example.test', MESSAGE_THREE) +
      'QUIT\r\n',
    'latin1',
  );
}

/** Cut points around every end of DATA: the last bytes of the message and the commands pipelined after it. */
function dataEndRegions(script: Buffer): number[] {
  const points: number[] = [];
  for (let end = script.indexOf('\r\n.\r\n'); end >= 0; end = script.indexOf('\r\n.\r\n', end + 1)) {
    for (let p = end - 12; p <= end + 80; p++) points.push(p);
  }
  return [...new Set(points)].filter((p) => p > 0 && p < script.length);
}

function describeCut(script: Buffer, points: number[]): string {
  return points.map((p) => JSON.stringify(script.toString('latin1', Math.max(0, p - 12), p)) + '|' + JSON.stringify(script.toString('latin1', p, p + 12))).join(', ');
}

describe('segmentation: the same session, however it is cut', () => {
  let idle: TestedRelay;
  let busy: TestedRelay;
  let lenientBusy: TestedRelay;

  before(async () => {
    [idle, busy, lenientBusy] = await Promise.all([
      startRelay({ rejectBareNewlines: true, busy: false }),
      startRelay({ rejectBareNewlines: true, busy: true }),
      startRelay({ rejectBareNewlines: false, busy: true }),
    ]);
  });
  after(async () => {
    await Promise.all([idle?.t.stop(), busy?.t.stop(), lenientBusy?.t.stop()]);
  });

  const expectedReplies = (bareAccepted: boolean) => [
    /^220 /,
    /^250-relay\.test/,
    /^235 /,
    ...[/^250 /, /^250 /, /^354 /, /^250 2\.0\.0 Ok: queued as #1$/],
    /^250 2\.0\.0 Reset/,
    ...[/^250 /, /^250 /, /^354 /, /^250 2\.0\.0 Ok: queued as #2$/],
    ...[/^250 /, /^250 /, /^354 /, bareAccepted ? /^250 2\.0\.0 Ok: queued as #3$/ : /^550 5\.5\.2 /],
    ...[/^250 /, /^250 /, /^354 /, bareAccepted ? /^250 2\.0\.0 Ok: queued as #4$/ : /^250 2\.0\.0 Ok: queued as #3$/],
    /^221 /,
  ];

  /** The session sent in one write: checked against what it must give, then the yardstick for every cut. */
  async function reference(relay: TestedRelay): Promise<Outcome> {
    const outcome = await runSession(relay.t, [sessionScript(relay.auth)]);
    const patterns = expectedReplies(relay.bareAccepted);
    assert.equal(outcome.replies.length, patterns.length, outcome.replies.join('\n'));
    outcome.replies.forEach((reply, i) => assert.match(reply, patterns[i] as RegExp, outcome.replies.join('\n')));
    const bare = `Message-ID: <bare@client.test>\r\n${DATE}\r\nSubject: bare\r\n\r\nbare LF\r\nhere\r\nbare CR\r\nthere\r\n`;
    assert.deepEqual(outcome.bodies, relay.bareAccepted ? [MESSAGE_ONE, MESSAGE_TWO, bare, MESSAGE_THREE] : [MESSAGE_ONE, MESSAGE_TWO, MESSAGE_THREE]);
    return outcome;
  }

  async function assertSame(relay: TestedRelay, expected: Outcome, points: number[], label: string): Promise<void> {
    const script = sessionScript(relay.auth);
    const outcome = await runSession(relay.t, cutAt(script, points));
    assert.deepEqual(outcome, expected, `${label}: cut at ${describeCut(script, points)}`);
  }

  test('sent in one write, the session gives the expected replies and messages (the reference)', async () => {
    for (const relay of [idle, busy, lenientBusy]) await reference(relay);
  });

  test('cut once at every byte around each end of DATA, each segment answered before the next arrives', async () => {
    const expected = await reference(idle);
    const points = dataEndRegions(sessionScript(idle.auth));
    assert.ok(points.length >= 300, `${points.length} cut points`);
    for (const point of points) await assertSame(idle, expected, [point], 'single cut');
  });

  test('cut once at every byte around each end of DATA, segments queued behind a slow AUTH, bare newlines normalised', async () => {
    const expected = await reference(lenientBusy);
    for (const point of dataEndRegions(sessionScript(lenientBusy.auth))) await assertSame(lenientBusy, expected, [point], 'single cut');
  });

  test('cut at several random places, a few hundred times', async () => {
    const relays = [idle, busy, lenientBusy];
    const expected = await Promise.all(relays.map((relay) => reference(relay)));
    for (let seed = 1; seed <= 450; seed++) {
      const relay = relays[seed % 3] as TestedRelay;
      const script = sessionScript(relay.auth);
      const ends = dataEndRegions(script);
      const next = random(seed);
      // Half the cuts anywhere, half next to an end of DATA, where one reader hands over to the other.
      const points = Array.from({ length: 2 + Math.floor(next() * 12) }, (_, i) =>
        i % 2 === 0 ? Math.floor(next() * script.length) : (ends[Math.floor(next() * ends.length)] as number),
      );
      await assertSame(relay, expected[seed % 3] as Outcome, points, `seed ${seed}`);
    }
  });

  /**
   * The issue's report: one write ending in the middle of the next DATA command, then the rest in small writes,
   * arriving while the server is still busy (here with the AUTH that opens the first write). Message 1 was
   * refused as bare LF (defaults), or queued holding message 2's body with message 2 empty.
   */
  for (const rejectBare of [true, false]) {
    test(`pipelined DATA does not mix messages (issue 6 item 8), reject_bare_newlines: ${rejectBare}`, async () => {
      const relay = rejectBare ? busy : lenientBusy;
      const first =
        `EHLO client.test\r\nAUTH PLAIN ${relay.auth}\r\n` +
        'MAIL FROM:<a@customer.test>\r\nRCPT TO:<r@example.test>\r\nDATA\r\n' +
        `Message-ID: <m1@client.test>\r\n${DATE}\r\nSubject: one\r\n\r\nbody1\r\n.\r\n` +
        'MAIL FROM:<a@customer.test>\r\nRCPT TO:<r@example.test>\r\nDA';
      const rest = ['TA\r\n', 'Message-ID: <m2@client.test>\r\n', `${DATE}\r\n`, 'Subject: two\r\n', '\r\n', 'body2\r\n', '.\r\n', 'QUIT\r\n'];
      const outcome = await runSession(relay.t, [first, ...rest].map((s) => Buffer.from(s)));
      const codes = outcome.replies.map((r) => r.slice(0, 3));
      assert.deepEqual(codes, ['220', '250', '235', '250', '250', '354', '250', '250', '250', '354', '250', '221'], outcome.replies.join('\n'));
      assert.deepEqual(outcome.bodies, [
        `Message-ID: <m1@client.test>\r\n${DATE}\r\nSubject: one\r\n\r\nbody1\r\n`,
        `Message-ID: <m2@client.test>\r\n${DATE}\r\nSubject: two\r\n\r\nbody2\r\n`,
      ]);
    });
  }
});
