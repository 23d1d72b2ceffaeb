import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { openServices } from '../../src/relay.js';
import { startReceiver } from '../peers/receiver.js';
import { freePort, prepareCrashRelay, startRelayProcess } from '../support/relay-process.js';
import { openAuthenticated, sendOn } from '../support/smtp-clients.js';

/**
 * kill -9 while the relay delivers: after restart every accepted message reaches the receiver. Duplicates are
 * allowed only for transactions in flight at the kill, so at most one per connection the relay may open.
 */
test('kill -9 during delivery: every message is delivered after restart', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-crash-delivery-'));
  // 100 ms per transaction: 8 connections take at most 80 messages a second, fewer than six clients submit, so
  // accepted mail is always waiting when the relay dies (a receiver as fast as the clients left nothing to lose).
  const receiver = await startReceiver({ address: '127.0.0.21', name: 'mx.crash.test', behaviour: { dataDelayMs: 100 } });
  const port = await freePort();
  const maxConnections = 8;
  const { configFile, password } = await prepareCrashRelay(dir, [
      'hostname: relay.test',
      `data_dir: ${dir}`,
      `listen: { submission: ["127.0.0.1:${port}"], smtps: [], smtp: [], console: [] }`,
      'log: { level: warn }',
      `routes: { "*": "127.0.0.21:${receiver.port}" }`,
      `outbound: { ips: [{ address: 127.0.0.11 }, { address: 127.0.0.12 }], max_connections: ${maxConnections} }`,
      'queue: { scan_interval: 100ms, lease_time: 2s }',
    ]);

  const relay = await startRelayProcess(configFile);
  let restarted: Awaited<ReturnType<typeof startRelayProcess>> | undefined;
  try {
    const acknowledged: string[] = [];
    const idOf = new Map<string, string>();
    let killed = false;
    let counter = 0;
    const workers = Array.from({ length: 6 }, async () => {
      const connection = await openAuthenticated({ port, username: 'crash', password });
      while (!killed) {
        const subject = `crash-${counter++}`;
        try {
          const info = await sendOn(connection, 'app@crash.test', [`user@dest${counter % 3}.test`], `Subject: ${subject}\r\n\r\nbody\r\n`);
          acknowledged.push(subject);
          idOf.set(subject, /queued as (\w+)/.exec(info.response)?.[1] as string);
        } catch {
          return;
        }
      }
    });
    await waitForDeliveries(receiver, 40);
    await relay.kill('SIGKILL');
    killed = true;
    await Promise.allSettled(workers);
    const beforeRestart = receiver.messages.length;
    assert.ok(acknowledged.length > beforeRestart, 'some accepted messages were still waiting when the relay died');
    // What the queue knew at the moment of the kill: a message may arrive twice only if it was not yet settled.
    const atKill = await openServices(loadConfig(configFile));
    const settledAtKill = new Set<string>();
    for (const m of await atKill.store.listQueue({ limit: 1_000_000 })) if (m.recipients.every((r) => r.state === 'delivered')) settledAtKill.add(m.id);
    await atKill.close();

    restarted = await startRelayProcess(configFile);
    const subjectOf = (raw: Buffer) => /^Subject: (crash-\d+)/m.exec(raw.toString())?.[1];
    const deadline = Date.now() + 60_000;
    let missing: string[] = acknowledged;
    while (Date.now() < deadline) {
      const seen = new Set(receiver.messages.map((m) => subjectOf(m.raw)));
      missing = acknowledged.filter((s) => !seen.has(s));
      if (missing.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.length} accepted messages never arrived`);
    const counts = new Map<string, number>();
    for (const m of receiver.messages) {
      const subject = subjectOf(m.raw) as string;
      counts.set(subject, (counts.get(subject) ?? 0) + 1);
    }
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([subject]) => subject);
    const wrongly = duplicated.filter((subject) => settledAtKill.has(idOf.get(subject) as string));
    assert.deepEqual(wrongly, [], 'a message recorded as delivered before the kill was delivered again');
    for (const [subject, n] of counts) assert.ok(n <= 2, `${subject} arrived ${n} times`);
  } finally {
    // Whatever failed: no relay, receiver or socket is left to keep the test file from ending.
    await relay.kill('SIGKILL');
    await restarted?.kill('SIGTERM');
    await receiver.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The shipped defaults (lease_time, scan interval, node name): what was in flight at a kill -9 is not left
 * waiting for its lease. Every message accepted before the kill is delivered, as the queue records it, within
 * one minute of the restart.
 */
test('kill -9 during delivery with the default lease: everything accepted is delivered within a minute of restart', { timeout: 150_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-crash-lease-'));
  // A receiver that takes its time before its 250: at any moment some transactions are under way.
  const receiver = await startReceiver({ address: '127.0.0.21', name: 'mx.crash.test', behaviour: { dataDelayMs: 1500 } });
  const port = await freePort();
  const { configFile, password } = await prepareCrashRelay(dir, [
    'hostname: relay.test',
    `data_dir: ${dir}`,
    `listen: { submission: ["127.0.0.1:${port}"], smtps: [], smtp: [], console: [] }`,
    `routes: { "*": "127.0.0.21:${receiver.port}" }`,
    'outbound: { ips: [{ address: 127.0.0.11 }] }',
  ]);
  const relay = await startRelayProcess(configFile);
  let killed = false;
  let accepted = 0;
  // A bounded number, so what is left after the restart can be delivered in well under a minute at 5 connections.
  const workers = Array.from({ length: 4 }, async (_, w) => {
    const connection = await openAuthenticated({ port, username: 'crash', password });
    for (let i = 0; !killed && i < 10; i++) {
      try {
        await sendOn(connection, 'app@crash.test', [`user${i}@dest${w}.test`], `Subject: lease-${w}-${i}\r\n\r\nbody\r\n`);
        accepted++;
      } catch {
        return;
      }
    }
  });
  await waitForDeliveries(receiver, 12);
  await relay.kill('SIGKILL');
  killed = true;
  await Promise.allSettled(workers);

  const pending = async () => {
    const services = await openServices(loadConfig(configFile));
    try {
      const rows = await services.store.db.all<{ state: string; leased: number; n: number }>(
        "SELECT state, CASE WHEN lease_owner IS NULL THEN 0 ELSE 1 END AS leased, COUNT(*) AS n FROM recipients WHERE state IN ('queued', 'deferred') GROUP BY 1, 2",
      );
      return { total: rows.reduce((s, r) => s + Number(r.n), 0), leased: rows.filter((r) => Number(r.leased) === 1).reduce((s, r) => s + Number(r.n), 0) };
    } finally {
      await services.close();
    }
  };
  const atKill = await pending();
  assert.ok(accepted > 0);
  assert.ok(atKill.leased > 0, 'some recipients were being delivered at the kill (else this test proves nothing)');

  const restarted = await startRelayProcess(configFile);
  const restartedAt = Date.now();
  try {
    let left = atKill;
    while (Date.now() - restartedAt < 60_000) {
      left = await pending();
      if (left.total === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(left.total, 0, `${left.total} recipients (${left.leased} leased) still undelivered a minute after the restart`);
    assert.match(restarted.output(), /"event":"leases_released"/);
  } finally {
    await restarted.kill('SIGTERM');
    await receiver.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Until the receiver has `count` messages; a relay that stopped delivering fails the test instead of hanging the file. */
async function waitForDeliveries(receiver: { messages: readonly unknown[] }, count: number, withinMs = 60_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (receiver.messages.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${receiver.messages.length} of ${count} messages delivered within ${withinMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
