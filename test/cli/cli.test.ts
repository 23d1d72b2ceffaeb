import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, writeConfig } from '../support/relay-process.js';

describe('relais CLI', () => {
  let dir: string;
  let config: string;
  const relais = (...args: string[]) => runCli([...args, '--config', config]);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-cli-'));
    config = writeConfig(
      dir,
      ['hostname: smtp.provider.test', `data_dir: ${dir}`, 'listen: { submission: ["0.0.0.0:587"], smtps: ["0.0.0.0:465"], smtp: ["0.0.0.0:2525"] }'].join('\n'),
    );
    // Only start and init create a store; the commands below work on it.
    const init = await relais('init');
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, new RegExp(`store ready: sqlite:${dir}/relais.db`));
  });

  test('a command pointed at no store fails with one line naming it, and creates nothing', async () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-cli-elsewhere-'));
    try {
      const result = await runCli(['customer', 'list'], { RELAIS_CONFIG: '' }, elsewhere);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] as string, new RegExp(`^relais: no store at ${elsewhere}/data/relais\\.db \\(the built-in default, no configuration file found\\): .*--config FILE or RELAIS_CONFIG`));
      assert.deepEqual(fs.readdirSync(elsewhere), []);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('global options work before or after the command; --version prints the version', async () => {
    const before = await runCli(['--config', config, '--json', 'customer', 'list']);
    const after = await runCli(['customer', 'list', '--json', '--config', config]);
    assert.equal(before.code, 0, before.stderr);
    assert.deepEqual(JSON.parse(before.stdout), JSON.parse(after.stdout));
    const nested = await runCli(['--config', config, 'queue', 'list']);
    assert.equal(nested.code, 0, nested.stderr);
    const version = await runCli(['--version']);
    assert.equal(version.code, 0, version.stderr);
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(version.stdout.trim(), pkg.version);
  });

  test('customer add and list, text and --json', async () => {
    const added = await relais('customer', 'add', 'Boulangerie Dupont', '--email', 'contact@dupont.test');
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /customer "Boulangerie Dupont" added/);
    const list = await relais('customer', 'list', '--json');
    assert.deepEqual(
      (JSON.parse(list.stdout) as { name: string; email: string; credentials: number }[]).map((c) => [c.name, c.email, c.credentials]),
      [['Boulangerie Dupont', 'contact@dupont.test', 0]],
    );
    const text = await relais('customer', 'list');
    assert.match(text.stdout, /^NAME\s+EMAIL\s+CREDENTIALS\s+CREATED/);
  });

  test('credential add prints the server, ports and TLS modes, username and a strong password once', async () => {
    const out = await relais('credential', 'add', '--customer', 'Boulangerie Dupont', '--username', 'dupont');
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^Credential created for customer "Boulangerie Dupont"\. Give these to the customer:\n\nServer:\s+smtp\.provider\.test$/m);
    assert.match(out.stdout, /Ports:\s+587 \(STARTTLS\), 465 \(implicit TLS\), 2525 \(STARTTLS\)/);
    assert.match(out.stdout, /Username:\s+dupont/);
    const password = /Password:\s+(\S+)/.exec(out.stdout)?.[1] ?? '';
    assert.ok(password.length >= 20 && /[A-Z]/.test(password) && /[a-z]/.test(password) && /[0-9]/.test(password), password);
    const json = await relais('credential', 'add', '--customer', 'Boulangerie Dupont', '--json');
    const parsed = JSON.parse(json.stdout) as { server: string; username: string; password: string; ports: { port: number; tls: string }[] };
    assert.equal(parsed.server, 'smtp.provider.test');
    assert.match(parsed.username, /^boulangerie-dupont-[0-9a-f]{6}$/);
    assert.notEqual(parsed.password, password);
    // Never stored in clear.
    const show = await relais('credential', 'show', 'dupont', '--json');
    assert.ok(!show.stdout.includes(password));
    const db = fs.readFileSync(path.join(dir, 'relais.db'));
    assert.ok(!db.includes(Buffer.from(password)));
  });

  test('disable, enable and password change', async () => {
    assert.match((await relais('credential', 'disable', 'dupont')).stdout, /disabled/);
    assert.equal(JSON.parse((await relais('credential', 'show', 'dupont', '--json')).stdout).enabled, false);
    assert.match((await relais('credential', 'enable', 'dupont')).stdout, /enabled/);
    const changed = await relais('credential', 'password', 'dupont', '--json');
    assert.equal(changed.code, 0);
    assert.equal(JSON.parse(changed.stdout).username, 'dupont');
    const list = JSON.parse((await relais('credential', 'list', '--json')).stdout) as { username: string; enabled: boolean }[];
    assert.ok(list.some((c) => c.username === 'dupont' && c.enabled));
  });

  test('plans with --days and --until, listed; usage shows the quota and no suspension', async () => {
    assert.equal((await relais('plan', 'add', '--credential', 'dupont', '--quota', '1000', '--days', '30')).code, 0);
    const until = await relais('plan', 'add', '--credential', 'dupont', '--quota', '500', '--until', '2099-12-31', '--json');
    assert.equal(JSON.parse(until.stdout).ends_at, '2100-01-01T00:00:00.000Z');
    const plans = JSON.parse((await relais('plan', 'list', '--credential', 'dupont', '--json')).stdout) as { quota: number; state: string }[];
    assert.deepEqual(plans.map((p) => [p.quota, p.state]), [[1000, 'active'], [500, 'active']]);
    const usage = JSON.parse((await relais('usage', 'dupont', '--json')).stdout);
    assert.equal(usage.quota, 1500);
    assert.equal(usage.sent, 0);
    assert.equal(usage.remaining, 1500);
    assert.equal(usage.suspended, null);
    const text = await relais('usage', 'dupont');
    assert.match(text.stdout, /Status:\s+active/);
  });

  test('errors are one clear line on stderr with a non-zero exit', async () => {
    const cases: [string[], RegExp][] = [
      [['credential', 'add', '--customer', 'Nobody'], /no customer named "Nobody"/],
      [['credential', 'add', '--customer', 'Boulangerie Dupont', '--username', 'dupont'], /username "dupont" is already taken/],
      [['customer', 'add', 'Boulangerie Dupont', '--email', 'x@y.test'], /customer "Boulangerie Dupont" already exists/],
      [['customer', 'add', 'X', '--email', 'not-an-address'], /is not an e-mail address/],
      [['plan', 'add', '--credential', 'dupont', '--quota', '10', '--until', '2027-02-30'], /"2027-02-30" is not a date: write YYYY-MM-DD/],
      [['plan', 'add', '--credential', 'dupont', '--quota', '-5'], /the quota must be a whole number above zero/],
      [['plan', 'add', '--credential', 'dupont', '--quota', '10', '--until', '2020-01-01'], /in the past/],
      [['usage', 'ghost'], /no credential with username "ghost"/],
      [['queue', 'show', 'NOSUCHID'], /no message with id "NOSUCHID"/],
      [['queue', 'list', '--state', 'lost'], /--state must be one of queued, deferred, held, delivered, failed/],
    ];
    for (const [args, message] of cases) {
      const out = await relais(...args);
      assert.notEqual(out.code, 0, args.join(' '));
      assert.match(out.stderr, message);
      assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
    }
  });

  test('config check names the bad key and what is expected', async () => {
    const good = await runCli(['config', 'check', config]);
    assert.equal(good.code, 0, good.stderr);
    const badFile = path.join(dir, 'bad.yaml');
    fs.writeFileSync(badFile, 'listen:\n  submission: ["localhost"]\nqueue:\n  retry_every: soon\nlisten_typo: 1\n');
    const bad = await runCli(['config', 'check', badFile]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /listen\.submission\[0\]: expected "address:port"/);
    assert.match(bad.stderr, /queue\.retry_every: "soon" is not a duration/);
    assert.match(bad.stderr, /unknown setting "listen_typo"/);
    const viaEnv = await runCli(['config', 'check'], { RELAIS_CONFIG: badFile });
    assert.equal(viaEnv.code, 1);
    // A certificate that start could not load fails the check too.
    const tlsFile = path.join(dir, 'tls.yaml');
    fs.writeFileSync(tlsFile, `tls: { cert: ${dir}/missing.pem, key: ${dir}/missing.key }\n`);
    const tls = await runCli(['config', 'check', tlsFile]);
    assert.equal(tls.code, 1);
    assert.match(tls.stderr, new RegExp(`tls\\.cert/tls\\.key: TLS file ${dir}/missing\\.pem does not exist`));
  });

  test('queue list and show', async () => {
    const empty = await relais('queue', 'list', '--json');
    assert.deepEqual(JSON.parse(empty.stdout), []);
  });
});
