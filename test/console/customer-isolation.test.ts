import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { signIn } from '../support/console-web.js';
import { startTestRelay, type StoreKind } from '../support/relay-fixture.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

// Route by route over HTTP, on both stores: a customer's console shows its own rows and nothing of another
// customer's, whatever it opens or searches; staff see both, with the customer named on each row.

const STORES: StoreKind[] = ['sqlite', 'postgres'];

for (const store of STORES) {
  describe(`customer isolation in the console (${store})`, () => {
    test('pages, message details and searches are scoped to the signed-in customer', async () => {
      const address = store === 'sqlite' ? '127.0.102.4' : '127.0.102.5';
      const relay = await startTestRelay({ store, address, overrides: { listen: { console: [`${address}:0`] } } });
      try {
        const base = `http://${address}:${relay.port('console')}`;
        const { accounts, logins, store: db } = relay.relay;
        const people: Record<string, { credential: string; password: string; login: string; messageId: string; queueId: string }> = {};
        for (const name of ['red', 'blue']) {
          await accounts.addCustomer(`${name} Co`, `ops@${name}.test`);
          const { credential, password } = await accounts.addCredential(`${name} Co`, `${name}-app`);
          await accounts.addPlan(credential.username, { quota: 100 });
          const login = await logins.add(`owner@${name}.test`, `${name} Co`);
          const messageId = `<${name}-100%_x@${name}.test>`;
          await sendWithNodemailer({
            port: relay.port('submission'),
            host: address,
            username: credential.username,
            password,
            from: `sender@${name}.test`,
            to: [`Friend.${name}@Example.net`],
            raw: `From: sender@${name}.test\r\nTo: friend.${name}@example.net\r\nSubject: hi\r\nMessage-ID: ${messageId}\r\n\r\nhello\r\n`,
          });
          const [queued] = await db.listQueue({ username: credential.username });
          assert.ok(queued);
          people[name] = { credential: credential.username, password, login: login.password, messageId, queueId: queued.id };
        }
        const staff = await logins.add('staff@relay.test', null);
        const red = people.red as (typeof people)['red'] & object;
        const blue = people.blue as (typeof people)['blue'] & object;
        const session = await signIn(base, 'owner@red.test', red.login);
        const get = async (path: string) => {
          const response = await fetch(`${base}${path}`, { headers: { cookie: session.cookie }, redirect: 'manual' });
          return { status: response.status, text: await response.text() };
        };

        // Its own message, found by every field, case-insensitively; %, _ are literal.
        for (const search of ['q=friend.red', 'recipient=FRIEND.RED%40example', 'sender=sender%40red', `message_id=${encodeURIComponent('red-100%_x')}`, `q=${red.queueId}`]) {
          const page = await get(`/messages?${search}`);
          assert.equal(page.status, 200);
          assert.ok(page.text.includes(red.queueId), `${search} should find red's message`);
        }
        assert.ok(!(await get(`/messages?message_id=${encodeURIComponent('red-100x_x')}`)).text.includes(red.queueId), '% is literal');
        const own = await get(`/messages/${red.queueId}`);
        assert.equal(own.status, 200);
        assert.match(own.text, /friend\.red@example\.net/i);

        // Nothing of blue's: not its message by id, not by any search, on no page. (The word "blue" may be on a
        // page as the search typed; blue's data may not.)
        const bluesData = [blue.queueId, 'friend.blue', 'sender@blue', 'blue-100', 'blue co', 'blue-app'];
        const leaks = (text: string) => bluesData.filter((d) => text.toLowerCase().includes(d.toLowerCase()));
        const other = await get(`/messages/${blue.queueId}`);
        assert.equal(other.status, 404);
        assert.deepEqual(leaks(other.text), []);
        for (const search of ['q=blue', 'q=friend', `q=${blue.queueId}`, 'recipient=blue', 'sender=blue', 'message_id=blue', 'q=%25', 'q=_', 'q=']) {
          const page = await get(`/messages?${search}`);
          assert.equal(page.status, 200);
          // Searches that would match only blue's message find nothing at all; the others find red's alone.
          if (/blue|[A-Z0-9]{16}/.test(search)) assert.match(page.text, /No messages\./, search);
          else assert.ok(page.text.includes(red.queueId), search);
          // What was typed comes back in the search box; nothing else of blue's may.
          assert.deepEqual(leaks(page.text.replace(/ value="[^"]*"/g, '')), [], `${search} shows blue's data`);
        }
        for (const path of ['/', '/messages', '/domains', '/complaints', '/charges', `/domains/blue.test`]) {
          const page = await get(path);
          assert.deepEqual(leaks(page.text), [], `${path} shows blue's data`);
        }
        assert.equal((await get('/domains/blue.test')).status, 404);

        // Staff see every customer's messages, each with its customer.
        const staffSession = await signIn(base, staff.login.email, staff.password);
        const all = await (await fetch(`${base}/messages`, { headers: { cookie: staffSession.cookie } })).text();
        assert.ok(all.includes(red.queueId) && all.includes(blue.queueId));
        assert.match(all, /<th>Customer<\/th>/);
        assert.match(all, /<td>red Co<\/td>/);
        assert.match(all, /<td>blue Co<\/td>/);
        const blueForStaff = await fetch(`${base}/messages/${blue.queueId}`, { headers: { cookie: staffSession.cookie } });
        assert.equal(blueForStaff.status, 200);
      } finally {
        await relay.stop();
      }
    });
  });
}
