import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('the shipped systemd unit is valid and binds 587/465 with one capability, not as root', () => {
  const unit = path.join(ROOT, 'deploy/relais.service');
  const verified = spawnSync('systemd-analyze', ['verify', unit]);
  assert.equal(verified.error, undefined, 'systemd-analyze is needed (Debian package systemd)');
  assert.equal(verified.status, 0, verified.stderr.toString());
  const text = fs.readFileSync(unit, 'utf8');
  assert.match(text, /^User=relais$/m);
  assert.match(text, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  assert.match(text, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
  assert.match(text, /^ExecStart=\/usr\/bin\/node \/opt\/relais\/dist\/cli\/main\.js start --config \/etc\/relais\/relais\.yaml$/m);
  assert.match(text, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
});
