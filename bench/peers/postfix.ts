/**
 * A private Postfix instance as the reference relay of the side-by-side benchmark.
 *
 * Everything lives under one mkdtemp directory: etc/ (main.cf, master.cf), queue/ (queue_directory),
 * data/ (data_directory, owned by postfix), log/maillog (maillog_file; there is no syslog here, and
 * Postfix only writes maillog_file under a prefix listed in maillog_file_prefixes, which we set to
 * log/). The system Postfix (/etc/postfix, /var/spool/postfix) is only read from: master.cf is copied
 * from /etc/postfix/master.cf, and meta_directory/daemon_directory are the shared Debian ones.
 *
 * Pitfalls handled here:
 * - `postfix -c DIR check/start` report failures on stderr only if it is a terminal, else in
 *   maillog_file: errors include the maillog tail, and a failed check is rerun under script(1).
 * - The queue directory must exist before `postfix check`; post-install then creates its subdirs.
 * - The data directory must be owned by postfix (else a check warning and failing tlsmgr/verify).
 * - Debian's master.cf chroots most services into the queue dir, which has no /etc or libs here:
 *   every service gets chroot=n.
 * - Postfix sets SO_REUSEPORT, so binding a port another Postfix/smtp-sink holds succeeds silently and
 *   the two share the traffic: the port is checked before start and the listener count after.
 * - Only the smtpd service listens: any other uncommented inet service of the copied master.cf is
 *   commented out, so nothing binds a well-known port.
 * - No DNS: relayhost is a bracketed IP literal, smtp_dns_support_level=disabled, smtpd does no
 *   reverse lookups of its clients (smtpd_peername_lookup=no).
 * - Postfix's own flow control (in_flow_delay), concurrency ramp-up and process limits stay at their
 *   defaults: that is the Postfix being compared.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertLoopbackIPv4, assertPort, assertPortFree, assertSingleListener, waitForPort } from './loopback.js';
import { findExecutable, onProcessExit, pidExists, runCommand } from './processes.js';
import { processTree, readProcStat, treeCpuSeconds } from './proc-stat.js';

export interface PrivatePostfixOptions {
  /** Port for smtpd on listenAddress. */
  listenPort: number;
  /** IPv4 address in 127.0.0.0/8 for smtpd and inet_interfaces (default 127.0.0.1). */
  listenAddress?: string;
  /**
   * Where all mail is relayed (relayhost=[host]:port). It need not be listening: mail then stays
   * deferred in the queue (and flush() retries it once something listens).
   */
  relayTo: { host: string; port: number };
  /** Parent directory for the instance's mkdtemp directory (default os.tmpdir()). Removed on stop(). */
  dir?: string;
  /** Extra or overriding main.cf parameters, e.g. { default_process_limit: '200' }. */
  mainCf?: Readonly<Record<string, string>>;
  /** Keep the instance directory after stop() for inspection (default false). */
  keepDir?: boolean;
  /** How long to wait for smtpd to accept connections after start (default 30 s). */
  startTimeoutMs?: number;
}

export interface PrivatePostfix {
  host: string;
  port: number;
  /** The mkdtemp directory holding everything below. */
  rootDir: string;
  configDir: string;
  queueDir: string;
  dataDir: string;
  logFile: string;
  /** PID of this instance's master process. */
  masterPid: number;
  /** Messages in the queue: files in maildrop, incoming, active, deferred and hold. */
  queueCount(): Promise<number>;
  /** CPU seconds used so far by master and all its (live and reaped) children; see proc-stat.ts. */
  cpuSeconds(): number;
  /** Live processes of this instance (master included). */
  processCount(): number;
  /** postqueue -f: retry deferred mail now (e.g. after the relay target came up). */
  flush(): Promise<void>;
  /** Last lines of this instance's maillog. */
  logTail(lines?: number): string;
  /** postfix stop, wait until every process of the instance is gone, remove rootDir. Safe to call twice. */
  stop(): Promise<void>;
}

/** Queue subdirectories holding messages that are not yet delivered (deferred and hold are hashed into subdirs). */
const QUEUE_SUBDIRS = ['maildrop', 'incoming', 'active', 'deferred', 'hold'];

interface UserIds {
  uid: number;
  gid: number;
}

/** uid/gid of a local user from /etc/passwd (Node has no getpwnam). */
function lookupUser(name: string): UserIds {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  const fields = line?.split(':');
  const uid = Number(fields?.[2]);
  const gid = Number(fields?.[3]);
  if (fields === undefined || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(`user "${name}" not found in /etc/passwd; is the Debian package postfix installed?`);
  }
  return { uid, gid };
}

/** Postfix main.cf values are whitespace/comma separated lists with $-expansion: keep paths plain. */
function assertPlainPath(p: string): void {
  if (!/^[A-Za-z0-9_./+-]+$/.test(p)) {
    throw new Error(`path "${p}" has characters Postfix's main.cf would misread; choose a plain directory (options.dir) or TMPDIR.`);
  }
}

/**
 * Debian's master.cf with chroot=n everywhere, the "smtp inet" service moved to address:port and
 * any other inet service commented out.
 */
export function privateMasterCf(template: string, listen: string): string {
  const out: string[] = [];
  let foundSmtpd = false;
  let commentingContinuation = false;
  for (const line of template.split('\n')) {
    const isContinuation = /^\s+\S/.test(line);
    if (isContinuation) {
      out.push(commentingContinuation ? `#${line}` : line);
      continue;
    }
    commentingContinuation = false;
    if (line.trim() === '' || line.startsWith('#')) {
      out.push(line);
      continue;
    }
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) throw new Error(`unexpected master.cf line (fewer than 8 fields): ${line}`);
    fields[4] = 'n';
    if (fields[1] === 'inet') {
      if (fields[0] === 'smtp' && !foundSmtpd) {
        fields[0] = listen;
        foundSmtpd = true;
      } else {
        out.push(`# disabled for the private benchmark instance: ${line}`);
        commentingContinuation = true;
        continue;
      }
    }
    out.push(fields.join('  '));
  }
  if (!foundSmtpd) throw new Error('master.cf template has no "smtp inet ... smtpd" service to move to the benchmark port.');
  return out.join('\n');
}

function mainCfText(params: Readonly<Record<string, string>>): string {
  return `${Object.entries(params)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n')}\n`;
}

function tailOfFile(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no maillog)';
  }
}

async function countFiles(dir: string): Promise<number> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (error) {
    // Postfix moves and deletes queue files all the time; a vanished directory holds nothing.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  let count = 0;
  for (const entry of entries) {
    if (entry.isDirectory()) count += await countFiles(path.join(dir, entry.name));
    else if (entry.isFile()) count += 1;
  }
  return count;
}

/**
 * Postfix prints errors on stderr only when stderr is a terminal; otherwise they go to maillog_file,
 * which is unknown when main.cf itself is broken. Rerunning `postfix check` under script(1) (util-linux,
 * always on Debian) gives it a terminal and so the message.
 */
async function checkUnderTerminal(postfix: string, configDir: string): Promise<string> {
  try {
    const result = await runCommand(findExecutable('script'), ['-qec', `${postfix} -c ${configDir} check`, '/dev/null']);
    return `${result.stdout}${result.stderr}`.trim();
  } catch {
    return '(no message: Postfix reports errors only to a terminal or its log; run the check in a terminal)';
  }
}

/** The Postfix version string, e.g. "3.7.11". */
export async function postfixVersion(): Promise<string> {
  const result = await runCommand(findExecutable('postconf'), ['-d', '-h', 'mail_version']);
  return result.stdout.trim() || 'unknown';
}

export async function startPrivatePostfix(options: PrivatePostfixOptions): Promise<PrivatePostfix> {
  const listenAddress = options.listenAddress ?? '127.0.0.1';
  assertLoopbackIPv4(listenAddress, 'startPrivatePostfix listenAddress');
  assertPort(options.listenPort, 'startPrivatePostfix listenPort');
  assertLoopbackIPv4(options.relayTo.host, 'startPrivatePostfix relayTo.host');
  assertPort(options.relayTo.port, 'startPrivatePostfix relayTo.port');
  if (process.getuid?.() !== 0) {
    throw new Error('startPrivatePostfix must run as root: Postfix master starts as root and switches to the postfix user.');
  }
  const postfix = findExecutable('postfix');
  const postqueue = findExecutable('postqueue');
  const postfixUser = lookupUser('postfix');
  await assertPortFree(listenAddress, options.listenPort, 'startPrivatePostfix');

  const parent = options.dir ?? os.tmpdir();
  const rootDir = fs.mkdtempSync(path.join(parent, 'relais-postfix-'));
  // mkdtemp makes 0700; postfix-owned daemons must be able to reach files below.
  fs.chmodSync(rootDir, 0o755);
  const configDir = path.join(rootDir, 'etc');
  const queueDir = path.join(rootDir, 'queue');
  const dataDir = path.join(rootDir, 'data');
  const logDir = path.join(rootDir, 'log');
  const logFile = path.join(logDir, 'maillog');
  const removeRoot = (): void => {
    if (options.keepDir !== true) fs.rmSync(rootDir, { recursive: true, force: true });
  };

  let masterPid: number | undefined;
  let masterStart: number | undefined;
  const masterAlive = (): boolean => masterPid !== undefined && readProcStat(masterPid)?.starttime === masterStart;

  // Last resort if Node exits without stop(): kill the instance's process group (master calls setsid, so
  // the group is exactly this instance) and remove its directory.
  const unregister = onProcessExit(() => {
    if (masterPid !== undefined && masterAlive()) {
      const pgrp = readProcStat(masterPid)?.pgrp;
      process.kill(pgrp === masterPid ? -masterPid : masterPid, 'SIGKILL');
    }
    removeRoot();
  });

  const fail = async (what: string, detail: string): Promise<never> => {
    if (masterAlive()) await runCommand(postfix, ['-c', configDir, 'abort']).catch(() => undefined);
    const log = tailOfFile(logFile, 15);
    const keptAt = options.keepDir === true ? ` Files kept in ${rootDir}.` : '';
    removeRoot();
    unregister();
    throw new Error(`private Postfix: ${what}.${detail ? `\n${detail}` : ''}\nmaillog tail:\n${log}${keptAt}`);
  };

  try {
    assertPlainPath(rootDir);
    for (const d of [configDir, queueDir, dataDir, logDir]) fs.mkdirSync(d, { mode: 0o755 });
    fs.chownSync(dataDir, postfixUser.uid, postfixUser.gid);
    fs.chmodSync(dataDir, 0o700);

    const params: Record<string, string> = {
      compatibility_level: '3.6',
      queue_directory: queueDir,
      data_directory: dataDir,
      myhostname: 'postfix-bench.test',
      mydomain: 'test',
      myorigin: '$myhostname',
      inet_interfaces: listenAddress,
      inet_protocols: 'ipv4',
      mynetworks: '127.0.0.0/8',
      mydestination: '',
      relay_domains: '',
      relayhost: `[${options.relayTo.host}]:${options.relayTo.port}`,
      alias_maps: '',
      alias_database: '',
      smtp_dns_support_level: 'disabled',
      smtpd_peername_lookup: 'no',
      biff: 'no',
      maillog_file_prefixes: logDir,
      maillog_file: logFile,
      syslog_name: 'postfix-relais-bench',
      ...options.mainCf,
    };
    fs.writeFileSync(path.join(configDir, 'main.cf'), mainCfText(params), { mode: 0o644 });
    const listen = `${listenAddress}:${options.listenPort}`;
    fs.writeFileSync(path.join(configDir, 'master.cf'), privateMasterCf(fs.readFileSync('/etc/postfix/master.cf', 'utf8'), listen), {
      mode: 0o644,
    });
  } catch (error) {
    return await fail('could not prepare the instance directory', (error as Error).message);
  }

  // check creates the queue subdirectories with Postfix's owners and modes (post-install create-missing).
  const check = await runCommand(postfix, ['-c', configDir, 'check']);
  if (check.code !== 0) {
    const output = `${check.stderr}${check.stdout}`.trim() || (await checkUnderTerminal(postfix, configDir));
    await fail(`"postfix -c ${configDir} check" failed (code ${String(check.code)})`, output);
  }
  const start = await runCommand(postfix, ['-c', configDir, 'start']);
  if (start.code !== 0) await fail(`"postfix -c ${configDir} start" failed (code ${String(start.code)})`, `${start.stderr}${start.stdout}`.trim());

  try {
    masterPid = Number(fs.readFileSync(path.join(queueDir, 'pid', 'master.pid'), 'utf8').trim());
    masterStart = readProcStat(masterPid)?.starttime;
    if (!Number.isInteger(masterPid) || masterStart === undefined) throw new Error(`no live master behind pid/master.pid (${masterPid})`);
    await waitForPort(listenAddress, options.listenPort, {
      timeoutMs: options.startTimeoutMs ?? 30_000,
      failed: () => (masterAlive() ? undefined : 'the Postfix master process exited'),
    });
    // The probe may have reached another listener that took the port in the meantime (SO_REUSEPORT).
    assertSingleListener(listenAddress, options.listenPort, 'startPrivatePostfix');
  } catch (error) {
    return await fail('started, but smtpd is not reachable', (error as Error).message);
  }
  const pid = masterPid;

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    // Remember exactly which processes belong to the instance (pid + start time), so that waiting and
    // any SIGKILL below can never hit an unrelated process that reused a PID.
    const members = processTree(pid).map((s) => ({ pid: s.pid, starttime: s.starttime }));
    const stillThere = (): typeof members => members.filter((m) => readProcStat(m.pid)?.starttime === m.starttime);
    if (masterAlive()) {
      // "postfix stop" waits up to 5 s for master, then kills its process group itself.
      const result = await runCommand(postfix, ['-c', configDir, 'stop']);
      if (result.code !== 0 && masterAlive()) await runCommand(postfix, ['-c', configDir, 'abort']);
    }
    // Daemons exit on their own once master is gone; give them a moment, then force.
    const deadline = Date.now() + 10_000;
    while (stillThere().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const m of stillThere()) {
      try {
        process.kill(m.pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    const killDeadline = Date.now() + 5000;
    while (stillThere().some((m) => pidExists(m.pid)) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 50));
    const left = stillThere();
    removeRoot();
    unregister();
    if (left.length > 0) throw new Error(`private Postfix: processes ${left.map((m) => m.pid).join(', ')} survived stop and SIGKILL; check them with ps.`);
  };

  return {
    host: listenAddress,
    port: options.listenPort,
    rootDir,
    configDir,
    queueDir,
    dataDir,
    logFile,
    masterPid: pid,
    async queueCount(): Promise<number> {
      let total = 0;
      for (const sub of QUEUE_SUBDIRS) total += await countFiles(path.join(queueDir, sub));
      return total;
    },
    cpuSeconds: () => treeCpuSeconds(pid),
    processCount: () => processTree(pid).length,
    async flush(): Promise<void> {
      const result = await runCommand(postqueue, ['-c', configDir, '-f']);
      if (result.code !== 0) {
        throw new Error(`postqueue -c ${configDir} -f failed (code ${String(result.code)}): ${result.stderr.trim()}\n${tailOfFile(logFile, 10)}`);
      }
    },
    logTail: (lines = 20) => tailOfFile(logFile, lines),
    stop(): Promise<void> {
      stopping ??= stop();
      return stopping;
    },
  };
}
