import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApiWorld, type ApiWorld } from '../support/api-world.js';
import type { StoreKind } from '../support/relay-fixture.js';
import { runCli } from '../support/relay-process.js';
import { sendWithNodemailer } from '../support/smtp-clients.js';

/**
 * Staff suspend and reinstate a credential through the API: the relay refuses and then takes its mail again over
 * SMTP, the credential's history (which its customer reads too) and the audit log record who did it, through
 * the API, and why. A quota suspension shows in the usage with the time it lifts.
 */

const ADDRESS = { sqlite: '127.0.100.5', postgres: '127.0.100.6' } as const;

interface HistoryEvent {
  event: string;
  reason: string | null;
  actor: string;
  note: string | null;
  detail: Record<string, unknown> | null;
}
interface AuditEntry {
  actor: string;
  channel: string;
  action: string;
  subject: string | null;
  detail: Record<string, unknown> | null;
}

for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`suspensions through the API (${store} store)`, () => {
    let w: ApiWorld;

    before(async () => {
      w = await startApiWorld(store, ADDRESS[store], { fees: { reinstatement: '50.00 EUR' } });
    });
    after(async () => w?.stop());

    async function submit(to: string): Promise<{ ok: true } | { ok: false; code: number; response: string }> {
      try {
        await sendWithNodemailer({ host: ADDRESS[store], port: w.t.port('submission'), username: w.a.username, password: w.a.password, from: w.a.sender, to: [to] });
        return { ok: true };
      } catch (error) {
        const e = error as { responseCode?: number; response?: string };
        return { ok: false, code: e.responseCode ?? 0, response: e.response ?? String(error) };
      }
    }

    test('a staff suspension stops the mail, shows in the usage and the history, and a reinstatement lifts it', async () => {
      const { a, b } = w;
      const suspended = await w.call('POST', `/credentials/${a.username}/suspend`, { body: { reason: 'complaint', note: 'spam reported by Yahoo' } });
      assert.equal(suspended.status, 200, JSON.stringify(suspended.body));
      assert.deepEqual((suspended.body as { held: unknown }).held, { messages: 1, recipients: 2 });

      const refused = await submit('someone@example.test');
      assert.equal(refused.ok, false);
      assert.equal((refused as { code: number }).code, 550, (refused as { response: string }).response);

      // The customer sees why, since when, and that staff decide (no time it lifts by itself).
      const usage = await w.call('GET', `/credentials/${a.username}/usage`, { token: a.token });
      const state = (usage.body as { suspended: { reason: string; since: string; lifts_at: string | null; lifted_by: string } }).suspended;
      assert.equal(state.reason, 'complaint');
      assert.equal(state.lifts_at, null);
      assert.equal(state.lifted_by, 'staff');
      assert.ok(Math.abs(Date.parse(state.since) - Date.now()) < 60_000);

      const reinstated = await w.call('POST', `/credentials/${a.username}/reinstate`, { body: { note: 'customer cleaned its list', waive_fees: true } });
      assert.equal(reinstated.status, 200, JSON.stringify(reinstated.body));
      assert.deepEqual((reinstated.body as { charges: unknown[] }).charges, []);
      assert.deepEqual(await submit('someone@example.test'), { ok: true });

      // The history, as the customer reads it: the suspension and the reinstatement, by the API token, with the notes.
      const history = await w.call('GET', `/credentials/${a.username}/history`, { token: a.token });
      assert.equal(history.status, 200);
      const events = (history.body as HistoryEvent[]).map((e) => [e.event, e.reason, e.actor, e.note]);
      assert.deepEqual(events, [
        ['suspended', 'complaint', 'token:ops-api', 'spam reported by Yahoo'],
        ['reinstated', 'complaint', 'token:ops-api', 'customer cleaned its list'],
      ]);
      const reinstatement = (history.body as HistoryEvent[])[1];
      assert.deepEqual(reinstatement?.detail?.waived_fees, [{ fee: 'reinstatement', amount: '50.00', currency: 'EUR' }]);
      assert.equal((await w.call('GET', `/credentials/${a.username}/history`, { token: b.token })).status, 404);

      // Waived: no charge for anyone.
      assert.deepEqual((await w.call('GET', '/charges')).body, { charges: [], totals: [] });

      // The audit log has both actions, from the API, by the token.
      const audit = (await w.call('GET', '/audit')).body as AuditEntry[];
      const mine = audit.filter((e) => e.subject === a.username).map((e) => [e.action, e.channel, e.actor]);
      assert.deepEqual(mine, [
        ['credential.reinstate', 'api', 'token:ops-api'],
        ['credential.suspend', 'api', 'token:ops-api'],
      ]);
      assert.equal(audit.find((e) => e.action === 'credential.reinstate')?.detail?.waive_fees, true);
      // And the audit log is staff's only.
      assert.equal((await w.call('GET', '/audit', { token: a.token })).status, 403);
    });

    test('a reinstatement with fees is charged, and the customer sees its own charges only', async () => {
      const { a, b } = w;
      assert.equal((await w.call('POST', `/credentials/${a.username}/suspend`, { body: { reason: 'manual', note: 'terms breach' } })).status, 200);
      const refusal = await w.call('POST', `/credentials/${a.username}/refuse`, { body: { note: 'pay the invoice first' } });
      assert.equal(refusal.status, 200);
      assert.equal((await submit('someone@example.test')).ok, false, 'still suspended after a refusal');
      const reinstated = await w.call('POST', `/credentials/${a.username}/reinstate`, { body: { note: 'invoice paid' } });
      assert.deepEqual((reinstated.body as { charges: unknown[] }).charges, [{ fee: 'reinstatement', amount: '50.00', currency: 'EUR' }]);
      const own = (await w.call('GET', '/charges', { token: a.token })).body as { charges: { credential: string; note: string }[]; totals: unknown };
      assert.deepEqual(own.charges.map((c) => [c.credential, c.note]), [[a.username, 'invoice paid']]);
      assert.deepEqual(own.totals, [{ currency: 'EUR', amount: '50.00' }]);
      assert.deepEqual((await w.call('GET', '/charges', { token: b.token })).body, { charges: [], totals: [] });
      // The CLI prints the same charges as the API gives staff.
      const cli = await runCli(['charges', '--json', '--config', w.configFile]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.deepEqual(JSON.parse(cli.stdout), (await w.call('GET', '/charges')).body);
      const events = ((await w.call('GET', `/credentials/${a.username}/history`, { token: a.token })).body as HistoryEvent[]).slice(2).map((e) => e.event);
      assert.deepEqual(events, ['suspended', 'reinstatement_refused', 'reinstated', 'charge']);
    });

    test('over its quota a credential shows suspended for quota, with the time it lifts by itself', async () => {
      const { b } = w;
      const sent = ((await w.call('GET', `/credentials/${b.username}/usage`, { token: b.token })).body as { sent: number }).sent;
      // Beta's first credential has 1000 a day: a second one, made through the API with a plan of 3, fills it with one message.
      const made = (await w.call('POST', '/credentials', { body: { customer: b.customer } })).body as { username: string; password: string };
      assert.equal((await w.call('POST', `/credentials/${made.username}/plans`, { body: { quota: 3 } })).status, 201);
      await sendWithNodemailer({ host: ADDRESS[store], port: w.t.port('submission'), username: made.username, password: made.password, from: b.sender, to: ['x@example.test', 'y@example.test', 'z@example.test'] });
      const usage = (await w.call('GET', `/credentials/${made.username}/usage`, { token: b.token })).body as {
        sent: number;
        remaining: number;
        next_free_at: string;
        suspended: { reason: string; lifts_at: string; lifted_by: string };
        hourly: { sent: number }[];
      };
      assert.equal(usage.sent, 3);
      assert.equal(usage.remaining, 0);
      assert.equal(usage.suspended.reason, 'quota');
      assert.equal(usage.suspended.lifted_by, 'time');
      assert.equal(usage.suspended.lifts_at, usage.next_free_at);
      const liftsIn = Date.parse(usage.suspended.lifts_at) - Date.now();
      assert.ok(liftsIn > 23.9 * 3_600_000 && liftsIn < 24.1 * 3_600_000, `lifts in ${liftsIn} ms`);
      assert.equal(usage.hourly.at(-1)?.sent, 3);
      // The other credential of the customer is not affected.
      assert.equal(((await w.call('GET', `/credentials/${b.username}/usage`, { token: b.token })).body as { sent: number }).sent, sent);
      // The credential was made through the API: audited.
      const audit = (await w.call('GET', '/audit', { query: { action: 'credential.add' } })).body as AuditEntry[];
      assert.deepEqual(audit.map((e) => [e.subject, e.channel]), [[made.username, 'api']]);
    });
  });
}
