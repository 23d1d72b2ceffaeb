import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { newQueueId } from '../../src/queue/queue-id.js';
import { parseArfReport } from '../../src/reputation/arf-report.js';
import { addTraceHeaders, messageIdOf } from '../../src/submission/message-headers.js';
import { headersOnlyReport, jmrpStyleReport, withoutRelaisReceived, yahooStyleReport } from '../support/arf-reports.js';

const queueId = newQueueId(Date.UTC(2026, 2, 8, 14));
const original = addTraceHeaders(
  Buffer.from('From: sender@customer.test\r\nTo: rcpt@example.test\r\nSubject: offer\r\nMessage-ID: <m1@customer.test>\r\n\r\nBuy now.\r\n'),
  {
    queueId,
    hostname: 'relay.test',
    heloName: 'client.test',
    clientIp: '127.0.0.1',
    tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    username: null,
    recipients: ['rcpt@example.test'],
    at: Date.UTC(2026, 2, 8, 14),
  },
);
// A receiver's own trace on top, as in a real received copy.
const received = Buffer.concat([Buffer.from('Received: from relay.test ([127.0.0.1]) by mx.example.test with ESMTPS id abc;\r\n\tThu, 8 Mar 2026 14:00:01 +0000\r\n'), original]);

test('the three feedback-loop styles give the queue id, the Message-ID and the report fields', () => {
  for (const build of [yahooStyleReport, jmrpStyleReport, headersOnlyReport]) {
    const parsed = parseArfReport(build(received, { feedbackType: 'abuse', rcptTo: 'rcpt@example.test' }));
    assert.ok(parsed.ok, `${build.name}: ${!parsed.ok && parsed.error}`);
    assert.equal(parsed.report.feedbackType, 'abuse');
    assert.deepEqual(parsed.report.queueIds, [queueId], build.name);
    assert.equal(parsed.report.messageId, '<m1@customer.test>');
    assert.deepEqual(parsed.report.originalRcptTo, ['<rcpt@example.test>']);
    assert.equal(parsed.report.originalMailFrom, '<sender@customer.test>');
    assert.equal(parsed.report.sourceIp, '127.0.0.1');
    assert.equal(parsed.report.version, '1');
    assert.ok(parsed.report.userAgent);
  }
});

test('without the Received field only the Message-ID identifies the message; the relay records the one it added', () => {
  const parsed = parseArfReport(yahooStyleReport(withoutRelaisReceived(received)));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.report.queueIds, []);
  assert.equal(parsed.report.messageId, '<m1@customer.test>');
  const added = addTraceHeaders(Buffer.from('Subject: x\r\n\r\nbody\r\n'), {
    queueId,
    hostname: 'relay.test',
    heloName: 'c',
    clientIp: '127.0.0.1',
    tls: null,
    username: null,
    recipients: [],
    at: 1,
  });
  assert.equal(messageIdOf(added), `<${queueId}.1@relay.test>`);
  assert.equal(messageIdOf(original), '<m1@customer.test>');
});

test('bare LF line ends (a report posted by a script), a report forwarded as an attachment, and a missing closing boundary', () => {
  const lf = Buffer.from(yahooStyleReport(received).toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
  const parsedLf = parseArfReport(lf);
  assert.ok(parsedLf.ok);
  assert.deepEqual(parsedLf.report.queueIds, [queueId]);

  const forwarded = Buffer.concat([
    Buffer.from('From: postmaster@isp.test\r\nSubject: Fwd: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n'),
    headersOnlyReport(received),
    Buffer.from('\r\n--outer--\r\n'),
  ]);
  const parsedForwarded = parseArfReport(forwarded);
  assert.ok(parsedForwarded.ok, !parsedForwarded.ok ? parsedForwarded.error : '');
  assert.deepEqual(parsedForwarded.report.queueIds, [queueId]);

  const truncated = yahooStyleReport(received).toString('latin1').replace(/\r\n--[^\r\n]+--\r\n$/, '\r\n');
  const parsedTruncated = parseArfReport(Buffer.from(truncated, 'latin1'));
  assert.ok(parsedTruncated.ok);
  assert.deepEqual(parsedTruncated.report.queueIds, [queueId]);
});

test('garbage is refused with a reason', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['   \r\n', /empty/],
    ['hello world', /not an ARF feedback report/],
    ['Subject: hi\r\n\r\nplain mail\r\n', /not an ARF feedback report/],
    ['Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--x--\r\n', /not an ARF/],
    ['Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: message/feedback-report\r\n\r\nVersion: 1\r\n--x--\r\n', /no Feedback-Type/],
    ['Content-Type: multipart/report\r\n\r\nno boundary at all', /not an ARF/],
  ];
  for (const [input, error] of cases) {
    const parsed = parseArfReport(Buffer.from(input));
    assert.equal(parsed.ok, false, JSON.stringify(input));
    assert.match((parsed as { error: string }).error, error);
  }
});

test('control characters in report fields never come out of the parser', () => {
  const report = yahooStyleReport(received).toString('latin1').replace('User-Agent: Yahoo!-Mail-Feedback/2.0', 'User-Agent: evil\x1b[31m\x07agent');
  const parsed = parseArfReport(Buffer.from(report, 'latin1'));
  assert.ok(parsed.ok);
  assert.equal(parsed.report.userAgent, 'evil [31m agent');
});

test('any bytes, and any cut of a real report, give a report or an error, never an exception', () => {
  const real = jmrpStyleReport(received);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
      const parsed = parseArfReport(Buffer.from(bytes));
      assert.equal(typeof parsed.ok, 'boolean');
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.nat(real.length), fc.nat(real.length), (a, b) => {
      const cut = Buffer.concat([real.subarray(0, Math.min(a, b)), real.subarray(Math.max(a, b))]);
      const parsed = parseArfReport(cut);
      assert.equal(typeof parsed.ok, 'boolean');
    }),
    { numRuns: 300 },
  );
});

test('huge header fields (a report written to hang the parser) are read in linear time', () => {
  const long = 'a'.repeat(1_000_000);
  const folded = Array.from({ length: 20_000 }, () => ' by x-y;z').join('\r\n');
  const inputs = [
    `Content-Type: multipart/report; ${long}\r\n\r\nbody`,
    `Content-Type: multipart/report; boundary="${long}\r\n\r\nbody`,
    `Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nReceived: by ${long}\r\nReceived: from x\r\n${folded}\r\nMessage-ID: <${long}\r\n--b--\r\n`,
    `Subject: x\r\n${'X: y\r\n'.repeat(100_000)}\r\n`,
  ];
  for (const input of inputs) {
    const parsed = parseArfReport(Buffer.from(input));
    assert.equal(typeof parsed.ok, 'boolean');
  }
});
