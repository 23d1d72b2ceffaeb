import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import YAML from 'yaml';
import { startRawReceiver, type RawReceiverPeer } from '../peers/raw-receiver.js';
import { SENDER, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { runCli } from '../support/relay-process.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

/** A receiving server whose reply text is built to forge fields and a phishing paragraph into the failure notice. */
const HOSTILE_REPLY = '550 5.1.1 x\rAction: delivered\rStatus: 2.0.0\r\rPlease re-enter your password at http://phish.test/login\r\n';

describe('a receiving server that answers with bare CRs in its reply', () => {
  let w: DeliveryWorld;
  let hostile: RawReceiverPeer;
  let configFile: string;

  before(async () => {
    w = await startDeliveryWorld({
      systemClock: true,
      zones: { 'phish.test': { mx: [{ pref: 10, host: 'mx.phish.test' }] }, 'mx.phish.test': { a: ['127.0.0.26'] } },
      receivers: [],
    });
    hostile = await startRawReceiver({ address: '127.0.0.26', port: w.port, name: 'mx.phish.test', rcptReply: HOSTILE_REPLY });
    configFile = path.join(w.relay.dir, 'relais.yaml');
    fs.writeFileSync(configFile, YAML.stringify({ hostname: 'relay.test', data_dir: w.relay.dir, store: { url: w.relay.config.store.url } }));
  });
  after(async () => {
    await w.stop();
    await hostile.stop();
  });

  test('the failure notice has one Action and one Status, the reply is one folded Diagnostic-Code, and queue show prints no raw CR', async () => {
    const sent = await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...w.sender, from: SENDER, to: ['victim@phish.test'] });
    const id = /queued as (\w+)/.exec(sent.response)?.[1] as string;
    const [notice] = await w.mailbox.waitFor(1, 10_000);
    assert.ok(hostile.commands.some((c) => /^RCPT TO:<victim@phish\.test>/i.test(c)), 'the hostile server was asked');
    const raw = (notice as { raw: Buffer }).raw;
    assert.ok(!/\r(?!\n)/.test(raw.toString('latin1')), 'no bare CR anywhere in the notice');

    const mail = await simpleParser(raw, { keepDeliveryStatus: true });
    const statusPart = mail.attachments.find((a) => a.contentType === 'message/delivery-status');
    assert.ok(statusPart, 'a message/delivery-status part');
    const report = statusPart.content.toString('utf8');
    // Fields as an RFC 3464 reader sees them: continuation lines unfolded into the field they continue.
    const fields = report.replace(/\r\n(?=[ \t])/g, '').split('\r\n');
    const named = (name: string) => fields.filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    assert.deepEqual(named('Action'), ['Action: failed']);
    assert.deepEqual(named('Status'), ['Status: 5.1.1']);
    assert.deepEqual(named('Diagnostic-Code'), [
      'Diagnostic-Code: smtp; 550 5.1.1 x Action: delivered Status: 2.0.0 Please re-enter your password at http://phish.test/login',
    ]);
    // Folded, not one long line: every physical line of the report is short and continuation lines are indented.
    for (const line of report.split('\r\n')) assert.ok(line.length <= 78, `line of ${line.length}: ${line}`);
    assert.ok(report.split('\r\n').some((line) => /^ \S/.test(line)), 'Diagnostic-Code was folded');

    const human = mail.text ?? '';
    assert.match(human, /could not be delivered/);
    assert.match(human, /Please re-enter/, 'the reply is quoted, as a quote');
    assert.doesNotMatch(human, /^Action:/m);
    assert.doesNotMatch(human, /^Status:/m);
    assert.doesNotMatch(human, /^Please re-enter/m);

    const stored = await w.relay.relay.store.findMessage(id);
    assert.equal(stored?.recipients[0]?.state, 'failed');
    assert.doesNotMatch(stored?.recipients[0]?.lastReply ?? '', /[\r\n]/);

    for (const args of [['queue', 'show', id], ['queue', 'show', id, '--json'], ['queue', 'list'], ['ip', 'list']]) {
      const out = await runCli([...args, '--config', configFile]);
      assert.equal(out.code, 0, `relais ${args.join(' ')}: ${out.stderr}`);
      assert.ok(!out.stdout.includes('\r'), `relais ${args.join(' ')} printed a raw CR`);
    }
    const shown = await runCli(['queue', 'show', id, '--config', configFile]);
    assert.match(shown.stdout, /550 5\.1\.1 x Action: delivered Status: 2\.0\.0 Please re-enter/);
    const logged = w.relay.log.find('delivery_attempt').map((l) => String(l.reply));
    assert.ok(logged.some((reply) => reply.startsWith('550 5.1.1 x Action: delivered')), logged.join('\n'));
    assert.ok(logged.every((reply) => !/[\r\n]/.test(reply)));
  });
});
