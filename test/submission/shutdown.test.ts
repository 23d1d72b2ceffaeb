import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, startRelayProcess, writeConfig } from '../support/relay-process.js';
import { RawSmtpClient } from '../support/smtp-clients.js';

test('SIGTERM: idle sessions on every port are told 421 4.3.2 before the relay exits', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-shutdown-'));
  const [submission, smtps] = [await freePort(), await freePort()];
  const configFile = writeConfig(
    dir,
    [
      'hostname: relay.test',
      `data_dir: ${dir}`,
      `listen: { submission: ["127.0.0.1:${submission}"], smtps: ["127.0.0.1:${smtps}"], smtp: [], console: [] }`,
      'delivery: { enabled: false }',
    ].join('\n'),
  );
  const relay = await startRelayProcess(configFile);
  try {
    const plain = await RawSmtpClient.connect(submission);
    const secure = await RawSmtpClient.connect(smtps, { implicitTls: true });
    assert.match(await plain.command('EHLO client.test'), /^250/);
    assert.match(await secure.command('EHLO client.test'), /^250/);
    // One that only read the banner.
    const silent = await RawSmtpClient.connect(submission);
    const exited = relay.kill('SIGTERM');
    assert.equal(await plain.reply(), '421 4.3.2 Service shutting down, try again later');
    assert.equal(await secure.reply(), '421 4.3.2 Service shutting down, try again later');
    assert.equal(await silent.reply(), '421 4.3.2 Service shutting down, try again later');
    await exited;
    assert.match(relay.output(), /"event":"stopped"/);
  } finally {
    await relay.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
