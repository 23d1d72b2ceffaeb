import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { SENDER, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import type { StoreKind } from '../support/relay-fixture.js';
import { runCli } from '../support/relay-process.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * Bounces (issue 9, section 3): the notices a credential's mail causes are attributed to it, `relais usage` shows
 * its bounce rate, and abuse.max_bounce_rate suspends it. Real receivers answer `550 5.1.1` for the `permfail...`
 * recipients, as a mailbox provider does for addresses that do not exist.
 */

interface Usage {
  sent: number;
  suspended: { reason: string } | null;
  bounces: { window: string; attempted: number; failed: number; rate: number | null; max_rate: number | null; min_recipients_for_rate: number };
  notices: { window: string; queued: number };
}

for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`bounce rate and suspension for bounces (${store})`, () => {
    let w: DeliveryWorld;
    let configFile: string;
    const relais = async (...args: string[]) => {
      const out = await runCli([...args, '--config', configFile]);
      assert.equal(out.code, 0, `relais ${args.join(' ')}: ${out.stderr}`);
      return out.stdout;
    };
    const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await relais(...args, '--json')) as T;

    async function submit(sender: { username: string; password: string }, to: string[]): Promise<string> {
      const r = await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...sender, from: SENDER, to, subject: 'newsletter', text: 'Hello.' });
      return /queued as (\w+)/.exec(r.response)?.[1] as string;
    }

    async function holdOf(username: string, timeoutMs: number): Promise<string | null> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const shown = await json<{ hold: string | null }>('credential', 'show', username);
        if (shown.hold !== null || Date.now() > deadline) return shown.hold;
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    before(async () => {
      w = await startDeliveryWorld({
        store,
        systemClock: true,
        zones: { 'bounce.test': { mx: [{ pref: 10, host: 'mx.bounce.test' }] }, 'mx.bounce.test': { a: ['127.0.93.20'] } },
        receivers: [{ address: '127.0.93.20', name: 'mx.bounce.test' }],
        overrides: { abuse: { max_bounce_rate: 0.1, min_recipients_for_rate: 10, bounce_check_interval: '1s' } },
      });
      configFile = path.join(w.relay.dir, 'relais.yaml');
      fs.writeFileSync(
        configFile,
        YAML.stringify({
          hostname: 'relay.test',
          data_dir: w.relay.dir,
          store: { url: w.relay.config.store.url },
          abuse: { max_bounce_rate: 0.1, min_recipients_for_rate: 10 },
        }),
      );
    });
    after(() => w?.stop());

    test('a failure notice is attributed to the credential, counts against no quota, and usage shows the rate', async () => {
      const id = await submit(w.sender, ['reader1@bounce.test', 'permfail1@bounce.test']);
      await w.settle(20_000);
      const [notice] = await w.mailbox.waitFor(1, 15_000);
      assert.match(notice?.raw.toString() ?? '', /permfail1@bounce\.test/);
      const queue = await json<{ id: string; kind: string; credential: string | null; on_behalf_of: string | null }[]>('queue', 'list');
      const notices = queue.filter((m) => m.kind === 'notice');
      assert.equal(notices.length, 1);
      assert.equal(notices[0]?.credential, null, 'a notice is sent with no credential');
      assert.equal(notices[0]?.on_behalf_of, w.sender.username);
      assert.equal(queue.find((m) => m.id === id)?.on_behalf_of, null);
      assert.match(await relais('queue', 'list'), new RegExp(`\\(notice for ${w.sender.username}\\)`));
      assert.match(await relais('queue', 'show', notices[0]?.id ?? ''), new RegExp(`^On behalf of:\\s+${w.sender.username} `, 'm'));

      const usage = await json<Usage>('usage', w.sender.username);
      assert.equal(usage.sent, 2, 'the two recipients; the notice is not counted');
      assert.deepEqual(usage.bounces, { window: '24 hours', attempted: 2, failed: 1, rate: 0.5, max_rate: 0.1, min_recipients_for_rate: 10 });
      assert.deepEqual(usage.notices, { window: '24 hours', queued: 1 });
      assert.equal(usage.suspended, null, 'two recipients are too few for the rate to count');
      const text = await relais('usage', w.sender.username);
      assert.match(text, /^Bounce rate \(last 24 hours\):\s+50\.0% \(1 failed of 2 attempted recipients\); limit 10\.0% from 10 recipients$/m);
      assert.match(text, /^Notices sent \(last 24 hours\):\s+1 \(count against no quota\)$/m);
    });

    test('a deferred recipient counts as attempted, not failed', async () => {
      const other = await w.relay.addSender(1000);
      await submit(other, ['tempfail1@bounce.test', 'reader2@bounce.test']);
      await w.settle(20_000);
      const usage = await json<Usage>('usage', other.username);
      assert.equal(usage.bounces.attempted, 2);
      assert.equal(usage.bounces.failed, 0);
      assert.equal(usage.bounces.rate, 0);
    });

    test('under the limit on enough recipients: not suspended', async () => {
      const careful = await w.relay.addSender(1000);
      // 1 failed of 12: 8.3%, under 10%.
      await submit(careful, ['permfail2@bounce.test', ...Array.from({ length: 11 }, (_, i) => `fine${i}@bounce.test`)]);
      await w.settle(20_000);
      // Longer than abuse.bounce_check_interval: a check held back would have run.
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(await holdOf(careful.username, 0), null);
      const usage = await json<Usage>('usage', careful.username);
      assert.equal(usage.bounces.attempted, 12);
      assert.equal(usage.bounces.failed, 1);
    });

    test('over abuse.max_bounce_rate on at least min_recipients_for_rate: suspended for bounces, MAIL FROM refused', async () => {
      // With the first test's 1 of 2: 2 failed of 10, 20%.
      await submit(w.sender, ['permfail3@bounce.test', 'reader3@bounce.test', 'reader4@bounce.test', 'reader5@bounce.test']);
      await submit(w.sender, ['reader6@bounce.test', 'reader7@bounce.test', 'reader8@bounce.test', 'reader9@bounce.test']);
      await w.settle(20_000);
      assert.equal(await holdOf(w.sender.username, 15_000), 'bounces');
      const credential = await w.relay.relay.accounts.credential(w.sender.username);
      const suspensions = (await w.relay.relay.suspensions.history(credential.id)).filter((e) => e.kind === 'suspended');
      assert.equal(suspensions.length, 1);
      assert.equal(suspensions[0]?.reason, 'bounces');
      assert.equal(suspensions[0]?.actor, 'relais');
      assert.deepEqual(suspensions[0]?.detail, { rate: 0.2, failed: 2, attempted: 10 });
      assert.match(suspensions[0]?.note ?? '', /bounce rate 20\.0% \(2 of 10 recipients failed\)/);
      const usage = await json<Usage>('usage', w.sender.username);
      assert.equal(usage.suspended?.reason, 'bounces');
      await assert.rejects(
        sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...w.sender, from: SENDER, to: ['reader10@bounce.test'] }),
        (error: { response?: string }) => /^550 5\.7\.1 .*bounces/.test(error.response ?? ''),
      );
    });
  });
}
