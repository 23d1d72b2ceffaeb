import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { parseConfig } from '../../src/config/load.js';
import { startRelay } from '../../src/relay.js';
import { SecretBox } from '../../src/sender-auth/secret-box.js';
import { Store } from '../../src/store/store.js';
import type { DnsZones } from '../peers/dns.js';
import { startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { captureLog } from '../support/log-capture.js';
import { createTestDatabase } from '../support/postgres.js';
import { runCli, writeConfig } from '../support/relay-process.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * DKIM signing end to end: keys made with `relais dkim add`, their records published in unbound, mail sent
 * through the relay with nodemailer, received by a real SMTP server, and checked by an independent verifier
 * (mailauth's dkimVerify) that fetches the key from unbound.
 */
const RECEIVER = '127.0.95.21';
const BASE_ZONES: DnsZones = {
  'rcpt.test': { mx: [{ pref: 10, host: 'mx.rcpt.test' }] },
  'mx.rcpt.test': { a: [RECEIVER] },
  // What the delivery world adds for its own mailbox: setZones replaces everything, so it is repeated here.
  'customer.test': { mx: [{ pref: 10, host: 'mx.customer.test' }] },
  'mx.customer.test': { a: ['127.0.0.29'] },
};

interface Published {
  name: string;
  value: string;
  strings: string[];
  selector: string;
}

type Fields = { name: string; value: string }[];

function headers(raw: Buffer): Fields {
  const text = raw.toString('latin1');
  const block = text.slice(0, text.indexOf('\r\n\r\n'));
  const fields: Fields = [];
  for (const line of block.split('\r\n')) {
    if (/^[ \t]/.test(line)) (fields[fields.length - 1] as { value: string }).value += `\r\n${line}`;
    else fields.push({ name: line.slice(0, line.indexOf(':')).toLowerCase(), value: line.slice(line.indexOf(':') + 1) });
  }
  return fields;
}

function tag(signature: string, name: string): string {
  return new RegExp(`(?:^|;)\\s*${name}=([^;]*)`).exec(signature.replace(/\s+/g, ''))?.[1] ?? '';
}

/**
 * What forwarders and mail stores do to a message that relaxed canonicalisation must survive: every header
 * unfolded and refolded elsewhere with runs of white space, trailing white space on body lines, runs of spaces
 * inside them, extra empty lines at the end.
 */
function refold(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const head = text
    .slice(0, split)
    .replace(/\r\n[ \t]+/g, ' ')
    .split('\r\n')
    .map((line) => {
      const colon = line.indexOf(':');
      const value = line.slice(colon + 1).trim().replace(/ /g, '\r\n\t  ');
      return `${line.slice(0, colon)}:   ${value}  `;
    })
    .join('\r\n');
  const body = text
    .slice(split + 4)
    .split('\r\n')
    .map((line) => (line === '' ? line : `${line.replace(/ /g, '   ')} \t `))
    .join('\r\n');
  return Buffer.from(`${head}\r\n\r\n${body}\r\n\r\n\r\n`, 'latin1');
}

describe('DKIM signing at submission, verified independently', () => {
  let world: DeliveryWorld;
  let configFile: string;
  let zones: DnsZones = BASE_ZONES;
  const relais = (...args: string[]) => runCli([...args, '--config', configFile]);
  const verify = (raw: Buffer) =>
    dkimVerify(raw, { resolver: async (name: string, type: string) => (await world.dns.resolver().resolve(name, type)) as string[][] });

  async function addKey(domain: string, ...options: string[]): Promise<Published> {
    const out = await relais('dkim', 'add', domain, ...options, '--json');
    assert.equal(out.code, 0, out.stderr);
    return JSON.parse(out.stdout) as Published;
  }

  async function publish(records: Record<string, string[]>): Promise<void> {
    zones = { ...zones };
    for (const [name, strings] of Object.entries(records)) zones[name] = { txt: [strings.join('')] };
    await world.dns.setZones(zones);
  }

  async function sendAndReceive(options: { from: string; subject?: string; raw?: string }): Promise<Buffer> {
    const receiver = world.receiver(RECEIVER);
    const before = receiver.messages.length;
    const sent = await sendWithNodemailer({
      port: world.relay.port('submission'),
      username: world.sender.username,
      password: world.sender.password,
      from: options.from,
      to: ['reader@rcpt.test'],
      subject: options.subject ?? 'Quarterly   report, with  several words to fold',
      text: 'Hello,\n\nthe figures  are attached.   Trailing spaces here:   \n\n-- \nThe sender\n',
      raw: options.raw,
    });
    assert.match(sent.response, /^250 /);
    const received = await receiver.waitFor(before + 1, 15_000);
    return (received[before] as { raw: Buffer }).raw;
  }

  before(async () => {
    world = await startDeliveryWorld({
      zones: BASE_ZONES,
      receivers: [{ address: RECEIVER, name: 'mx.rcpt.test' }],
      outboundIps: ['127.0.95.11', '127.0.95.12'],
      systemClock: true,
    });
    const cfg = world.relay.config;
    configFile = writeConfig(world.relay.dir, [`hostname: relay.test`, `data_dir: ${cfg.data_dir}`, `store: { url: "${cfg.store.url}" }`].join('\n'));
  });
  after(async () => {
    await world?.stop();
  });

  for (const algorithm of ['rsa', 'ed25519'] as const) {
    test(`${algorithm}: the record printed by "relais dkim add" verifies the signature, also after refolding`, async () => {
      const domain = `${algorithm}-signed.test`;
      const key = await addKey(domain, '--algorithm', algorithm);
      assert.equal(key.name, `${key.selector}._domainkey.${domain}`);
      assert.ok(key.strings.every((s) => s.length <= 255), 'each TXT string is at most 255 characters');
      if (algorithm === 'rsa') assert.ok(key.strings.length > 1, 'a 2048-bit RSA key needs more than one string');
      assert.match(key.value, new RegExp(`^v=DKIM1; k=${algorithm}; p=`));
      await publish({ [key.name]: key.strings });

      const raw = await sendAndReceive({ from: `Newsletter <news@${domain}>` });
      const signatures = headers(raw).filter((f) => f.name === 'dkim-signature');
      assert.equal(signatures.length, 1, raw.toString());
      const signature = (signatures[0] as { value: string }).value;
      assert.equal(tag(signature, 'd'), domain);
      assert.equal(tag(signature, 'c'), 'relaxed/relaxed');
      assert.equal(tag(signature, 'a'), `${algorithm}-sha256`);
      const signed = tag(signature, 'h').toLowerCase().split(':');
      for (const name of ['from', 'to', 'subject', 'date', 'message-id']) assert.ok(signed.includes(name), `${name} is signed (h=${signed.join(':')})`);
      assert.ok(!signed.includes('received'), 'Received is never signed: it changes in transit');

      const result = await verify(raw);
      assert.deepEqual(
        result.results.map((r) => [r.signingDomain, r.status.result]),
        [[domain, 'pass']],
        JSON.stringify(result.results.map((r) => r.status)),
      );
      const refolded = refold(raw);
      assert.notDeepEqual(refolded, raw);
      const again = await verify(refolded);
      assert.deepEqual(again.results.map((r) => [r.signingDomain, r.status.result]), [[domain, 'pass']], JSON.stringify(again.results.map((r) => r.status)));

      // The verifier is not fooled: a changed subject fails.
      const tampered = Buffer.from(raw.toString('latin1').replace(/^Subject:.*$/m, 'Subject: Invoice overdue'), 'latin1');
      assert.equal((await verify(tampered)).results[0]?.status.result, 'fail');
    });
  }

  test('a message already signed for its domain keeps that signature and is not signed again', async () => {
    const domain = 'presigned.test';
    const key = await addKey(domain, '--selector', 'relais');
    const own = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ownPublic = own.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    await publish({ [key.name]: key.strings, [`customer._domainkey.${domain}`]: [`v=DKIM1; k=rsa; p=${ownPublic}`] });
    const message =
      `From: Shop <shop@${domain}>\r\nTo: reader@rcpt.test\r\nSubject: Your order\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n` +
      `Message-ID: <order-1@${domain}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThank you for your order.\r\n`;
    const customerKey = {
      signingDomain: domain,
      selector: 'customer',
      privateKey: own.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      canonicalization: 'relaxed/relaxed',
    };
    const ownSignature = await dkimSign(message, { ...customerKey, signatureData: [customerKey] });
    assert.match(ownSignature.signatures, /^DKIM-Signature: /);
    const raw = await sendAndReceive({ from: `shop@${domain}`, raw: ownSignature.signatures + message });
    const signatures = headers(raw).filter((f) => f.name === 'dkim-signature');
    assert.equal(signatures.length, 1, raw.toString());
    assert.equal(tag((signatures[0] as { value: string }).value, 's'), 'customer');
    const result = await verify(raw);
    assert.deepEqual(result.results.map((r) => [r.signingDomain, r.selector, r.status.result]), [[domain, 'customer', 'pass']]);
  });

  test('a message whose From domain has no key goes out unsigned', async () => {
    const raw = await sendAndReceive({ from: 'someone@unsigned.test' });
    assert.equal(headers(raw).filter((f) => f.name === 'dkim-signature').length, 0, raw.toString());
  });

  test('a key that cannot be opened refuses the message with 451 rather than sending it unsigned', async () => {
    await addKey('broken.test', '--algorithm', 'ed25519');
    const db = new Database(world.relay.config.store.url.slice('sqlite:'.length));
    try {
      // What a restored row from another installation, or a damaged one, looks like to the relay.
      db.prepare("UPDATE dkim_keys SET private_key_sealed = 'v1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:AAAA' WHERE domain = 'broken.test'").run();
    } finally {
      db.close();
    }
    const receiver = world.receiver(RECEIVER);
    const before = receiver.messages.length;
    await assert.rejects(
      sendWithNodemailer({ port: world.relay.port('submission'), username: world.sender.username, password: world.sender.password, from: 'a@broken.test', to: ['reader@rcpt.test'] }),
      (error: Error & { responseCode?: number; response?: string }) => {
        assert.equal(error.responseCode, 451);
        assert.match(error.response ?? '', /^451 4\.3\.0 Temporary failure signing the message \(DKIM\); try again later/);
        return true;
      },
    );
    assert.ok(world.relay.log.find('dkim_error').some((l) => /broken\.test/.test(String(l.error))), 'the log says why');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.messages.length, before, 'nothing was queued');
  });

  test('"relais dkim list" shows the keys and their records; "relais dkim remove" deletes one', async () => {
    await addKey('removed.test', '--algorithm', 'ed25519');
    const list = await relais('dkim', 'list', '--json');
    assert.equal(list.code, 0, list.stderr);
    const keys = JSON.parse(list.stdout) as { domain: string; algorithm: string; name: string; value: string }[];
    assert.ok(keys.some((k) => k.domain === 'rsa-signed.test' && k.algorithm === 'rsa' && k.value.startsWith('v=DKIM1; k=rsa; p=')));
    assert.ok(keys.some((k) => k.domain === 'removed.test' && k.algorithm === 'ed25519'));
    const text = await relais('dkim', 'list');
    assert.match(text.stdout, /^DOMAIN\s+SELECTOR\s+ALGORITHM\s+CREATED\s+TXT NAME/);
    assert.equal((await relais('dkim', 'remove', 'removed.test')).code, 0);
    const gone = await relais('dkim', 'remove', 'removed.test');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /removed\.test has no DKIM key/);
    const twice = await relais('dkim', 'add', 'rsa-signed.test');
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /already has a DKIM key .*relais dkim remove rsa-signed\.test/);
    const bad = await relais('dkim', 'add', 'not a domain');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not a domain name/);
  });

  test('keys are encrypted at rest: the stored row holds no PEM, and only the secrets key opens it', async () => {
    await addKey('at-rest.test');
    const url = world.relay.config.store.url;
    const db = new Database(url.slice('sqlite:'.length), { readonly: true });
    try {
      // broken.test's row was damaged on purpose by the test above.
      const rows = db.prepare("SELECT * FROM dkim_keys WHERE domain <> 'broken.test'").all() as Record<string, unknown>[];
      assert.ok(rows.some((r) => r.domain === 'at-rest.test'));
      for (const row of rows) {
        const text = JSON.stringify(row);
        assert.doesNotMatch(text, /PRIVATE KEY|BEGIN/);
        const sealed = String(row.private_key_sealed);
        assert.match(sealed, /^v1:/);
        const keyFile = path.join(world.relay.dir, 'secret.key');
        assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
        const box = new SecretBox(Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'hex'));
        assert.match(box.open(sealed, `dkim:${row.domain}:${row.selector}`), /^-----BEGIN PRIVATE KEY-----/);
      }
    } finally {
      db.close();
    }
  });

  test('a relay whose secrets key file is missing or wrong refuses to start, saying which file and what to do', async () => {
    const base = { hostname: 'relay.test', data_dir: world.relay.dir, store: { url: world.relay.config.store.url }, delivery: { enabled: false } };
    const listen = { submission: ['127.0.95.40:0'], smtps: ['127.0.95.40:0'], smtp: ['127.0.95.40:0'] };
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-dkim-key-'));
    try {
      const missing = path.join(elsewhere, 'missing.key');
      await assert.rejects(
        startRelay(parseConfig({ ...base, listen, secrets: { key_file: missing } }), { logger: captureLog().logger }),
        new RegExp(`secrets key file ${missing} is missing, but the store holds DKIM keys.*restore the file`),
      );
      assert.equal(fs.existsSync(missing), false, 'no new key is made when the store holds keys sealed with another');
      const wrong = path.join(elsewhere, 'wrong.key');
      fs.writeFileSync(wrong, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
      await assert.rejects(
        startRelay(parseConfig({ ...base, listen, secrets: { key_file: wrong } }), { logger: captureLog().logger }),
        new RegExp(`secrets key file ${wrong} does not open the stored DKIM key of .*not the file the keys were encrypted with`),
      );
      const garbage = path.join(elsewhere, 'garbage.key');
      fs.writeFileSync(garbage, 'not a key\n');
      const cli = await runCli(['dkim', 'add', 'another.test', '--config', configFile], {});
      assert.equal(cli.code, 0, cli.stderr);
      const out = await runCli(['dkim', 'add', 'third.test', '--config', writeConfig(elsewhere, `data_dir: ${world.relay.dir}\nstore: { url: "${world.relay.config.store.url}" }\nsecrets: { key_file: ${garbage} }`)]);
      assert.equal(out.code, 1);
      assert.match(out.stderr, new RegExp(`secrets key file ${garbage} does not hold a 256-bit key`));
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('DKIM key store on SQLite and PostgreSQL', () => {
  for (const kind of ['sqlite', 'postgres'] as const) {
    test(`${kind}: one key per domain, found, listed and removed`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-dkim-store-'));
      const pg = kind === 'postgres' ? await createTestDatabase() : undefined;
      const store = await Store.open(pg ? pg.url : `sqlite:${path.join(dir, 'relais.db')}`, Date.now());
      try {
        const key = { domain: 'a.test', selector: 's1', algorithm: 'rsa' as const, publicKey: 'PUB', privateKeySealed: 'v1:x:y:z', createdAt: 1_000 };
        const added = await store.dkim.add(key);
        assert.deepEqual({ ...added, id: 0 }, { ...key, id: 0 });
        assert.equal(await store.dkim.add({ ...key, selector: 's2' }), null);
        await store.dkim.add({ ...key, domain: 'b.test', algorithm: 'ed25519' });
        assert.deepEqual((await store.dkim.list()).map((k) => [k.domain, k.algorithm]), [['a.test', 'rsa'], ['b.test', 'ed25519']]);
        assert.equal((await store.dkim.find('b.test'))?.algorithm, 'ed25519');
        assert.equal((await store.dkim.sample())?.domain, 'a.test');
        assert.equal(await store.dkim.remove('a.test'), true);
        assert.equal(await store.dkim.remove('a.test'), false);
        assert.equal(await store.dkim.find('a.test'), undefined);
      } finally {
        await store.close();
        await pg?.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
