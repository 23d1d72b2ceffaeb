import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SENDER, parseNotice, startDeliveryWorld, writeCliConfig, type DeliveryWorld } from '../support/delivery-world.js';
import { runCli } from '../support/relay-process.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

/** The operator's queue commands, run as a separate `relais` process against a delivering relay's store. */
describe('queue and IP commands', () => {
  let w: DeliveryWorld;
  let configFile: string;
  const relais = async (...args: string[]) => {
    const out = await runCli([...args, '--config', configFile]);
    assert.equal(out.code, 0, `relais ${args.join(' ')}: ${out.stderr}`);
    return out;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse((await relais(...args, '--json')).stdout) as T;

  before(async () => {
    w = await startDeliveryWorld({
      systemClock: true,
      zones: {
        'hold.test': { mx: [{ pref: 10, host: 'mx.hold.test' }] },
        'mx.hold.test': { a: ['127.0.0.21'] },
      },
      receivers: [{ address: '127.0.0.21', name: 'mx.hold.test', behaviour: { rcpt: { code: 451, message: '4.2.2 Mailbox full' } } }],
    });
    configFile = writeCliConfig(w, { outbound: { ips: w.relay.config.outbound.ips } });
  });
  after(() => w.stop());

  async function submit(to: string): Promise<string> {
    const r = await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...w.sender, from: SENDER, to: [to] });
    return /queued as (\w+)/.exec(r.response)?.[1] as string;
  }

  test('list with filters, shape, show with every attempt', async () => {
    const a = await submit('one@hold.test');
    const b = await submit('two@hold.test');
    await w.settle();
    const deferred = await json<{ id: string; recipients: { state: string }[] }[]>('queue', 'list', '--state', 'deferred');
    assert.deepEqual(deferred.map((m) => m.id).sort(), [a, b].sort());
    assert.deepEqual((await json<{ id: string }[]>('queue', 'list', '--domain', 'hold.test')).length, 2);
    assert.deepEqual((await json<{ id: string }[]>('queue', 'list', '--domain', 'elsewhere.test')).length, 0);
    assert.deepEqual((await json<{ id: string }[]>('queue', 'list', '--credential', w.sender.username)).length, 2);
    const shape = await json<{ domain: string; total: number; by_age_minutes: Record<string, number> }[]>('queue', 'shape');
    assert.deepEqual(shape, [{ domain: 'hold.test', total: 2, by_age_minutes: { '<5m': 2, '<10m': 0, '<20m': 0, '<40m': 0, '<80m': 0, '<160m': 0, '<320m': 0, '<640m': 0, '<1280m': 0, '>=1280m': 0 } }]);
    const shown = await json<{ attempts: { mx: string; source_ip: string; tls: string; reply: string; outcome: string }[]; recipients: { state: string; attempts: number }[] }>('queue', 'show', a);
    assert.equal(shown.recipients[0]?.state, 'deferred');
    assert.equal(shown.attempts.length, 1);
    assert.equal(shown.attempts[0]?.mx, 'mx.hold.test');
    assert.match(shown.attempts[0]?.source_ip ?? '', /^127\.0\.0\.1[123]$/);
    assert.match(shown.attempts[0]?.tls ?? '', /^TLSv1\.[23]$/);
    assert.match(shown.attempts[0]?.reply ?? '', /^451 4\.2\.2 Mailbox full/);
    const text = (await relais('queue', 'show', a)).stdout;
    assert.match(text, /Attempts:/);
    assert.match(text, /mx\.hold\.test \[127\.0\.0\.21\]/);
    // Times to the second, in UTC, ISO 8601.
    assert.match(text, /^Accepted:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    assert.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +mx\.hold\.test/m);
  });

  test('retry one message, then all: delivered as soon as the receiver recovers', async () => {
    const rx = w.receiver('127.0.0.21');
    rx.setBehaviour({ rcpt: undefined });
    const [first] = await json<{ id: string }[]>('queue', 'list', '--state', 'deferred');
    const retried = await json<{ recipients: number }>('queue', 'retry', (first as { id: string }).id);
    assert.equal(retried.recipients, 1);
    await rx.waitFor(1);
    const all = await json<{ recipients: number }>('queue', 'retry', '--all');
    assert.equal(all.recipients, 1);
    await rx.waitFor(2);
    await w.settle();
    assert.deepEqual(await json<unknown[]>('queue', 'list', '--state', 'deferred'), []);
    const bad = await runCli(['queue', 'retry', '--config', configFile]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /give a message id or --all/);
  });

  test('delete --notify: the message is gone and its sender gets a failure notice', async () => {
    w.receiver('127.0.0.21').setBehaviour({ rcpt: { code: 451, message: '4.2.2 Mailbox full' } });
    const id = await submit('three@hold.test');
    await w.settle();
    w.mailbox.clear();
    const out = await json<{ deleted: boolean; notice: string }>('queue', 'delete', id, '--notify');
    assert.equal(out.deleted, true);
    const [notice] = await w.mailbox.waitFor(1);
    const parsed = await parseNotice((notice as { raw: Buffer }).raw);
    assert.equal(parsed.status[1]?.['final-recipient'], 'rfc822; three@hold.test');
    assert.match(parsed.status[1]?.['diagnostic-code'] ?? '', /deleted from the queue by the operator/);
    const gone = await runCli(['queue', 'show', id, '--config', configFile]);
    assert.equal(gone.code, 1);
  });

  test('ip list: each address, its state, what it sent over 24 h and its last error', async () => {
    const ips = await json<{ address: string; state: string; sent_24h: number; last_error: string | null }[]>('ip', 'list');
    assert.deepEqual(ips.map((i) => i.address), ['127.0.0.11', '127.0.0.12', '127.0.0.13']);
    // Two messages and one failure notice went out through the pool.
    assert.equal(ips.reduce((n, i) => n + i.sent_24h, 0), 3);
    assert.ok(ips.every((i) => i.state === 'active'));
    assert.ok(ips.some((i) => /451 4\.2\.2/.test(i.last_error ?? '')));
  });
});
