import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, prepareCrashRelay, runCli, startRelayProcess, writeConfig } from '../support/relay-process.js';
import { openAuthenticated, sendOn } from '../support/smtp-clients.js';

test('relais backup copies a running SQLite store; a relay started on the copy has every customer and queued message', { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-backup-'));
  const port = await freePort();
  const { configFile, password } = await prepareCrashRelay(dir, [
    'hostname: relay.test',
    `data_dir: ${dir}`,
    `listen: { submission: ["127.0.0.1:${port}"], smtps: [], smtp: [], console: [] }`,
    'delivery: { enabled: false }',
  ]);
  const relay = await startRelayProcess(configFile);
  const restoredDir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-restore-'));
  try {
    const connection = await openAuthenticated({ port, username: 'crash', password });
    const ids: string[] = [];
    // Mail keeps arriving while the backup is taken.
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending || i < 20; i++) {
        const info = await sendOn(connection, 'app@crash.test', [`r${i}@example.test`], `Subject: ${i}\r\n\r\nbody ${i}\r\n`);
        ids.push(/queued as (\w+)/.exec(info.response)?.[1] as string);
      }
    })();
    while (ids.length < 20) await new Promise((r) => setTimeout(r, 10));
    const copy = path.join(restoredDir, 'relais.db');
    const backup = await runCli(['backup', copy, '--config', configFile]);
    sending = false;
    await sender;
    connection.close();
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(backup.stdout, `backup written: ${copy}\n`);
    // A second backup to the same file is refused, not overwritten.
    const again = await runCli(['backup', copy, '--config', configFile]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists: give the backup a new file name/);
    await relay.kill('SIGTERM');

    // Restore: a relay whose data_dir holds the copy.
    const restoredConfig = writeConfig(restoredDir, [`data_dir: ${restoredDir}`, 'delivery: { enabled: false }'].join('\n'));
    const customers = await runCli(['customer', 'list', '--json', '--config', restoredConfig]);
    assert.equal(customers.code, 0, customers.stderr);
    assert.deepEqual((JSON.parse(customers.stdout) as { name: string }[]).map((c) => c.name), ['Crash Co']);
    const queued = await runCli(['queue', 'list', '--json', '--config', restoredConfig]);
    const restoredIds = new Set((JSON.parse(queued.stdout) as { id: string }[]).map((m) => m.id));
    // Everything acknowledged before the backup started is in it.
    for (const id of ids.slice(0, 20)) assert.ok(restoredIds.has(id), `${id} missing from the backup`);
    const shown = await runCli(['queue', 'show', ids[0] as string, '--config', restoredConfig]);
    assert.equal(shown.code, 0, shown.stderr);
  } finally {
    await relay.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(restoredDir, { recursive: true, force: true });
  }
});
