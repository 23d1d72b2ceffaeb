import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { SENDER, startDeliveryWorld } from '../support/delivery-world.js';
import { runCli } from '../support/relay-process.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

test('without outbound.ips, `relais ip list` counts what left from the address the system chose', async () => {
  const w = await startDeliveryWorld({
    systemClock: true,
    outboundIps: [],
    zones: { 'plain.test': { mx: [{ pref: 10, host: 'mx.plain.test' }] }, 'mx.plain.test': { a: ['127.0.0.21'] } },
    receivers: [{ address: '127.0.0.21', name: 'mx.plain.test' }],
  });
  try {
    const configFile = path.join(w.relay.dir, 'relais.yaml');
    fs.writeFileSync(configFile, YAML.stringify({ hostname: 'relay.test', data_dir: w.relay.dir, store: { url: w.relay.config.store.url } }));
    for (const to of ['a@plain.test', 'b@plain.test']) {
      await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...w.sender, from: SENDER, to: [to] });
    }
    const rx = w.receiver('127.0.0.21');
    await rx.waitFor(2);
    await w.settle();
    const listed = await runCli(['ip', 'list', '--json', '--config', configFile]);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as { address: string; sent_24h: number }[];
    assert.deepEqual(rows.map((r) => [r.address, r.sent_24h]), [['(system default)', 2]]);
    // The attempts name the address the mail really left from.
    const attempts = await w.relay.relay.store.db.all<{ source_ip: string | null }>('SELECT source_ip FROM delivery_attempts');
    assert.ok(attempts.length >= 2 && attempts.every((a) => a.source_ip === rx.messages[0]?.remoteAddress.replace(/^::ffff:/, "")), JSON.stringify(attempts));
  } finally {
    await w.stop();
  }
});
