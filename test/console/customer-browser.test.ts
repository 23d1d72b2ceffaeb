import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { startDns, type DnsPeer } from '../peers/dns.js';
import { headersOnlyReport } from '../support/arf-reports.js';
import { addLogin, cliConfigFor } from '../support/console-web.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { runCli } from '../support/relay-process.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

// A customer's console in a real browser (Debian's chromium, no script on the pages), on a phone-sized screen,
// with mail submitted over SMTP by nodemailer until the relay refuses it for the quota.

const HOSTILE = '<script>alert(1)</script>';

describe('customer console in Chromium', () => {
  let relay: TestRelay;
  let dns: DnsPeer;
  let browser: Browser;
  let base: string;
  let alpha: { username: string; password: string; email: string; login: string; id: number };
  let hostile: { username: string; password: string; email: string; login: string };
  const dialogs: string[] = [];
  const shots = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-console-shots-'));

  before(async () => {
    dns = await startDns({
      address: '127.0.102.53',
      zones: {
        'alpha.test': { txt: ['v=spf1 include:_spf.relay.test ~all'] },
        '_dmarc.alpha.test': { txt: ['v=DMARC1; p=none'] },
        '_spf.relay.test': { txt: ['v=spf1 ip4:127.0.102.10 -all'] },
      },
    });
    relay = await startTestRelay({
      address: '127.0.102.3',
      overrides: {
        listen: { console: ['127.0.102.3:0'] },
        dns: { servers: [dns.server] },
        outbound: { ips: [{ address: '127.0.102.10' }] },
        fees: { reinstatement: '50.00 EUR' },
      },
    });
    base = `http://127.0.102.3:${relay.port('console')}`;
    const configFile = cliConfigFor(relay);
    const accounts = relay.relay.accounts;
    await accounts.addCustomer('Alpha Mail', 'ops@alpha.test');
    const a = await accounts.addCredential('Alpha Mail', 'alpha-app');
    await accounts.addPlan('alpha-app', { quota: 3 });
    await accounts.addCustomer(HOSTILE, 'ops@hostile.test');
    const h = await accounts.addCredential(HOSTILE, 'hostile-app');
    await accounts.addPlan('hostile-app', { quota: 10 });
    const aLogin = await addLogin(configFile, ['--customer', 'Alpha Mail', '--email', 'owner@alpha.test']);
    const hLogin = await addLogin(configFile, ['--customer', HOSTILE, '--email', 'owner@hostile.test']);
    alpha = { username: 'alpha-app', password: a.password, email: aLogin.email, login: aLogin.password, id: a.credential.id };
    hostile = { username: 'hostile-app', password: h.password, email: hLogin.email, login: hLogin.password };
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await relay?.stop();
    await dns?.stop();
    fs.rmSync(shots, { recursive: true, force: true });
  });

  async function signedInPage(email: string, password: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 360, height: 780 } });
    const page = await context.newPage();
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.goto(`${base}/login`);
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', password);
    await Promise.all([page.waitForURL(`${base}/`), page.click('main button[type=submit]')]);
    return { context, page };
  }

  const field = (page: Page, name: string) => page.locator(`[data-credential="alpha-app"] [data-field="${name}"]`).innerText();

  async function send(n: number, messageId: string): Promise<void> {
    await sendWithNodemailer({
      port: relay.port('submission'),
      host: '127.0.102.3',
      username: alpha.username,
      password: alpha.password,
      from: 'news@alpha.test',
      to: [`reader${n}@example.net`],
      raw: `From: News <news@alpha.test>\r\nTo: reader${n}@example.net\r\nSubject: Issue ${n}\r\nMessage-ID: ${messageId}\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\nHello ${n}\r\n`,
    });
  }

  test('the customer sees the 24-hour volume against the quota, then the quota banner with the time sending resumes', async () => {
    const { context, page } = await signedInPage(alpha.email, alpha.login);
    assert.equal(await page.locator('h1').first().innerText(), 'Alpha Mail');
    assert.equal(await field(page, 'sent'), '0');
    assert.equal(await field(page, 'quota'), '3');
    assert.equal(await page.locator('#suspension').count(), 0);

    await send(1, '<issue-1@alpha.test>');
    await send(2, '<issue-2@alpha.test>');
    await page.reload();
    assert.equal(await field(page, 'sent'), '2');
    assert.equal(await field(page, 'remaining'), '1');
    assert.equal(await page.locator('[data-credential="alpha-app"] svg.gauge').getAttribute('aria-label'), '2 of 3 sent in the last 24 hours');
    // The hourly chart's newest bar holds both messages.
    const bars = page.locator('[data-credential="alpha-app"] svg.bars rect');
    assert.equal(await bars.count(), 24);
    assert.match(await bars.nth(23).locator('title').textContent() ?? '', /: 2$/);

    // Send until the relay refuses for the quota (a 4xx at RCPT), as an application would see it.
    let refusal = '';
    for (let n = 3; n <= 10 && !refusal; n++) {
      try {
        await send(n, `<issue-${n}@alpha.test>`);
      } catch (error) {
        refusal = (error as Error).message;
      }
    }
    assert.match(refusal, /451 4\.7\.1 Sending quota of 3 recipients per 24 hours reached; next free at (\d{4}-\d\d-\d\d \d\d:\d\d UTC)/);
    const resumes = /next free at (\d{4}-\d\d-\d\d \d\d:\d\d UTC)/.exec(refusal)?.[1] as string;

    await page.reload();
    const banner = page.locator('#suspension');
    assert.equal(await banner.isVisible(), true);
    const text = await banner.innerText();
    assert.match(text, /Sending is suspended for credential alpha-app/);
    assert.match(text, /reason: quota/);
    assert.match(text, /since \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    assert.ok(text.includes(`resumes automatically at ${resumes}`), `${text} / ${resumes}`);
    assert.equal(await field(page, 'sent'), '3');
    assert.equal(await field(page, 'remaining'), '0');
    await page.screenshot({ path: path.join(shots, 'home-quota.png'), fullPage: true });
    assert.ok(fs.statSync(path.join(shots, 'home-quota.png')).size > 1000);
    await context.close();
  });

  test('a suspension staff must lift shows why and says to contact support; its charges show after reinstatement', async () => {
    // A complaint about one of its messages (matched by Message-ID) suspends the credential (shipped threshold: 1).
    const original = Buffer.from('From: News <news@alpha.test>\r\nMessage-ID: <issue-1@alpha.test>\r\nSubject: Issue 1\r\n\r\n');
    const intake = await relay.relay.complaints.receive(headersOnlyReport(original, { rcptTo: 'reader1@example.net', mailFrom: 'news@alpha.test' }), { channel: 'http', submittedBy: 'test' }, { keepUnparsed: false });
    assert.ok(intake.ok && intake.suspended);
    const { context, page } = await signedInPage(alpha.email, alpha.login);
    const text = await page.locator('#suspension').innerText();
    assert.match(text, /credential alpha-app.*reason: complaint/s);
    assert.match(text, /Contact support/);
    assert.doesNotMatch(text, /resumes automatically/);
    await page.goto(`${base}/complaints`);
    assert.match(await page.locator('table.complaints').innerText(), /reader1@example\.net/);

    await relay.relay.suspensions.reinstate(alpha.id, { actor: 'staff@relay.test', note: 'customer cleaned its list' });
    await page.goto(`${base}/charges`);
    assert.match(await page.locator('table.charges').innerText(), /50\.00 EUR/);
    assert.match(await page.locator('main').innerText(), /Total: 50\.00 EUR/);
    await context.close();
  });

  test('messages: search by recipient, sender and Message-ID, and each message with its recipients', async () => {
    const { context, page } = await signedInPage(alpha.email, alpha.login);
    await page.goto(`${base}/messages`);
    assert.equal(await page.locator('table.messages tbody tr').count(), 3);
    await page.fill('input[name=q]', 'reader2@');
    await Promise.all([page.waitForURL(/q=reader2/), page.click('form.search button[type=submit]')]);
    assert.equal(await page.locator('table.messages tbody tr').count(), 1);
    await page.goto(`${base}/messages?message_id=${encodeURIComponent('<issue-3@alpha.test>')}`);
    assert.equal(await page.locator('table.messages tbody tr').count(), 1);
    await page.goto(`${base}/messages?sender=nobody@alpha.test`);
    assert.match(await page.locator('main').innerText(), /No messages/);
    await page.goto(`${base}/messages?recipient=reader1`);
    await Promise.all([page.waitForURL(/\/messages\/[^?]+$/), page.locator('table.messages a').first().click()]);
    const detail = await page.locator('table.recipients').innerText();
    assert.match(detail, /reader1@example\.net\s+queued/);
    assert.match(await page.locator('main').innerText(), /<issue-1@alpha\.test>/);
    await context.close();
  });

  test('another customer cannot open the first one\'s messages, domains or search results; its hostile name renders as text', async () => {
    const [alphaMessage] = await relay.relay.store.listQueue({ username: 'alpha-app', limit: 1 });
    assert.ok(alphaMessage);
    const { context, page } = await signedInPage(hostile.email, hostile.login);
    // The name is text in the heading and the header, not markup, and no script ran.
    assert.equal(await page.locator('main h1').innerText(), HOSTILE);
    assert.ok((await page.locator('header').innerText()).includes(HOSTILE));
    assert.ok((await page.content()).includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.deepEqual(dialogs, []);
    assert.ok(!(await page.locator('body').innerText()).includes('alpha-app'));

    const message = await page.goto(`${base}/messages/${alphaMessage.id}`);
    assert.equal(message?.status(), 404);
    assert.ok(!(await page.locator('body').innerText()).includes('reader'));
    const missing = await page.goto(`${base}/messages/NOSUCHID`);
    assert.equal(missing?.status(), 404);
    for (const search of ['q=reader', 'q=alpha', `q=${alphaMessage.id}`, 'recipient=reader1', 'sender=news%40alpha.test', 'message_id=issue-1']) {
      await page.goto(`${base}/messages?${search}`);
      assert.equal(await page.locator('table.messages').count(), 0, search);
    }
    assert.equal((await page.goto(`${base}/domains/alpha.test`))?.status(), 404);
    for (const p of ['/domains', '/complaints', '/charges', '/']) {
      await page.goto(`${base}${p}`);
      const body = await page.locator('body').innerText();
      assert.ok(!/alpha/i.test(body), `${p} shows the other customer's data: ${body}`);
    }
    // Staff pages are 404 for a customer (as if they did not exist).
    assert.equal((await page.goto(`${base}/audit`))?.status(), 404);
    assert.deepEqual(dialogs, []);
    await context.close();

    // The API on this branch: the complaints intake is for staff tokens only; a customer token gets 403, none 401.
    const configFile = cliConfigFor(relay);
    const token = await runCli(['token', 'add', '--name', 'hostile-token', '--customer', HOSTILE, '--json', '--config', configFile]);
    assert.equal(token.code, 0, token.stderr);
    const secret = (JSON.parse(token.stdout) as { token: string }).token;
    const post = (headers: Record<string, string>) => fetch(`${base}/api/v1/complaints`, { method: 'POST', headers: { 'content-type': 'message/rfc822', ...headers }, body: 'x' });
    assert.equal((await post({})).status, 401);
    assert.equal((await post({ authorization: `Bearer ${secret}` })).status, 403);
  });

  test('at 360 px no customer page scrolls sideways', async () => {
    const { context, page } = await signedInPage(alpha.email, alpha.login);
    const [m] = await relay.relay.store.listQueue({ username: 'alpha-app', limit: 1 });
    const pages = ['/', '/messages', `/messages/${m?.id}`, '/messages?q=reader', '/domains', '/domains/alpha.test', '/complaints', '/charges'];
    for (const p of pages) {
      const response = await page.goto(`${base}${p}`);
      assert.equal(response?.status(), 200, p);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 360, `${p} is ${width} px wide at a 360 px viewport`);
      await page.screenshot({ path: path.join(shots, `${p.replace(/[^a-z0-9]+/gi, '_')}.png`), fullPage: true });
    }
    // The domain check asked the DNS: SPF passes through the relay's include, DKIM has no key yet.
    await page.goto(`${base}/domains/alpha.test`);
    const checks = await page.locator('table.checks').innerText();
    assert.match(checks, /SPF\s+pass/);
    // DKIM keys are made by staff: the customer is told what to ask, not a command it cannot run.
    assert.match(checks, /DKIM\s+no-key\s+.*Ask support to create a DKIM key for alpha\.test/s);
    assert.doesNotMatch(checks, /relais dkim add/);
    await page.goto(`${base}/`);
    await page.screenshot({ path: path.join(shots, 'home-360.png'), fullPage: true });
    if (process.env.RELAIS_KEEP_SCREENSHOTS) fs.cpSync(shots, process.env.RELAIS_KEEP_SCREENSHOTS, { recursive: true });
    await context.close();
  });
});
