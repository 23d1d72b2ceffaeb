import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startReceiver } from '../peers/receiver.js';
import { freePort } from '../peers/ports.js';
import { awaitEverythingDelivered, firstAcceptedAfter, STORE_TROUBLE, AUTH_TROUBLE, submitUntil, waitUntil, type Tally } from '../support/outage-load.js';
import { prepareCrashRelay, startRelayProcess } from '../support/relay-process.js';
import { startTcpSwitch } from '../support/tcp-switch.js';
import { startThrowawayPostgres, startThrowawayStandby } from '../support/throwaway-postgres.js';

/**
 * A primary/standby switch under load. The relay reaches PostgreSQL through one address (a forwarder standing
 * for a virtual IP or HAProxy); the primary is stopped, the address moves to the standby while it is still
 * read-only (writes fail there: 451 4.3.0, never a 250), the standby is promoted, and the relay carries on by
 * itself on the new primary: nothing that got a 250 is lost, nothing is sent twice, the process never exits.
 * A planned switch (the primary stopped cleanly sends all its WAL first): an unplanned failover loses nothing
 * only with synchronous replication (see the README, "Store outages").
 */
const PRIMARY_ADDRESS = '127.0.112.1';
const STANDBY_ADDRESS = '127.0.112.4';
const SWITCH_ADDRESS = '127.0.112.6';
const RELAY_ADDRESS = '127.0.112.7';
const CLIENT_ADDRESS = '127.0.112.8';
const OUTBOUND_ADDRESS = '127.0.112.12';
const RECEIVER_ADDRESS = '127.0.112.22';
const HOSTNAME = 'relay.switch.test';

test('primary/standby switch under load: 451 while no primary answers, then recovery on the new primary by itself', { timeout: 150_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-store-switch-'));
  const primary = await startThrowawayPostgres(PRIMARY_ADDRESS);
  const standby = await startThrowawayStandby(primary, STANDBY_ADDRESS);
  const vip = await startTcpSwitch(SWITCH_ADDRESS, primary);
  const receiver = await startReceiver({ address: RECEIVER_ADDRESS, name: 'mx.switch.test', behaviour: { dataDelayMs: 200 } });
  let relay: Awaited<ReturnType<typeof startRelayProcess>> | undefined;
  let stopClients = false;
  let clients: Promise<void>[] = [];
  try {
    const port = await freePort(RELAY_ADDRESS);
    const storeUrl = `postgres://postgres@${vip.address}:${vip.port}/postgres`;
    const { configFile, password } = await prepareCrashRelay(dir, [
      `hostname: ${HOSTNAME}`,
      `data_dir: ${dir}`,
      `store: { url: "${storeUrl}" }`,
      `listen: { submission: ["${RELAY_ADDRESS}:${port}"], smtps: [], smtp: [], console: [] }`,
      'log: { level: warn }',
      `routes: { "*": "${RECEIVER_ADDRESS}:${receiver.port}" }`,
      `outbound: { ips: [{ address: ${OUTBOUND_ADDRESS} }] }`,
    ]);
    relay = await startRelayProcess(configFile);
    const running = relay;
    const tally: Tally = { accepted: new Map(), refused: [], wrong: [] };
    clients = Array.from({ length: 4 }, (_, w) => submitUntil(() => stopClients, { host: RELAY_ADDRESS, localAddress: CLIENT_ADDRESS, port, password, worker: w, tally }));
    await waitUntil(() => receiver.messages.length >= 20, 20_000, 'deliveries before the switch');

    // The switch: the primary stops (cleanly: its standby has every commit), the address moves to the standby,
    // which answers reads but refuses writes until it is promoted.
    const switchBegan = Date.now();
    await primary.stop();
    vip.switchTo(standby);
    const readOnlyFrom = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const readOnlyUntil = Date.now();
    const acceptedReadOnly = [...tally.accepted.values()].filter((at) => at > readOnlyFrom + 200 && at < readOnlyUntil);
    assert.equal(acceptedReadOnly.length, 0, 'a 250 was given while only a read-only standby answered');
    const refusals = tally.refused.filter((r) => r.at >= switchBegan);
    assert.ok(refusals.some((r) => STORE_TROUBLE.test(r.reply)), 'no 451 4.3.0 while no primary answered');
    for (const r of refusals) assert.match(r.reply, r.stage === 'auth' ? AUTH_TROUBLE : STORE_TROUBLE, `${r.stage}: ${r.reply}`);
    await standby.promote();
    const promotedAt = Date.now();
    const submissionBack = await firstAcceptedAfter(tally, promotedAt, 10_000);
    const deliveredBefore = receiver.messages.length;
    await waitUntil(() => receiver.messages.length > deliveredBefore + 5, 15_000, 'deliveries on the new primary');
    const deliveryBack = Date.now() - promotedAt;

    await new Promise((r) => setTimeout(r, 1500));
    stopClients = true;
    await Promise.all(clients);
    assert.deepEqual(tally.wrong, [], 'replies other than 250 and the store-trouble refusals');
    const outcome = await awaitEverythingDelivered({ tally, received: () => receiver.messages, storeUrl: standby.url, hostname: HOSTNAME });
    assert.deepEqual(outcome.missing, [], `${outcome.missing.length} of ${tally.accepted.size} messages that got 250 never arrived`);
    assert.deepEqual(Object.keys(outcome.states), ['delivered'], `recipients by state: ${JSON.stringify(outcome.states)}`);
    assert.equal(outcome.doubled, 0, `${outcome.doubled} messages arrived twice`);
    assert.equal(running.child.exitCode, null, `the relay exited:\n${running.output()}`);
    assert.doesNotMatch(running.output(), /unhandled|uncaught/i);
    console.log(
      JSON.stringify({
        accepted: tally.accepted.size,
        refusedDuringSwitch: refusals.length,
        refusedAt: [...new Set(refusals.map((r) => r.stage))],
        delivered: receiver.messages.length,
        firstAcceptAfterPromoteMs: submissionBack - promotedAt,
        deliveryAfterPromoteMs: deliveryBack,
      }),
    );
  } finally {
    stopClients = true;
    await Promise.allSettled(clients);
    await relay?.kill('SIGTERM');
    await receiver.stop();
    await vip.close();
    await standby.remove();
    await primary.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
