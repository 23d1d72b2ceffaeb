import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDnsbl, type DnsblPeer } from '../peers/dnsbl.js';
import { scrape, type Scrape } from '../support/prometheus-scrape.js';
import { waitUntil } from '../peers/process.js';
import { startTestRelay, type StoreKind, type TestRelay } from '../support/relay-fixture.js';

const RELAY = '127.0.101.51';
const DNSBL = '127.0.101.52';
const CLEAN = '127.0.101.53';
const LISTED = '127.0.101.54';

/**
 * The outbound addresses' gauges from a real blocklist (rbldnsd, asked directly as the relay's DNS server), and
 * /metrics behind metrics.token_required: a staff API token, as Prometheus's `authorization` sends it.
 */
for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`GET /metrics: listed outbound addresses, and the token when required (${store} store)`, () => {
    let dnsbl: DnsblPeer;
    let t: TestRelay;
    let base: string;

    before(async () => {
      dnsbl = await startDnsbl({ address: DNSBL, zones: { 'zen.test': { ips: [LISTED] } } });
      t = await startTestRelay({
        store,
        address: RELAY,
        overrides: {
          delivery: { enabled: true },
          dns: { servers: [dnsbl.server] },
          outbound: { ips: [{ address: CLEAN }, { address: LISTED }] },
          dnsbl: { ip_zones: ['zen.test'] },
          metrics: { token_required: true },
          listen: { console: [`${RELAY}:0`] },
        },
      });
      base = `http://${RELAY}:${t.port('console')}`;
    });
    after(async () => {
      await t?.stop();
      await dnsbl?.stop();
    });

    test('without a token 401, with a customer token 403, with a revoked one 401; /healthz and /readyz need none', async () => {
      const none = await fetch(`${base}/metrics`);
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as { code: string }).code, 'token_required');
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm="relais"/);

      await t.relay.accounts.addCustomer('Example Co', 'admin@example.test');
      const customer = (await t.relay.tokens.add('customer-dashboard', 'Example Co')).secret;
      const refused = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${customer}` } });
      assert.equal(refused.status, 403);
      assert.equal(((await refused.json()) as { code: string }).code, 'staff_only');

      const old = await t.relay.tokens.add('old-prometheus', null);
      await t.relay.tokens.revoke(old.token.id);
      assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${old.secret}` } })).status, 401);

      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
    });

    test('with a staff token: the listed address shows, then goes when the zone delists it', async () => {
      const token = (await t.relay.tokens.add('prometheus', null)).secret;
      const withToken = { headers: { authorization: `Bearer ${token}` } };
      let s: Scrape = await scrape(base, withToken);
      // The first blocklist round runs at start; the store's gauges are read at most once a second.
      await waitUntil('the listing counted', async () => (s = await scrape(base, withToken)).value('relais_outbound_addresses_listed') === 1, {
        timeoutMs: 10_000,
        intervalMs: 200,
      });
      assert.equal(s.value('relais_outbound_address_listed', { address: LISTED }), 1);
      assert.equal(s.value('relais_outbound_address_listed', { address: CLEAN }), 0);

      await dnsbl.delist(LISTED);
      await t.relay.blocklists.runNow();
      await waitUntil('the delisting counted', async () => (s = await scrape(base, withToken)).value('relais_outbound_addresses_listed') === 0, {
        timeoutMs: 10_000,
        intervalMs: 200,
      });
      assert.equal(s.value('relais_outbound_address_listed', { address: LISTED }), 0);
    });
  });
}
