import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, startRelayProcess, writeConfig } from '../support/relay-process.js';

/**
 * A client that pipelines commands and never reads the replies must cost the relay a bounded amount of memory
 * and must not slow other clients down. The relay runs as its own process (`relais start`) so its memory is
 * its own and the attackers in this process do not share its event loop.
 */

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** Writes `line` over and over as fast as the relay takes it, never reading a reply, until stopped. */
function flood(port: number, line: string): { stop(): void; sent(): number } {
  const chunk = Buffer.from(line.repeat(Math.floor(65536 / line.length)));
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.pause(); // never read: the relay's replies pile up on its side
  socket.on('error', () => undefined);
  let stopped = false;
  let sent = 0;
  const pump = () => {
    while (!stopped && !socket.destroyed) {
      sent += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
  };
  socket.once('connect', pump);
  return {
    stop: () => {
      stopped = true;
      socket.destroy();
    },
    sent: () => sent,
  };
}

async function bannerLatency(port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error('no banner within 10 s'));
    });
    socket.once('data', (data) => {
      const ms = performance.now() - started;
      socket.end('QUIT\r\n');
      if (!data.toString().startsWith('220 ')) reject(new Error(`unexpected banner ${data.toString()}`));
      else resolve(ms);
    });
    socket.once('error', reject);
  });
}

test('clients pipelining HELP and NOOP without reading: memory stays bounded, other clients are greeted at once', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-unread-'));
  const port = await freePort();
  const configFile = writeConfig(
    dir,
    [
      'hostname: relay.test',
      `data_dir: ${dir}`,
      `listen: { submission: ["127.0.0.1:${port}"], smtps: [], smtp: [], console: [] }`,
      'log: { level: warn }',
      'delivery: { enabled: false }',
    ].join('\n'),
  );
  const relay = await startRelayProcess(configFile);
  const pid = relay.child.pid as number;
  try {
    await bannerLatency(port);
    const before = rssMiB(pid);
    const attackers = [flood(port, 'HELP\r\n'), flood(port, 'NOOP\r\n')];
    const latencies: number[] = [];
    let peak = before;
    const until = Date.now() + 8_000;
    while (Date.now() < until) {
      latencies.push(await bannerLatency(port));
      peak = Math.max(peak, rssMiB(pid));
      await new Promise((r) => setTimeout(r, 100));
    }
    const sent = attackers.map((a) => a.sent());
    for (const attacker of attackers) attacker.stop();
    latencies.sort((a, b) => a - b);
    const worst = latencies[latencies.length - 1] as number;
    // Unbounded, the relay grew by about 25 MB a second and greeted others after 1-5 s.
    assert.ok(peak - before < 64, `the relay grew from ${before.toFixed(0)} MiB to ${peak.toFixed(0)} MiB (attackers sent ${sent.join(', ')} bytes)`);
    const median = latencies[latencies.length >> 1] as number;
    // Unbounded, other clients waited 1-5 s for a banner; the bounds are generous for a busy machine.
    assert.ok(median < 500, `other clients waited ${median.toFixed(0)} ms (median) for their banner; worst ${worst.toFixed(0)} ms`);
    assert.ok(worst < 3000, `another client waited ${worst.toFixed(0)} ms for its banner (median ${median.toFixed(0)} ms)`);
    assert.ok(latencies.length > 10);
    assert.ok(await bannerLatency(port) < 3000);
  } finally {
    await relay.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
