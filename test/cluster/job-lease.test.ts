import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { SERVICE_JOBS, type ServiceJob } from '../../src/cluster/job-leases.js';
import { listNodes } from '../../src/cluster/node-list.js';
import type { JobRun } from '../../src/store/cluster-records.js';
import { Store } from '../../src/store/store.js';
import { scrape } from '../support/prometheus-scrape.js';
import { startTestRelay } from '../support/relay-fixture.js';
import { prepareCluster, waitFor, type ClusterNode } from './nodes-cluster.js';

const LEASE_MS = 3_000;

/** Who holds each job now (absent: nobody). */
async function holders(store: Store): Promise<Map<string, string>> {
  return new Map((await store.cluster.leases()).filter((l) => l.expiresAt > Date.now()).map((l) => [l.job, l.holder]));
}

/**
 * Three relay processes on one PostgreSQL database, every service job running often (lifecycle every 200 ms,
 * pruning every 300 ms, blocklist rounds every 300 ms, the delay-notice scan every scheduler pass) under a
 * 3 s job lease. The first node takes every job; kill -9 moves them within the lease time; SIGTERM of the
 * next holder moves them at once; the recorded runs of each job never overlap and are each by the holder.
 */
test('job leases: one node runs each job; kill -9 and SIGTERM move them; recorded runs never overlap', { timeout: 90_000 }, async (t) => {
  const cluster = await prepareCluster(
    [
      { name: 'j1', address: '127.0.110.41', outbound: ['127.0.110.51'] },
      { name: 'j2', address: '127.0.110.42', outbound: ['127.0.110.52'] },
      { name: 'j3', address: '127.0.110.43', outbound: ['127.0.110.53'] },
    ],
    [
      // The lease time is what this test is about: 3 s instead of 30 s, heartbeats (and tries) every 250 ms.
      `node: { name: NODE, heartbeat_interval: 250ms, job_lease_time: ${LEASE_MS}ms }`,
      'log: { level: warn }',
      'lifecycle: { interval: 200ms }',
      'quota: { prune_interval: 300ms }',
      // No sender domain is ever recorded, so the rounds look nothing up: they only have to run.
      'dnsbl: { interval: 300ms, domain_zones: [dbl.lease.test], timeout: 200ms }',
      'dns: { servers: ["127.0.110.250:53"] }',
    ],
  );
  const [j1, j2, j3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  const store = await Store.open(cluster.db.url, Date.now());
  try {
    await j1.start();
    await j2.start();
    await j3.start();
    const first = await holders(store);
    assert.deepEqual(
      [...first].sort(),
      SERVICE_JOBS.map((job) => [job, 'j1']).sort(),
      'the first node to start holds every job',
    );
    const runsBy = async (node: string, job: ServiceJob, since: number) => (await store.cluster.runs(since)).some((r) => r.node === node && r.job === job);
    const everyJobRunBy = (nodeOf: (job: ServiceJob) => string, since: number | ((job: ServiceJob) => number)) =>
      waitFor(
        'every job to run on its holder',
        async () => {
          for (const job of SERVICE_JOBS) if (!(await runsBy(nodeOf(job), job, typeof since === 'number' ? since : since(job)))) return false;
          return true;
        },
        15_000,
      );
    await everyJobRunBy(() => 'j1', 0);

    // kill -9: the leases are not given back; they move when they run out, within the lease time of the kill.
    const killedAt = Date.now();
    await j1.relay?.kill('SIGKILL');
    // j1 may have begun a run between the two: it is j1's, and ended when j1 died at the latest.
    const diedAt = Date.now();
    const takenAt = new Map<string, number>();
    const afterKill = await waitFor(
      'every job to move off the killed node',
      async () => {
        const now = await holders(store);
        for (const job of SERVICE_JOBS) if (!takenAt.has(job) && now.get(job) && now.get(job) !== 'j1') takenAt.set(job, Date.now());
        return takenAt.size === SERVICE_JOBS.length && now;
      },
      LEASE_MS * 3,
      20,
    );
    for (const [job, at] of takenAt) assert.ok(at - killedAt <= LEASE_MS, `${job} was taken over ${at - killedAt} ms after the kill (lease time ${LEASE_MS} ms)`);
    const moveTimes = SERVICE_JOBS.map((job) => (takenAt.get(job) as number) - killedAt);
    // The killed node never said it stopped: three heartbeats later it is lost, holding nothing.
    const listed = await listNodes(store, Date.now());
    assert.deepEqual(
      listed.map((n) => [n.name, n.state, n.jobs.length > 0]),
      [
        ['j1', 'lost', false],
        ['j2', 'live', [...afterKill.values()].includes('j2')],
        ['j3', 'live', [...afterKill.values()].includes('j3')],
      ],
    );
    const holderB = (job: ServiceJob) => afterKill.get(job) as string;
    await everyJobRunBy(holderB, killedAt);

    // SIGTERM: the holder gives its leases up as it stops; the other node takes them on its next try.
    const victim = holderB('lifecycle');
    const survivor = victim === 'j2' ? 'j3' : 'j2';
    const victimJobs = SERVICE_JOBS.filter((job) => holderB(job) === victim);
    const termAt = Date.now();
    let exitedAt = Number.POSITIVE_INFINITY;
    const stopped = (victim === 'j2' ? j2 : j3).relay?.kill('SIGTERM').then(() => (exitedAt = Date.now()));
    await waitFor(
      `the jobs of ${victim} to move to ${survivor}`,
      async () => {
        const now = await holders(store);
        return victimJobs.every((job) => now.get(job) === survivor);
      },
      LEASE_MS * 3,
      20,
    );
    const termMove = Date.now() - termAt;
    await stopped;
    assert.ok(termMove < LEASE_MS / 2, `after SIGTERM the jobs moved in ${termMove} ms, well before the ${LEASE_MS} ms lease time`);
    // The purge runs once an hour: a survivor that held it already has run it, the one that takes it runs it now.
    await everyJobRunBy(() => survivor, (job) => (victimJobs.includes(job) ? termAt : killedAt));
    await (survivor === 'j2' ? j2 : j3).relay?.kill('SIGTERM');

    const runs = await store.cluster.runs(0);
    for (const job of SERVICE_JOBS) {
      const mine = runs.filter((r) => r.job === job);
      // A killed process leaves its last run open: it ended at the kill at the latest.
      const end = (r: JobRun) => r.endedAt ?? (r.node === 'j1' ? diedAt : Number.POSITIVE_INFINITY);
      for (const r of mine) {
        assert.ok(r.endedAt !== null || r.node === 'j1', `${job} run ${r.id} by ${r.node} (not killed) was recorded as ended`);
        const expected = r.startedAt < killedAt ? 'j1' : r.startedAt < termAt ? holderB(job) : survivor;
        // Runs begun while the signal was on its way belong to the node signalled (the overlap check below
        // still holds them to ending before the next holder's first run).
        const signalled = (r.node === 'j1' && r.startedAt < diedAt) || (r.node === victim && holderB(job) === victim && r.startedAt < exitedAt);
        assert.ok(r.node === expected || signalled, `${job} run ${r.id} at ${r.startedAt} was by ${r.node}, but ${expected} held the job`);
      }
      for (let i = 1; i < mine.length; i++) {
        const a = mine[i - 1] as JobRun;
        const b = mine[i] as JobRun;
        assert.ok(end(a) <= b.startedAt, `${job} runs overlap: ${a.node} ${a.startedAt}-${end(a)} and ${b.node} from ${b.startedAt}`);
      }
    }
    const counts = Object.fromEntries(SERVICE_JOBS.map((job) => [job, runs.filter((r) => r.job === job).length]));
    t.diagnostic(`kill -9 takeover ms: ${moveTimes.join(', ')}; SIGTERM takeover ms: ${termMove}; runs: ${JSON.stringify(counts)}`);
    assert.deepEqual(await holders(store), new Map(), 'no lease is left after the last node stopped');
  } finally {
    await store.close();
    await cluster.close();
  }
});

/** SQLite, one node: it takes every job it can run at start, records the runs, and gives the leases up at stop. */
test('a single SQLite node holds its jobs, records their runs, and releases them at stop', { timeout: 30_000 }, async () => {
  const relay = await startTestRelay({
    overrides: { delivery: { enabled: true }, lifecycle: { interval: '200ms' }, quota: { prune_interval: '200ms' }, listen: { console: ['127.0.110.60:0'] } },
  });
  let stopped = false;
  try {
    assert.deepEqual(relay.relay.jobs.held().sort(), ['delay-notices', 'lifecycle', 'pruning', 'purge']);
    const store = relay.relay.store;
    await waitFor(
      'runs of every held job',
      async () => {
        const jobs = new Set((await store.cluster.runs(0)).map((r) => r.job));
        return ['delay-notices', 'lifecycle', 'pruning', 'purge'].every((j) => jobs.has(j));
      },
      10_000,
    );
    for (const r of await store.cluster.runs(0)) assert.equal(r.node, relay.config.node.name);
    // /metrics says which jobs this node holds: blocklists is not among them (no zone configured).
    const metrics = await scrape(`http://127.0.110.60:${relay.port('console')}`);
    for (const job of ['delay-notices', 'lifecycle', 'pruning', 'purge']) assert.equal(metrics.value('relais_job_lease_held', { job }), 1, job);
    assert.equal(metrics.value('relais_job_lease_held', { job: 'blocklists' }), 0);
    // A restart under the same name takes its own unexpired lease back at once (its predecessor died holding it).
    assert.equal(await store.cluster.takeLease('lifecycle', relay.config.node.name, Date.now(), Date.now() + 30_000), true);
    assert.equal(await store.cluster.takeLease('lifecycle', 'another-node', Date.now(), Date.now() + 30_000), false);
    const path = relay.config.store.url;
    await relay.relay.stop();
    stopped = true;
    const reopened = await Store.open(path, Date.now());
    try {
      assert.deepEqual(await reopened.cluster.leases(), []);
      const nodes = await reopened.cluster.nodes();
      assert.equal(nodes.length, 1);
      assert.notEqual(nodes[0]?.stoppedAt, null);
    } finally {
      await reopened.close();
    }
  } finally {
    if (!stopped) await relay.relay.stop();
    fs.rmSync(relay.dir, { recursive: true, force: true });
  }
});
