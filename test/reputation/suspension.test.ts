import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SENDER, startDeliveryWorld, writeCliConfig, type DeliveryWorld } from '../support/delivery-world.js';
import { runCli } from '../support/relay-process.js';
import { openAuthenticated, sendOn, sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * Suspension and reinstatement as staff and customers see them: the CLI (its own process, against the running
 * relay's store), a real nodemailer client, a real receiver. Short queue times stand for a week's give-up.
 */
const RECEIVER = '127.0.91.21';
// Long enough for a few CLI runs on a loaded machine to happen before either.
// Long enough that the suspension, a few CLI runs after the submission, comes before the delay-notice time even
// when the suite loads the machine (a notice sent before the suspension would be right, and is not what is tested).
const GIVE_UP = 30_000;
const DELAY_NOTICE = 20_000;
const FEES = { reinstatement: '50.00 EUR', blocklist_removal: '120.00 EUR' };

interface HistoryRow {
  at: string;
  event: string;
  reason: string | null;
  actor: string;
  note: string | null;
  detail: Record<string, unknown> | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const store of ['sqlite', 'postgres'] as const) {
  describe(`suspension and reinstatement (${store})`, () => {
    let w: DeliveryWorld;
    let configFile: string;
    const cli = (...args: string[]) => runCli([...args, '--config', configFile]);
    const relais = async (...args: string[]) => {
      const out = await cli(...args);
      assert.equal(out.code, 0, `relais ${args.join(' ')}: ${out.stderr}`);
      return out;
    };
    const json = async <T>(...args: string[]): Promise<T> => JSON.parse((await relais(...args, '--json')).stdout) as T;

    before(async () => {
      w = await startDeliveryWorld({
        store,
        systemClock: true,
        outboundIps: ['127.0.91.11', '127.0.91.12'],
        zones: { 'held.test': { mx: [{ pref: 10, host: 'mx.held.test' }] }, 'mx.held.test': { a: [RECEIVER] } },
        receivers: [{ address: RECEIVER, name: 'mx.held.test', behaviour: { rcpt: { code: 451, message: '4.2.2 Mailbox full' } } }],
        overrides: {
          queue: { retry_every: '2s', give_up_after: `${GIVE_UP / 1000}s`, delay_notice_after: `${DELAY_NOTICE / 1000}s` },
          fees: FEES,
        },
      });
      configFile = writeCliConfig(w, { fees: FEES });
    });
    after(() => w.stop());

    const submit = async (sender: { username: string; password: string }, to: string) => {
      const r = await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...sender, from: SENDER, to: [to] });
      return /queued as (\w+)/.exec(r.response)?.[1] as string;
    };
    /** AUTH on a fresh connection, then MAIL FROM: the error nodemailer reports, or null when the mail went through. */
    const mailFromReply = async (sender: { username: string; password: string }) => {
      const connection = await openAuthenticated({ port: w.relay.port('submission'), ...sender });
      try {
        await sendOn(connection, SENDER, ['someone@held.test'], 'Subject: x\r\n\r\nx\r\n');
        return null;
      } catch (error) {
        return (error as { response?: string }).response ?? String(error);
      } finally {
        connection.close();
      }
    };
    const recipientStates = async (id: string) =>
      (await json<{ id: string; recipients: { state: string }[] }>('queue', 'show', id)).recipients.map((r) => r.state);

    test('suspended: AUTH works, MAIL FROM gets the 550; queued mail is held past give-up with no notice until released', async () => {
      const rx = w.receiver(RECEIVER);
      const submittedAt = Date.now();
      const id = await submit(w.sender, 'one@held.test');
      await w.settle();
      assert.deepEqual(await recipientStates(id), ['deferred']);

      const out = await relais('suspend', w.sender.username, '--reason', 'manual', '--note', 'spam run reported by phone', '--actor', 'alice');
      assert.match(out.stdout, /suspended \(manual since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\); 1 queued message\(s\) held/);
      const [suspended] = await json<HistoryRow[]>('history', w.sender.username);
      const since = `${suspended?.at.slice(0, 19)}Z`;
      assert.ok(Date.parse(since) < submittedAt + DELAY_NOTICE - 1000, 'the suspension came before the delay-notice time (setup too slow?)');
      // openAuthenticated has logged in: a suspended credential still authenticates.
      assert.equal(await mailFromReply(w.sender), `550 5.7.1 Sending suspended for this account (manual since ${since}); contact support`);

      // The receiver would take it now, the retry interval passes many times, then give-up and delay-notice times.
      rx.setBehaviour({ rcpt: undefined });
      await sleep(Math.max(0, submittedAt + GIVE_UP + 1500 - Date.now()));
      assert.equal(rx.messages.length, 0, 'held mail is not delivered');
      const reports = w.mailbox.messages.filter((m) => /multipart\/report/i.test(m.raw.toString()));
      assert.equal(reports.length, 0, 'no delay or failure notice for held mail');
      // What the customer's contact does get: one notice of the suspension, with its reason.
      const told = w.mailbox.messages.filter((m) => m.raw.toString().includes(`Subject: Sending suspended for the username ${w.sender.username}`));
      assert.equal(told.length, 1, 'the customer is told of the suspension once');
      assert.match(told[0]?.raw.toString() ?? '', /a decision of our staff/);
      assert.deepEqual(await recipientStates(id), ['held']);
      assert.match((await relais('queue', 'list', '--credential', w.sender.username)).stdout, new RegExp(`${id} .* 1 held`));
      assert.equal((await json<unknown[]>('queue', 'list', '--state', 'held')).length, 1);

      const released = await json<{ messages: number }>('queue', 'release', '--credential', w.sender.username, '--actor', 'alice', '--note', 'invoices, not spam');
      assert.equal(released.messages, 1);
      const [delivered] = await rx.waitFor(1);
      assert.deepEqual(delivered?.rcptTo.map((r) => r.address), ['one@held.test']);
      await w.settle();
      assert.deepEqual(await recipientStates(id), ['delivered']);
      assert.equal(w.mailbox.messages.length, 1, 'nothing since the suspension notice: released mail delivered brings no notice');
      // Releasing the mail lifts no suspension.
      assert.match((await mailFromReply(w.sender)) ?? '', /^550 5\.7\.1 Sending suspended for this account \(manual since /);
    });

    test('a refusal keeps the suspension; a reinstatement lifts it and records the fee', async () => {
      const refused = await relais('reinstate', w.sender.username, '--refuse', '--note', 'second offence', '--actor', 'bob');
      assert.match(refused.stdout, /refused; it stays suspended \(manual\)/);
      assert.match((await mailFromReply(w.sender)) ?? '', /^550 5\.7\.1 Sending suspended/);

      const done = await json<{ reinstated: boolean; charges: { fee: string; amount: string; currency: string }[] }>(
        'reinstate', w.sender.username, '--note', 'customer cleaned up the list', '--actor', 'alice',
      );
      assert.equal(done.reinstated, true);
      assert.deepEqual(done.charges, [{ fee: 'reinstatement', amount: '50.00', currency: 'EUR' }]);
      assert.equal(await mailFromReply(w.sender), null, 'mail flows again');
      await w.receiver(RECEIVER).waitFor(2);
    });

    test('a blocklist suspension holds mail; staff delete one, reinstatement releases the other and charges both fees', async () => {
      const rx = w.receiver(RECEIVER);
      const other = await w.relay.addSender(1000);
      rx.setBehaviour({ rcpt: { code: 451, message: '4.2.2 Mailbox full' } });
      const id = await submit(other, 'two@held.test');
      const doomed = await submit(other, 'three@held.test');
      await w.settle();
      await relais('suspend', other.username, '--reason', 'blocklist', '--note', 'sender domain in dbl.test');
      rx.setBehaviour({ rcpt: undefined });
      // This credential's mail, told apart from the earlier tests' (deferred mail of theirs may still arrive now).
      const theirs = () => rx.messages.filter((m) => m.rcptTo.some((r) => r.address === 'two@held.test' || r.address === 'three@held.test'));
      await sleep(2500);
      assert.deepEqual(theirs(), [], 'held mail is not delivered');
      assert.deepEqual(await recipientStates(id), ['held']);

      w.mailbox.clear();
      await relais('queue', 'delete', doomed, '--notify', '--actor', 'carol', '--note', 'phishing');
      const [notice] = await w.mailbox.waitFor(1);
      assert.match(notice?.raw.toString() ?? '', /three@held\.test/);
      const deleted = (await json<HistoryRow[]>('history', other.username)).find((e) => e.event === 'message_deleted');
      assert.deepEqual([deleted?.actor, deleted?.note, deleted?.detail?.message], ['carol', 'phishing', doomed]);

      const done = await json<{ charges: { fee: string }[]; released: { messages: number } }>('reinstate', other.username, '--note', 'delisted after request');
      assert.deepEqual(done.charges.map((c) => c.fee), ['reinstatement', 'blocklist_removal']);
      assert.equal(done.released.messages, 1);
      const deadline = Date.now() + 10_000;
      while (theirs().length === 0 && Date.now() < deadline) await sleep(50);
      await w.settle();
      assert.deepEqual(
        theirs().map((m) => m.rcptTo.map((r) => r.address)),
        [['two@held.test']],
        'the released message goes out, the deleted one never does',
      );

      const charges = await json<{ charges: { customer: string; credential: string; fee: string; amount: string }[]; totals: { currency: string; amount: string }[] }>('charges');
      assert.deepEqual(charges.charges.map((c) => [c.credential, c.fee, c.amount]), [
        [w.sender.username, 'reinstatement', '50.00'],
        [other.username, 'reinstatement', '50.00'],
        [other.username, 'blocklist_removal', '120.00'],
      ]);
      assert.deepEqual(charges.totals, [{ currency: 'EUR', amount: '220.00' }]);
      const customer = charges.charges[1]?.customer as string;
      const mine = await json<{ totals: { amount: string }[] }>('charges', '--customer', customer);
      assert.deepEqual(mine.totals, [{ currency: 'EUR', amount: '170.00' }]);
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      assert.deepEqual((await json<{ charges: unknown[] }>('charges', '--since', tomorrow)).charges, []);
      const table = (await relais('charges')).stdout;
      assert.match(table, /^Total: 220\.00 EUR$/m);
      assert.match(table, new RegExp(`${other.username} +blocklist_removal +120\\.00 EUR +blocklist`));
    });

    test('history shows every event in order with time, actor and note', async () => {
      const events = await json<HistoryRow[]>('history', w.sender.username);
      assert.deepEqual(
        events.map((e) => [e.event, e.reason, e.actor, e.note]),
        [
          ['suspended', 'manual', 'alice', 'spam run reported by phone'],
          ['mail_released', null, 'alice', 'invoices, not spam'],
          ['reinstatement_refused', 'manual', 'bob', 'second offence'],
          ['reinstated', 'manual', 'alice', 'customer cleaned up the list'],
          ['charge', 'manual', 'alice', 'customer cleaned up the list'],
        ],
      );
      assert.deepEqual(events[4]?.detail, { fee: 'reinstatement', amount: '50.00', currency: 'EUR' });
      const times = events.map((e) => Date.parse(e.at));
      assert.deepEqual(times, [...times].sort((a, b) => a - b));
      const text = (await relais('history', w.sender.username)).stdout.split('\n');
      assert.match(text[0] ?? '', /^TIME +EVENT +REASON +ACTOR +NOTE +DETAIL$/);
      assert.match(text[1] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +suspended +manual +alice +spam run reported by phone/);
      assert.match(text[3] ?? '', / reinstatement_refused +manual +bob +second offence/);
      // Without --actor, the operating-system user is recorded.
      const other = await w.relay.addSender(10);
      await relais('suspend', other.username, '--reason', 'expired', '--note', 'renewal not validated');
      const [auto] = await json<HistoryRow[]>('history', other.username);
      assert.equal(auto?.actor, (await import('node:os')).userInfo().username);
    });

    test('bad input: each a clear error and a non-zero exit', async () => {
      const cases: [string[], RegExp][] = [
        [['suspend', 'nobody-here', '--reason', 'manual', '--note', 'x'], /no credential with username "nobody-here"/],
        [['history', 'nobody-here'], /no credential with username "nobody-here"/],
        [['suspend', w.sender.username, '--reason', 'spite', '--note', 'x'], /--reason must be one of complaint, blocklist, bounces, expired, manual, not "spite"/],
        [['suspend', w.sender.username, '--reason', 'quota', '--note', 'x'], /quota suspensions are automatic/],
        [['suspend', w.sender.username, '--reason', 'manual'], /required option '--note <text>'/],
        [['suspend', w.sender.username, '--reason', 'manual', '--note', '  '], /--note must not be empty/],
        [['reinstate', w.sender.username, '--note', 'x'], new RegExp(`credential "${w.sender.username}" is not suspended: nothing to reinstate`)],
        [['reinstate', w.sender.username, '--refuse', '--note', 'x'], /is not suspended/],
        [['charges', '--since', 'last week'], /--since "last week" is not a date/],
        [['charges', '--customer', 'No Such Customer'], /no customer named "No Such Customer"/],
        [['queue', 'release', '--credential', 'nobody-here'], /no credential with username "nobody-here"/],
      ];
      for (const [args, message] of cases) {
        const out = await cli(...args);
        assert.notEqual(out.code, 0, `relais ${args.join(' ')} should fail`);
        assert.match(out.stderr, message, `relais ${args.join(' ')}`);
      }
      await relais('suspend', w.sender.username, '--reason', 'complaint', '--note', 'ARF report');
      const again = await cli('suspend', w.sender.username, '--reason', 'manual', '--note', 'x');
      assert.equal(again.code, 1);
      assert.match(again.stderr, /is already suspended \(complaint since \d{4}-/);
    });
  });
}
