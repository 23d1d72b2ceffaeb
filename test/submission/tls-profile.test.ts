import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { runCli, writeConfig } from '../support/relay-process.js';

interface Handshake {
  established: boolean;
  protocol?: string;
  cipher?: string;
  output: string;
}

type Port = 'submission' | 'smtps';

/**
 * One handshake with the real `openssl s_client`: STARTTLS on the submission port, implicit TLS on smtps. QUIT
 * is sent and stdin closed at once, so s_client leaves as soon as the handshake is over (or refused).
 */
function handshake(t: TestRelay, port: Port, args: string[]): Promise<Handshake> {
  const starttls = port === 'submission' ? ['-starttls', 'smtp'] : [];
  const argv = ['s_client', '-connect', `127.0.0.1:${t.port(port)}`, ...starttls, '-brief', '-nocommands', ...args];
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', argv, { timeout: 15_000 }, (error, stdout, stderr) => {
      if (error && (error as { killed?: boolean }).killed) return reject(new Error(`openssl ${argv.join(' ')} timed out:\n${stderr}`));
      const output = stdout + stderr;
      resolve({
        established: !error && output.includes('CONNECTION ESTABLISHED'),
        protocol: /Protocol version: (\S+)/.exec(output)?.[1],
        cipher: /Ciphersuite: (\S+)/.exec(output)?.[1],
        output,
      });
    });
    child.stdin?.end('QUIT\r\n');
  });
}

async function assertAccepted(t: TestRelay, port: Port, args: string[], expected: { protocol: string; cipher?: string }): Promise<void> {
  const h = await handshake(t, port, args);
  assert.ok(h.established, `${port} ${args.join(' ')} should be accepted:\n${h.output}`);
  assert.equal(h.protocol, expected.protocol, h.output);
  if (expected.cipher) assert.equal(h.cipher, expected.cipher, h.output);
}

/** Refused by the relay, not by the client: s_client must report the server's alert. */
async function assertRefused(t: TestRelay, port: Port, args: string[], alert: RegExp): Promise<void> {
  const h = await handshake(t, port, args);
  assert.ok(!h.established, `${port} ${args.join(' ')} should be refused:\n${h.output}`);
  assert.match(h.output, alert);
}

const HANDSHAKE_FAILURE = /alert handshake failure/;
const PROTOCOL_VERSION = /alert protocol version/;
// Debian's openssl client refuses TLS 1.1 itself at its default security level: lower it so only the server decides.
const OLD_CLIENT = ['-cipher', 'DEFAULT@SECLEVEL=0'];

describe('TLS defaults: TLS 1.2 with ECDHE + AEAD only, and TLS 1.3', () => {
  let t: TestRelay;
  before(async () => {
    // No tls.cert/tls.key: the generated self-signed certificate (RSA) must work with the default suites.
    t = await startTestRelay();
  });
  after(() => t.stop());

  for (const port of ['submission', 'smtps'] as const) {
    test(`${port}: suites without forward secrecy and CBC-SHA1 are refused over TLS 1.2`, async () => {
      for (const cipher of ['AES128-SHA', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-SHA']) {
        await assertRefused(t, port, ['-tls1_2', '-cipher', cipher], HANDSHAKE_FAILURE);
      }
    });

    test(`${port}: ECDHE-RSA with AES-GCM or ChaCha20 is accepted over TLS 1.2 with the generated RSA certificate`, async () => {
      for (const cipher of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305']) {
        await assertAccepted(t, port, ['-tls1_2', '-cipher', cipher], { protocol: 'TLSv1.2', cipher });
      }
    });

    test(`${port}: TLS 1.3 is accepted, TLS 1.1 is refused`, async () => {
      await assertAccepted(t, port, ['-tls1_3'], { protocol: 'TLSv1.3' });
      await assertRefused(t, port, ['-tls1_1', ...OLD_CLIENT], PROTOCOL_VERSION);
    });
  }

  test('a SIGHUP reload (reloadTls) keeps the same suites and versions', async () => {
    t.relay.reloadTls();
    for (const port of ['submission', 'smtps'] as const) {
      await assertRefused(t, port, ['-tls1_2', '-cipher', 'AES256-GCM-SHA384'], HANDSHAKE_FAILURE);
      await assertRefused(t, port, ['-tls1_1', ...OLD_CLIENT], PROTOCOL_VERSION);
      await assertAccepted(t, port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'], { protocol: 'TLSv1.2' });
      await assertAccepted(t, port, ['-tls1_3'], { protocol: 'TLSv1.3' });
    }
  });
});

describe('TLS settings for operators who must differ', () => {
  test('tls.ciphers can add a suite (AES256-GCM-SHA384), also after a reload; TLS 1.3 is untouched', async () => {
    const t = await startTestRelay({ overrides: { tls: { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384' } } });
    try {
      for (const port of ['submission', 'smtps'] as const) {
        await assertAccepted(t, port, ['-tls1_2', '-cipher', 'AES256-GCM-SHA384'], { protocol: 'TLSv1.2', cipher: 'AES256-GCM-SHA384' });
        await assertRefused(t, port, ['-tls1_2', '-cipher', 'AES128-SHA'], HANDSHAKE_FAILURE);
        await assertAccepted(t, port, ['-tls1_3'], { protocol: 'TLSv1.3' });
      }
      t.relay.reloadTls();
      await assertAccepted(t, 'submission', ['-tls1_2', '-cipher', 'AES256-GCM-SHA384'], { protocol: 'TLSv1.2' });
      await assertAccepted(t, 'smtps', ['-tls1_2', '-cipher', 'AES256-GCM-SHA384'], { protocol: 'TLSv1.2' });
    } finally {
      await t.stop();
    }
  });

  test('tls.min_version TLSv1.3 refuses TLS 1.2, also after a reload', async () => {
    const t = await startTestRelay({ overrides: { tls: { min_version: 'TLSv1.3' } } });
    try {
      for (const port of ['submission', 'smtps'] as const) {
        await assertRefused(t, port, ['-tls1_2'], PROTOCOL_VERSION);
        await assertAccepted(t, port, ['-tls1_3'], { protocol: 'TLSv1.3' });
      }
      t.relay.reloadTls();
      await assertRefused(t, 'smtps', ['-tls1_2'], PROTOCOL_VERSION);
      await assertRefused(t, 'submission', ['-tls1_2'], PROTOCOL_VERSION);
    } finally {
      await t.stop();
    }
  });

  test('tls.min_version TLSv1.1 with @SECLEVEL=0 ciphers does allow TLS 1.1 (discouraged, but possible)', async () => {
    const t = await startTestRelay({ overrides: { tls: { min_version: 'TLSv1.1', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:@SECLEVEL=0' } } });
    try {
      for (const port of ['submission', 'smtps'] as const) {
        await assertAccepted(t, port, ['-tls1_1', ...OLD_CLIENT], { protocol: 'TLSv1.1', cipher: 'ECDHE-RSA-AES128-SHA' });
      }
    } finally {
      await t.stop();
    }
  });

  test('an invalid tls.ciphers or tls.min_version is refused when the configuration is read, in one line naming the setting', () => {
    // relais start and relais config check both read the configuration through parseConfig before anything listens.
    const fails = (tls: Record<string, string>, line: RegExp) => {
      assert.throws(() => parseConfig({ tls } as never), (error: Error) => {
        assert.ok(error instanceof ConfigError, error.message);
        const lines = error.message.split('\n').slice(1).map((l) => l.trim());
        assert.equal(lines.length, 1, error.message);
        assert.match(lines[0] as string, line);
        return true;
      });
    };
    fails({ ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA385' }, /^tls\.ciphers: "AES256-GCM-SHA385" matches no cipher suite/);
    fails({ ciphers: 'NOT-A-CIPHER' }, /^tls\.ciphers: "NOT-A-CIPHER" matches no cipher suite/);
    fails({ ciphers: '!ECDHE' }, /^tls\.ciphers: the list selects no cipher suite/);
    fails({ min_version: 'TLSv1.0' }, /^tls\.min_version: expected one of "TLSv1", "TLSv1\.1", "TLSv1\.2", "TLSv1\.3"$/);
    fails({ min_version: 'TLSv1' }, /^tls\.min_version: TLSv1 needs tls\.ciphers .*@SECLEVEL=0/);
  });

  test('relais config check reports a bad tls.ciphers', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-tls-check-'));
    try {
      const bad = writeConfig(dir, `data_dir: ${dir}\ntls:\n  ciphers: "ECDHE-RSA-AES128-GCM-SHA256:RC5-SHA"\n`);
      const out = await runCli(['config', 'check', bad]);
      assert.equal(out.code, 1, out.stdout);
      assert.match(out.stderr, /tls\.ciphers: "RC5-SHA" matches no cipher suite/);
      const good = writeConfig(dir, `data_dir: ${dir}\ntls:\n  min_version: TLSv1.3\n  ciphers: "ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384"\n`);
      const ok = await runCli(['config', 'check', good]);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
