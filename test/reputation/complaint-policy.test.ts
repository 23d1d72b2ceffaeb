import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../../src/shared/clock.js';
import { yahooStyleReport } from '../support/arf-reports.js';
import { startTestRelay } from '../support/relay-fixture.js';
import { freePort, runCli, startRelayProcess, writeConfig } from '../support/relay-process.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

const RELAY = '127.0.94.10';
const PROCESS = '127.0.94.20';

test('abuse.complaints_to_suspend counts complaints within abuse.complaint_window and since the last reinstatement', async () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 12));
  const t = await startTestRelay({
    clock,
    address: RELAY,
    overrides: {
      listen: { console: [`${RELAY}:0`] },
      abuse: { complaints_to_suspend: 2, complaint_window: '1h' },
    },
  });
  try {
    const sender = await t.addSender(100);
    const credential = await t.relay.accounts.credential(sender.username);
    const token = (await t.relay.tokens.add('fbl', null)).secret;
    // Delivery is off here: the copy a receiver would get is the stored message, trace headers and all.
    const info = await sendWithNodemailer({ host: RELAY, port: t.port('submission'), ...sender, to: ['rcpt@example.test'], subject: 'offer' });
    const queueId = (/queued as (\S+)/.exec(info.response) as RegExpExecArray)[1] as string;
    const copy = (await t.relay.store.messageBody(queueId)) as Buffer;
    let n = 0;
    const complain = async (): Promise<{ suspended: boolean; status: string }> => {
      // Each complaint its own report (another recipient), as the same bytes twice count once.
      const response = await fetch(`http://${RELAY}:${t.port('console')}/api/v1/complaints`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'message/rfc822' },
        body: new Uint8Array(yahooStyleReport(copy, { rcptTo: `user${++n}@example.test` })),
      });
      assert.equal(response.status, 201);
      return (await response.json()) as { suspended: boolean; status: string };
    };
    const hold = async () => (await t.relay.accounts.credential(sender.username)).holdReason;

    assert.equal((await complain()).suspended, false);
    clock.advance(2 * 3_600_000);
    // The first is out of the window now.
    assert.equal((await complain()).suspended, false);
    assert.equal(await hold(), null);
    clock.advance(60_000);
    assert.equal((await complain()).suspended, true);
    assert.equal(await hold(), 'complaint');
    // Already suspended: recorded and in the history, no second suspension.
    const whileSuspended = await complain();
    assert.equal(whileSuspended.status, 'matched');
    assert.equal(whileSuspended.suspended, false);

    // Staff reinstates (the reinstatement command records a "reinstated" event and lifts the hold).
    clock.advance(60_000);
    await t.relay.store.history.setHold(credential.id, null, {
      credentialId: credential.id,
      at: clock.now(),
      kind: 'reinstated',
      reason: 'complaint',
      actor: 'staff',
      note: 'customer cleaned the list',
      detail: null,
    });
    clock.advance(60_000);
    assert.equal((await complain()).suspended, false, 'complaints before the reinstatement no longer count');
    assert.equal((await complain()).suspended, true);
    const kinds = (await t.relay.suspensions.history(credential.id)).map((e) => e.kind);
    assert.deepEqual(kinds, ['complaint', 'complaint', 'complaint', 'suspended', 'complaint', 'reinstated', 'complaint', 'complaint', 'suspended']);
  } finally {
    await t.stop();
  }
});

test('relais start serves the API on listen.console and mail on listen.inbound, and SIGTERM closes both', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-complaints-'));
  const [submission, consolePort, inbound] = [await freePort(PROCESS), await freePort(PROCESS), await freePort(PROCESS)];
  const configFile = writeConfig(
    dir,
    [
      'hostname: relay.test',
      `data_dir: ${dir}`,
      `listen: { submission: ["${PROCESS}:${submission}"], smtps: [], smtp: [], console: ["${PROCESS}:${consolePort}"], inbound: ["${PROCESS}:${inbound}"] }`,
      'delivery: { enabled: false }',
      'complaints: { address: abuse@relay.test }',
    ].join('\n'),
  );
  const relay = await startRelayProcess(configFile);
  try {
    assert.match(relay.output(), new RegExp(`console\\s+${PROCESS.replace(/\./g, '\\.')}:${consolePort} \\(HTTP\\)`));
    assert.match(relay.output(), new RegExp(`inbound\\s+${PROCESS.replace(/\./g, '\\.')}:${inbound} \\(STARTTLS\\)`));
    const made = await runCli(['token', 'add', '--name', 'fbl', '--json', '--config', configFile]);
    assert.equal(made.code, 0, made.stderr);
    const token = (JSON.parse(made.stdout) as { token: string }).token;
    const response = await fetch(`http://${PROCESS}:${consolePort}/api/complaints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: new Uint8Array(yahooStyleReport(Buffer.from('Subject: not from here\r\nMessage-ID: <x@elsewhere.test>\r\n\r\nhi\r\n'))),
    });
    assert.equal(response.status, 201);
    assert.equal(((await response.json()) as { status: string }).status, 'unmatched');
    const smtp = await RawSmtpClient.connect(inbound, { host: PROCESS });
    assert.match(smtp.greeting, /^220 relay\.test/);
    smtp.close();

    await relay.kill('SIGTERM');
    assert.equal(relay.child.exitCode, 0, relay.output());
    for (const port of [consolePort, inbound]) {
      const refused = await new Promise<boolean>((resolve) => {
        const socket = net.connect({ host: PROCESS, port }, () => {
          socket.destroy();
          resolve(false);
        });
        socket.on('error', () => resolve(true));
      });
      assert.ok(refused, `port ${port} still open after SIGTERM`);
    }
    const listed = await runCli(['complaints', '--config', configFile]);
    assert.match(listed.stdout, /http\s+unmatched\s+abuse/);
  } finally {
    await relay.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
