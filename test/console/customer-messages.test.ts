import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDns, type DnsPeer } from '../peers/dns.js';
import { startReceiver, type ReceiverPeer } from '../peers/receiver.js';
import { signIn } from '../support/console-web.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

// A message's page after real delivery: each recipient's state and the receiving server's reply, and every
// attempt, as the customer reads them. The receiver answers by local part (tempfail..., permfail...).

describe('customer message page after delivery', () => {
  let dns: DnsPeer;
  let receiver: ReceiverPeer;
  let relay: TestRelay;
  let base: string;

  before(async () => {
    receiver = await startReceiver({ address: '127.0.102.25', name: 'mx.example.test' });
    dns = await startDns({
      address: '127.0.102.54',
      zones: { 'example.test': { mx: [{ pref: 10, host: 'mx.example.test' }] }, 'mx.example.test': { a: ['127.0.102.25'] } },
    });
    relay = await startTestRelay({
      address: '127.0.102.6',
      overrides: {
        listen: { console: ['127.0.102.6:0'] },
        delivery: { enabled: true },
        dns: { servers: [dns.server] },
        outbound: { port: receiver.port, ips: [{ address: '127.0.102.11', ehlo: 'out.relay.test' }], allow_private_destinations: true },
      },
    });
    base = `http://127.0.102.6:${relay.port('console')}`;
  });
  after(async () => {
    await relay?.stop();
    await receiver?.stop();
    await dns?.stop();
  });

  test('each recipient with its state and reply, and the attempts with their replies', async () => {
    const { accounts, logins, store } = relay.relay;
    await accounts.addCustomer('Delivery Co', 'ops@delivery.test');
    const { credential, password } = await accounts.addCredential('Delivery Co', 'delivery-app');
    await accounts.addPlan(credential.username, { quota: 100 });
    const login = await logins.add('owner@delivery.test', 'Delivery Co');
    await sendWithNodemailer({
      port: relay.port('submission'),
      host: '127.0.102.6',
      username: credential.username,
      password,
      from: 'app@delivery.test',
      to: ['ok@example.test', 'tempfail@example.test', 'permfail@example.test'],
    });
    const [message] = await store.listQueue({ username: credential.username });
    assert.ok(message);
    // Delivery runs in the relay: wait until no recipient is still untried.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const m = await store.findMessage(message.id);
      if (m && m.recipients.every((r) => r.state !== 'queued')) break;
      if (Date.now() > deadline) throw new Error(`not delivered in time: ${JSON.stringify(m?.recipients)}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const { cookie } = await signIn(base, login.login.email, login.password);
    const response = await fetch(`${base}/messages/${message.id}`, { headers: { cookie } });
    assert.equal(response.status, 200);
    const page = await response.text();
    const row = (address: string) => new RegExp(`<tr><td>${address.replace('.', '\\.')}</td>(.*?)</tr>`, 's').exec(page)?.[1] ?? '';
    assert.match(row('ok@example.test'), /delivered.*250 /s);
    assert.match(row('tempfail@example.test'), /deferred.*451 4\.2\.0 &lt;tempfail@example\.test&gt;: temporary failure/s);
    assert.match(row('permfail@example.test'), /failed.*550 5\.1\.1 &lt;permfail@example\.test&gt;: no such user/s);
    const attempts = /<table class="attempts">(.*?)<\/table>/s.exec(page)?.[1] ?? '';
    assert.match(attempts, /mx\.example\.test \[127\.0\.102\.25\]/);
    assert.match(attempts, /TLSv1\.[23]/);
    assert.match(attempts, /ok@example\.test/);

    // The failure notice Relais wrote about this mail is the customer's too, and says whose mail it is about.
    const list = await (await fetch(`${base}/messages`, { headers: { cookie } })).text();
    assert.ok(list.includes(message.id));
    assert.match(list, /notice about delivery-app&#39;s mail/);
  });
});
