import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { startReceiver, type ReceiverPeer } from '../peers/receiver.js';
import { waitUntil } from '../peers/process.js';
import { headersOnlyReport, jmrpStyleReport, withoutRelaisReceived, yahooStyleReport } from '../support/arf-reports.js';
import { startTestRelay, type StoreKind, type TestRelay } from '../support/relay-fixture.js';
import { runCli } from '../support/relay-process.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

const run = promisify(execFile);
const RELAY = '127.0.94.1';
const RECEIVER = '127.0.94.2';
const FBL_CLIENT = '127.0.94.3';

async function swaks(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('swaks', args, { timeout: 30_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

interface ComplaintReply {
  id: number;
  status: string;
  channel: string;
  feedback_type: string | null;
  queue_id: string | null;
  original_message_id: string | null;
  matched_by: string | null;
  credential: string | null;
  customer: string | null;
  problem: string | null;
  duplicate: boolean;
  suspended: boolean;
}

for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`complaints (${store} store)`, () => {
    let t: TestRelay;
    let receiver: ReceiverPeer;
    let staffToken: string;
    let configFile: string;
    let api: string;

    before(async () => {
      receiver = await startReceiver({ address: RECEIVER, name: 'mx.example.test' });
      t = await startTestRelay({
        store,
        address: RELAY,
        overrides: {
          delivery: { enabled: true },
          routes: { 'example.test': `${RECEIVER}:${receiver.port}` },
          outbound: { allow_private_destinations: true, idle_connection_timeout: '200ms', timeouts: { connect: '3s', greeting: '5s', command: '5s', data_end: '5s' } },
          queue: { scan_interval: '50ms' },
          listen: { console: [`${RELAY}:0`], inbound: [`${RELAY}:0`] },
          complaints: { address: 'abuse@relay.test', max_report_size: '256KB' },
        },
      });
      staffToken = (await t.relay.tokens.add('feedback-loop', null)).secret;
      api = `http://${RELAY}:${t.port('console')}`;
      configFile = path.join(t.dir, 'relais.yaml');
      fs.writeFileSync(configFile, ['hostname: relay.test', `data_dir: ${t.dir}`, `store: { url: "${t.config.store.url}" }`].join('\n'));
    });
    after(async () => {
      await t.stop();
      await receiver.stop();
    });

    /** A message sent through the relay and the copy the receiver got. */
    async function sendAndReceive(sender: { username: string; password: string }, subject: string): Promise<{ queueId: string; copy: Buffer }> {
      const info = await sendWithNodemailer({ host: RELAY, port: t.port('submission'), ...sender, to: ['rcpt@example.test'], subject, text: 'Buy now!' });
      const queueId = (/queued as (\S+)/.exec(info.response) as RegExpExecArray)[1] as string;
      const mine = () => receiver.messages.find((m) => m.raw.toString('latin1').includes(` id ${queueId}`));
      await waitUntil(`delivery of ${queueId}`, async () => mine() !== undefined, { timeoutMs: 20_000 });
      return { queueId, copy: (mine() as { raw: Buffer }).raw };
    }

    function post(report: Buffer | string, token: string | null = staffToken, route = '/api/complaints'): Promise<Response> {
      const headers: Record<string, string> = { 'content-type': 'message/rfc822' };
      if (token !== null) headers.authorization = `Bearer ${token}`;
      return fetch(`${api}${route}`, { method: 'POST', headers, body: typeof report === 'string' ? report : new Uint8Array(report) });
    }

    async function assertSuspended(sender: { username: string; password: string }): Promise<void> {
      const credential = await t.relay.accounts.credential(sender.username);
      assert.equal(credential.holdReason, 'complaint');
      await assert.rejects(
        sendWithNodemailer({ host: RELAY, port: t.port('submission'), ...sender, to: ['rcpt@example.test'] }),
        (error: { responseCode?: number; response?: string }) => error.responseCode === 550 && /5\.7\.1/.test(error.response ?? ''),
      );
    }

    async function cliJson<T>(args: string[]): Promise<T> {
      const result = await runCli([...args, '--json', '--config', configFile]);
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout) as T;
    }

    test('an ARF report posted by HTTP with a staff token suspends the sending credential; the same report again counts once', async () => {
      const sender = await t.addSender(100);
      const { queueId, copy } = await sendAndReceive(sender, 'http complaint');
      const response = await post(yahooStyleReport(copy));
      assert.equal(response.status, 201);
      const body = (await response.json()) as ComplaintReply;
      assert.equal(body.status, 'matched');
      assert.equal(body.matched_by, 'queue-id');
      assert.equal(body.queue_id, queueId);
      assert.equal(body.credential, sender.username);
      assert.equal(body.feedback_type, 'abuse');
      assert.equal(body.suspended, true);
      await assertSuspended(sender);

      const again = await post(yahooStyleReport(copy), staffToken, '/api/v1/complaints');
      assert.equal(again.status, 200);
      const second = (await again.json()) as ComplaintReply;
      assert.equal(second.id, body.id);
      assert.equal(second.duplicate, true);

      const credential = await t.relay.accounts.credential(sender.username);
      const history = await t.relay.suspensions.history(credential.id);
      assert.deepEqual(
        history.map((e) => [e.kind, e.reason]),
        [
          ['complaint', null],
          ['suspended', 'complaint'],
        ],
      );
      assert.equal(history[1]?.detail?.complaintId, body.id);

      const listed = await cliJson<ComplaintReply[]>(['complaints', '--customer', credential.customerName]);
      assert.deepEqual(
        listed.map((c) => [c.id, c.status, c.channel, c.credential, c.queue_id]),
        [[body.id, 'matched', 'http', sender.username, queueId]],
      );
      const table = await runCli(['complaints', '--customer', credential.customerName, '--config', configFile]);
      assert.match(table.stdout, new RegExp(`${body.id}\\s.*http\\s+matched\\s+abuse\\s+${sender.username}`));
    });

    test('an ARF report by mail to complaints.address on listen.inbound (JMRP style, over STARTTLS) suspends the sending credential', async () => {
      const sender = await t.addSender(100);
      const { queueId, copy } = await sendAndReceive(sender, 'mail complaint');
      const file = path.join(t.dir, 'jmrp.eml');
      fs.writeFileSync(file, jmrpStyleReport(copy));
      const result = await swaks([
        '--server', `${RELAY}:${t.port('inbound')}`,
        '--local-interface', FBL_CLIENT,
        '--tls',
        '--ehlo', 'jmrp.hotmail.test',
        '--from', 'staff@hotmail.test',
        '--to', 'abuse@relay.test',
        '--data', file,
      ]);
      assert.equal(result.code, 0, result.output);
      assert.match(result.output, /<~\s+250 2\.0\.0 Ok: queued as complaint-\d+/);
      await assertSuspended(sender);
      const listed = await cliJson<ComplaintReply[]>(['complaints', '--customer', (await t.relay.accounts.credential(sender.username)).customerName]);
      assert.equal(listed.length, 1);
      assert.equal(listed[0]?.channel, 'mail');
      assert.equal(listed[0]?.queue_id, queueId);
      assert.equal(listed[0]?.matched_by, 'queue-id');
      assert.ok(t.log.lines.some((l) => l.event === 'credential_suspended' && l.credential === sender.username));
    });

    test("a report that lost the relay's Received field, with only the reported header (text/rfc822-headers), matches by Message-ID", async () => {
      const sender = await t.addSender(100);
      const { queueId, copy } = await sendAndReceive(sender, 'message-id complaint');
      const stripped = withoutRelaisReceived(copy);
      assert.doesNotMatch(stripped.toString('latin1'), /\(Relais\)/);
      const response = await post(headersOnlyReport(stripped));
      assert.equal(response.status, 201);
      const body = (await response.json()) as ComplaintReply;
      assert.equal(body.matched_by, 'message-id');
      assert.equal(body.queue_id, queueId);
      assert.equal(body.credential, sender.username);
      assert.match(body.original_message_id ?? '', /^<.+@.+>$/);
      await assertSuspended(sender);
    });

    test('a report about no message of this relay is recorded but suspends nobody; not-spam is recorded but not counted', async () => {
      const sender = await t.addSender(100);
      const { copy } = await sendAndReceive(sender, 'not ours');
      const foreign = Buffer.from(
        copy
          .toString('latin1')
          .replace(/ id [0-9A-Z]{16}/, ' id 0000000000ZZZZZZ')
          .replace(/^Message-ID: .*$/im, 'Message-ID: <someone-else@elsewhere.test>'),
        'latin1',
      );
      const unmatched = (await (await post(yahooStyleReport(foreign))).json()) as ComplaintReply;
      assert.equal(unmatched.status, 'unmatched');
      assert.equal(unmatched.credential, null);
      assert.equal(unmatched.suspended, false);
      assert.match(unmatched.problem ?? '', /queue id 0000000000ZZZZZZ is not in the store/);

      const notSpam = (await (await post(yahooStyleReport(copy, { feedbackType: 'not-spam' }))).json()) as ComplaintReply;
      assert.equal(notSpam.status, 'matched');
      assert.equal(notSpam.credential, sender.username);
      assert.equal(notSpam.suspended, false);
      const credential = await t.relay.accounts.credential(sender.username);
      assert.equal(credential.holdReason, null);
      await sendWithNodemailer({ host: RELAY, port: t.port('submission'), ...sender, to: ['rcpt@example.test'] });
      const all = await cliJson<ComplaintReply[]>(['complaints']);
      assert.ok(all.some((c) => c.id === unmatched.id && c.status === 'unmatched'));
    });

    test('mail to the complaints address that is not a report, and mail to postmaster, are recorded (never lost) and suspend nobody', async () => {
      const transport = nodemailer.createTransport({ host: RELAY, port: t.port('inbound'), secure: false, ignoreTLS: true, name: 'mx.isp.test' });
      try {
        const info = await transport.sendMail({ from: 'someone@isp.test', to: 'abuse@relay.test', subject: 'you send spam', text: 'Please stop.' });
        assert.match(info.response, /^250 2\.0\.0 Ok: queued as complaint-\d+/);
        const postmaster = await transport.sendMail({ from: '', to: 'Postmaster@Relay.Test', subject: 'hello postmaster', text: 'A question.' , envelope: { from: '', to: ['Postmaster@Relay.Test'] } });
        assert.match(postmaster.response, /^250 /);
      } finally {
        transport.close();
      }
      const all = await cliJson<ComplaintReply[]>(['complaints']);
      const unparsed = all.filter((c) => c.status === 'unparsed');
      assert.equal(unparsed.length, 2);
      assert.ok(unparsed.every((c) => c.channel === 'mail' && c.credential === null && /not an ARF feedback report/.test(c.problem ?? '')));
      assert.ok(t.log.lines.some((l) => l.event === 'complaint_unparsed'));
    });

    // The battery exercises the SMTP side only: once, on the SQLite store.
    if (store === 'sqlite') test('listen.inbound refuses every other recipient with 550 5.7.1 and never relays (open-relay battery), nor takes AUTH', async () => {
      const messagesBefore = await t.relay.store.countMessages();
      const deliveredBefore = receiver.messages.length;
      const complaintsBefore = (await t.relay.complaints.list()).length;

      const external = await swaks(['--server', `${RELAY}:${t.port('inbound')}`, '--local-interface', FBL_CLIENT, '--from', 'spammer@other.example', '--to', 'rcpt@example.test']);
      assert.notEqual(external.code, 0);
      assert.match(external.output, /<\*\*\s+550 5\.7\.1 Relay access denied/);

      const client = await RawSmtpClient.connect(t.port('inbound'), { host: RELAY, localAddress: FBL_CLIENT });
      try {
        assert.match(client.greeting, /^220 relay\.test /);
        const ehlo = await client.command('EHLO attacker.other.example');
        assert.match(ehlo, /^250/);
        assert.doesNotMatch(ehlo, /AUTH/);
        assert.match(await client.command(`AUTH PLAIN ${Buffer.from('\0u\0p').toString('base64')}`), /^503 5\.5\.1 No AUTH on this port/);
      } finally {
        client.close();
      }
      // Well-formed addresses that are not the relay's own get 550 5.7.1; malformed ones a 5xx syntax reply.
      const refusedAsRelay = [
        'external@other.example',
        'rcpt@example.test',
        'user%other.example@relay.test',
        'abuse%other.example@relay.test',
        'other.example!user@relay.test',
        'other.example!abuse@relay.test',
        '"user@other.example"@relay.test',
        '"abuse@relay.test"@other.example',
        '@relay.test:user@other.example',
        '@relay.test,@other.example:user@other.example',
        'user@[127.0.0.1]',
        `abuse@[${RELAY}]`,
        'postmaster@other.example',
        'abuse@relay.test.other.example',
        'abuse@sub.relay.test',
        'abuse.relay.test@other.example',
        'abuse@relay.test.',
      ];
      const malformed = ['<>', '<user>', '<user@other.example@relay.test>', '<<abuse@relay.test>>', 'other.example!user', '<abuse@relay.test'];
      // One connection per attempt: refusals count as errors, and submission.max_errors would end a long session.
      const attempt = async (sender: string, rcpt: string): Promise<string> => {
        const c = await RawSmtpClient.connect(t.port('inbound'), { host: RELAY, localAddress: FBL_CLIENT });
        try {
          await c.command('EHLO attacker.other.example');
          assert.match(await c.command(`MAIL FROM:<${sender}>`), /^250/);
          const reply = await c.command(`RCPT TO:${rcpt}`);
          assert.match(await c.command('DATA'), /^503 5\.5\.1/);
          return reply;
        } finally {
          c.close();
        }
      };
      for (const sender of ['spammer@other.example', '', 'abuse@relay.test']) {
        for (const rcpt of refusedAsRelay) assert.match(await attempt(sender, `<${rcpt}>`), /^550 5\.7\.1 Relay access denied/, `RCPT TO:<${rcpt}>`);
        for (const rcpt of malformed) assert.match(await attempt(sender, rcpt), /^5\d\d /, `RCPT TO:${rcpt}`);
      }
      // A mixed transaction: the own address is taken, the outside one refused; what is accepted is recorded, not sent.
      const mixed = await RawSmtpClient.connect(t.port('inbound'), { host: RELAY, localAddress: FBL_CLIENT });
      try {
        await mixed.command('EHLO attacker.other.example');
        await mixed.command('MAIL FROM:<spammer@other.example>');
        assert.match(await mixed.command('RCPT TO:<abuse@relay.test>'), /^250/);
        assert.match(await mixed.command('RCPT TO:<victim@example.test>'), /^550 5\.7\.1/);
        assert.match(await mixed.command('DATA'), /^354/);
        assert.match(await mixed.command('Subject: relay me\r\n\r\nplease\r\n.'), /^250 2\.0\.0 Ok: queued as complaint-\d+/);
      } finally {
        mixed.close();
      }

      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await t.relay.store.countMessages(), messagesBefore, 'nothing was queued');
      assert.equal(receiver.messages.length, deliveredBefore, 'nothing was delivered');
      const complaints = await t.relay.complaints.list();
      assert.equal(complaints.length, complaintsBefore + 1);
      assert.deepEqual(complaints[complaints.length - 1]?.recipients, ['abuse@relay.test']);
    });

    test('tokens: missing, invalid or revoked gets 401, a customer token 403, garbage 400, an oversized report 413', async () => {
      const missing = await post('x', null);
      assert.equal(missing.status, 401);
      assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal(((await missing.json()) as { code: string }).code, 'token_required');

      const invalid = await post('x', 'relais_not-a-real-token');
      assert.equal(invalid.status, 401);
      assert.equal(((await invalid.json()) as { code: string }).code, 'token_invalid');

      const made = await cliJson<{ id: number; token: string; scope: string }>(['token', 'add', '--name', 'old fbl']);
      assert.equal(made.scope, 'staff');
      const garbage = await post('this is not a report', made.token);
      assert.equal(garbage.status, 400);
      const garbageBody = (await garbage.json()) as { code: string; message: string };
      assert.equal(garbageBody.code, 'not_a_report');
      assert.match(garbageBody.message, /not an ARF feedback report/);
      const revoke = await runCli(['token', 'revoke', String(made.id), '--config', configFile]);
      assert.equal(revoke.code, 0, revoke.stderr);
      const revoked = await post('x', made.token);
      assert.equal(revoked.status, 401);
      assert.match(((await revoked.json()) as { message: string }).message, /revoked/);
      const listing = await runCli(['token', 'list', '--config', configFile]);
      assert.match(listing.stdout, new RegExp(`${made.id}\\s+old fbl\\s+staff`));
      assert.ok(!listing.stdout.includes(made.token), 'the secret is never listed');

      const sender = await t.addSender(10);
      const customer = (await t.relay.accounts.credential(sender.username)).customerName;
      const customerToken = await cliJson<{ token: string; scope: string }>(['token', 'add', '--name', 'customer app', '--customer', customer]);
      assert.equal(customerToken.scope, 'customer');
      const forbidden = await post('x', customerToken.token);
      assert.equal(forbidden.status, 403);
      assert.equal(((await forbidden.json()) as { code: string }).code, 'staff_only');
      const noCustomer = await runCli(['token', 'add', '--name', 'x', '--customer', 'nobody-here', '--config', configFile]);
      assert.equal(noCustomer.code, 1);
      assert.match(noCustomer.stderr, /no customer named "nobody-here"/);

      const tooBig = await post(Buffer.alloc(300 * 1024, 'a'));
      assert.equal(tooBig.status, 413);
      assert.equal(((await tooBig.json()) as { code: string }).code, 'too_large');
      assert.equal((await fetch(`${api}/api/v1/nothing`)).status, 404);
    });
  });
}
