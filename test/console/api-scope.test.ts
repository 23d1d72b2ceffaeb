import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fill, operations, startApiWorld, type ApiWorld, type OpenApiDocument, type Party } from '../support/api-world.js';
import type { StoreKind } from '../support/relay-fixture.js';

/**
 * Who may call what, route by route, for every operation the OpenAPI document lists: no token is 401, a
 * customer token on a staff route is 403 staff_only, and on another customer's resource 404, exactly as for
 * one that does not exist. Lists a customer token may read show nothing of the other customer.
 */

const ADDRESS = { sqlite: '127.0.100.1', postgres: '127.0.100.2' } as const;

/** Path parameters naming this party's own resources. */
/** Each party's subscription id (made in before()), for the routes that take one. */
const subscriptionOf = new Map<string, string>();

function ownValues(p: Party): Record<string, string> {
  return {
    username: p.username,
    name: p.customer,
    id: p.queueId,
    address: '127.0.0.1',
    domain: p.sender.split('@')[1] as string,
    subscription: subscriptionOf.get(p.username) ?? '0',
    order: '1',
  };
}

/** Query parameters that name a customer or credential, filled with this party's. */
function scopedQuery(names: string[], p: Party): Record<string, string> | null {
  if (names.includes('customer')) return { customer: p.customer };
  if (names.includes('credential')) return { credential: p.username };
  return null;
}

/** Strings that would show one of the party's resources in an answer. */
function traces(p: Party): string[] {
  return [p.customer, p.username, p.queueId, p.sender, ...p.recipients];
}

for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`API scope, route by route (${store} store)`, () => {
    let w: ApiWorld;
    let doc: OpenApiDocument;

    before(async () => {
      w = await startApiWorld(store, ADDRESS[store], { offers: { start: { quota: 100, price: '60.00 EUR' } } });
      for (const party of [w.a, w.b]) subscriptionOf.set(party.username, String((await w.t.relay.subscriptions.subscribe(party.username, 'start')).id));
      const response = await fetch(`${w.origin}/api/v1/openapi.json`);
      assert.equal(response.status, 200);
      doc = (await response.json()) as OpenApiDocument;
    });
    after(async () => w?.stop());

    test('the document is served without a token and lists the resources the CLI covers', () => {
      const paths = Object.keys(doc.paths);
      for (const p of ['/customers', '/credentials', '/credentials/{username}/plans', '/credentials/{username}/usage', '/queue', '/queue/{id}', '/credentials/{username}/suspend', '/complaints', '/charges', '/ips']) {
        assert.ok(paths.includes(p), `${p} is documented`);
      }
    });

    test('without a token, or with an unknown one, every route answers 401', async () => {
      for (const { method, path, op } of operations(doc)) {
        const url = fill(path, ownValues(w.a));
        const none = await w.call(method, url, { token: null });
        assert.equal(none.status, 401, `${method} ${path} without a token`);
        assert.deepEqual(Object.keys(none.body as object).sort(), ['code', 'message']);
        assert.equal((none.body as { code: string }).code, 'token_required', `${op.operationId}`);
        assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
        const unknown = await w.call(method, url, { token: 'relais_not-a-token' });
        assert.equal(unknown.status, 401, `${method} ${path} with an unknown token`);
        assert.equal((unknown.body as { code: string }).code, 'token_invalid');
      }
    });

    test('a customer token on a staff route answers 403 staff_only, even for its own resources', async () => {
      const staffOps = operations(doc).filter(({ op }) => op['x-relais-scope'] === 'staff');
      assert.ok(staffOps.length >= 10, `staff routes: ${staffOps.map((o) => o.op.operationId).join(', ')}`);
      for (const { method, path } of staffOps) {
        const answer = await w.call(method, fill(path, ownValues(w.a)), { token: w.a.token, body: method === 'POST' ? {} : undefined });
        assert.equal(answer.status, 403, `${method} ${path}`);
        assert.equal((answer.body as { code: string }).code, 'staff_only', `${method} ${path}`);
      }
      // Nothing was done: the credential is not suspended, the message is still queued.
      assert.equal((await w.t.relay.store.findCredential(w.a.username))?.holdReason, null);
      assert.ok(await w.t.relay.store.findMessage(w.a.queueId));
    });

    test("a customer token on another customer's resource answers 404, as for one that does not exist", async () => {
      const customerOps = operations(doc).filter(({ op }) => op['x-relais-scope'] === 'any');
      let checked = 0;
      for (const { method, path, op } of customerOps) {
        const pathParams = op.parameters.filter((p) => p.in === 'path').map((p) => p.name);
        const queryNames = op.parameters.filter((p) => p.in === 'query').map((p) => p.name);
        if (pathParams.length > 0) {
          const theirs = await w.call(method, fill(path, ownValues(w.a)), { token: w.b.token });
          assert.equal(theirs.status, 404, `${method} ${path} with another customer's token`);
          const missing = await w.call(method, fill(path, { username: 'nobody-here', name: 'Nobody Co', id: '0NOSUCHMESSAGE00', domain: 'nowhere.test', subscription: '999999' }), { token: w.b.token });
          assert.equal(missing.status, 404, `${method} ${path} for nothing`);
          // Same code and message shape: a customer cannot tell "not yours" from "does not exist".
          assert.equal((theirs.body as { code: string }).code, 'not_found');
          assert.equal((missing.body as { code: string }).code, 'not_found');
          const own = await w.call(method, fill(path, ownValues(w.b)), { token: w.b.token });
          assert.equal(own.status, 200, `${method} ${path} with the owner's token: ${JSON.stringify(own.body)}`);
          checked++;
          continue;
        }
        const filter = scopedQuery(queryNames, w.a);
        if (filter) {
          const theirs = await w.call(method, path, { token: w.b.token, query: filter });
          assert.equal(theirs.status, 404, `${method} ${path}?${new URLSearchParams(filter)} with another customer's token`);
          assert.equal((theirs.body as { code: string }).code, 'not_found');
          const own = await w.call(method, path, { token: w.b.token, query: scopedQuery(queryNames, w.b) ?? {} });
          assert.equal(own.status, 200, `${method} ${path} filtered on the token's own customer`);
        }
        // Unfiltered, a list shows the token's customer's rows only.
        const list = await w.call(method, path, { token: w.b.token });
        assert.equal(list.status, 200, `${method} ${path}`);
        const text = JSON.stringify(list.body);
        for (const trace of traces(w.a)) assert.ok(!text.includes(trace), `${method} ${path} shows "${trace}" of the other customer`);
        checked++;
      }
      assert.equal(checked, customerOps.length);
      assert.ok(checked >= 12, `customer routes checked: ${checked}`);
    });

    test('searches with a customer token find only its own mail, whatever they ask for', async () => {
      const searches: Record<string, string>[] = [
        { recipient: w.a.recipients[0] as string },
        { sender: w.a.sender },
        { message_id: w.a.headerMessageId },
        { message_id: w.a.queueId },
        { state: 'queued' },
        { domain: 'example.test' },
      ];
      for (const query of searches) {
        const theirs = await w.call('GET', '/queue', { token: w.b.token, query });
        assert.equal(theirs.status, 200);
        assert.ok(!(theirs.body as { id: string }[]).some((m) => m.id === w.a.queueId), `search ${JSON.stringify(query)} found the other customer's message`);
        const staff = await w.call('GET', '/queue', { query });
        assert.ok((staff.body as { id: string }[]).some((m) => m.id === w.a.queueId), `staff search ${JSON.stringify(query)} finds it`);
      }
      const own = await w.call('GET', '/queue', { token: w.b.token, query: { message_id: w.b.headerMessageId } });
      assert.deepEqual((own.body as { id: string }[]).map((m) => m.id), [w.b.queueId]);
    });
  });
}
