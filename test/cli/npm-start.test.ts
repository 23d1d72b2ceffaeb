import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { freePort, writeConfig } from '../support/relay-process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** A supervisor stopping `npm start` (the README's command) must stop the relay, not orphan it. */
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to \`npm start\` stops the relay gracefully`, { timeout: 60_000 }, async () => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist/cli/main.js')), 'dist/ is missing: npm ci (or npm run build) builds it');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-npm-start-'));
    const port = await freePort();
    const configFile = writeConfig(
      dir,
      ['hostname: relay.test', `data_dir: ${dir}`, `listen: { submission: ["127.0.0.1:${port}"], smtps: [], smtp: [], console: [] }`, 'delivery: { enabled: false }'].join('\n'),
    );
    const npm = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...process.env, RELAIS_CONFIG: configFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let closed = false;
    npm.on('close', () => (closed = true));
    npm.stdout.on('data', (d: Buffer) => (output += d.toString()));
    npm.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      const deadline = Date.now() + 30_000;
      while (!output.includes('Relais is running')) {
        assert.ok(Date.now() < deadline && npm.exitCode === null, `npm start did not start the relay:\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(await listening(port));
      // The banner's hint runs as printed, from the checkout, against this relay's store.
      const hint = /^ {2}(\.\/relais .*) customer add "Example Co" --email admin@example\.com$/m.exec(output)?.[1];
      assert.equal(hint, `./relais --config ${configFile}`);
      const added = spawnSync('sh', ['-c', `${hint} customer add "Example Co" --email admin@example.com && ${hint} customer list --json`], { cwd: ROOT });
      assert.equal(added.status, 0, added.stderr.toString());
      assert.match(added.stdout.toString(), /"name":\s*"Example Co"/);
      assert.ok(fs.existsSync(path.join(dir, 'relais.db')));
      npm.kill(signal);
      const stopDeadline = Date.now() + 20_000;
      while (await listening(port)) {
        assert.ok(Date.now() < stopDeadline, `the relay still listens after npm got ${signal}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The listeners close first; the queue and the store close after, and only then is "stopped" logged.
      while (!output.includes('"event":"stopped"') && !closed) {
        assert.ok(Date.now() < stopDeadline, `the relay did not finish stopping after npm got ${signal}:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(output, new RegExp(`"event":"signal","signal":"${signal}"`));
      assert.match(output, /"event":"stopped"/);
    } finally {
      npm.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
