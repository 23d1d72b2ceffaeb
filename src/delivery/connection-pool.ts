import type { OutboundIp } from './ip-pool.js';
import type { Target } from './routing.js';
import { OutboundSession, type ClientTimeouts, type ConnectResult } from './smtp-client.js';

export interface ConnectionLimits {
  perHost: number;
  total: number;
  messagesPerConnection: number;
  idleMs: number;
  /** How long a host that said "too many connections" keeps its lowered limit (reduceConcurrency). */
  reducedForMs?: number;
}

interface Idle {
  session: OutboundSession;
  timer: NodeJS.Timeout;
}

interface Waiter {
  host: string;
  wake: () => void;
}

const STOPPING: ConnectResult = { ok: false, trouble: 'dropped', code: null, reply: 'relay stopping; delivery will be retried' };

/**
 * Reuses connections for several messages to the same host from the same source address, and bounds how many
 * connections are open per destination host and overall. A caller waits for a slot rather than overwhelming a
 * receiver; once the pool is closed nobody waits and nothing new is opened.
 */
export class ConnectionPool {
  /** Idle sessions by target (ip:port): a job looks only at its own target's few, never at every idle one. */
  private readonly idle = new Map<string, Idle[]>();
  /** Sessions handed out and not yet back: closed too when the node stops for good. */
  private readonly busy = new Set<OutboundSession>();
  /** Sessions holding a connection slot; a slot is given back once, however many times a session is closed. */
  private readonly holding = new Set<OutboundSession>();
  /** Connections being opened: cut at once when the pool closes, whatever the receiver is sending. */
  private readonly opening = new Set<AbortController>();
  private readonly perHost = new Map<string, number>();
  /** Hosts that answered "too many connections": a lower limit until a time. */
  private readonly reduced = new Map<string, { limit: number; until: number }>();
  private total = 0;
  private waiting: Waiter[] = [];
  private closed = false;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly timeouts: ClientTimeouts,
    private readonly now: () => number = Date.now,
  ) {}

  private targetKey(target: Target): string {
    return `${target.ip}:${target.port}`;
  }

  /** The per-host limit now: connections_per_host, or less while a host is asking for fewer connections. */
  hostLimit(hostIp: string): number {
    const r = this.reduced.get(hostIp);
    if (!r) return this.limits.perHost;
    if (r.until <= this.now()) {
      this.reduced.delete(hostIp);
      return this.limits.perHost;
    }
    return r.limit;
  }

  /**
   * A host answered 421 "too many connections": allow it one connection fewer than it had open (at least one)
   * for `reducedForMs`, so the jobs behind wait for a slot instead of being refused in turn.
   */
  reduceConcurrency(hostIp: string): void {
    const open = this.perHost.get(hostIp) ?? 1;
    const limit = Math.max(1, Math.min(this.hostLimit(hostIp), open) - 1);
    this.reduced.set(hostIp, { limit, until: this.now() + (this.limits.reducedForMs ?? 600_000) });
  }

  async acquire(target: Target, source: OutboundIp, tlsPolicy: 'may' | 'encrypt'): Promise<ConnectResult> {
    const tKey = this.targetKey(target);
    // A connection that fell back to clear must not carry mail for a domain that requires TLS.
    const suitable = (session: OutboundSession) => session.source.address === source.address && (tlsPolicy !== 'encrypt' || session.tls !== null);
    for (;;) {
      // Stopping: no new connection, the job defers what it has left.
      if (this.closed) return STOPPING;
      const reused = this.takeIdle(tKey, suitable);
      if (reused) {
        this.busy.add(reused);
        return { ok: true, session: reused };
      }
      const hostFull = (this.perHost.get(target.ip) ?? 0) >= this.hostLimit(target.ip);
      if (!hostFull && this.total < this.limits.total) break;
      // An idle connection may hold the slot we need: to this host from another source when the host is full,
      // to any other host when only the total is; close the oldest such and take its place.
      if (hostFull ? this.closeOneIdle((key) => key === tKey) : this.closeOneIdle((key) => key !== tKey)) continue;
      // Woken when a connection is handed back (maybe ours to reuse) or closed, or when the pool closes.
      await new Promise<void>((resolve) => this.waiting.push({ host: target.ip, wake: resolve }));
    }
    this.total++;
    this.perHost.set(target.ip, (this.perHost.get(target.ip) ?? 0) + 1);
    const abort = new AbortController();
    this.opening.add(abort);
    const result = await OutboundSession.open(target, source, tlsPolicy, this.timeouts, abort.signal);
    this.opening.delete(abort);
    if (!result.ok) {
      this.free(target.ip);
      return this.closed ? STOPPING : result;
    }
    this.holding.add(result.session);
    if (this.closed) {
      // Closed while the session was being set up: it must carry nothing.
      this.discard(result.session, true);
      return STOPPING;
    }
    this.busy.add(result.session);
    return result;
  }

  /** Hands a session back: kept for reuse when it is healthy and young, closed otherwise. */
  async release(session: OutboundSession): Promise<void> {
    this.busy.delete(session);
    if (this.closed || !session.usable || session.messages >= this.limits.messagesPerConnection || !(await this.resetWithin(session))) {
      this.discard(session);
      return;
    }
    // The pool may have closed, or the receiver hung up, during the RSET.
    if (this.closed || !session.usable) {
      this.discard(session);
      return;
    }
    const key = this.targetKey(session.target);
    const list = this.idle.get(key) ?? [];
    const entry: Idle = {
      session,
      timer: setTimeout(() => {
        this.removeIdle(key, entry);
        this.discard(session);
      }, this.limits.idleMs),
    };
    entry.timer.unref();
    list.push(entry);
    this.idle.set(key, list);
    this.wakeWaiters();
  }

  /**
   * RSET after an unclean transaction, bounded by the command timeout: a receiver that closed the connection or
   * never answers must not keep the slot (and the jobs waiting for it) forever.
   */
  private resetWithin(session: OutboundSession): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), this.timeouts.command);
      session.readyForNext().then(
        (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
        () => {
          clearTimeout(timer);
          resolve(false);
        },
      );
    });
  }

  discard(session: OutboundSession, abort = false): void {
    this.busy.delete(session);
    if (abort) session.abort();
    else session.close();
    if (this.holding.delete(session)) this.free(session.target.ip);
  }

  /** The source address of an idle connection to this target that `allowed` accepts: reusing it saves a handshake. */
  idleSource(target: Target, allowed: (source: OutboundIp) => boolean): OutboundIp | undefined {
    const entry = this.idle.get(this.targetKey(target))?.find((i) => i.session.usable && allowed(i.session.source));
    return entry?.session.source;
  }

  /** Closes the idle connections from a source address (taken out of rotation): none of them carries more mail. */
  closeIdleFrom(address: string): number {
    let closed = 0;
    for (const [key, list] of this.idle) {
      for (const entry of list.filter((e) => e.session.source.address === address)) {
        this.removeIdle(key, entry);
        clearTimeout(entry.timer);
        this.discard(entry.session);
        closed++;
      }
    }
    return closed;
  }

  /** Counts for tests and metrics. */
  stats(): { open: number; busy: number; idle: number; idleTargets: number; waiting: number; opening: number } {
    let idle = 0;
    for (const list of this.idle.values()) idle += list.length;
    return { open: this.total, busy: this.busy.size, idle, idleTargets: this.idle.size, waiting: this.waiting.length, opening: this.opening.size };
  }

  private takeIdle(key: string, suitable: (session: OutboundSession) => boolean): OutboundSession | undefined {
    const list = this.idle.get(key);
    if (!list) return undefined;
    let found: OutboundSession | undefined;
    for (let i = list.length - 1; i >= 0 && !found; i--) {
      const entry = list[i] as Idle;
      if (entry.session.usable && !suitable(entry.session)) continue;
      list.splice(i, 1);
      clearTimeout(entry.timer);
      if (entry.session.usable) found = entry.session;
      else this.discard(entry.session);
    }
    if (list.length === 0) this.idle.delete(key);
    return found;
  }

  private removeIdle(key: string, entry: Idle): void {
    const list = this.idle.get(key);
    if (!list) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(key);
  }

  private closeOneIdle(which: (key: string) => boolean): boolean {
    for (const [key, list] of this.idle) {
      if (!which(key)) continue;
      const entry = list.shift();
      if (list.length === 0) this.idle.delete(key);
      if (entry) {
        clearTimeout(entry.timer);
        this.discard(entry.session);
        return true;
      }
    }
    return false;
  }

  private wakeWaiters(): void {
    const waiters = this.waiting;
    this.waiting = [];
    for (const w of waiters) w.wake();
  }

  private free(host: string): void {
    this.total = Math.max(0, this.total - 1);
    const n = (this.perHost.get(host) ?? 1) - 1;
    if (n <= 0) this.perHost.delete(host);
    else this.perHost.set(host, n);
    this.wakeWaiters();
  }

  /**
   * Closes every connection, idle, busy or being set up: transactions in progress fail and are retried later.
   * Waiters give up at once and nothing is opened afterwards.
   */
  closeAll(): void {
    this.closed = true;
    for (const abort of this.opening) abort.abort();
    this.opening.clear();
    for (const session of [...this.busy]) this.discard(session, true);
    for (const [, list] of this.idle) {
      for (const entry of list) {
        clearTimeout(entry.timer);
        this.discard(entry.session);
      }
    }
    this.idle.clear();
    this.wakeWaiters();
  }
}
