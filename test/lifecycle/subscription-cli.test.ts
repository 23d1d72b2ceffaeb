import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, writeConfig } from '../support/relay-process.js';

/** The subscription commands as staff type them, on the shipped term (1y) and notice defaults. */
describe('relais subscribe, subscription, renewal, sheet, lifecycle run', () => {
  let dir: string;
  let config: string;
  const relais = (...args: string[]) => runCli([...args, '--config', config]);
  const json = async <T>(...args: string[]): Promise<T> => {
    const out = await relais(...args, '--json');
    assert.equal(out.code, 0, out.stderr);
    return JSON.parse(out.stdout) as T;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-subscriptions-'));
    config = writeConfig(
      dir,
      [
        'hostname: smtp.provider.test',
        `data_dir: ${dir}`,
        'listen: { submission: ["0.0.0.0:587"], smtps: ["0.0.0.0:465"], smtp: [] }',
        'offers: { start: { quota: 1000, price: "60.00 EUR" }, pro: { quota: 10000, price: "240.00 EUR" }, dollars: { quota: 50000, price: "900.00 USD" } }',
        'provider: { name: "Example Hosting", from: billing@provider.test, support_email: support@provider.test, console_url: "https://console.provider.test" }',
      ].join('\n'),
    );
    assert.equal((await relais('init')).code, 0);
    assert.equal((await relais('customer', 'add', 'Dupont SARL', '--email', 'compta@dupont.test', '--lang', 'fr')).code, 0);
    assert.equal((await relais('credential', 'add', '--customer', 'Dupont SARL', '--username', 'dupont')).code, 0);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('subscribe on the shipped one-year term, stack a second one, list and show', async () => {
    const s = await json<{ id: number; term_start: string; term_end: string; quota: number; status: string }>(
      'subscribe', '--credential', 'dupont', '--offer', 'start', '--start', '2026-11-29', '--actor', 'alice',
    );
    assert.equal(s.term_start, '2026-11-29T00:00:00.000Z');
    assert.equal(s.term_end, '2027-11-29T00:00:00.000Z', 'a calendar year: the last day covered is 2027-11-28');
    assert.equal(s.status, 'active');
    await json('subscribe', '--credential', 'dupont', '--offer', 'start');
    const quota = await json<{ quota: number }>('usage', 'dupont');
    assert.equal(quota.quota, 2000, 'two subscriptions on one credential add up');
    const list = await json<{ id: number; credential: string }[]>('subscription', 'list', '--customer', 'Dupont SARL');
    assert.equal(list.length, 2);
    const shown = await json<{ notices: { kind: string; queue_id: string }[] }>('subscription', 'show', String(s.id));
    assert.deepEqual(shown.notices.map((n) => n.kind), ['subscribed']);
    const queued = await relais('queue', 'show', shown.notices[0]?.queue_id as string);
    assert.match(queued.stdout, /billing@provider\.test/, 'from provider.from');
    assert.match(queued.stdout, /compta@dupont\.test/, 'the set-up notice is queued to the contact');
  });

  test('upgrade is charged pro rata; a downgrade names the next term; mismatched offers are refused with the reason', async () => {
    const [s] = await json<{ id: number }[]>('subscription', 'list', '--credential', 'dupont');
    assert.ok(s);
    const up = await json<{ offer: string; quota: number; charge: string }>('subscription', 'upgrade', String(s.id), '--offer', 'pro', '--actor', 'alice');
    assert.equal(up.offer, 'pro');
    assert.match(up.charge, /^\d+\.\d{2} EUR$/);
    const charges = await relais('charges', '--customer', 'Dupont SARL');
    assert.match(charges.stdout, /upgrade/);
    const smaller = await relais('subscription', 'upgrade', String(s.id), '--offer', 'start');
    assert.equal(smaller.code, 1);
    assert.match(smaller.stderr, /is not bigger than "pro".*downgrade/);
    const down = await json<{ next_offer: string }>('subscription', 'downgrade', String(s.id), '--offer', 'start');
    assert.equal(down.next_offer, 'start');
    const unknown = await relais('subscribe', '--credential', 'dupont', '--offer', 'gold');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no offer named "gold": the offers are "start", "pro", "dollars"/);
    const noCredential = await relais('subscribe', '--credential', 'nobody', '--offer', 'start');
    assert.match(noCredential.stderr, /no credential "nobody"/);
    const badId = await relais('subscription', 'show', 'x1');
    assert.match(badId.stderr, /"x1" is not a subscription id/);
    const badLang = await relais('customer', 'add', 'Other', '--email', 'o@other.test', '--lang', 'de');
    assert.match(badLang.stderr, /--lang "de" is not a language Relais writes notices in: use en or fr/);
  });

  test('the sheet from the CLI holds every parameter and no password; lifecycle run twice does nothing twice', async () => {
    const file = path.join(dir, 'sheet.pdf');
    const out = await relais('sheet', 'dupont', '--out', file);
    assert.equal(out.code, 0, out.stderr);
    const text = execFileSync('pdftotext', ['-layout', file, '-']).toString().replace(/\s+/g, ' ');
    for (const expected of ['Fiche de paramètres techniques', "Nom d'utilisateur SMTP: dupont", 'Nom du serveur: smtp.provider.test', '587 (STARTTLS)', '465 (TLS implicite)', 'include:_spf.smtp.provider.test', '11000 destinataires', 'Offre: pro (10000)', 'Offre: start (1000)']) {
      assert.ok(text.includes(expected), `the sheet says "${expected}":\n${text}`);
    }
    const again = await relais('sheet', 'dupont', '--out', file);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists: give --out a new file name/);
    const first = await json<{ orders: number }>('lifecycle', 'run');
    const second = await json<{ orders: number; reminders: number; renewed: number; expired: number }>('lifecycle', 'run');
    assert.deepEqual(second, { orders: 0, reminders: 0, renewed: 0, expired: 0 });
    assert.equal(first.orders, 0, 'a year away from the end, no renewal order yet');
  });
});
