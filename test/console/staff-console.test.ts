import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import YAML from 'yaml';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { runCli } from '../support/relay-process.js';
import { openAuthenticated, sendOn, sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * The staff side of the web console, driven by Chromium against a real relay: staff sign in, add a customer
 * with a credential, plans and a login, suspend a credential with a note (the customer's SMTP submission is
 * refused, the history has it), release its held mail, delete a message, reinstate; the audit page lists each
 * action with its actor and channel. Customers get 404 on every staff page, forms without the CSRF token get
 * 403, and no staff page scrolls sideways at 360 px.
 */
const ADDRESSES = { sqlite: '127.0.103.1', postgres: '127.0.103.2' } as const;
const OUTBOUND = ['127.0.103.30', '127.0.103.31'] as const;
const STAFF_PAGES = ['/', '/customers', '/suspensions', '/queue', '/ips', '/audit'];
const STAFF_FORMS = ['/customers', '/suspensions/suspend', '/suspensions/decide', '/queue/retry', '/queue/delete', '/queue/release'];

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(() => browser?.close());

for (const store of ['sqlite', 'postgres'] as const) {
  describe(`staff console (${store})`, () => {
    let relay: TestRelay;
    let configFile: string;
    let base: string;
    let sender: { username: string; password: string };
    let customerName: string;
    const staff = { email: `staff-${store}@relais.test`, password: '' };
    const customer = { email: `ops-${store}@customer.test`, password: '' };
    let staffContext: BrowserContext;
    let customerContext: BrowserContext;
    let page: Page;
    // RELAIS_TEST_SCREENSHOTS=DIR keeps the 360 px screenshots for a person to look at; otherwise they go with the relay's dir.
    const shotDir = () => (process.env.RELAIS_TEST_SCREENSHOTS ? path.join(process.env.RELAIS_TEST_SCREENSHOTS, store) : path.join(relay.dir, 'screenshots'));

    const relais = async (...args: string[]) => {
      const out = await runCli([...args, '--config', configFile]);
      assert.equal(out.code, 0, `relais ${args.join(' ')}: ${out.stderr}`);
      return out.stdout;
    };
    const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await relais(...args, '--json')) as T;

    /** Opens a staff page and checks it fits a 360 px phone: no horizontal scrolling; a screenshot is kept. */
    const visit = async (url: string) => {
      const response = await page.goto(`${base}${url}`);
      assert.equal(response?.status(), 200, `GET ${url}`);
      await assertFitsPhone(url);
    };
    const assertFitsPhone = async (label: string) => {
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      fs.mkdirSync(shotDir(), { recursive: true });
      await page.screenshot({ path: path.join(shotDir(), `${label.replace(/\W+/g, '_') || 'home'}.png`), fullPage: true });
      assert.ok(width <= 360, `${label} scrolls sideways at 360 px (scrollWidth ${width})`);
    };
    const flash = () => page.locator('.flash').innerText();
    const signIn = async (context: BrowserContext, who: { email: string; password: string }) => {
      const p = await context.newPage();
      await p.goto(`${base}/login`);
      // A context signed in already is sent on to the home page.
      if (p.url() === `${base}/`) return p;
      await p.fill('input[name=email]', who.email);
      await p.fill('input[name=password]', who.password);
      await Promise.all([p.waitForURL(`${base}/`), p.click('button[type=submit]')]);
      return p;
    };
    /** AUTH on a fresh connection, then MAIL FROM: the error reply, or null when the mail went through. */
    /** The recipients' states of a queued message, as the store has them (undefined once deleted). */
    const recipientStates = async (id: string) => (await relay.relay.store.findMessage(id))?.recipients.map((r) => r.state);
    const mailFromReply = async () => {
      const connection = await openAuthenticated({ port: relay.port('submission'), ...sender });
      try {
        await sendOn(connection, 'sender@customer.test', ['someone@example.test'], 'Subject: x\r\n\r\nx\r\n');
        return null;
      } catch (error) {
        return (error as { response?: string }).response ?? String(error);
      } finally {
        connection.close();
      }
    };

    before(async () => {
      relay = await startTestRelay({ store, overrides: {
          listen: { console: [`${ADDRESSES[store]}:0`] },
          fees: { reinstatement: '50.00 EUR' },
          // Two outbound addresses (delivery is off: never bound) monitored in one zone; the monitor's lookups go to
          // an address where no DNS server answers, so they fail and change nothing: the test writes the listings.
          outbound: { ips: [{ address: OUTBOUND[0] }, { address: OUTBOUND[1] }] },
          dnsbl: { ip_zones: ['bl.test'] },
          dns: { servers: ['127.0.103.99'], timeout: '1s' },
        },
      });
      base = `http://${ADDRESSES[store]}:${relay.port('console')}`;
      configFile = path.join(relay.dir, 'relais.yaml');
      fs.writeFileSync(configFile, YAML.stringify({ hostname: 'relay.test', data_dir: relay.dir, store: { url: relay.config.store.url } }));
      sender = await relay.addSender(1000);
      customerName = (await relay.relay.accounts.credential(sender.username)).customerName;
      staff.password = (await json<{ password: string }>('login', 'add', '--staff', '--email', staff.email, '--actor', 'root')).password;
      customer.password = (await json<{ password: string }>('login', 'add', '--customer', customerName, '--email', customer.email)).password;
      staffContext = await browser.newContext({ viewport: { width: 360, height: 740 } });
      customerContext = await browser.newContext({ viewport: { width: 360, height: 740 } });
      page = await signIn(staffContext, staff);
    });
    after(async () => {
      await staffContext?.close();
      await customerContext?.close();
      await relay?.stop();
    });

    test('staff add a customer, a credential (password shown once), stacked plans and a login', async () => {
      const dialogs: string[] = [];
      page.on('dialog', (d) => (dialogs.push(d.message()), void d.dismiss()));
      await visit('/');
      assert.equal(await page.locator('h1').innerText(), 'Overview');
      await visit('/customers');
      await page.fill('form[action="/customers"] input[name=name]', '<script>alert(1)</script> Ltd');
      await page.fill('form[action="/customers"] input[name=email]', 'billing@newco.test');
      await page.click('form[action="/customers"] button');
      assert.match(page.url(), /\/customers\/\d+\?done=customer\.add/);
      assert.equal(await page.locator('h1').innerText(), '<script>alert(1)</script> Ltd', 'the name renders as text');
      assert.match(await flash(), /Customer "<script>alert\(1\)<\/script> Ltd" added\./);
      await assertFitsPhone('customer');
      const customerPage = page.url().split('?')[0] as string;

      await page.fill('form[action$="/credentials"] input[name=username]', `newco-${store}`);
      await page.click('form[action$="/credentials"] button');
      assert.equal(await page.locator('h1').innerText(), 'Credential created');
      const password = await page.locator('code[data-field=password]').innerText();
      assert.match(password, /^\S{12,}$/);
      await assertFitsPhone('credential-created');
      // Shown once: the customer's page never shows it again.
      await page.goto(customerPage);
      assert.ok(!(await page.content()).includes(password));

      for (const quota of ['7', '5']) {
        await page.fill('form[action$="/plans"] input[name=quota]', quota);
        await page.fill('form[action$="/plans"] input[name=days]', '30');
        await page.click('form[action$="/plans"] button');
        assert.match(await flash(), new RegExp(`Plan added to credential "newco-${store}"`));
      }
      const card = page.locator(`section[data-credential="newco-${store}"]`);
      assert.match(await card.innerText(), /Sent 0 of 12 over the sliding window/, 'plans running at the same time add up');
      assert.equal(await card.locator('tbody tr').count(), 2);
      // The new credential sends, within its quota.
      const sent = await sendWithNodemailer({ port: relay.port('submission'), username: `newco-${store}`, password, from: 'a@newco.test', to: ['b@example.test'] });
      assert.match(sent.response, /^250 /);

      await page.fill('form[action$="/logins"] input[name=email]', `boss-${store}@newco.test`);
      await page.click('form[action$="/logins"] button');
      assert.equal(await page.locator('h1').innerText(), 'Login created');
      const loginPassword = await page.locator('code[data-field=password]').innerText();
      const logins = await relay.relay.logins.list();
      assert.ok(logins.some((l) => l.email === `boss-${store}@newco.test` && l.role === 'customer' && l.customer === '<script>alert(1)</script> Ltd'));
      const bossContext = await browser.newContext();
      try {
        const boss = await signIn(bossContext, { email: `boss-${store}@newco.test`, password: loginPassword });
        assert.equal((await boss.goto(`${base}/customers`))?.status(), 404);
      } finally {
        await bossContext.close();
      }
      assert.deepEqual(dialogs, [], 'no script ran');
    });

    test("staff suspend a customer's credential with a note: SMTP refuses it with the 550, the history has it", async () => {
      const queued = await sendWithNodemailer({ port: relay.port('submission'), ...sender, from: 'sender@customer.test', to: ['held@example.test'] });
      const queueId = /queued as (\w+)/.exec(queued.response)?.[1] as string;
      await visit('/suspensions');
      await page.selectOption('form[action="/suspensions/suspend"] select[name=credential]', sender.username);
      await page.selectOption('form[action="/suspensions/suspend"] select[name=reason]', 'manual');
      await page.fill('form[action="/suspensions/suspend"] textarea[name=note]', 'Spam run <b>reported</b> by phone');
      await page.click('form[action="/suspensions/suspend"] button');
      assert.equal(await flash(), `Credential "${sender.username}" suspended; 1 queued message(s) held.`);
      const section = page.locator(`section[data-suspended="${sender.username}"]`);
      const text = await section.innerText();
      assert.match(text, /manual/);
      assert.match(text, /Note: Spam run <b>reported<\/b> by phone/);
      assert.match(text, new RegExp(`since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ · by ${staff.email.replace(/\./g, '\\.')}`));
      await assertFitsPhone('suspensions-with-one');

      const [event] = (await json<{ event: string; reason: string; actor: string; note: string; at: string }[]>('history', sender.username)).filter((e) => e.event === 'suspended');
      assert.equal(event?.actor, staff.email);
      assert.equal(event?.note, 'Spam run <b>reported</b> by phone');
      const since = `${event?.at.slice(0, 19)}Z`;
      assert.equal(await mailFromReply(), `550 5.7.1 Sending suspended for this account (manual since ${since}); contact support`);
      assert.deepEqual(await recipientStates(queueId), ['held']);

      // The customer signs in and sees its own home, not the staff overview, with the suspension banner on top.
      const own = await signIn(customerContext, customer);
      assert.notEqual(await own.locator('h1').innerText(), 'Overview');
      const banner = await own.locator('#suspension').innerText();
      assert.ok(banner.includes(sender.username), banner);
      assert.match(banner, new RegExp(`since ${since.slice(0, 16).replace('T', ' ')}`));
      assert.match(banner, /contact support/i);
      await own.close();

      // Queue: the held mail is listed with its credential; staff release it (the suspension stays).
      await visit('/queue');
      const held = page.locator(`tr[data-held="${sender.username}"]`);
      await held.locator('input[name=note]').fill('invoices, not spam');
      await held.locator('button').click();
      assert.equal(await flash(), `Held mail of "${sender.username}" released (1 message(s)); the suspension stays.`);
      assert.deepEqual(await recipientStates(queueId), ['queued']);
      assert.match((await mailFromReply()) ?? '', /^550 5\.7\.1 Sending suspended/);

      // Search by recipient (part of it, any case), then retry and delete from the result.
      await visit('/queue?by=recipient&q=HELD@example');
      assert.equal(await page.locator(`[data-message="${queueId}"]`).count(), 1);
      await assertFitsPhone('queue-search');
      await visit(`/queue?by=sender&q=${encodeURIComponent('sender@customer')}`);
      assert.equal(await page.locator(`[data-message="${queueId}"]`).count(), 1);
      await visit(`/queue?by=id&q=${queueId}`);
      await page.locator(`[data-message="${queueId}"] form[action="/queue/retry"] button`).click();
      assert.equal(await flash(), `Message ${queueId}: 1 pending recipient(s) due now.`);
      await visit(`/queue?by=id&q=${queueId}`);
      await page.locator(`[data-message="${queueId}"] form[action="/queue/delete"] button`).click();
      assert.equal(await flash(), `Message ${queueId} deleted from the queue.`);
      assert.equal(await recipientStates(queueId), undefined, 'the message is gone');
      await visit('/queue?by=id&q=%25');
      assert.match(await page.locator('main').innerText(), /No message in the queue matches/, 'a % is searched for, not a wildcard');
    });

    test('a refusal keeps the suspension; staff reinstate and it goes away', async () => {
      await visit('/suspensions');
      const section = page.locator(`section[data-suspended="${sender.username}"]`);
      await section.locator('textarea[name=note]').fill('second offence');
      await section.locator('button[value=refuse]').click();
      assert.equal(await flash(), `Reinstatement of "${sender.username}" refused: it stays suspended.`);
      assert.match(await section.innerText(), /Reinstatement refused .* second offence/);
      assert.match((await mailFromReply()) ?? '', /^550 5\.7\.1 Sending suspended/);

      await section.locator('textarea[name=note]').fill('customer cleaned up the list');
      await section.locator('button[value=reinstate]').click();
      assert.equal(await flash(), `Credential "${sender.username}" reinstated.`);
      assert.equal(await page.locator(`section[data-suspended="${sender.username}"]`).count(), 0);
      assert.equal(await mailFromReply(), null, 'mail flows again');
      const own = await signIn(customerContext, customer);
      assert.equal(await own.locator('#suspension').count(), 0, 'the banner is gone once reinstated');
      await own.close();
      const credentialId = (await relay.relay.accounts.credential(sender.username)).id;
      const events = (await relay.relay.suspensions.history(credentialId)).map((e) => [e.kind, e.actor, e.note]);
      assert.deepEqual(events.filter(([kind]) => kind === 'reinstatement_refused' || kind === 'reinstated'), [
        ['reinstatement_refused', staff.email, 'second offence'],
        ['reinstated', staff.email, 'customer cleaned up the list'],
      ]);
      const charges = (await relay.relay.suspensions.history(credentialId)).filter((e) => e.kind === 'charge');
      assert.deepEqual(charges.map((e) => e.detail), [{ fee: 'reinstatement', amount: '50.00', currency: 'EUR' }]);

      // Once more, reinstated waiving the fees: no new charge, the waiver is in the history.
      await page.selectOption('form[action="/suspensions/suspend"] select[name=credential]', sender.username);
      await page.selectOption('form[action="/suspensions/suspend"] select[name=reason]', 'complaint');
      await page.fill('form[action="/suspensions/suspend"] textarea[name=note]', 'one complaint too many');
      await page.click('form[action="/suspensions/suspend"] button');
      // The message that went through after the reinstatement is still queued (delivery is off here): held.
      assert.equal(await flash(), `Credential "${sender.username}" suspended; 1 queued message(s) held.`);
      await section.locator('textarea[name=note]').fill('goodwill');
      await section.locator('button[value=waive]').click();
      assert.equal(await flash(), `Credential "${sender.username}" reinstated without fees; 1 held message(s) released.`);
      const history = await relay.relay.suspensions.history(credentialId);
      assert.equal(history.filter((e) => e.kind === 'charge').length, 1, 'no charge for a waived reinstatement');
      assert.deepEqual(history.filter((e) => e.kind === 'reinstated').at(-1)?.detail?.waived_fees, [{ fee: 'reinstatement', amount: '50.00', currency: 'EUR' }]);

      // A mistake is refused with the reason, not a server error (the browser itself refuses an empty required note).
      const posted = await staffContext.request.post(`${base}/suspensions/suspend`, {
        form: { _csrf: await page.locator('input[name=_csrf]').first().inputValue(), credential: sender.username, reason: 'manual', note: ' ' },
      });
      assert.equal(posted.status(), 400);
      assert.match(await posted.text(), /write a note/);
    });

    test('the audit page lists every staff action with its actor and channel', async () => {
      await visit('/audit');
      // Each entry as [at, actor, channel, action, subject, customer], read from what the page shows.
      const rows = await page.locator('li.audit-entry').evaluateAll((items) =>
        items.map((li) => ['at', 'actor', 'channel', 'action', 'subject', 'customer'].map((k) => (li.querySelector(`[data-k=${k}]`) as HTMLElement | null)?.innerText.trim() ?? '')),
      );
      const find = (action: string) => rows.filter((r) => r[3] === action);
      for (const action of ['customer.add', 'credential.add', 'plan.add', 'login.add', 'credential.suspend', 'queue.release', 'queue.retry', 'queue.delete', 'credential.refuse', 'credential.reinstate']) {
        const hit = find(action).find((r) => r[1] === staff.email && r[2] === 'console');
        assert.ok(hit, `${action} by ${staff.email} through the console is listed`);
      }
      assert.equal(find('plan.add').length, 2);
      assert.equal(find('credential.suspend')[0]?.[4], sender.username);
      assert.equal(find('credential.suspend')[0]?.[5], customerName);
      // The CLI's own entries are there too, with theirs.
      assert.ok(find('login.add').some((r) => r[1] === 'root' && r[2] === 'cli' && r[4] === staff.email));
      await visit(`/audit?action=queue.delete&actor=${encodeURIComponent(staff.email)}`);
      assert.equal(await page.locator('li.audit-entry').count(), 1);
    });

    test('the address page shows each outbound address with its blocklist state and history', async () => {
      const blocklists = relay.relay.store.blocklists;
      const t0 = Date.now() - 3_600_000;
      await blocklists.recordIpAnswer(OUTBOUND[0], 'bl.test', { kind: 'listed', code: '127.0.0.2', reason: 'spam trap hit' }, t0);
      await blocklists.recordIpAnswer(OUTBOUND[0], 'bl.test', { kind: 'clear' }, t0 + 600_000);
      await blocklists.recordIpAnswer(OUTBOUND[0], 'bl.test', { kind: 'listed', code: '127.0.0.4', reason: 'listed <again>' }, t0 + 1_200_000);
      await visit('/ips');
      const listed = await page.locator(`tr[data-address="${OUTBOUND[0]}"]`).innerText();
      assert.match(listed, /listed\s+listed in bl\.test since \d{4}-\d\d-\d\dT[\d:]+Z \(127\.0\.0\.4\): listed <again>/);
      assert.match(await page.locator(`tr[data-address="${OUTBOUND[1]}"]`).innerText(), /active/);
      const history = await page.locator(`section[data-history="${OUTBOUND[0]}"] tbody tr`).allInnerTexts();
      assert.deepEqual(history.map((row) => row.split('\t').slice(1, 4)), [
        ['listed', 'bl.test', '127.0.0.4'],
        ['delisted', 'bl.test', '127.0.0.2'],
        ['listed', 'bl.test', '127.0.0.2'],
      ]);
      assert.match(await page.locator(`section[data-history="${OUTBOUND[1]}"]`).innerText(), /Never listed/);
    });

    test('a customer login gets 404 on every staff page and form', async () => {
      const own = await signIn(customerContext, customer);
      const csrf = await own.locator('input[name=_csrf]').first().inputValue();
      const customerId = (await relay.relay.accounts.listCustomers()).find((c) => c.name === customerName)?.id;
      for (const url of [...STAFF_PAGES.filter((p) => p !== '/'), `/customers/${customerId}`, '/queue?by=recipient&q=example']) {
        const response = await own.goto(`${base}${url}`);
        assert.equal(response?.status(), 404, `GET ${url} as a customer`);
        assert.ok(!(await own.content()).includes(sender.username), `${url} shows nothing of the customer's data`);
      }
      for (const url of [...STAFF_FORMS, `/customers/${customerId}/credentials`, `/customers/${customerId}/plans`, `/customers/${customerId}/logins`]) {
        const response = await customerContext.request.post(`${base}${url}`, { form: { _csrf: csrf, credential: sender.username, reason: 'manual', note: 'x', name: 'Evil', email: 'e@evil.test' } });
        assert.equal(response.status(), 404, `POST ${url} as a customer`);
      }
      assert.equal((await relay.relay.accounts.credential(sender.username)).holdReason, null, 'nothing was suspended');
      assert.ok(!(await relay.relay.accounts.listCustomers()).some((c) => c.name === 'Evil'));
      await own.close();
    });

    test('staff forms posted without the CSRF token are refused with 403 and change nothing', async () => {
      const customerId = (await relay.relay.accounts.listCustomers()).find((c) => c.name === customerName)?.id;
      for (const url of [...STAFF_FORMS, `/customers/${customerId}/credentials`, `/customers/${customerId}/plans`, `/customers/${customerId}/logins`]) {
        for (const form of [{}, { _csrf: 'forged-token-of-the-right-sort-of-length-x' }] as Record<string, string>[]) {
          const response = await staffContext.request.post(`${base}${url}`, {
            form: { ...form, credential: sender.username, reason: 'manual', note: 'forged', name: 'Forged', email: 'f@forged.test', id: '', all: '1' },
            maxRedirects: 0,
          });
          assert.equal(response.status(), 403, `POST ${url} ${'_csrf' in form ? 'with a wrong' : 'without the'} token`);
        }
      }
      assert.equal((await relay.relay.accounts.credential(sender.username)).holdReason, null);
      assert.ok(!(await relay.relay.accounts.listCustomers()).some((c) => c.name === 'Forged'));
    });
  });
}
