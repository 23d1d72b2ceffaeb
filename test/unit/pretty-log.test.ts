import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/log/logger.js';
import { prettyDestination } from '../../src/log/pretty-stream.js';

test('log.format pretty: one readable line per event, every field kept, control characters escaped', async () => {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  const logger = createLogger('info', prettyDestination(sink));
  logger.info({ event: 'accepted', message_id: 'Q1', credential: 'acme-1', size: 479, from: 'a b@x.test', tls: null }, 'message queued');
  logger.warn({ event: 'auth_failed', client_ip: '192.0.2.7', reason: 'evil\u001b[31m' }, 'authentication failed');
  logger.flush();
  await new Promise((r) => setTimeout(r, 50));
  const lines = out.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] as string, /^\d\d:\d\d:\d\d\.\d{3} INFO  accepted message queued message_id=Q1 credential=acme-1 size=479 from="a b@x\.test"$/);
  assert.match(lines[1] as string, /^\d\d:\d\d:\d\d\.\d{3} WARN  auth_failed authentication failed client_ip=192\.0\.2\.7 reason=evil\\x1b\[31m$/);
  assert.doesNotMatch(out, /\u001b/);
});
