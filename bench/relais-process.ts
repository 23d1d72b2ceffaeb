import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import { openServices, type Services } from '../src/relay.js';
import { freePort } from './peers/loopback.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface RelaisUnderTest {
  pid: number;
  host: string;
  port: number;
  username: string;
  password: string;
  /** Peak resident set size so far (VmHWM), in MiB. */
  peakRssMiB(): number;
  stop(): Promise<void>;
}

/**
 * The built relay (dist/, as production runs it) in its own process, so its CPU and memory can be read from
 * /proc apart from the load generator's. Logs go to a file at the default level, as in production.
 */
export interface BenchRelayOptions {
  storeUrl?: string;
  /** Extra YAML lines; by default delivery is off (a submission-only measurement). */
  extraConfig?: string[];
  /** Runs against the store before the relay starts (to fill the queue, say). */
  prepare?: (services: Services) => Promise<void>;
  /** The submission listener's address (default 127.0.0.1). */
  host?: string;
  /** node.name, for several nodes on one store (default: the host name). */
  nodeName?: string;
  /** The credential, made already by another node on the same store: no customer or credential is created. */
  account?: { username: string; password: string };
  /** Extra environment for the relay process. */
  env?: NodeJS.ProcessEnv;
}

export async function startRelaisForBench(options: BenchRelayOptions = {}): Promise<RelaisUnderTest & { dir: string; configFile: string; startSeconds: number }> {
  const storeUrl = options.storeUrl;
  const extraConfig = options.extraConfig ?? ['delivery: { enabled: false }'];
  const main = path.join(ROOT, 'dist/cli/main.js');
  if (!fs.existsSync(main)) throw new Error('dist/cli/main.js is missing: run "npm run build" first');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-bench-'));
  const host = options.host ?? '127.0.0.1';
  const port = await freePort(host);
  const configFile = path.join(dir, 'relais.yaml');
  fs.writeFileSync(
    configFile,
    [
      'hostname: relay.bench',
      ...(options.nodeName ? [`node: { name: ${options.nodeName} }`] : []),
      `data_dir: ${dir}`,
      `store: { url: "${storeUrl ?? `sqlite:${path.join(dir, 'relais.db')}`}" }`,
      `listen: { submission: ["${host}:${port}"], smtps: [], smtp: [], console: [] }`,
      ...extraConfig,
    ].join('\n'),
  );
  const services = await openServices(loadConfig(configFile));
  let password = options.account?.password ?? '';
  if (!options.account) {
    await services.accounts.addCustomer('Bench', 'bench@bench.test');
    password = (await services.accounts.addCredential('Bench', 'bench')).password;
    await services.accounts.addPlan('bench', { quota: 100_000_000 });
  }
  await options.prepare?.(services);
  await services.close();

  const log = fs.openSync(path.join(dir, 'relais.log'), 'a');
  const started = process.hrtime.bigint();
  // RELAIS_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the relay under load.
  const nodeArgs = (process.env.RELAIS_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, main, 'start', '--config', configFile], {
    stdio: ['ignore', log, 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let banner = '';
  child.stderr?.on('data', (d: Buffer) => (banner += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!banner.includes('Relais is running')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`relay did not start: ${banner}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const startSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    startSeconds,
    dir,
    configFile,
    pid: child.pid as number,
    host,
    port,
    username: 'bench',
    password,
    peakRssMiB() {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      fs.closeSync(log);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
