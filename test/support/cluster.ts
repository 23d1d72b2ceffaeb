import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { openServices } from '../../src/relay.js';
import { startReceiver, type ReceiverBehaviour, type ReceiverPeer } from '../peers/receiver.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { freePort, startRelayProcess, writeConfig, type RelayProcess } from './relay-process.js';

/**
 * Several `relais start` processes on one PostgreSQL database, as a cluster runs: each node its own node.name,
 * data_dir, submission address and outbound addresses, one secrets key file for all (the store's DKIM keys are
 * sealed with it), and one receiver that every route leads to.
 */
export interface ClusterNode {
  name: string;
  /** The submission listener (STARTTLS). */
  host: string;
  port: number;
  /** The node's own outbound addresses: the receiver's record of the peer address says which node delivered. */
  outbound: string[];
  configFile: string;
  process: RelayProcess;
}

export interface Cluster {
  db: TestDatabase;
  dir: string;
  nodes: ClusterNode[];
  receiver: ReceiverPeer;
  username: string;
  password: string;
  /** The node whose outbound addresses include `address`. */
  nodeOf(address: string): ClusterNode | undefined;
  /** Runs `fn` with the store's services opened from the first node's configuration, then closes them. */
  withStore<T>(fn: (services: Awaited<ReturnType<typeof openServices>>) => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Address block, for example "127.0.113": node i listens on .(1+i), sends from .(11+2i) and .(12+2i); the receiver is .21. */
  net: string;
  nodes?: number;
  quota?: number;
  receiver?: Partial<ReceiverBehaviour>;
  /** More outbound settings, inside the node's `outbound:` map (for example "max_connections: 4"). */
  outbound?: string;
  /** YAML lines added to every node's configuration (a test about a setting). */
  extra?: (index: number) => string[];
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const count = options.nodes ?? 3;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-cluster-'));
  const db = await createTestDatabase();
  const receiverAddress = `${options.net}.21`;
  const receiver = await startReceiver({ address: receiverAddress, name: 'mx.cluster.test', behaviour: options.receiver ?? {} });
  const nodes: ClusterNode[] = [];
  try {
    const username = 'cluster';
    for (let i = 0; i < count; i++) {
      const name = `node-${String.fromCharCode(97 + i)}`;
      const host = `${options.net}.${1 + i}`;
      const port = await freePort(host);
      const outbound = [`${options.net}.${11 + 2 * i}`, `${options.net}.${12 + 2 * i}`];
      const nodeDir = path.join(dir, name);
      fs.mkdirSync(nodeDir);
      const configFile = writeConfig(
        nodeDir,
        [
          `hostname: ${name}.relay.test`,
          `node: { name: ${name} }`,
          `data_dir: ${nodeDir}`,
          `store: { url: "${db.url}" }`,
          `secrets: { key_file: ${path.join(dir, 'secret.key')} }`,
          `listen: { submission: ["${host}:${port}"], smtps: [], smtp: [], console: [] }`,
          'log: { level: warn }',
          `routes: { "*": "${receiverAddress}:${receiver.port}" }`,
          `outbound: { ips: [${outbound.map((a) => `{ address: ${a} }`).join(', ')}]${options.outbound ? `, ${options.outbound}` : ''} }`,
          ...(options.extra?.(i) ?? []),
        ].join('\n'),
      );
      nodes.push({ name, host, port, outbound, configFile, process: undefined as unknown as RelayProcess });
    }
    // The schema and the credential exist before any node starts, as after `relais init` and the operator's setup.
    const services = await openServices(loadConfig(nodes[0]!.configFile));
    let password: string;
    try {
      await services.accounts.addCustomer('Cluster Co', 'ops@cluster.test');
      password = (await services.accounts.addCredential('Cluster Co', username)).password;
      await services.accounts.addPlan(username, { quota: options.quota ?? 1_000_000 });
    } finally {
      await services.close();
    }
    const started = await Promise.allSettled(nodes.map((node) => startRelayProcess(node.configFile)));
    started.forEach((s, i) => {
      if (s.status === 'fulfilled') nodes[i]!.process = s.value;
    });
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    let stopped = false;
    const cluster: Cluster = {
      db,
      dir,
      nodes,
      receiver,
      username,
      password,
      nodeOf: (address) => nodes.find((n) => n.outbound.includes(address.replace(/^::ffff:/, ''))),
      async withStore(fn) {
        const s = await openServices(loadConfig(nodes[0]!.configFile));
        try {
          return await fn(s);
        } finally {
          await s.close();
        }
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await Promise.allSettled(nodes.map((n) => n.process?.kill('SIGKILL')));
        await receiver.stop();
        await db.drop().catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
    return cluster;
  } catch (error) {
    await Promise.allSettled(nodes.map((n) => n.process?.kill('SIGKILL')));
    await receiver.stop();
    await db.drop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The subject line's tag of a received message (tests give every message a unique one). */
export function subjectOf(raw: Buffer, prefix: string): string | undefined {
  return new RegExp(`^Subject: (${prefix}-[\\w-]+)`, 'm').exec(raw.toString())?.[1];
}

/** Polls `check` until it returns true or `withinMs` passes; returns whether it did. */
export async function waitUntil(check: () => boolean | Promise<boolean>, withinMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export { freePort };
