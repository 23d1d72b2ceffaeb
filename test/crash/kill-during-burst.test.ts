import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { openServices } from '../../src/relay.js';
import { createTestDatabase } from '../support/postgres.js';
import { freePort, prepareCrashRelay, startRelayProcess } from '../support/relay-process.js';
import { openAuthenticated, sendOn } from '../support/smtp-clients.js';

/**
 * kill -9 in the middle of a burst of submissions: every message that got 250 must be in the queue after
 * restart, with its body and all its recipients.
 */
for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`crash during a burst (${kind})`, () => {
    test('kill -9 loses no message that got 250', { timeout: 120_000 }, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-crash-'));
      const database = kind === 'postgres' ? await createTestDatabase() : undefined;
      const port = await freePort();
      const storeUrl = database?.url ?? `sqlite:${path.join(dir, 'relais.db')}`;
      const { configFile, password } = await prepareCrashRelay(dir, [
          'hostname: relay.test',
          `data_dir: ${dir}`,
          `store: { url: "${storeUrl}" }`,
          `listen: { submission: ["127.0.0.1:${port}"], smtps: [], smtp: [], console: [] }`,
          'log: { level: warn }',
          'delivery: { enabled: false }',
        ]);

      const relay = await startRelayProcess(configFile);
      const acknowledged: { id: string; recipients: string[] }[] = [];
      let killed = false;
      const line = `${'x'.repeat(78)}\r\n`;
      const body = `Subject: burst\r\n\r\n${line.repeat(50)}`;
      let failure: unknown;
      const workers = Array.from({ length: 12 }, async (_, w) => {
        const connection = await openAuthenticated({ port, username: 'crash', password });
        for (let i = 0; !killed; i++) {
          const recipients = [`w${w}m${i}a@example.test`, `w${w}m${i}b@other.test`];
          try {
            const info = await sendOn(connection, 'app@crash.test', recipients, body);
            const id = /queued as (\w+)/.exec(info.response)?.[1];
            if (id) acknowledged.push({ id, recipients });
          } catch (error) {
            if (!killed) failure = error;
            return; // the relay died under us: what it acknowledged is what counts
          }
        }
      });
      // Let the burst run, then pull the plug while transactions are in flight.
      while (acknowledged.length < 300 && failure === undefined) await new Promise((r) => setTimeout(r, 5));
      assert.equal(failure, undefined, `a submission failed before the kill: ${String(failure)}`);
      await relay.kill('SIGKILL');
      killed = true;
      await Promise.allSettled(workers);
      assert.ok(acknowledged.length >= 300);

      const restarted = await startRelayProcess(configFile);
      const check = await openServices(loadConfig(configFile));
      try {
        const missing: string[] = [];
        for (const { id, recipients } of acknowledged) {
          const message = await check.store.findMessage(id);
          if (!message) {
            missing.push(id);
            continue;
          }
          assert.deepEqual(message.recipients.map((r) => r.address), recipients);
          assert.ok((await check.store.messageBody(id))?.includes(line.repeat(50)));
        }
        assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.length} acknowledged messages were lost`);
        // Reservations of the killed run are released at restart (SQLite) or expire (PostgreSQL): usage is what was queued.
        const usage = await check.quota.usage((await check.accounts.credential('crash')).id);
        assert.ok(usage.sent >= acknowledged.length * 2);
      } finally {
        await check.close();
        await restarted.kill('SIGTERM');
        await database?.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
