import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ManualClock } from '../../src/shared/clock.js';
import { launchChromium } from '../support/browser.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient } from '../support/smtp-clients.js';

const MINUTE = 60_000;
const ADDRESS = '127.0.104.2';

/**
 * The subscription lifecycle as customers and staff see it in the console, in Chromium at phone width: the
 * parameter sheet download (no password), a new SMTP password made by the customer, the "expired" banner after a
 * term that was not renewed, and staff validating the renewal order, which lifts it.
 */
describe('subscriptions in the console', () => {
  const start = Date.UTC(2026, 10, 29, 9, 0);
  const clock = new ManualClock(start);
  let t: TestRelay;
  let browser: Browser;
  let staff: BrowserContext;
  let customer: BrowserContext;
  let base: string;
  let username: string;
  let password: string;
  const logins = { staff: { email: 'ops@provider.test', password: '' }, customer: { email: 'it@dupont.test', password: '' } };

  before(async () => {
    t = await startTestRelay({
      clock,
      address: ADDRESS,
      overrides: {
        listen: { console: [`${ADDRESS}:0`] },
        offers: { start: { quota: 3, price: '60.00 EUR' }, pro: { quota: 10, price: '120.00 EUR' } },
        lifecycle: { term: '10m', renewal_notice_before: '4m', reminder_before: '2m', downgrade_notice: '3m' },
        fees: { late_reinstatement: '25.00 EUR' },
        provider: { name: 'Example Hosting', from: 'billing@provider.test', support_email: 'support@provider.test', console_url: 'https://console.provider.test' },
      },
    });
    base = `http://${ADDRESS}:${t.port('console')}`;
    await t.relay.accounts.addCustomer('Dupont SARL', 'compta@dupont.test');
    ({ credential: { username }, password } = await t.relay.accounts.addCredential('Dupont SARL'));
    logins.staff.password = (await t.relay.logins.add(logins.staff.email, null)).password;
    logins.customer.password = (await t.relay.logins.add(logins.customer.email, 'Dupont SARL')).password;
    browser = await launchChromium();
    staff = await browser.newContext({ viewport: { width: 360, height: 740 } });
    customer = await browser.newContext({ viewport: { width: 360, height: 740 } });
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  async function signedIn(context: BrowserContext, who: { email: string; password: string }, path: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${base}${path}`);
    if (page.url().startsWith(`${base}/login`)) {
      await page.fill('input[name=email]', who.email);
      await page.fill('input[name=password]', who.password);
      await Promise.all([page.waitForURL(`${base}${path}`), page.click('button[type=submit]')]);
    }
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `${path} scrolls sideways at 360 px (scrollWidth ${width})`);
    return page;
  }

  async function mailFrom(secret: string): Promise<string> {
    const client = await RawSmtpClient.connect(t.port('smtps'), { implicitTls: true, host: ADDRESS });
    try {
      const auth = await client.login(username, secret);
      if (!auth.startsWith('235 ')) return auth;
      return await client.command('MAIL FROM:<billing@dupont.test>');
    } finally {
      client.close();
    }
  }

  test('staff subscribe the credential from the console; the customer sees the term and downloads the sheet without a password', async () => {
    const page = await signedIn(staff, logins.staff, '/subscriptions');
    await page.fill('form[action="/subscriptions/subscribe"] input[name=credential]', username);
    await page.selectOption('form[action="/subscriptions/subscribe"] select[name=offer]', 'start');
    await page.click('form[action="/subscriptions/subscribe"] button');
    assert.match(await page.locator('.flash').innerText(), new RegExp(`Credential "${username}" subscribed`));
    assert.match(await page.locator('[data-subscription="1"]').innerText(), /start[\s\S]*3 per 24 h[\s\S]*2026-11-29/);
    await page.close();

    const own = await signedIn(customer, logins.customer, '/subscriptions');
    assert.match(await own.locator('[data-subscription="1"]').innerText(), /start[\s\S]*active/);
    assert.equal(await own.locator('form').filter({ hasText: 'Upgrade' }).count(), 0, 'customers see no staff forms');
    await own.goto(`${base}/`);
    const download = await own.request.get(`${base}/credentials/${encodeURIComponent(username)}/sheet.pdf`);
    assert.equal(download.status(), 200);
    assert.equal(download.headers()['content-type'], 'application/pdf');
    const text = execFileSync('pdftotext', ['-layout', '-', '-'], { input: await download.body() }).toString().replace(/\s+/g, ' ');
    assert.ok(text.includes(`SMTP username: ${username}`), text);
    assert.ok(!text.includes(password), 'no password in the console download');
    const mailed = (await t.relay.store.subscriptions.noticesSent(1)).find((n) => n.kind === 'subscribed');
    assert.ok(mailed?.queueId, 'the set-up notice with the sheet was queued');
    const other = await own.request.get(`${base}/credentials/nobody-else/sheet.pdf`);
    assert.equal(other.status(), 404);
    await own.close();
  });

  test('the customer makes a new SMTP password: shown once, it works and the old one no longer does', async () => {
    const page = await signedIn(customer, logins.customer, '/');
    await page.locator(`section[data-credential="${username}"] form[action$="/password"] button`).click();
    const fresh = await page.locator('[data-field=password]').innerText();
    assert.match(fresh, /^[A-Za-z0-9]{22}$/);
    assert.match(await mailFrom(fresh), /^250 /);
    assert.match(await mailFrom(password), /^535 /);
    password = fresh;
    await page.close();
  });

  test('not renewed: the "expired" banner and the 550; staff validate the order and both go, with the late fee charged', async () => {
    clock.set(start + 10 * MINUTE);
    await t.relay.lifecycle.runNow();
    assert.match(await mailFrom(password), /^550 5\.7\.1 Sending suspended for this account \(expired since /);
    const home = await signedIn(customer, logins.customer, '/');
    const banner = await home.locator('#suspension').innerText();
    assert.match(banner, new RegExp(`suspended for credential ${username}`));
    assert.match(banner, /subscription term has ended/);
    assert.match(banner, /renewal order is paid and validated, sending resumes at once/);
    await home.close();

    const page = await signedIn(staff, logins.staff, '/subscriptions');
    const row = page.locator('[data-subscription="1"]');
    assert.match(await row.innerText(), /expired/);
    await row.locator('form[action$="/validate"] button').click();
    assert.match(await page.locator('.flash').innerText(), /Renewal order 1 validated/);
    assert.match(await page.locator('[data-subscription="1"]').innerText(), /active/);
    await page.close();

    assert.match(await mailFrom(password), /^250 /);
    const after = await signedIn(customer, logins.customer, '/');
    assert.equal(await after.locator('#suspension').count(), 0, 'the banner is gone');
    await after.goto(`${base}/charges`);
    assert.match(await after.locator('main').innerText(), /late_reinstatement[\s\S]*25\.00 EUR/);
    await after.close();
    const audit = await t.relay.audit.list({ action: 'renewal.validate' });
    assert.deepEqual(audit.map((e) => [e.actor, e.channel, e.subject]), [[logins.staff.email, 'console', username]]);
  });
});
