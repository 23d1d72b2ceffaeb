import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { addTraceHeaders } from '../../src/submission/message-headers.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

async function submitAndReadBack(t: TestRelay, sender: { username: string; password: string }, implicitTls = false) {
  const port = implicitTls ? t.port('smtps') : t.port('submission');
  const result = await sendWithNodemailer({ port, implicitTls, ...sender, to: ['reader@example.test'] });
  const id = /queued as (\w+)/.exec(result.response)?.[1];
  assert.ok(id, result.response);
  const body = (await t.relay.store.messageBody(id)) as Buffer;
  const parsed = await simpleParser(body);
  // The relay's own Received is the first one (the top of the header block).
  const received = ([] as string[]).concat(parsed.headers.get('received') as string | string[])[0] as string;
  return { id, body: body.toString('latin1'), received };
}

describe('Received header: the login stays out by default (submission.received_shows_credential)', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };
  before(async () => {
    t = await startTestRelay();
    sender = await t.addSender(100);
  });
  after(() => t.stop());

  for (const implicitTls of [false, true]) {
    test(`${implicitTls ? 'implicit TLS' : 'STARTTLS'}: TLS version, cipher and queue id are there, the username is not`, async () => {
      const { id, body, received } = await submitAndReadBack(t, sender, implicitTls);
      assert.match(received, /using TLSv1\.[23] with cipher [A-Z0-9_-]+/);
      assert.match(received, new RegExp(`by relay\\.test \\(Relais\\) with ESMTPSA id ${id}\\b`));
      assert.doesNotMatch(received, /authenticated/);
      // Nowhere in the stored message, not only not in that header.
      assert.ok(!body.includes(sender.username), body.slice(0, 600));
    });
  }
});

describe('Received header with submission.received_shows_credential: true', () => {
  let t: TestRelay;
  let sender: { username: string; password: string };
  before(async () => {
    t = await startTestRelay({ overrides: { submission: { received_shows_credential: true } } });
    sender = await t.addSender(100);
  });
  after(() => t.stop());

  test('the username is named next to the TLS details and the queue id', async () => {
    const { id, received } = await submitAndReadBack(t, sender);
    assert.match(received, /using TLSv1\.[23] with cipher [A-Z0-9_-]+/);
    assert.match(received, new RegExp(`\\(authenticated as ${sender.username}\\)`));
    assert.match(received, new RegExp(`with ESMTPSA id ${id}\\b`));
  });
});

test('addTraceHeaders without a username leaves out the whole "authenticated as" line and keeps the rest', () => {
  const trace = {
    queueId: 'Q1',
    hostname: 'relay.test',
    heloName: 'pc',
    clientIp: '192.0.2.1',
    tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    username: null,
    recipients: ['r@x.test'],
    at: 0,
  };
  const out = addTraceHeaders(Buffer.from('Subject: a\r\n\r\nbody\r\n'), trace).toString();
  assert.match(
    out,
    /^Received: from pc \(\[192\.0\.2\.1\]\)\r\n\t\(using TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384\)\r\n\tby relay\.test \(Relais\) with ESMTPSA id Q1\r\n\tfor <r@x\.test>;\r\n\tThu, 01 Jan 1970 00:00:00 \+0000\r\nSubject: a\r\n/,
  );
});
