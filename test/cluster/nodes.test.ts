import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { listNodes } from '../../src/cluster/node-list.js';
import { Store } from '../../src/store/store.js';
import { runCli } from '../support/relay-process.js';
import { RawSmtpClient } from '../support/smtp-clients.js';
import { prepareCluster, waitFor, type TestCluster } from './nodes-cluster.js';

interface NodeJson {
  name: string;
  roles: string[];
  version: string;
  state: string;
  live: boolean;
  listen: string[];
  outbound_ips: string[];
  last_heartbeat: string;
  sessions: number;
  deliveries_in_flight: number;
  jobs: string[];
}

interface IpJson {
  address: string;
  nodes: string[];
  state: string;
}

const VERSION = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function refused(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/**
 * Three `relais start` processes on one PostgreSQL database, each with its own name, listen and outbound
 * addresses; the third started with `--roles delivery`.
 */
describe('node registry: three nodes on one store', { timeout: 90_000 }, () => {
  let cluster: TestCluster;
  /** The shared store, to wait on without a CLI process per look (the CLI is checked once at each end). */
  let store: Store;

  before(async () => {
    cluster = await prepareCluster(
      [
        { name: 'n1', address: '127.0.110.1', outbound: ['127.0.110.11', '127.0.110.12'] },
        { name: 'n2', address: '127.0.110.2', outbound: ['127.0.110.21'] },
        { name: 'n3', address: '127.0.110.3', outbound: ['127.0.110.31', '127.0.110.32'] },
      ],
      ['node: { name: NODE, heartbeat_interval: 300ms }', 'log: { level: warn }'],
    );
    const [n1, n2, n3] = cluster.nodes;
    await n1?.start();
    await n2?.start();
    await n3?.start(['--roles', 'delivery']);
    store = await Store.open(cluster.db.url, Date.now());
  });

  after(async () => {
    await store?.close();
    await cluster?.close();
  });

  test('relais node list shows three live nodes with their roles, version, addresses and the jobs each holds', async () => {
    const nodes = await cluster.cli<NodeJson[]>(['node', 'list']);
    assert.deepEqual(
      nodes.map((n) => n.name),
      ['n1', 'n2', 'n3'],
    );
    for (const n of nodes) {
      assert.equal(n.state, 'live', `${n.name} is live`);
      assert.equal(n.live, true);
      assert.equal(n.version, VERSION);
      assert.ok(Date.now() - Date.parse(n.last_heartbeat) < 2_000, `${n.name}'s heartbeat is recent: ${n.last_heartbeat}`);
    }
    const [n1, n2, n3] = nodes as [NodeJson, NodeJson, NodeJson];
    assert.deepEqual(n1.roles, ['submission', 'delivery', 'console', 'jobs']);
    assert.deepEqual(n2.roles, ['submission', 'delivery', 'console', 'jobs']);
    assert.deepEqual(n3.roles, ['delivery']);
    const [c1, c2] = cluster.nodes;
    assert.deepEqual(n1.listen, [`submission ${c1?.submission.address}:${c1?.submission.port}`]);
    assert.deepEqual(n2.listen, [`submission ${c2?.submission.address}:${c2?.submission.port}`]);
    assert.deepEqual(n3.listen, [], 'a delivery-only node listens nowhere');
    assert.deepEqual(n1.outbound_ips, ['127.0.110.11', '127.0.110.12']);
    assert.deepEqual(n3.outbound_ips, ['127.0.110.31', '127.0.110.32']);
    // n1 started first and took every job; the node without the jobs role holds none.
    assert.deepEqual([...n1.jobs].sort(), ['delay-notices', 'lifecycle', 'pruning', 'purge']);
    assert.deepEqual(n2.jobs, []);
    assert.deepEqual(n3.jobs, []);

    const table = await runCli(['node', 'list', '--config', cluster.nodes[0]?.configFile as string]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NODE\s+STATE\s+ROLES\s+VERSION/m);
    assert.match(table.stdout, /^n3\s+live\s+delivery\s+/m);
  });

  test('roles are honoured: the --roles delivery node has no submission port open, the others do', async () => {
    const [n1, n2, n3] = cluster.nodes;
    assert.equal(await refused(n3?.submission.address as string, n3?.submission.port as number), true, 'n3 refuses connections on its submission address');
    for (const node of [n1, n2]) {
      const client = await RawSmtpClient.connect(node?.submission.port as number, { host: node?.submission.address });
      assert.match(client.greeting, /^220 /);
      client.close();
    }
  });

  test('the heartbeat carries what a node is doing: an open SMTP session shows in its count', async () => {
    const n2 = cluster.nodes[1];
    const client = await RawSmtpClient.connect(n2?.submission.port as number, { host: n2?.submission.address });
    try {
      await waitFor('n2 to report its open session', async () => (await listNodes(store, Date.now())).find((n) => n.name === 'n2' && n.sessions === 1), 10_000);
      const seen = (await cluster.cli<NodeJson[]>(['node', 'list'])).find((n) => n.name === 'n2');
      assert.equal(seen?.sessions, 1);
      assert.equal(seen?.deliveries_in_flight, 0);
    } finally {
      client.close();
    }
  });

  test('relais ip list shows the whole pool, each address with the node that owns it', async () => {
    const ips = await cluster.cli<IpJson[]>(['ip', 'list']);
    assert.deepEqual(
      ips.map((ip) => [ip.address, ip.nodes]),
      [
        ['127.0.110.11', ['n1']],
        ['127.0.110.12', ['n1']],
        ['127.0.110.21', ['n2']],
        ['127.0.110.31', ['n3']],
        ['127.0.110.32', ['n3']],
      ],
    );
    for (const ip of ips) assert.equal(ip.state, 'active');
    const table = await runCli(['ip', 'list', '--config', cluster.nodes[1]?.configFile as string]);
    assert.match(table.stdout, /^127\.0\.110\.31\s+n3\.relay\.test\s+n3\s+active/m);
  });

  test('a node stopped gracefully is marked stopped; its jobs are taken by another node at once', async () => {
    const n1 = cluster.nodes[0];
    const stoppedAt = Date.now();
    await n1?.relay?.kill('SIGTERM');
    assert.equal(n1?.relay?.child.exitCode, 0, n1?.relay?.output());
    await waitFor('n2 to hold the jobs n1 gave up', async () => (await listNodes(store, Date.now())).find((n) => n.name === 'n2')?.jobs.length === 4, 10_000);
    // The lease time is 30 s by default: the jobs moved because n1 gave them up, not because its leases ran out.
    const movedMs = Date.now() - stoppedAt;
    assert.ok(movedMs < 10_000, `moved in ${movedMs} ms`);
    const nodes = await cluster.cli<NodeJson[]>(['node', 'list']);
    assert.deepEqual([...(nodes.find((n) => n.name === 'n2')?.jobs ?? [])].sort(), ['delay-notices', 'lifecycle', 'pruning', 'purge']);
    const n1Row = nodes.find((n) => n.name === 'n1');
    assert.equal(n1Row?.state, 'stopped');
    assert.equal(n1Row?.live, false);
    assert.deepEqual(n1Row?.jobs, []);
  });
});

test('--roles and node.roles refuse an unknown role, naming the allowed ones', { timeout: 30_000 }, async () => {
  const cluster = await prepareCluster([{ name: 'bad', address: '127.0.110.9', outbound: [] }], ['node: { name: NODE }']);
  try {
    const node = cluster.nodes[0];
    const result = await runCli(['start', '--config', node?.configFile as string, '--roles', 'submission,mail']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /"mail" is not a role; the roles are submission, delivery, console, jobs/);
    const file = node?.configFile as string;
    fs.appendFileSync(file, '\n');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('node: { name: bad }', 'node: { name: bad, roles: [delivery, mail] }'));
    const check = await runCli(['config', 'check', file]);
    assert.notEqual(check.code, 0);
    assert.match(check.stderr, /node\.roles.*expected one of the roles submission, delivery, console, jobs/);
  } finally {
    await cluster.close();
  }
});
