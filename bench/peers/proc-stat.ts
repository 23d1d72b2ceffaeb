/**
 * Reads Linux /proc/PID/stat to find a process tree and its CPU time.
 *
 * CPU accounting for a tree (used for Postfix, whose master forks and reaps many short-lived daemons:
 * smtpd and cleanup exit after max_use=100 requests or max_idle=100 s):
 *   sum over every live process in the tree of utime + stime + cutime + cstime.
 * A daemon that exits and is reaped by master moves its whole lifetime CPU into master's cutime/cstime,
 * so the difference of two samples counts it exactly once, whether it lived across a sample or not.
 * Not counted: processes outside the tree (the load client, the sink, `postfix` commands we run).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  /** Clock ticks; see clockTicksPerSecond(). */
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  /** Start time in clock ticks since boot: with pid it identifies a process even if the PID is reused. */
  starttime: number;
}

/** Parses /proc/PID/stat; undefined if the process is gone. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm is in parentheses and may itself contain spaces or ')': split after the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state) of proc(5), so field N is rest[N - 3].
  const field = (n: number): number => Number(rest[n - 3]);
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: field(4),
    pgrp: field(5),
    utime: field(14),
    stime: field(15),
    cutime: field(16),
    cstime: field(17),
    starttime: field(22),
  };
}

/** Every live process, read once. Processes that vanish mid-scan are skipped. */
export function readAllProcStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProcStat(Number(name));
    if (stat !== undefined) stats.push(stat);
  }
  return stats;
}

/** The root process and all its descendants (root first); empty if the root is gone. */
export function processTree(rootPid: number): ProcStat[] {
  const all = readAllProcStats();
  const root = all.find((s) => s.pid === rootPid);
  if (root === undefined) return [];
  const children = new Map<number, ProcStat[]>();
  for (const s of all) {
    const list = children.get(s.ppid);
    if (list === undefined) children.set(s.ppid, [s]);
    else list.push(s);
  }
  const tree: ProcStat[] = [];
  const todo: ProcStat[] = [root];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    tree.push(next);
    todo.push(...(children.get(next.pid) ?? []));
  }
  return tree;
}

let ticks: number | undefined;

/** USER_HZ, the unit of /proc/PID/stat times (100 on practically every Linux; asked via getconf once). */
export function clockTicksPerSecond(): number {
  if (ticks === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticks = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** CPU seconds consumed so far by the tree under rootPid, including reaped children (see header). */
export function treeCpuSeconds(rootPid: number): number {
  const tree = processTree(rootPid);
  if (tree.length === 0) {
    throw new Error(`process ${rootPid} is gone; cannot read its CPU time (did the peer stop or crash?).`);
  }
  let total = 0;
  for (const s of tree) total += s.utime + s.stime + s.cutime + s.cstime;
  return total / clockTicksPerSecond();
}

export interface HostCpuSample {
  /** Clock ticks spent not idle (user, nice, system, irq, softirq, steal), all CPUs together. */
  busy: number;
  /** All clock ticks, all CPUs together. */
  total: number;
}

/**
 * Machine-wide CPU counters from the first line of /proc/stat. Comparing their delta with a peer's
 * own CPU shows whether something else (another test run, a compiler) competed for the cores.
 */
export function readHostCpu(): HostCpuSample {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** Average number of busy cores between two host samples taken `seconds` apart. */
export function hostCoresBusy(before: HostCpuSample, after: HostCpuSample, seconds: number): number {
  return (after.busy - before.busy) / clockTicksPerSecond() / seconds;
}
