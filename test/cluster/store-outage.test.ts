import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startReceiver } from '../peers/receiver.js';
import { freePort } from '../peers/ports.js';
import { prepareCrashRelay, startRelayProcess } from '../support/relay-process.js';
import { AUTH_TROUBLE, firstAcceptedAfter, heldReservations, recipientStates, STORE_TROUBLE, submitUntil, waitUntil, type Tally } from '../support/outage-load.js';
import { startThrowawayPostgres } from '../support/throwaway-postgres.js';

/**
 * PostgreSQL goes away under a relay that is taking and delivering mail: restarted (`pg_ctl restart -m fast`),
 * then stopped for several seconds. Meanwhile submission answers 451 4.3.0 (never a 250 it could not commit),
 * delivery pauses without failing anything, /readyz says 503; when the database is back everything resumes by
 * itself, every message that got a 250 reaches the receiver, and the relay process never exits.
 *
 * All on this file's own addresses (127.0.112.x), on a PostgreSQL server of its own: the shared test server
 * must never be restarted.
 */
const PG_ADDRESS = '127.0.112.1';
const RELAY_ADDRESS = '127.0.112.2';
const OUTBOUND_ADDRESS = '127.0.112.11';
const RECEIVER_ADDRESS = '127.0.112.21';
const OUTAGE_MS = 6_000;
test('PostgreSQL restarted and stopped under load: 451 4.3.0 meanwhile, nothing that got 250 lost, recovery by itself', { timeout: 150_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-store-outage-'));
  const postgres = await startThrowawayPostgres(PG_ADDRESS);
  // A receiver that takes a moment over each message: deliveries are under way whenever the database goes.
  const receiver = await startReceiver({ address: RECEIVER_ADDRESS, name: 'mx.outage.test', behaviour: { dataDelayMs: 200 } });
  let relay: Awaited<ReturnType<typeof startRelayProcess>> | undefined;
  let stopClients = false;
  let clients: Promise<void>[] = [];
  try {
    const port = await freePort(RELAY_ADDRESS);
    const consolePort = await freePort(RELAY_ADDRESS);
    const { configFile, password } = await prepareCrashRelay(dir, [
      'hostname: relay.outage.test',
      `data_dir: ${dir}`,
      `store: { url: "${postgres.url}" }`,
      `listen: { submission: ["${RELAY_ADDRESS}:${port}"], smtps: [], smtp: [], console: ["${RELAY_ADDRESS}:${consolePort}"] }`,
      'log: { level: warn }',
      `routes: { "*": "${RECEIVER_ADDRESS}:${receiver.port}" }`,
      `outbound: { ips: [{ address: ${OUTBOUND_ADDRESS} }] }`,
    ]);
    relay = await startRelayProcess(configFile);
    const running = relay;
    const tally: Tally = { accepted: new Map(), refused: [], wrong: [] };
    clients = Array.from({ length: 4 }, (_, w) => submitUntil(() => stopClients, { host: RELAY_ADDRESS, localAddress: '127.0.112.3', port, password, worker: w, tally }));
    const ready = async () => (await fetch(`http://${RELAY_ADDRESS}:${consolePort}/readyz`)).status;

    // Mail flows and is delivered before anything happens to the database.
    await waitUntil(() => receiver.messages.length >= 20, 20_000, 'deliveries before the outage');
    assert.equal(await ready(), 200);

    // 1. A fast restart: every session of the pool is terminated at once.
    const restartBegan = Date.now();
    await postgres.restart();
    const restartedAt = Date.now();
    const afterRestart = await firstAcceptedAfter(tally, restartedAt, 20_000);
    const deliveredBeforeRestart = receiver.messages.length;
    await waitUntil(() => receiver.messages.length > deliveredBeforeRestart + 5, 30_000, 'deliveries after the restart');
    const deliveryAfterRestart = Date.now() - restartedAt;

    // 2. Stopped for several seconds: submission must say 451 4.3.0 and readiness 503 all along.
    const refusedBefore = tally.refused.length;
    const stoppedAt = Date.now();
    await postgres.stop();
    // From here no server runs at all: no 250 may be given until it starts again (100 ms for one already on its way).
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await ready(), 503, '/readyz while the database is down');
    const acceptedDuringOutage: string[] = [];
    while (Date.now() - stoppedAt < OUTAGE_MS) await new Promise((r) => setTimeout(r, 100));
    const downUntil = Date.now();
    for (const [id, at] of tally.accepted) if (at > downAt + 100 && at < downUntil) acceptedDuringOutage.push(id);
    assert.deepEqual(acceptedDuringOutage, [], 'a 250 was given while the database was down');
    const outageRefusals = tally.refused.slice(refusedBefore);
    assert.ok(outageRefusals.length > 0, 'no submission was refused during the outage');
    for (const r of outageRefusals) assert.match(r.reply, r.stage === 'auth' ? AUTH_TROUBLE : STORE_TROUBLE, `${r.stage}: ${r.reply}`);
    assert.ok(outageRefusals.some((r) => STORE_TROUBLE.test(r.reply)), 'no 451 4.3.0 during the outage');
    assert.equal(running.child.exitCode, null, `the relay exited during the outage:\n${running.output()}`);

    await postgres.start();
    const startedAt = Date.now();
    const submissionBack = await firstAcceptedAfter(tally, startedAt, 10_000);
    const deliveredBeforeStart = receiver.messages.length;
    await waitUntil(() => receiver.messages.length > deliveredBeforeStart + 5, 15_000, 'deliveries after the database came back');
    const deliveryBack = Date.now() - startedAt;
    let readyBack = 0;
    await waitUntil(async () => (await ready()) === 200 && (readyBack = Date.now() - startedAt) > 0, 10_000, '/readyz 200 again');

    // Mail keeps flowing for a moment, then every message that got a 250 must arrive.
    await new Promise((r) => setTimeout(r, 1500));
    stopClients = true;
    await Promise.all(clients);
    assert.deepEqual(tally.wrong, [], 'replies other than 250 and the store-trouble refusals');
    const queueIdOf = (raw: Buffer) => /by relay\.outage\.test \(Relais\) with \S+ id (\w+)/.exec(raw.toString('latin1'))?.[1];
    let missing: string[] = [];
    await waitUntil(
      () => {
        const received = new Set(receiver.messages.map((m) => queueIdOf(m.raw)));
        missing = [...tally.accepted.keys()].filter((id) => !received.has(id));
        return missing.length === 0;
      },
      60_000,
      'every accepted message delivered',
    ).catch(() => undefined);
    assert.deepEqual(missing, [], `${missing.length} of ${tally.accepted.size} messages that got 250 never arrived`);
    // The queue itself agrees: every recipient delivered, none failed, none left leased for a lease to run out.
    const drainedWithin = Date.now();
    let states: Record<string, number> = {};
    await waitUntil(
      async () => {
        states = await recipientStates(postgres.url);
        return Object.keys(states).every((state) => state === 'delivered');
      },
      30_000,
      'the queue settled',
    ).catch(() => undefined);
    assert.deepEqual(Object.keys(states), ['delivered'], `recipients by state: ${JSON.stringify(states)}`);
    const queueSettledMs = Date.now() - drainedWithin;
    // Transactions refused during the outage could not release their quota reservations then: they are
    // released once the store is back, not left to shorten the customer's quota until they expire.
    let reservations = -1;
    await waitUntil(async () => (reservations = await heldReservations(postgres.url)) === 0, 10_000, 'reservations released').catch(() => undefined);
    assert.equal(reservations, 0, 'quota reservations of refused transactions still held');
    assert.equal(running.child.exitCode, null, `the relay exited:\n${running.output()}`);
    assert.doesNotMatch(running.output(), /unhandled|uncaught/i);
    const counts = new Map<string, number>();
    for (const m of receiver.messages) counts.set(queueIdOf(m.raw) as string, (counts.get(queueIdOf(m.raw) as string) ?? 0) + 1);
    const doubled = [...counts.values()].filter((n) => n > 1).length;
    console.log(
      JSON.stringify({
        accepted: tally.accepted.size,
        refused: tally.refused.length,
        refusedDuringStop: outageRefusals.length,
        delivered: receiver.messages.length,
        doubled,
        restartMs: restartedAt - restartBegan,
        firstAcceptAfterRestartMs: afterRestart - restartedAt,
        deliveryAfterRestartMs: deliveryAfterRestart,
        firstAcceptAfterStartMs: submissionBack - startedAt,
        deliveryAfterStartMs: deliveryBack,
        readyAfterStartMs: readyBack,
        queueSettledAfterLastDeliveryMs: queueSettledMs,
      }),
    );
    const events = new Map<string, number>();
    for (const line of running.output().split('\n')) {
      const event = /"event":"(\w+)"/.exec(line)?.[1];
      if (event) events.set(event, (events.get(event) ?? 0) + 1);
    }
    console.log(JSON.stringify(Object.fromEntries(events)));
    // Outcomes that could not be written were held and written later, never lost and sent again.
    assert.equal(doubled, 0, `${doubled} messages arrived twice`);
    // Background work said that the store was gone, and that it was back.
    assert.ok((events.get('scheduler_resumed') ?? 0) >= 1, 'the scheduler never logged that it resumed');
  } finally {
    stopClients = true;
    await Promise.allSettled(clients);
    await relay?.kill('SIGTERM');
    await receiver.stop();
    await postgres.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

