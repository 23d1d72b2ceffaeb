import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import type { AuditEntry } from '../../src/store/audit-log.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { runCli } from '../support/relay-process.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * Staff commands run from the command line leave an audit entry each: the action, what it was done to, the
 * customer, channel "cli" and the actor given with --actor (or the operating-system user without it). The console's
 * audit page shows these entries with its own.
 */
const ADDRESS = '127.0.103.20';

describe('audit entries of staff CLI commands', () => {
  let relay: TestRelay;
  let configFile: string;
  const relais = async (...args: string[]) => {
    const out = await runCli([...args, '--config', configFile]);
    assert.equal(out.code, 0, `relais ${args.join(' ')}: ${out.stderr}`);
    return out.stdout;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await relais(...args, '--json')) as T;
  const entries = async (): Promise<AuditEntry[]> => (await relay.relay.audit.list({ limit: 1000 })).reverse();

  before(async () => {
    relay = await startTestRelay({ address: ADDRESS, overrides: { outbound: { ips: [{ address: '127.0.103.21' }, { address: '127.0.103.22' }] } } });
    configFile = path.join(relay.dir, 'relais.yaml');
    fs.writeFileSync(
      configFile,
      YAML.stringify({ hostname: 'relay.test', data_dir: relay.dir, store: { url: relay.config.store.url }, outbound: { ips: [{ address: '127.0.103.21' }, { address: '127.0.103.22' }] } }),
    );
  });
  after(() => relay?.stop());

  test('each staff command records its action with channel cli and the --actor', async () => {
    await relais('customer', 'add', 'Audit Co', '--email', 'ops@audit.test', '--actor', 'alice');
    const credential = await json<{ username: string; password: string }>('credential', 'add', '--customer', 'Audit Co', '--username', 'audit-co', '--actor', 'alice');
    await relais('plan', 'add', '--credential', 'audit-co', '--quota', '100', '--actor', 'alice');
    const { password } = await json<{ password: string }>('credential', 'password', 'audit-co', '--actor', 'bob');
    await relais('credential', 'pool', 'audit-co', '--ips', '127.0.103.21', '--actor', 'bob', '--note', 'isolate the newcomer');
    const token = await json<{ id: number }>('token', 'add', '--name', 'billing', '--customer', 'Audit Co', '--actor', 'carol');
    await relais('token', 'revoke', String(token.id), '--actor', 'carol');
    await relais('dkim', 'add', 'audit.test', '--algorithm', 'ed25519', '--actor', 'carol');
    await relais('dkim', 'remove', 'audit.test', '--actor', 'carol');

    assert.notEqual(password, credential.password);
    const sent = await sendWithNodemailer({ host: ADDRESS, port: relay.port('submission'), username: 'audit-co', password, from: 'a@audit.test', to: ['x@example.test', 'y@example.test'] });
    const sent2 = await sendWithNodemailer({ host: ADDRESS, port: relay.port('submission'), username: 'audit-co', password, from: 'a@audit.test', to: ['z@example.test'] });
    const [id, id2] = [sent, sent2].map((s) => /queued as (\w+)/.exec(s.response)?.[1] as string);
    await relais('queue', 'retry', id as string, '--actor', 'dave');
    await relais('suspend', 'audit-co', '--reason', 'manual', '--note', 'too many complaints', '--actor', 'dave');
    await relais('queue', 'release', '--credential', 'audit-co', '--note', 'these are fine', '--actor', 'dave');
    await relais('queue', 'delete', id2 as string, '--actor', 'dave', '--note', 'duplicate');
    await relais('reinstate', 'audit-co', '--refuse', '--note', 'not yet', '--actor', 'erin');
    await relais('reinstate', 'audit-co', '--waive-fees', '--note', 'first time', '--actor', 'erin');
    await relais('credential', 'disable', 'audit-co');

    const customerId = (await relay.relay.accounts.listCustomers()).find((c) => c.name === 'Audit Co')?.id;
    const log = await entries();
    assert.ok(log.every((e) => e.channel === 'cli'), 'every entry came through the CLI');
    const seen = log.map((e) => [e.action, e.actor, e.subject]);
    assert.deepEqual(seen, [
      ['customer.add', 'alice', 'Audit Co'],
      ['credential.add', 'alice', 'audit-co'],
      ['plan.add', 'alice', 'audit-co'],
      ['credential.password', 'bob', 'audit-co'],
      ['credential.pool', 'bob', 'audit-co'],
      ['token.add', 'carol', `${token.id} (billing)`],
      ['token.revoke', 'carol', `${token.id} (billing)`],
      ['dkim.add', 'carol', 'audit.test'],
      ['dkim.remove', 'carol', 'audit.test'],
      ['queue.retry', 'dave', id],
      ['credential.suspend', 'dave', 'audit-co'],
      ['queue.release', 'dave', 'audit-co'],
      ['queue.delete', 'dave', id2],
      ['credential.refuse', 'erin', 'audit-co'],
      ['credential.reinstate', 'erin', 'audit-co'],
      ['credential.disable', os.userInfo().username, 'audit-co'],
    ]);
    // Everything about the customer's account names the customer; DKIM keys belong to a domain, not a customer.
    for (const e of log) assert.equal(e.customerId, e.action.startsWith('dkim.') ? null : customerId, `${e.action} customer`);
    const detail = (action: string) => log.find((e) => e.action === action)?.detail;
    assert.deepEqual(detail('credential.suspend'), { reason: 'manual', note: 'too many complaints' });
    assert.equal(detail('credential.reinstate')?.waive_fees, true);
    assert.deepEqual(detail('plan.add') && { quota: detail('plan.add')?.quota }, { quota: 100 });
    assert.deepEqual(detail('queue.release') && { messages: detail('queue.release')?.messages }, { messages: 2 });
  });

  test('a read-only command or one that fails records nothing', async () => {
    const before = (await entries()).length;
    await relais('queue', 'list');
    const out = await runCli(['suspend', 'nobody', '--reason', 'manual', '--note', 'x', '--actor', 'alice', '--config', configFile]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /no credential with username "nobody"/);
    assert.equal((await entries()).length, before);
  });
});
