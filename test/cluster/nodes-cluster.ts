import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { freePort, runCli, startRelayProcess, writeConfig, type RelayProcess } from '../support/relay-process.js';

/** One node of a test cluster: its own configuration, data directory, listen and outbound addresses. */
export interface ClusterNode {
  name: string;
  configFile: string;
  /** Its submission listener's address (bound only with the submission role). */
  submission: { address: string; port: number };
  outbound: string[];
  relay?: RelayProcess;
  start(args?: readonly string[]): Promise<RelayProcess>;
}

export interface TestCluster {
  db: TestDatabase;
  nodes: ClusterNode[];
  /** `relais ARGS --json --config (the first node's)`, parsed. */
  cli<T>(args: string[]): Promise<T>;
  /** Kills whatever still runs, drops the database, removes the directories. */
  close(): Promise<void>;
}

/**
 * Nodes on one fresh PostgreSQL database, each in its own directory. `spec.address` is its listen address;
 * `common` are YAML lines every node's configuration gets (NODE is replaced by the node's name).
 */
export async function prepareCluster(specs: { name: string; address: string; outbound: string[] }[], common: string[]): Promise<TestCluster> {
  const db = await createTestDatabase();
  const dirs: string[] = [];
  const nodes: ClusterNode[] = [];
  for (const spec of specs) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `relais-${spec.name}-`));
    dirs.push(dir);
    const port = await freePort(spec.address);
    const configFile = writeConfig(
      dir,
      [
        'hostname: relay.test',
        `data_dir: ${dir}`,
        `store: { url: "${db.url}" }`,
        `listen: { submission: ["${spec.address}:${port}"], smtps: [], smtp: [], console: [] }`,
        `outbound: { ips: [${spec.outbound.map((a) => `{ address: ${a}, ehlo: ${spec.name}.relay.test }`).join(', ')}] }`,
        ...common.map((line) => line.replace('NODE', spec.name)),
      ].join('\n'),
    );
    const node: ClusterNode = {
      name: spec.name,
      configFile,
      submission: { address: spec.address, port },
      outbound: spec.outbound,
      async start(args = []) {
        node.relay = await startRelayProcess(configFile, args);
        return node.relay;
      },
    };
    nodes.push(node);
  }
  return {
    db,
    nodes,
    async cli<T>(args: string[]): Promise<T> {
      const result = await runCli([...args, '--json', '--config', (nodes[0] as ClusterNode).configFile]);
      if (result.code !== 0) throw new Error(`relais ${args.join(' ')} exited with ${result.code}: ${result.stderr}`);
      return JSON.parse(result.stdout) as T;
    },
    async close() {
      await Promise.all(nodes.map((n) => n.relay?.kill('SIGKILL')));
      await db.drop();
      for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
