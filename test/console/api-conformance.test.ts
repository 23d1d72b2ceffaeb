import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { fill, operations, startApiWorld, type ApiAnswer, type ApiWorld, type CallOptions, type OpenApiDocument, type OpenApiOperation } from '../support/api-world.js';
import type { StoreKind } from '../support/relay-fixture.js';
import { yahooStyleReport } from '../support/arf-reports.js';
import { runCli } from '../support/relay-process.js';

/**
 * The OpenAPI document is checked as a document (its structure, every schema compiles as JSON Schema 2020-12),
 * then every operation in it is called with real data (mail submitted over SMTP, tokens made by the CLI and the
 * services) and each answer is checked against what the document says: a documented status, and a body valid
 * against that status's schema.
 */

// ajv-formats is CommonJS: its function is the module itself, typed as its `default`.
const addFormats = formats as unknown as typeof formats.default;

const ADDRESS = { sqlite: '127.0.100.3', postgres: '127.0.100.4' } as const;
/** An outbound address the test blocklist lists (never bound: delivery is off). */
const LISTED = { sqlite: '127.0.100.23', postgres: '127.0.100.24' } as const;

/** The parts of OpenAPI 3.1 these tests rely on, as a JSON Schema: the document must have this shape. */
const OPENAPI_SHAPE = {
  type: 'object',
  required: ['openapi', 'info', 'paths', 'components'],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+$' },
    info: { type: 'object', required: ['title', 'version'], properties: { title: { type: 'string', minLength: 1 }, version: { type: 'string', minLength: 1 } } },
    servers: { type: 'array', items: { type: 'object', required: ['url'] } },
    security: { type: 'array' },
    paths: {
      type: 'object',
      propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object',
        propertyNames: { enum: ['get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'trace', 'summary', 'description', 'parameters', 'servers'] },
        additionalProperties: {
          type: 'object',
          required: ['operationId', 'summary', 'responses'],
          properties: {
            operationId: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]*$' },
            summary: { type: 'string', minLength: 1 },
            tags: { type: 'array', items: { type: 'string' } },
            'x-relais-scope': { enum: ['staff', 'any'] },
            parameters: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'in', 'schema'],
                properties: { name: { type: 'string' }, in: { enum: ['path', 'query', 'header', 'cookie'] }, required: { type: 'boolean' }, schema: { type: 'object' } },
              },
            },
            requestBody: { type: 'object', required: ['content'], properties: { content: { type: 'object', minProperties: 1 } } },
            responses: {
              type: 'object',
              minProperties: 1,
              propertyNames: { pattern: '^[1-5]\\d\\d$' },
              additionalProperties: {
                type: 'object',
                required: ['description'],
                properties: { content: { type: 'object', additionalProperties: { type: 'object', required: ['schema'] } } },
              },
            },
          },
        },
      },
    },
    components: {
      type: 'object',
      required: ['schemas', 'securitySchemes'],
      properties: { securitySchemes: { type: 'object', additionalProperties: { type: 'object', required: ['type'] } } },
    },
  },
};

interface Step {
  operationId: string;
  token?: 'staff' | 'a' | 'b';
  values?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  raw?: Buffer;
  contentType?: string;
  expect: number;
  check?: (body: unknown) => void;
  /** Done just before the call: what the relay does by itself meanwhile (the lifecycle job's run). */
  before?: () => Promise<void>;
}

for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`API conformance with its OpenAPI document (${store} store)`, () => {
    let w: ApiWorld;
    let doc: OpenApiDocument;
    const ajv = new Ajv2020({ strict: true, allErrors: true, strictTuples: false });
    addFormats(ajv);
    // Annotation keywords of OpenAPI's dialect that JSON Schema validators do not know.
    ajv.addKeyword('x-relais-scope');

    before(async () => {
      w = await startApiWorld(store, ADDRESS[store], {
        fees: { reinstatement: '50.00 EUR' },
        offers: { start: { quota: 100, price: '60.00 EUR' }, pro: { quota: 1000, price: '240.00 EUR' } },
        // A renewal order is due as soon as a subscription starts, so the renewal routes have one to show.
        lifecycle: { renewal_notice_before: '400d' },
        // Complaints are filed here to check the intake's answers, not to suspend anyone.
        abuse: { complaints_to_suspend: 0 },
        complaints: { max_report_size: '256KB' },
      }, { listedOutboundIp: LISTED[store] });
      doc = (await (await fetch(`${w.origin}/api/v1/openapi.json`)).json()) as OpenApiDocument;
    });
    after(async () => w?.stop());

    const schemaCache = new Map<object, ReturnType<typeof ajv.compile>>();
    function validator(schema: object) {
      let v = schemaCache.get(schema);
      if (!v) {
        const ref = (schema as { $ref?: string }).$ref;
        const resolved = ref ? (doc.components.schemas[ref.replace('#/components/schemas/', '')] as object) : schema;
        assert.ok(resolved, `unresolved ${ref}`);
        v = ajv.compile(resolved);
        schemaCache.set(schema, v);
      }
      return v;
    }

    test('the document has the OpenAPI 3.1 structure, and every schema in it compiles as JSON Schema 2020-12', () => {
      // The shape is this test's own loose schema; the document's schemas below compile in strict mode.
      const shape = new Ajv2020({ strict: false, allErrors: true }).compile(OPENAPI_SHAPE);
      assert.ok(shape(doc), JSON.stringify(shape.errors, null, 1));
      const ids = new Set<string>();
      for (const { method, path, op } of operations(doc)) {
        assert.ok(!ids.has(op.operationId), `operationId ${op.operationId} is unique`);
        ids.add(op.operationId);
        const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
        const declared = op.parameters.filter((p) => p.in === 'path');
        assert.deepEqual(declared.map((p) => p.name).sort(), templated, `${method} ${path}: path parameters declared`);
        for (const p of declared) assert.equal(p.required, true, `${method} ${path}: {${p.name}} is required`);
        for (const p of op.parameters) validator(p.schema);
        for (const media of Object.values(op.requestBody?.content ?? {})) validator(media.schema);
        for (const [status, response] of Object.entries(op.responses)) {
          for (const media of Object.values(response.content ?? {})) validator(media.schema);
          if (Number(status) >= 400) assert.deepEqual(response.content?.['application/json']?.schema, { $ref: '#/components/schemas/Error' });
        }
        assert.ok(op.responses['401'], `${method} ${path} documents 401`);
        if (op['x-relais-scope'] === 'staff') assert.ok(op.responses['403'], `${method} ${path} documents 403`);
      }
      assert.ok(ids.size >= 25, `operations: ${ids.size}`);
    });

    test('every operation answers as documented', async () => {
      const byId = new Map(operations(doc).map((o) => [o.op.operationId, o]));
      const { a, b } = w;
      const gamma = `Gamma Co ${process.pid}-${store}`;
      // A feedback loop's report about Beta's message, as the copy the recipient got (the body Relais queued).
      const report = yahooStyleReport((await w.t.relay.store.messageBody(b.queueId)) as Buffer);
      const steps: Step[] = [
        { operationId: 'listCustomers', expect: 200, check: (body) => assert.ok((body as { name: string }[]).some((c) => c.name === a.customer)) },
        { operationId: 'listCustomers', token: 'a', expect: 200, check: (body) => assert.deepEqual((body as { name: string }[]).map((c) => c.name), [a.customer]) },
        { operationId: 'addCustomer', body: { name: gamma, email: 'ops@gamma.test' }, expect: 201 },
        { operationId: 'addCustomer', body: { name: gamma, email: 'ops@gamma.test' }, expect: 400 },
        { operationId: 'addCustomer', raw: Buffer.from('{"name": "Delta",'), contentType: 'application/json', expect: 400, check: (body) => assert.equal((body as { code: string }).code, 'invalid_json') },
        { operationId: 'addCustomer', raw: Buffer.from('name=Delta'), contentType: 'application/x-www-form-urlencoded', expect: 415, check: (body) => assert.equal((body as { code: string }).code, 'unsupported_media_type') },
        { operationId: 'addCustomer', body: { name: 'Delta', email: 'ops@delta.test', plan: 'gold' }, expect: 400, check: (body) => assert.match((body as { message: string }).message, /"plan"/) },
        { operationId: 'showCustomer', values: { name: a.customer }, expect: 200, check: (body) => assert.equal((body as { credentials: unknown[] }).credentials.length, 1) },
        { operationId: 'showCustomer', token: 'a', values: { name: a.customer }, expect: 200 },
        { operationId: 'showCustomer', values: { name: 'Nobody Co' }, expect: 404 },
        { operationId: 'listCredentials', expect: 200 },
        { operationId: 'listCredentials', query: { customer: b.customer }, expect: 200, check: (body) => assert.deepEqual((body as { username: string }[]).map((c) => c.username), [b.username]) },
        {
          operationId: 'addCredential',
          body: { customer: gamma, username: `gamma-${store}` },
          expect: 201,
          check: (body) => {
            const made = body as { password: string; username: string; server: string };
            assert.equal(made.username, `gamma-${store}`);
            assert.ok(made.password.length >= 16, 'the generated password is returned once');
            assert.equal(made.server, 'relay.test');
          },
        },
        { operationId: 'addCredential', body: { customer: 'Nobody Co' }, expect: 400 },
        { operationId: 'showCredential', token: 'a', values: { username: a.username }, expect: 200, check: (body) => assert.equal((body as { usage: { sent: number } }).usage.sent, 2) },
        { operationId: 'listPlans', token: 'a', values: { username: a.username }, expect: 200 },
        { operationId: 'addPlan', values: { username: a.username }, body: { quota: 50, days: 30 }, expect: 201 },
        { operationId: 'addPlan', values: { username: a.username }, body: { quota: 'lots' }, expect: 400, check: (body) => assert.match((body as { message: string }).message, /body\.quota/) },
        { operationId: 'addPlan', values: { username: a.username }, body: { quota: 5, until: '2001-01-01' }, expect: 400 },
        { operationId: 'addPlan', values: { username: 'nobody-here' }, body: { quota: 5 }, expect: 404 },
        {
          operationId: 'credentialUsage',
          token: 'a',
          values: { username: a.username },
          expect: 200,
          check: (body) => {
            const u = body as { sent: number; quota: number; remaining: number; next_free_at: string | null; hourly: { sent: number }[]; suspended: unknown };
            assert.equal(u.sent, 2);
            assert.equal(u.quota, 1050);
            assert.equal(u.remaining, 1048);
            assert.equal(u.suspended, null);
            assert.ok(u.next_free_at && Date.parse(u.next_free_at) > Date.now() + 23 * 3_600_000, 'the next unit frees in about 24 hours');
            assert.equal(u.hourly.length, 24);
            assert.equal(u.hourly.reduce((n, h) => n + h.sent, 0), 2);
            assert.equal(u.hourly[23]?.sent, 2, 'sent in the current hour');
          },
        },
        {
          operationId: 'senderDomains',
          token: 'a',
          values: { username: a.username },
          expect: 200,
          check: (body) => {
            const domains = body as { domain: string; dkim: unknown; blocklist: string }[];
            assert.deepEqual(domains.map((d) => [d.domain, d.blocklist]), [['alpha.test', 'not_monitored']]);
            assert.deepEqual(domains[0]?.dkim, { selector: 'relais1', algorithm: 'ed25519', dns_name: 'relais1._domainkey.alpha.test' });
          },
        },
        {
          operationId: 'checkSenderDomain',
          token: 'a',
          values: { domain: 'alpha.test' },
          expect: 200,
          check: (body) => {
            const report = body as { pass: boolean; checks: { check: string; verdict: string }[] };
            assert.deepEqual(report.checks.map((c) => [c.check, c.verdict]), [['spf', 'pass'], ['dkim', 'pass'], ['dmarc', 'pass']]);
            assert.equal(report.pass, true);
          },
        },
        {
          operationId: 'checkSenderDomain',
          token: 'b',
          values: { username: b.username, domain: 'beta.test' },
          expect: 200,
          check: (body) => assert.deepEqual((body as { checks: { pass: boolean }[] }).checks.map((c) => c.pass), [false, false, false]),
        },
        { operationId: 'checkSenderDomain', values: { domain: 'beta.test' }, expect: 404 },
        { operationId: 'searchQueue', query: { recipient: a.recipients[1] as string }, expect: 200, check: (body) => assert.deepEqual((body as { id: string }[]).map((m) => m.id), [a.queueId]) },
        { operationId: 'searchQueue', token: 'a', query: { sender: a.sender.toUpperCase() }, expect: 200, check: (body) => assert.deepEqual((body as { id: string }[]).map((m) => m.id), [a.queueId]) },
        { operationId: 'searchQueue', token: 'a', query: { message_id: a.headerMessageId.slice(1, -1) }, expect: 200, check: (body) => assert.deepEqual((body as { id: string }[]).map((m) => m.id), [a.queueId]) },
        { operationId: 'searchQueue', query: { message_id: b.queueId }, expect: 200, check: (body) => assert.deepEqual((body as { id: string }[]).map((m) => m.id), [b.queueId]) },
        { operationId: 'searchQueue', query: { state: 'queued', credential: a.username, domain: 'example.net', limit: '5' }, expect: 200, check: (body) => assert.equal((body as unknown[]).length, 1) },
        { operationId: 'searchQueue', query: { state: 'lost' }, expect: 400, check: (body) => assert.match((body as { message: string }).message, /query\.state/) },
        { operationId: 'searchQueue', query: { limit: '0' }, expect: 400 },
        {
          operationId: 'showMessage',
          token: 'a',
          values: { id: a.queueId },
          expect: 200,
          check: (body) => {
            const m = body as { recipients: { address: string; state: string }[]; attempts: unknown[]; message_id: string };
            assert.deepEqual(m.recipients.map((r) => [r.address, r.state]), a.recipients.map((r) => [r, 'queued']));
            assert.equal(m.message_id, a.headerMessageId);
          },
        },
        { operationId: 'queueShape', expect: 200 },
        { operationId: 'retryMessage', values: { id: a.queueId }, expect: 200, check: (body) => assert.equal((body as { recipients: number }).recipients, 2) },
        { operationId: 'retryMessage', values: { id: '0NOSUCHMESSAGE00' }, expect: 404 },
        { operationId: 'suspendCredential', values: { username: a.username }, body: { reason: 'manual', note: 'checking the API' }, expect: 200 },
        { operationId: 'suspendCredential', values: { username: a.username }, body: { reason: 'complaint', note: 'again' }, expect: 409 },
        { operationId: 'suspendCredential', values: { username: a.username }, body: { reason: 'quota', note: 'x' }, expect: 400, check: (body) => assert.match((body as { message: string }).message, /body\.reason/) },
        { operationId: 'listSuspended', expect: 200, check: (body) => assert.deepEqual((body as { username: string }[]).map((c) => c.username), [a.username]) },
        { operationId: 'listSuspended', token: 'a', expect: 200, check: (body) => assert.equal((body as { held: { messages: number } }[])[0]?.held.messages, 1) },
        { operationId: 'listSuspended', token: 'b', expect: 200, check: (body) => assert.deepEqual(body, []) },
        { operationId: 'releaseHeldMail', values: { username: a.username }, body: { note: 'let it go' }, expect: 200 },
        { operationId: 'refuseReinstatement', values: { username: a.username }, body: { note: 'not yet' }, expect: 200 },
        { operationId: 'reinstateCredential', values: { username: a.username }, body: { note: 'fixed' }, expect: 200, check: (body) => assert.deepEqual((body as { charges: unknown[] }).charges, [{ fee: 'reinstatement', amount: '50.00', currency: 'EUR' }]) },
        { operationId: 'reinstateCredential', values: { username: a.username }, body: { note: 'twice' }, expect: 409 },
        { operationId: 'refuseReinstatement', values: { username: a.username }, body: { note: 'not suspended' }, expect: 409 },
        {
          operationId: 'credentialHistory',
          token: 'a',
          values: { username: a.username },
          expect: 200,
          check: (body) =>
            assert.deepEqual(
              (body as { event: string }[]).map((e) => e.event),
              ['suspended', 'mail_released', 'reinstatement_refused', 'reinstated', 'charge'],
            ),
        },
        { operationId: 'listCharges', token: 'a', expect: 200, check: (body) => assert.deepEqual((body as { totals: unknown }).totals, [{ currency: 'EUR', amount: '50.00' }]) },
        { operationId: 'listCharges', query: { customer: a.customer, since: '2020-01-01' }, expect: 200 },
        { operationId: 'listCharges', token: 'b', expect: 200, check: (body) => assert.deepEqual(body, { charges: [], totals: [] }) },
        { operationId: 'listCharges', query: { since: 'yesterday' }, expect: 400, check: (body) => assert.match((body as { message: string }).message, /query\.since/) },
        { operationId: 'receiveComplaint', raw: report, expect: 201, check: (body) => assert.equal((body as { credential: string }).credential, b.username) },
        { operationId: 'receiveComplaint', raw: report, expect: 200, check: (body) => assert.equal((body as { duplicate: boolean }).duplicate, true) },
        { operationId: 'receiveComplaint', raw: Buffer.from('not a report'), expect: 400, check: (body) => assert.equal((body as { code: string }).code, 'not_a_report') },
        { operationId: 'receiveComplaint', raw: Buffer.alloc(300 * 1024, 'a'), expect: 413, check: (body) => assert.equal((body as { code: string }).code, 'too_large') },
        { operationId: 'listComplaints', token: 'b', expect: 200, check: (body) => assert.equal((body as unknown[]).length, 1) },
        { operationId: 'listComplaints', token: 'a', expect: 200, check: (body) => assert.deepEqual(body, []) },
        { operationId: 'listComplaints', query: { customer: b.customer, since: '2020-01-01T00:00:00Z' }, expect: 200 },
        {
          operationId: 'listAudit',
          query: { action: 'credential.suspend' },
          expect: 200,
          check: (body) => assert.deepEqual((body as { actor: string; channel: string; subject: string }[]).map((e) => [e.actor, e.channel, e.subject]), [['token:ops-api', 'api', a.username]]),
        },
        { operationId: 'listAudit', query: { limit: '3' }, expect: 200, check: (body) => assert.equal((body as unknown[]).length, 3) },
        {
          operationId: 'listOutboundIps',
          expect: 200,
          check: (body) => {
            const ips = body as { address: string; state: string; listings: { zone: string; since: string }[] }[];
            assert.deepEqual(ips.map((ip) => [ip.address, ip.state, ip.listings.map((l) => l.zone)]), [[LISTED[store], 'listed', ['zen.test']]]);
          },
        },
        { operationId: 'outboundIpHistory', values: { address: LISTED[store] }, expect: 200, check: (body) => assert.deepEqual((body as { event: string; zone: string }[]).map((e) => [e.event, e.zone]), [['listed', 'zen.test']]) },
        { operationId: 'outboundIpHistory', values: { address: '127.0.0.1' }, expect: 200, check: (body) => assert.deepEqual(body, []) },
        { operationId: 'outboundIpHistory', values: { address: 'not-an-ip' }, expect: 400 },
        { operationId: 'subscribe', body: { credential: b.username, offer: 'start' }, expect: 201, check: (body) => assert.equal((body as { quota: number }).quota, 100) },
        { operationId: 'subscribe', body: { credential: b.username, offer: 'gold' }, expect: 400, check: (body) => assert.match((body as { message: string }).message, /no offer named "gold"/) },
        { operationId: 'subscribe', token: 'b', body: { credential: b.username, offer: 'start' }, expect: 403 },
        { operationId: 'listSubscriptions', token: 'b', expect: 200, check: (body) => assert.deepEqual((body as { credential: string }[]).map((x) => x.credential), [b.username]) },
        { operationId: 'listSubscriptions', token: 'a', expect: 200, check: (body) => assert.deepEqual(body, []) },
        { operationId: 'showSubscription', token: 'b', values: { subscription: '1' }, expect: 200 },
        { operationId: 'showSubscription', token: 'a', values: { subscription: '1' }, expect: 404 },
        { operationId: 'upgradeSubscription', values: { subscription: '1' }, body: { offer: 'pro' }, expect: 200, check: (body) => assert.match((body as { charge: string }).charge, /^\d+\.\d{2} EUR$/) },
        { operationId: 'upgradeSubscription', values: { subscription: '1' }, body: { offer: 'start' }, expect: 400 },
        { operationId: 'downgradeSubscription', values: { subscription: '1' }, body: { offer: 'start' }, expect: 200, check: (body) => assert.equal((body as { next_offer: string }).next_offer, 'start') },
        {
          operationId: 'listRenewals',
          token: 'b',
          query: { open: 'true' },
          expect: 200,
          before: () => w.t.relay.lifecycle.runNow(),
          check: (body) => assert.deepEqual((body as { id: number; subscription: number }[]).map((o) => [o.id, o.subscription]), [[1, 1]]),
        },
        { operationId: 'validateRenewal', token: 'b', values: { order: '1' }, expect: 403 },
        { operationId: 'validateRenewal', values: { order: '1' }, expect: 200, check: (body) => assert.equal((body as { order: { offer: string } }).order.offer, 'start', 'validated with the downgrade asked for') },
        { operationId: 'validateRenewal', values: { order: '1' }, expect: 400, check: (body) => assert.match((body as { message: string }).message, /already validated/) },
        { operationId: 'newSmtpPassword', token: 'b', values: { username: b.username }, expect: 200, check: (body) => assert.match((body as { password: string }).password, /^[A-Za-z0-9]{22}$/) },
        { operationId: 'newSmtpPassword', token: 'b', values: { username: a.username }, expect: 404 },
        { operationId: 'deleteMessage', values: { id: a.queueId }, query: { notify: 'true', note: 'cleaning up' }, expect: 200, check: (body) => assert.ok((body as { notice: string | null }).notice, 'a failure notice was queued') },
        { operationId: 'deleteMessage', values: { id: a.queueId }, expect: 404 },
        { operationId: 'showMessage', token: 'a', values: { id: a.queueId }, expect: 404 },
      ];

      const succeeded = new Set<string>();
      for (const step of steps) {
        const found = byId.get(step.operationId);
        assert.ok(found, `${step.operationId} is in the document`);
        const { method, path, op } = found;
        await step.before?.();
        const token = step.token === 'a' ? a.token : step.token === 'b' ? b.token : w.staffToken;
        const options: CallOptions = { token, query: step.query, body: step.body, raw: step.raw, contentType: step.contentType };
        const answer = await w.call(method, fill(path, { username: a.username, name: a.customer, id: a.queueId, address: '127.0.0.1', domain: 'alpha.test', ...step.values }), options);
        const label = `${step.operationId} ${method} ${path} ${JSON.stringify(step.query ?? step.body ?? {})}`;
        assert.equal(answer.status, step.expect, `${label}: ${JSON.stringify(answer.body)}`);
        checkDocumented(op, answer, label);
        step.check?.(answer.body);
        if (answer.status < 300) succeeded.add(step.operationId);
      }
      const documented = operations(doc).map((o) => o.op.operationId);
      assert.deepEqual(documented.filter((id) => !succeeded.has(id)), [], 'every documented operation was called successfully');
    });

    test('the CLI and the API give the same answers where they share a view', async () => {
      const cli = async (...args: string[]) => {
        const result = await runCli([...args, '--json', '--config', w.configFile]);
        assert.equal(result.code, 0, `relais ${args.join(' ')}: ${result.stderr}`);
        return JSON.parse(result.stdout) as unknown;
      };
      assert.deepEqual(await cli('domain', 'check', 'alpha.test'), (await w.call('GET', `/credentials/${w.a.username}/domains/alpha.test/check`)).body);
      assert.deepEqual(await cli('complaints'), (await w.call('GET', '/complaints')).body);
      assert.deepEqual(await cli('queue', 'delete', w.b.queueId, '--note', 'from the CLI', '--actor', 'alice'), { id: w.b.queueId, deleted: true, notice: null });
      assert.equal((await w.call('GET', `/queue/${w.b.queueId}`, { token: w.b.token })).status, 404);
      const history = (await w.call('GET', `/credentials/${w.b.username}/history`, { token: w.b.token })).body as { event: string; actor: string; note: string }[];
      assert.deepEqual(history.map((e) => [e.event, e.actor, e.note]).at(-1), ['message_deleted', 'alice', 'from the CLI']);
    });

    /** The status is one the operation documents, the body is JSON valid against that status's schema. */
    function checkDocumented(op: OpenApiOperation, answer: ApiAnswer, label: string): void {
      const response = op.responses[String(answer.status)];
      assert.ok(response, `${label}: status ${answer.status} is not documented (${Object.keys(op.responses).join(', ')})`);
      const schema = response.content?.['application/json']?.schema;
      assert.ok(schema, `${label}: ${answer.status} has a JSON schema`);
      assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
      const validate = validator(schema);
      assert.ok(validate(answer.body), `${label}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(answer.body).slice(0, 500)}`);
    }
  });
}
