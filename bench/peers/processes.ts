/**
 * Child-process helpers for the benchmark peers: locating the Postfix test programs, running a
 * command to completion, stopping a child by PID, and a last-resort cleanup when Node exits.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Directories searched after $PATH: Debian puts postfix, smtp-sink and smtp-source in /usr/sbin, often not on a user's PATH. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable, or a clear error saying which package provides it. */
export function findExecutable(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  throw new Error(
    `${name} was not found on PATH or in ${EXTRA_DIRS.join(', ')}. It ships with the Debian package "postfix" ` +
      '(see the install line in /work/shared/TEST-WORLD.md).',
  );
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without a shell; never rejects on a non-zero exit (callers decide). */
export function runCommand(file: string, args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
  return new Promise<CommandResult>((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error === null) {
        resolve({ code: 0, signal: null, stdout, stderr });
        return;
      }
      // ENOENT & co. arrive with a string code; exit statuses arrive as numbers.
      if (typeof error.code === 'string') {
        reject(new Error(`could not run ${file}: ${error.message}`));
        return;
      }
      resolve({ code: error.code ?? null, signal: error.signal ?? null, stdout, stderr });
    });
  });
}

/** Keeps the last `limit` characters of a stream, for error messages. */
export class TailBuffer {
  private text = '';
  constructor(private readonly limit = 4096) {}
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }
  toString(): string {
    return this.text.slice(-this.limit).trim();
  }
}

/** True while the process with this PID exists (including as a zombie). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves when the child has exited (immediately if it already has). */
export function waitForChildExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Sends SIGTERM to the child's PID, waits, then SIGKILL if it is still there after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
  if (await waitForChildExit(child, graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
  if (!(await waitForChildExit(child, graceMs))) {
    throw new Error(`process ${pid} (${child.spawnfile}) survived SIGKILL for ${graceMs} ms; check it with ps.`);
  }
}

type ExitHook = () => void;
const exitHooks = new Set<ExitHook>();
let exitListenerInstalled = false;

/**
 * Registers synchronous cleanup that runs if Node exits while a peer is still up (an uncaught error,
 * process.exit). Peers unregister it in their stop(). Signals do not run 'exit' listeners by default:
 * scripts should turn SIGINT/SIGTERM into process.exit() (postfix-baseline.ts does).
 */
export function onProcessExit(hook: ExitHook): () => void {
  if (!exitListenerInstalled) {
    exitListenerInstalled = true;
    process.on('exit', () => {
      for (const h of exitHooks) {
        try {
          h();
        } catch {
          // best effort: keep cleaning up the others
        }
      }
    });
  }
  exitHooks.add(hook);
  return () => {
    exitHooks.delete(hook);
  };
}
