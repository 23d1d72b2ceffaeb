import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { selfSignedCertificate } from '../peers/certs.js';
import { startTestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient } from '../support/smtp-clients.js';

function presentedName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.destroy();
      resolve(String(cn));
    });
    socket.once('error', reject);
  });
}

test('a renewed certificate is served after reloadTls (SIGHUP), on implicit TLS and STARTTLS', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const write = (c: { cert: string; key: string }) => {
    fs.writeFileSync(cert, c.cert);
    fs.writeFileSync(key, c.key);
  };
  write(await selfSignedCertificate('old.relay.test'));
  const t = await startTestRelay({ overrides: { tls: { cert, key } } });
  try {
    assert.equal(await presentedName(t.port('smtps')), 'old.relay.test');
    const waiting = await RawSmtpClient.connect(t.port('submission'));
    write(await selfSignedCertificate('new.relay.test'));
    t.relay.reloadTls();
    assert.equal(await presentedName(t.port('smtps')), 'new.relay.test');
    // A session opened before the reload still upgrades, with the certificate it started with.
    await waiting.command('EHLO client.test');
    await waiting.startTls();
    assert.match(await waiting.command('EHLO client.test'), /AUTH PLAIN LOGIN/);
    waiting.close();
    assert.ok(t.log.find('tls_reloaded').length === 1);
  } finally {
    await t.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
