import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { newQueueId } from '../../src/queue/queue-id.js';
import { openServices } from '../../src/relay.js';
import { runCli, writeConfig } from '../support/relay-process.js';

/** Every raw byte a terminal would act on; a newline is only allowed as the CLI's own line end. */
const RAW_UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * Text with control characters already in the store (written before the parser refused it, by another version,
 * or by hand): whatever the CLI prints, for people or as JSON, carries no raw control byte to the operator's
 * terminal, and JSON still gives the stored values back exactly.
 */
describe('the CLI prints stored text with control characters escaped', () => {
  let dir: string;
  let config: string;
  let id: string;
  const hostile = {
    customer: 'Evil\x1b]0;pwned\x07 Co',
    email: 'ops\x9b31m@evil.test',
    username: 'evil\x1b[31m',
    hold: 'abuse\x9d0;title\x07 report',
    from: '"q\x00\x7f\x1b[31m"@x.test',
    to: '"v\x1b]0;pwn\x07"@x.test',
    reply: '451 4.2.0 x\rAction: delivered\x1b[2K\x9b2J \u202etxt.exe',
    mx: 'mx\x1b[8m.x.test',
    avoidReason: '554 blocked \x1b]8;;http://evil.test/\x07click\x1b]8;;\x07',
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-cli-hostile-'));
    config = writeConfig(dir, [`data_dir: ${dir}`, 'hostname: relay.test', 'outbound: { ips: [{ address: 127.0.0.11 }] }', 'delivery: { enabled: false }'].join('\n'));
    const services = await openServices(loadConfig(config));
    try {
      const { store } = services;
      const now = Date.now();
      const customer = await store.addCustomer(hostile.customer, hostile.email, now);
      const credential = await store.addCredential(customer.id, hostile.username, 'not-a-real-hash', now);
      id = newQueueId(now);
      await store.enqueue([
        {
          id,
          credentialId: credential.id,
          kind: 'message',
          mailFrom: hostile.from,
          envid: null,
          ret: null,
          clientIp: '127.0.0.1',
          body: Buffer.from('Subject: hi\r\n\r\nbody\r\n'),
          recipients: [{ address: hostile.to, domain: 'x.test', orcpt: null, notify: null }],
          createdAt: now,
          retryEvery: 900_000,
          giveUpAt: now + 86_400_000,
          delayNoticeAt: now + 3_600_000,
          reservationId: null,
          usageBucket: 0,
        },
      ]);
      // Settled as a delivering node would: under the lease it claimed the recipient with.
      const [recipient] = await store.delivery.claimDue(now, 10, 'test-node/1', now + 60_000);
      await store.delivery.settle(
        [{ id: recipient?.id as number, state: 'deferred', nextAttemptAt: now + 900_000, reply: hostile.reply, status: '4.2.0', remoteMta: hostile.mx, at: now }],
        [
          {
            messageId: id,
            domain: 'x.test',
            recipients: [hostile.to],
            delivered: 0,
            at: now,
            mx: hostile.mx,
            remoteIp: '127.0.0.21',
            sourceIp: '127.0.0.11',
            tlsVersion: null,
            tlsCipher: null,
            reply: hostile.reply,
            outcome: 'deferred',
          },
        ],
        [],
        now,
        'test-node/1',
      );
      // Held after its mail was tried: a held credential's mail is not claimed any more (it is held with it).
      await store.setCredentialHold(credential.id, hostile.hold, now);
      await store.delivery.avoidIp({ sourceIp: '127.0.0.11', destination: 'x.test', until: now + 3_600_000, reason: hostile.avoidReason });
    } finally {
      await services.close();
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function relais(...args: string[]): Promise<string> {
    const out = await runCli([...args, '--config', config]);
    assert.equal(out.code, 0, `relais ${args.join(' ')}: ${out.stderr}`);
    assert.ok(!RAW_UNSAFE.test(out.stdout), `relais ${args.join(' ')} printed a raw control character: ${JSON.stringify(out.stdout)}`);
    assert.ok(!RAW_UNSAFE.test(out.stderr), `relais ${args.join(' ')} wrote a raw control character on stderr`);
    return out.stdout;
  }

  test('queue list and show, for people: escaped and visible', async () => {
    const list = await relais('queue', 'list');
    assert.ok(list.includes('"q\\x00\\x7f\\x1b[31m"@x.test'), list);
    assert.ok(list.includes('evil\\x1b[31m'), list);
    const shown = await relais('queue', 'show', id);
    assert.ok(shown.includes('"v\\x1b]0;pwn\\x07"@x.test'), shown);
    assert.ok(shown.includes('451 4.2.0 x\\rAction: delivered\\x1b[2K\\x9b2J \\u202etxt.exe'), shown);
    assert.ok(shown.includes('mx\\x1b[8m.x.test'), shown);
  });

  test('queue list and show --json: no raw byte, and the stored values parse back exactly', async () => {
    const list = JSON.parse(await relais('queue', 'list', '--json')) as { from: string; credential: string }[];
    assert.equal(list[0]?.from, hostile.from);
    assert.equal(list[0]?.credential, hostile.username);
    const shown = JSON.parse(await relais('queue', 'show', id, '--json')) as {
      recipients: { address: string; last_reply: string }[];
      attempts: { mx: string; reply: string }[];
    };
    assert.equal(shown.recipients[0]?.address, hostile.to);
    assert.equal(shown.recipients[0]?.last_reply, hostile.reply);
    assert.equal(shown.attempts[0]?.mx, hostile.mx);
    assert.equal(shown.attempts[0]?.reply, hostile.reply);
  });

  test('customers, credentials, usage and the IP pool', async () => {
    assert.ok((await relais('customer', 'list')).includes('Evil\\x1b]0;pwned\\x07 Co'));
    assert.equal((JSON.parse(await relais('customer', 'list', '--json')) as { name: string }[])[0]?.name, hostile.customer);
    assert.ok((await relais('credential', 'list')).includes('held: abuse\\x9d0;title\\x07 report'));
    await relais('credential', 'list', '--json');
    assert.ok((await relais('credential', 'show', hostile.username)).includes('Username:'));
    await relais('credential', 'show', hostile.username, '--json');
    await relais('usage', hostile.username);
    await relais('usage', hostile.username, '--json');
    const ips = await relais('ip', 'list');
    assert.ok(ips.includes('554 blocked \\x1b]8;;http://evil.test/\\x07click'), ips);
    const ipsJson = JSON.parse(await relais('ip', 'list', '--json')) as { avoided_for: { reason: string }[]; last_error: string }[];
    assert.equal(ipsJson[0]?.avoided_for[0]?.reason, hostile.avoidReason);
  });

  test('an error that quotes what was typed stays one escaped line', async () => {
    const out = await runCli(['usage', 'ghost\x1b[2J\nsecond line', '--config', config]);
    assert.equal(out.code, 1);
    assert.ok(!RAW_UNSAFE.test(out.stderr), JSON.stringify(out.stderr));
    assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
    assert.match(out.stderr, /no credential with username "ghost\\x1b\[2J\\nsecond line"/);
  });
});
