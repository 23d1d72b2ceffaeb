import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import YAML from 'yaml';
import { startDnsbl, type DnsblPeer } from '../peers/dnsbl.js';
import type { ReceivedMessage } from '../peers/receiver.js';
import { SENDER, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { runCli } from '../support/relay-process.js';
import { RawSmtpClient, sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * Blocklist monitoring against a real rbldnsd behind a real unbound, with real receivers: outbound addresses
 * leave the rotation when listed and come back when delisted, answers that are errors list nothing, mail waits
 * when every address is listed, the operator hears of it by mail, sender domains suspend their credential, and
 * a credential pinned to part of the pool leaves only from there.
 */
const OUT = ['127.0.92.11', '127.0.92.12', '127.0.92.13'];
const DEST = '127.0.92.21';
const OPS = '127.0.92.22';

async function waitUntil<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface IpRow {
  address: string;
  state: string;
  listings: { zone: string; code: string; reason: string | null; since: string }[];
}

describe('blocklist monitoring with rbldnsd behind unbound', () => {
  let w: DeliveryWorld;
  let dnsbl: DnsblPeer;
  let configFile: string;
  const relais = (...args: string[]) => runCli([...args, '--config', configFile]);
  const ok = async (...args: string[]) => {
    const out = await relais(...args);
    assert.equal(out.code, 0, `relais ${args.join(' ')}: ${out.stderr}`);
    return out.stdout;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await ok(...args, '--json')) as T;
  const ipRow = async (address: string) => (await json<IpRow[]>('ip', 'list')).find((r) => r.address === address) as IpRow;

  before(async () => {
    dnsbl = await startDnsbl({
      zones: {
        'zen.test': { ips: [] },
        // What Spamhaus answers a query it refuses (public resolver, over the limit): an error, not a listing.
        'refused.test': { ips: [OUT[1] as string], code: '127.255.255.254', txt: 'query refused' },
        'dbl.test': { domains: ['spammy.test'] },
      },
    });
    w = await startDeliveryWorld({
      systemClock: true,
      outboundIps: OUT,
      zones: {
        'dest.test': { mx: [{ pref: 10, host: 'mx.dest.test' }] },
        'mx.dest.test': { a: [DEST] },
        'ops.test': { mx: [{ pref: 10, host: 'mx.ops.test' }] },
        'mx.ops.test': { a: [OPS] },
        'clean.test': { mx: [{ pref: 10, host: 'mx.dest.test' }] },
        'spammy.test': { mx: [{ pref: 10, host: 'mx.dest.test' }] },
        'later.test': { mx: [{ pref: 10, host: 'mx.dest.test' }] },
      },
      dnsForward: [
        { zone: 'zen.test', address: dnsbl.address, port: dnsbl.port },
        { zone: 'refused.test', address: dnsbl.address, port: dnsbl.port },
        { zone: 'dbl.test', address: dnsbl.address, port: dnsbl.port },
        // Nothing listens there: this zone never answers.
        { zone: 'dead.test', address: '127.0.92.250', port: 9 },
      ],
      receivers: [
        { address: DEST, name: 'mx.dest.test' },
        { address: OPS, name: 'mx.ops.test' },
      ],
      overrides: {
        dnsbl: { interval: '1s', ip_zones: ['zen.test', 'refused.test', 'dead.test'], domain_zones: ['dbl.test'], timeout: '1s', refresh: '1s' },
        alerts: { email: 'ops@ops.test' },
        // Short, so that "held, never bounced" shows past the give-up time within the test.
        queue: { retry_every: '1s', give_up_after: '4s' },
      },
    });
    configFile = path.join(w.relay.dir, 'relais.yaml');
    fs.writeFileSync(
      configFile,
      YAML.stringify({
        hostname: 'relay.test',
        data_dir: w.relay.dir,
        store: { url: w.relay.config.store.url },
        outbound: { ips: w.relay.config.outbound.ips },
        dnsbl: { ip_zones: ['zen.test', 'refused.test', 'dead.test'], domain_zones: ['dbl.test'] },
      }),
    );
  });
  after(async () => {
    await w?.stop();
    await dnsbl?.stop();
  });

  async function submit(to: string, options: { sender?: { username: string; password: string }; from?: string; subject?: string } = {}): Promise<string> {
    const r = await sendWithNodemailer({ port: w.relay.port('smtps'), implicitTls: true, ...(options.sender ?? w.sender), from: options.from ?? SENDER, to: [to], subject: options.subject ?? 'blocklist test' });
    return /queued as (\w+)/.exec(r.response)?.[1] as string;
  }

  async function alertsWith(subject: RegExp): Promise<ReceivedMessage[]> {
    const found: ReceivedMessage[] = [];
    for (const m of w.receiver(OPS).messages) if (subject.test((await simpleParser(m.raw)).subject ?? '')) found.push(m);
    return found;
  }

  test('a 127.255.255.254 answer and a zone that does not answer are errors, not listings', async () => {
    await waitUntil('lookups of refused.test and dead.test to fail', async () => {
      const errors = w.relay.log.find('dnsbl_error');
      return errors.some((e) => e.zone === 'refused.test' && /127\.255\.255\.254/.test(String(e.error))) && errors.some((e) => e.zone === 'dead.test');
    });
    for (const address of OUT) {
      const row = await ipRow(address);
      assert.equal(row.state, 'active', JSON.stringify(row));
      assert.deepEqual(row.listings, []);
    }
    // Mail leaves from every address, 127.0.92.12 included.
    assert.equal(w.relay.relay.delivery?.ips.anyUsable(), true);
    assert.equal(w.relay.relay.delivery?.ips.usable(OUT[1] as string), true);
    assert.equal((await json<unknown[]>('ip', 'history', OUT[1] as string)).length, 0);
  });

  test('a credential pinned to one address sends only from it; bad addresses are refused clearly', async () => {
    const pinned = await w.relay.addSender(1000);
    const bad = await relais('credential', 'pool', pinned.username, '--ips', '127.0.92.99');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /127\.0\.92\.99 is not in outbound\.ips \(127\.0\.92\.11, 127\.0\.92\.12, 127\.0\.92\.13\)/);
    const both = await relais('credential', 'pool', pinned.username, '--ips', OUT[2] as string, '--all');
    assert.equal(both.code, 1);
    assert.match(both.stderr, /either --ips A,B or --all/);
    assert.match(await ok('credential', 'pool', pinned.username, '--ips', OUT[2] as string, '--actor', 'alice', '--note', 'isolate a risky customer'), /now sends only from 127\.0\.92\.13/);
    assert.deepEqual(await json<{ ips: string[] }>('credential', 'pool', pinned.username), { username: pinned.username, ips: [OUT[2]] });
    const credential = await w.relay.relay.accounts.credential(pinned.username);
    // Every node re-reads pinnings every dnsbl.refresh (1 s here).
    await waitUntil('the pinning to reach the delivery side', async () => w.relay.relay.delivery?.restrictions.allowedFor(credential.id)?.has(OUT[2] as string));
    const rx = w.receiver(DEST);
    rx.clear();
    for (let i = 0; i < 4; i++) {
      await submit(`pinned${i}@dest.test`, { sender: pinned });
      await sleep(300); // past the idle connection timeout, so a new connection picks a source each time
    }
    const got = await rx.waitFor(4);
    assert.deepEqual([...new Set(got.map((m) => m.remoteAddress))], [OUT[2]]);
    // Other credentials still use the whole pool.
    rx.clear();
    for (let i = 0; i < 6; i++) {
      await submit(`free${i}@dest.test`);
      await sleep(300);
    }
    const free = await rx.waitFor(6);
    assert.ok(new Set(free.map((m) => m.remoteAddress)).size > 1, JSON.stringify(free.map((m) => m.remoteAddress)));
    assert.match(await ok('credential', 'pool', pinned.username, '--all', '--actor', 'bob'), /now sends from the whole pool/);
    const history = await w.relay.relay.suspensions.history(credential.id);
    assert.deepEqual(
      history.map((e) => [e.kind, e.actor, e.note, e.detail]),
      [
        ['pool_pinned', 'alice', 'isolate a risky customer', { ips: [OUT[2]] }],
        ['pool_unpinned', 'bob', null, { ips: 'all' }],
      ],
    );
  });

  test('a listed address leaves the rotation, mail goes out through the others, and it comes back when delisted', async () => {
    const listed = OUT[0] as string;
    await dnsbl.list(listed, 'zen.test');
    const row = await waitUntil('ip list to show the listing', async () => {
      const r = await ipRow(listed);
      return r.state === 'listed' ? r : undefined;
    });
    assert.equal(row.listings[0]?.zone, 'zen.test');
    assert.equal(row.listings[0]?.code, '127.0.0.2');
    assert.match(row.listings[0]?.reason ?? '', /Listed in zen\.test: https:\/\/zen\.test\/query\/ip\/127\.0\.92\.11/);
    assert.match(await ok('ip', 'list'), /127\.0\.92\.11 +\S+ +\S+ +listed \(zen\.test\)/);
    const rx = w.receiver(DEST);
    rx.clear();
    for (let i = 0; i < 6; i++) {
      await submit(`during${i}@dest.test`);
      await sleep(300);
    }
    const during = await rx.waitFor(6);
    const sources = new Set(during.map((m) => m.remoteAddress));
    assert.ok(!sources.has(listed), `mail left from the listed address: ${[...sources].join(', ')}`);
    assert.ok(sources.size >= 1);
    // The operator is told, by mail through Relais's own queue.
    const [alert] = await waitUntil('the listing alert', async () => {
      const found = await alertsWith(/Outbound address 127\.0\.92\.11 listed in zen\.test/);
      return found.length ? found : undefined;
    });
    assert.equal(alert?.mailFrom.address, 'postmaster@relay.test');
    assert.deepEqual(alert?.rcptTo.map((r) => r.address), ['ops@ops.test']);
    assert.match((await simpleParser(alert?.raw as Buffer)).text ?? '', /taken out of the rotation on every node/);
    assert.equal(w.relay.log.find('ip_listed').length, 1);

    await dnsbl.delist(listed, 'zen.test');
    await waitUntil('ip list to show it active again', async () => (await ipRow(listed)).state === 'active');
    await waitUntil('the delisting alert', async () => (await alertsWith(/127\.0\.92\.11 delisted from zen\.test/)).length > 0);
    // Back in the rotation: mail leaves from it again.
    await waitUntil(
      'mail to leave from the delisted address',
      async () => {
        rx.clear();
        await submit('after@dest.test');
        const [m] = await rx.waitFor(1);
        await sleep(300);
        return m?.remoteAddress === listed;
      },
      30_000,
    );
    const history = await json<{ event: string; zone: string; code: string; reason: string }[]>('ip', 'history', listed);
    assert.deepEqual(history.map((h) => [h.event, h.zone, h.code]), [
      ['listed', 'zen.test', '127.0.0.2'],
      ['delisted', 'zen.test', '127.0.0.2'],
    ]);
    assert.match(await ok('ip', 'history', listed), /listed +zen\.test +127\.0\.0\.2 +Listed in zen\.test/);
    const notIp = await relais('ip', 'history', 'not-an-ip');
    assert.equal(notIp.code, 1);
    assert.match(notIp.stderr, /"not-an-ip" is not an IP address/);
  });

  test('every address listed: mail stays deferred past its give-up time, never bounced, and the operator is alerted', async () => {
    for (const address of OUT) await dnsbl.list(address, 'zen.test');
    await waitUntil('every address listed', async () => (await json<IpRow[]>('ip', 'list')).every((r) => r.state === 'listed'));
    const [alert] = await waitUntil('the whole-pool alert', async () => {
      const found = await alertsWith(/Every outbound address is blocklisted/);
      return found.length ? found : undefined;
    });
    // The alert itself left (from a listed address, as a last resort): the operator must get it.
    assert.ok(OUT.includes(alert?.remoteAddress as string));
    assert.ok(w.relay.log.find('pool_all_listed').some((l) => l.level === 'error'));
    const rx = w.receiver(DEST);
    rx.clear();
    w.mailbox.clear();
    const id = await submit('held@dest.test');
    // Past give_up_after (4 s): still deferred, no failure notice to the sender.
    await sleep(6000);
    const shown = await json<{ recipients: { state: string }[]; attempts: { reply: string }[] }>('queue', 'show', id);
    assert.equal(shown.recipients[0]?.state, 'deferred');
    assert.match(shown.attempts.at(-1)?.reply ?? '', /every outbound address is out of rotation \(blocklisted\); the message stays queued/);
    assert.equal(rx.messages.length, 0);
    assert.equal(w.mailbox.messages.length, 0);
    for (const address of OUT) await dnsbl.delist(address, 'zen.test');
    const [delivered] = await rx.waitFor(1, 20_000);
    assert.deepEqual(delivered?.rcptTo.map((r) => r.address), ['held@dest.test']);
    await waitUntil('the message delivered', async () => (await json<{ recipients: { state: string }[] }>('queue', 'show', id)).recipients[0]?.state === 'delivered');
  });

  test('a listed sender domain suspends its credential (reason blocklist); MAIL FROM then gets 550 5.7.1', async () => {
    const spammer = await w.relay.addSender(1000);
    // Envelope sender clean, From header listed: both are checked.
    await sendWithNodemailer({
      port: w.relay.port('smtps'),
      implicitTls: true,
      ...spammer,
      from: 'news@clean.test',
      to: ['someone@dest.test'],
      raw: 'From: Promotions <deals@spammy.test>\r\nTo: someone@dest.test\r\nSubject: deals\r\n\r\nBuy now.\r\n',
    });
    const shown = await waitUntil('the credential to be held', async () => {
      const c = await json<{ hold: string | null }>('credential', 'show', spammer.username);
      return c.hold === 'blocklist' ? c : undefined;
    });
    assert.equal(shown.hold, 'blocklist');
    const client = await RawSmtpClient.connect(w.relay.port('smtps'), { implicitTls: true });
    try {
      client.write('EHLO client.test\r\n');
      await client.reply();
      client.write(`AUTH PLAIN ${Buffer.from(`\0${spammer.username}\0${spammer.password}`).toString('base64')}\r\n`);
      assert.match(await client.reply(), /^235 /);
      client.write('MAIL FROM:<news@clean.test>\r\n');
      assert.match(await client.reply(), /^550 5\.7\.1 /);
    } finally {
      client.write('QUIT\r\n');
    }
    const domains = await json<{ domain: string; first_use: string; last_use: string; blocklist: string }[]>('domains', spammer.username);
    assert.deepEqual(domains.map((d) => d.domain), ['clean.test', 'spammy.test']);
    assert.equal(domains[0]?.blocklist, 'clear');
    assert.match(domains[1]?.blocklist ?? '', /^listed \(dbl\.test: Listed in dbl\.test\)$/);
    assert.match(domains[1]?.first_use ?? '', /^\d{4}-\d\d-\d\dT/);
    const text = await ok('domains', spammer.username);
    assert.match(text, /^DOMAIN +FIRST USE +LAST USE +BLOCKLIST$/m);
    assert.match(text, /^spammy\.test +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +listed \(dbl\.test/m);
    const credential = await w.relay.relay.accounts.credential(spammer.username);
    const history = await w.relay.relay.suspensions.history(credential.id);
    assert.deepEqual(history.map((e) => [e.kind, e.reason]), [
      ['domain_listed', null],
      ['suspended', 'blocklist'],
    ]);
    assert.deepEqual(history[1]?.detail, { zone: 'dbl.test', domain: 'spammy.test', reason: 'Listed in dbl.test', code: '127.0.1.2' });
    // The clean credential that sent from clean.test before is untouched.
    assert.equal((await json<{ hold: string | null }>('credential', 'show', w.sender.username)).hold, null);
  });

  test('a domain listed after its first use suspends its credential at the next round', async () => {
    const sender = await w.relay.addSender(1000);
    await submit('x@dest.test', { sender, from: 'hello@later.test' });
    await waitUntil('later.test to be recorded and checked', async () => {
      const d = await json<{ domain: string; blocklist: string }[]>('domains', sender.username);
      return d.some((r) => r.domain === 'later.test' && r.blocklist === 'clear');
    });
    assert.equal((await json<{ hold: string | null }>('credential', 'show', sender.username)).hold, null);
    await dnsbl.listDomain('later.test');
    await waitUntil('the credential to be held', async () => (await json<{ hold: string | null }>('credential', 'show', sender.username)).hold === 'blocklist');
  });
});
