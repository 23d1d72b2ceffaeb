import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import { openServices } from '../../src/relay.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The relay as operators run it: the `relais` command in its own process, which a test may kill -9. */
export interface RelayProcess {
  child: ChildProcess;
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function freePort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * How a test runs the `relais` command: from the sources through tsx, or, under `npm test` (which builds dist/
 * from these same sources first and sets RELAIS_TEST_CLI=dist), the built command, which starts in a third of
 * the time: the suite runs the CLI hundreds of times.
 */
function relaisCommand(): string[] {
  if (process.env.RELAIS_TEST_CLI === 'dist') return [path.join(ROOT, 'dist/cli/main.js')];
  // tsx is resolved from the checkout, wherever the command runs.
  return ['--import', pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href, path.join(ROOT, 'src/cli/main.ts')];
}

/** Runs `relais ARGS` from the source tree and resolves with its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...relaisCommand(), ...args], {
      cwd,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `relais start --config FILE`, with `args` after it (`--roles delivery`). */
export async function startRelayProcess(configFile: string, args: readonly string[] = []): Promise<RelayProcess> {
  const child = spawn(process.execPath, [...relaisCommand(), 'start', '--config', configFile, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Generous: on a loaded two-core machine a cold node start (module loading, migrations) has taken over 20 s;
  // no test here is about start-up time.
  const deadline = Date.now() + 60_000;
  // Printed once every listener is bound, whatever the log level.
  while (!text.includes('Relais is running')) {
    if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode} before starting:\n${text}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`relay did not start within 60 s:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    child,
    output: () => text,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * A relay for crash tests: its config file (YAML lines) and a credential "crash" with a quota that never binds,
 * made before the relay process starts.
 */
export async function prepareCrashRelay(dir: string, yamlLines: string[]): Promise<{ configFile: string; password: string }> {
  const configFile = writeConfig(dir, yamlLines.join('\n'));
  const services = await openServices(loadConfig(configFile));
  try {
    await services.accounts.addCustomer('Crash Co', 'ops@crash.test');
    const { password } = await services.accounts.addCredential('Crash Co', 'crash');
    await services.accounts.addPlan('crash', { quota: 1_000_000 });
    return { configFile, password };
  } finally {
    await services.close();
  }
}

export function writeConfig(dir: string, yaml: string): string {
  const file = path.join(dir, 'relais.yaml');
  fs.writeFileSync(file, yaml);
  return file;
}
