import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/*
 * Daemons started for tests and their temp dirs. A test that fails before calling stop() must not leave a
 * daemon holding a port or a dir behind, so everything still alive is killed and removed when this process
 * exits. Children write to log files rather than pipes and are unref'd: a forgotten stop() then does not keep
 * the test process alive either.
 */
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** A fresh directory for one peer's config, data and logs; removed by removePeerDir or at process exit. */
export async function makePeerDir(name: string, options: { worldReadable?: boolean } = {}): Promise<string> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), `relais-peer-${name}-`));
  liveDirs.add(dir);
  // A daemon that drops privileges (rbldnsd runs as rbldns) must still read its files in here.
  if (options.worldReadable) await chmod(dir, 0o755);
  return dir;
}

export async function removePeerDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/** The last `maxChars` characters of a log file, or a note that it cannot be read. */
export function tailFile(path: string, maxChars = 4000): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.length > maxChars ? `...${text.slice(-maxChars)}` : text;
  } catch (err) {
    return `(cannot read ${path}: ${(err as Error).message})`;
  }
}

export interface PeerProcess {
  readonly name: string;
  readonly pid: number;
  /** Why the process ended, or undefined while it runs. */
  exitDescription(): string | undefined;
  /** The tail of its stdout/stderr (and of any extra log files), for error messages. */
  log(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnPeerOptions {
  name: string;
  command: string;
  args: string[];
  /** stdout and stderr go here. */
  logFile: string;
  /** Log files the daemon writes itself, shown in log() too. */
  extraLogFiles?: string[];
  cwd?: string;
}

export async function spawnPeer(options: SpawnPeerOptions): Promise<PeerProcess> {
  installExitHook();
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, { cwd: options.cwd, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  let exitDescription: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitDescription = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
      liveChildren.delete(child);
      resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) =>
      reject(new Error(`cannot start ${options.name} (${options.command}): ${err.message}; is its Debian package installed?`)),
    );
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name} started without a PID`);
  liveChildren.add(child);
  child.unref();

  const log = (): string =>
    [options.logFile, ...(options.extraLogFiles ?? [])].map((f) => `--- ${basename(f)}\n${tailFile(f)}`).join('\n');

  return {
    name: options.name,
    pid,
    exitDescription: () => exitDescription,
    log,
    async stop(graceMs = 5000): Promise<void> {
      if (exitDescription !== undefined) return;
      child.ref(); // keep the event loop alive until the exit is seen
      process.kill(pid, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      });
      const late = await Promise.race([exited.then(() => false), timedOut]);
      clearTimeout(timer);
      if (late) {
        process.kill(pid, 'SIGKILL');
        await exited;
      }
    },
  };
}

export interface Readiness {
  /** What readiness means, for the error message ("clamd answered PING"). */
  what: string;
  probe: () => Promise<boolean>;
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Spawns a daemon and waits until it serves. If anything fails on the way (writing its config in `prepare`,
 * starting, becoming ready), the daemon is stopped and its dir removed before the error is passed on.
 */
export async function startPeer(dir: string, options: SpawnPeerOptions, ready: Readiness, prepare?: () => Promise<void>): Promise<PeerProcess> {
  let proc: PeerProcess | undefined;
  try {
    await prepare?.();
    proc = await spawnPeer(options);
    await waitUntil(ready.what, ready.probe, { timeoutMs: ready.timeoutMs, intervalMs: ready.intervalMs, proc });
    return proc;
  } catch (err) {
    await proc?.stop();
    await removePeerDir(dir);
    throw err;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns true. Fails early, with the process log, if `proc` exits meanwhile, and
 * otherwise after `timeoutMs` with the last probe error and the log, so a failing start explains itself.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; proc?: PeerProcess },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    const exit = options.proc?.exitDescription();
    if (exit !== undefined && options.proc !== undefined) {
      throw new Error(`${options.proc.name} ${exit} before ${what}; its log:\n${options.proc.log()}`);
    }
    if (Date.now() >= deadline) {
      const last = lastError ? ` (last attempt: ${lastError})` : '';
      const log = options.proc ? `; its log:\n${options.proc.log()}` : '';
      throw new Error(`${what}: not within ${options.timeoutMs / 1000} s${last}${log}`);
    }
    await sleep(options.intervalMs ?? 50);
  }
}

/**
 * Runs the returned function's calls one after another: a peer's run-time changes rewrite the same files,
 * and two tests' changes must not interleave.
 */
export function serialized(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task);
    tail = run.catch(() => undefined);
    return run;
  };
}
