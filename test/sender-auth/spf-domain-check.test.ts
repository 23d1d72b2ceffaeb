import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDns, type DnsPeer, type DnsZones } from '../peers/dns.js';
import { runCli, writeConfig } from '../support/relay-process.js';

/**
 * `relais spf` and `relais domain check` against customer domains published in a real unbound: the relay's
 * record as printed is published, and SPF is evaluated for every outbound address as the client IP.
 */
interface SpfJson {
  include: string;
  records: { name: string; type: string; value: string }[];
  lookups: number;
  customer_record: string;
}

interface Report {
  domain: string;
  pass: boolean;
  checks: { check: string; verdict: string; pass: boolean; detail: string; action: string | null }[];
}

const SMALL_POOL = ['127.0.95.1', '127.0.95.2', '127.0.95.3'];
const BIG_POOL = Array.from({ length: 40 }, (_, i) => `127.0.95.${101 + i}`);

describe('relais spf and relais domain check', () => {
  let dir: string;
  let dns: DnsPeer;
  let small: string;
  let big: string;
  let zones: DnsZones = {};

  const config = (name: string, hostname: string, pool: string[]) =>
    writeConfig(
      fs.mkdtempSync(path.join(dir, `${name}-`)),
      [
        `hostname: ${hostname}`,
        `data_dir: ${path.join(dir, name)}`,
        `dns: { servers: ["${dns.server}"], timeout: 2s }`,
        'outbound:',
        '  ips:',
        ...pool.map((address) => `    - { address: "${address}", ehlo: "out.${hostname}" }`),
      ].join('\n'),
    );

  async function spfOf(file: string): Promise<SpfJson> {
    const out = await runCli(['spf', '--json', '--config', file]);
    assert.equal(out.code, 0, out.stderr);
    return JSON.parse(out.stdout) as SpfJson;
  }

  async function publish(more: DnsZones): Promise<void> {
    zones = { ...zones, ...more };
    await dns.setZones(zones);
  }

  async function check(file: string, domain: string): Promise<{ code: number; report: Report; text: string }> {
    const json = await runCli(['domain', 'check', domain, '--json', '--config', file]);
    assert.ok(json.stdout.startsWith('{'), json.stderr);
    const text = await runCli(['domain', 'check', domain, '--config', file]);
    assert.equal(text.code, json.code);
    return { code: json.code, report: JSON.parse(json.stdout) as Report, text: text.stdout };
  }

  const verdicts = (report: Report) => Object.fromEntries(report.checks.map((c) => [c.check, c.verdict]));

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-spf-'));
    dns = await startDns({ address: '127.0.95.53', zones: {} });
    small = config('small', 'relay.test', SMALL_POOL);
    big = config('big', 'bigpool.test', BIG_POOL);
    for (const file of [small, big]) {
      const init = await runCli(['init', '--config', file]);
      assert.equal(init.code, 0, init.stderr);
    }
  });
  after(async () => {
    await dns?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('"relais spf" prints one record listing every outbound address, and how customers include it', async () => {
    const spf = await spfOf(small);
    assert.deepEqual(spf.records, [{ name: '_spf.relay.test', type: 'TXT', value: 'v=spf1 ip4:127.0.95.1 ip4:127.0.95.2 ip4:127.0.95.3 -all' }]);
    assert.equal(spf.include, 'include:_spf.relay.test');
    assert.equal(spf.lookups, 1);
    const text = await runCli(['spf', '--config', small]);
    assert.match(text.stdout, /_spf\.relay\.test\. IN TXT "v=spf1 ip4:127\.0\.95\.1 ip4:127\.0\.95\.2 ip4:127\.0\.95\.3 -all"/);
    assert.match(text.stdout, /include:_spf\.relay\.test/);
  });

  test('with 40 addresses the record is split into includes of at most 255 characters, and every address passes SPF', async () => {
    const spf = await spfOf(big);
    assert.ok(spf.records.length > 1, JSON.stringify(spf.records));
    assert.equal(spf.lookups, spf.records.length);
    const [root, ...rest] = spf.records;
    assert.equal(root?.name, '_spf.bigpool.test');
    for (const [i, r] of rest.entries()) {
      assert.equal(r.name, `_spf${i + 2}.bigpool.test`);
      assert.match(root?.value ?? '', new RegExp(` include:${r.name.replace(/\./g, '\\.')}( |$)`));
    }
    const listed: string[] = [];
    for (const r of spf.records) {
      assert.ok(r.value.length <= 255, `${r.name} is ${r.value.length} characters`);
      assert.match(r.value, /^v=spf1 .* -all$/);
      listed.push(...[...r.value.matchAll(/ip4:(\S+)/g)].map((m) => m[1] as string));
    }
    assert.deepEqual(listed.sort(), [...BIG_POOL].sort(), 'each pool address is listed exactly once');

    // Published as printed, included by a customer: a real evaluation passes for every one of the 40 addresses.
    await publish({
      ...Object.fromEntries(spf.records.map((r) => [r.name, { txt: [r.value] }])),
      'bigcustomer.test': { txt: [`v=spf1 ${spf.include} -all`] },
      '_dmarc.bigcustomer.test': { txt: ['v=DMARC1; p=quarantine'] },
    });
    const { report } = await check(big, 'bigcustomer.test');
    const spfCheck = report.checks.find((c) => c.check === 'spf');
    assert.equal(spfCheck?.verdict, 'pass', JSON.stringify(spfCheck));
    assert.match(spfCheck?.detail ?? '', /all 40 outbound address/);
  });

  test('a domain that includes the relay, publishes its DKIM key and has DMARC passes, exit 0', async () => {
    const spf = await spfOf(small);
    const key = await runCli(['dkim', 'add', 'good.test', '--json', '--config', small]);
    assert.equal(key.code, 0, key.stderr);
    const dkim = JSON.parse(key.stdout) as { name: string; value: string };
    await publish({
      [spf.records[0]?.name as string]: { txt: [spf.records[0]?.value as string] },
      'good.test': { txt: ['v=spf1 ip4:192.0.2.10 include:_spf.relay.test ~all', 'google-site-verification=abc'] },
      [dkim.name]: { txt: [dkim.value] },
      '_dmarc.good.test': { txt: ['v=DMARC1; p=reject; rua=mailto:d@good.test'] },
    });
    const { code, report, text } = await check(small, 'good.test');
    assert.equal(code, 0, text);
    assert.deepEqual(verdicts(report), { spf: 'pass', dkim: 'pass', dmarc: 'pass' });
    assert.equal(report.pass, true);
    assert.match(text, /^SPF\s+pass: .*authorises all 3 outbound/m);
    assert.match(text, /^DMARC\s+pass: policy reject/m);
    assert.match(text, /good\.test is ready to send through the relay/);
  });

  test('a domain without the include fails, exit non-zero, and is told what to publish', async () => {
    await publish({
      'noinclude.test': { mx: [{ pref: 10, host: 'mx.noinclude.test' }], txt: ['v=spf1 ip4:192.0.2.1 mx ~all'] },
      'mx.noinclude.test': { a: ['192.0.2.25'] },
    });
    const { code, report, text } = await check(small, 'noinclude.test');
    assert.notEqual(code, 0);
    assert.equal(report.pass, false);
    const spfCheck = report.checks.find((c) => c.check === 'spf');
    assert.equal(spfCheck?.verdict, 'missing-include');
    assert.equal(spfCheck?.action, 'publish at noinclude.test: TXT "v=spf1 ip4:192.0.2.1 mx include:_spf.relay.test ~all"');
    assert.match(text, /^SPF\s+FAIL \(missing-include\)/m);
    assert.match(text, /to do: publish at noinclude\.test: TXT "v=spf1 ip4:192\.0\.2\.1 mx include:_spf\.relay\.test ~all"/);
    // Relais holds no key for it, and it has no DMARC record: both say what to do.
    assert.equal(verdicts(report).dkim, 'no-key');
    assert.match(text, /relais dkim add noinclude\.test/);
    assert.equal(verdicts(report).dmarc, 'missing');
    assert.match(text, /publish at _dmarc\.noinclude\.test: TXT "v=DMARC1; p=none/);
    assert.match(text, /noinclude\.test is not ready/);
  });

  test('"-all" alone conflicts with the relay; no SPF at all says what to create', async () => {
    await publish({
      'reject.test': { txt: ['v=spf1 -all'] },
      '_dmarc.reject.test': { txt: ['v=DMARC1; p=none'] },
      'nospf.test': { a: ['192.0.2.7'] },
    });
    const rejecting = await check(small, 'reject.test');
    assert.notEqual(rejecting.code, 0);
    const spfCheck = rejecting.report.checks.find((c) => c.check === 'spf');
    assert.equal(spfCheck?.verdict, 'all-conflict');
    assert.match(spfCheck?.detail ?? '', /ends in -all without including the relay/);
    assert.equal(spfCheck?.action, 'publish at reject.test: TXT "v=spf1 include:_spf.relay.test -all"');
    assert.equal(verdicts(rejecting.report).dmarc, 'pass', 'p=none is a published policy');

    const none = await check(small, 'nospf.test');
    assert.notEqual(none.code, 0);
    assert.equal(verdicts(none.report).spf, 'none');
    assert.match(none.text, /to do: publish at nospf\.test: TXT "v=spf1 include:_spf\.relay\.test ~all"/);
  });

  test('a record needing more than 10 DNS lookups is reported as such', async () => {
    const includes = Array.from({ length: 11 }, (_, i) => `include:l${i}.loops.test`);
    await publish({
      'loops.test': { txt: [`v=spf1 ${includes.join(' ')} include:_spf.relay.test ~all`] },
      ...Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`l${i}.loops.test`, { txt: [`v=spf1 ip4:192.0.2.${i + 1} ?all`] }])),
      '_dmarc.loops.test': { txt: ['v=DMARC1; p=none'] },
    });
    const { code, report } = await check(small, 'loops.test');
    assert.notEqual(code, 0);
    const spfCheck = report.checks.find((c) => c.check === 'spf');
    assert.equal(spfCheck?.verdict, 'too-many-lookups', JSON.stringify(spfCheck));
    assert.match(spfCheck?.action ?? '', /fits in 10 lookups/);
  });

  test('a DKIM record that is not the key Relais holds, or missing, fails the DKIM check', async () => {
    const key = await runCli(['dkim', 'add', 'otherkey.test', '--algorithm', 'ed25519', '--selector', 'sel', '--json', '--config', small]);
    assert.equal(key.code, 0, key.stderr);
    const dkim = JSON.parse(key.stdout) as { name: string; value: string };
    await publish({
      'otherkey.test': { txt: ['v=spf1 include:_spf.relay.test -all'] },
      '_dmarc.otherkey.test': { txt: ['v=DMARC1; p=quarantine'] },
    });
    const missing = await check(small, 'otherkey.test');
    assert.deepEqual(verdicts(missing.report), { spf: 'pass', dkim: 'missing', dmarc: 'pass' });
    assert.notEqual(missing.code, 0);
    assert.match(missing.text, new RegExp(`to do: publish at sel\\._domainkey\\.otherkey\\.test: TXT "${dkim.value.replace(/[+/.]/g, '\\$&')}"`));
    await publish({ [dkim.name]: { txt: ['v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo='] } });
    const mismatch = await check(small, 'otherkey.test');
    assert.equal(verdicts(mismatch.report).dkim, 'mismatch');
    assert.notEqual(mismatch.code, 0);
  });

  test('bad input: a name that is not a domain', async () => {
    const out = await runCli(['domain', 'check', 'not_a domain', '--config', small]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /is not a domain name/);
  });
});
