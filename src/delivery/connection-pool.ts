import type { OutboundIp } from './ip-pool.js';
import type { Target } from './routing.js';
import { OutboundSession, type ClientTimeouts, type ConnectResult } from './smtp-client.js';

export interface ConnectionLimits {
  perHost: number;
  total: number;
  messagesPerConnection: number;
  idleMs: number;
}

interface Idle {
  session: OutboundSession;
  timer: NodeJS.Timeout;
}

/**
 * Reuses connections for several messages to the same host from the same source address, and bounds how many
 * connections are open per destination host and overall. A caller waits for a slot rather than overwhelming a
 * receiver.
 */
export class ConnectionPool {
  private readonly idle = new Map<string, Idle[]>();
  /** Sessions handed out and not yet back: closed too when the node stops for good. */
  private readonly busy = new Set<OutboundSession>();
  /** Sessions holding a connection slot; a slot is given back once, however many times a session is closed. */
  private readonly holding = new Set<OutboundSession>();
  private readonly perHost = new Map<string, number>();
  private total = 0;
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(private readonly limits: ConnectionLimits, private readonly timeouts: ClientTimeouts) {}

  private key(target: Target, source: OutboundIp): string {
    return `${target.ip}:${target.port}|${source.address ?? '*'}`;
  }

  async acquire(target: Target, source: OutboundIp, tlsPolicy: 'may' | 'encrypt'): Promise<ConnectResult> {
    // Stopping: no new connection, the job defers what it has left.
    if (this.closed) return { ok: false, trouble: 'dropped', code: null, reply: 'relay stopping; delivery will be retried' };
    const key = this.key(target, source);
    // A connection that fell back to clear must not carry mail for a domain that requires TLS.
    const suitable = (session: OutboundSession) => tlsPolicy !== 'encrypt' || session.tls !== null;
    for (;;) {
      const reused = this.takeIdle(key, suitable);
      if (reused) {
        this.busy.add(reused);
        return { ok: true, session: reused };
      }
      if (this.total < this.limits.total && (this.perHost.get(target.ip) ?? 0) < this.hostLimit(target.ip)) break;
      // An idle connection elsewhere may hold the slot we need: close the oldest one and take its place.
      if (this.closeOneIdle(key)) continue;
      // Woken when a connection is handed back (maybe ours to reuse) or closed.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.total++;
    this.perHost.set(target.ip, (this.perHost.get(target.ip) ?? 0) + 1);
    const result = await OutboundSession.open(target, source, tlsPolicy, this.timeouts);
    if (!result.ok) this.free(target.ip);
    else {
      this.busy.add(result.session);
      this.holding.add(result.session);
    }
    return result;
  }

  /** Per-host limits lowered by reduceConcurrency, until when (wall-clock ms, like the idle timers). */
  private readonly reduced = new Map<string, { limit: number; until: number }>();

  /**
   * A host answered 421 without blaming the source address (too many connections, shutting down): it gets one
   * connection fewer than it has now, at least one, for `forMs`. A minimal stand-in until the pool's rework
   * brings its own adaptive limits; the delivery service only relies on this method's name and meaning.
   */
  reduceConcurrency(hostIp: string, forMs = 10 * 60_000): void {
    const open = this.perHost.get(hostIp) ?? 1;
    const limit = Math.max(1, Math.min(this.hostLimit(hostIp), open) - 1);
    this.reduced.set(hostIp, { limit, until: Date.now() + forMs });
  }

  /** The number of connections a host may have now: connections_per_host, or less after a 421. */
  hostLimit(hostIp: string): number {
    const entry = this.reduced.get(hostIp);
    if (entry && entry.until <= Date.now()) this.reduced.delete(hostIp);
    return entry && entry.until > Date.now() ? entry.limit : this.limits.perHost;
  }

  /** Hands a session back: kept for reuse when it is healthy and young, closed otherwise. */
  async release(session: OutboundSession): Promise<void> {
    this.busy.delete(session);
    const key = this.key(session.target, session.source);
    if (!this.closed && session.usable && session.messages < this.limits.messagesPerConnection && (await session.readyForNext())) {
      const list = this.idle.get(key) ?? [];
      const entry: Idle = {
        session,
        timer: setTimeout(() => {
          const current = this.idle.get(key) ?? [];
          this.idle.set(key, current.filter((i) => i !== entry));
          this.discard(session);
        }, this.limits.idleMs),
      };
      entry.timer.unref();
      list.push(entry);
      this.idle.set(key, list);
      this.wakeWaiters();
      return;
    }
    this.discard(session);
  }

  discard(session: OutboundSession): void {
    this.busy.delete(session);
    session.close();
    if (this.holding.delete(session)) this.free(session.target.ip);
  }

  /** The source address of an idle connection to this target that `allowed` accepts: reusing it saves a handshake. */
  idleSource(target: Target, allowed: (source: OutboundIp) => boolean): OutboundIp | undefined {
    const prefix = `${target.ip}:${target.port}|`;
    for (const [key, list] of this.idle) {
      if (!key.startsWith(prefix)) continue;
      const entry = list.find((i) => i.session.usable && allowed(i.session.source));
      if (entry) return entry.session.source;
    }
    return undefined;
  }

  private takeIdle(key: string, suitable: (session: OutboundSession) => boolean): OutboundSession | undefined {
    const list = this.idle.get(key) ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      const entry = list[i] as Idle;
      if (entry.session.usable && !suitable(entry.session)) continue;
      list.splice(i, 1);
      clearTimeout(entry.timer);
      if (entry.session.usable) return entry.session;
      this.discard(entry.session);
    }
    return undefined;
  }

  private closeOneIdle(except: string): boolean {
    for (const [key, list] of this.idle) {
      if (key === except) continue;
      const entry = list.shift();
      if (entry) {
        clearTimeout(entry.timer);
        if (list.length === 0) this.idle.delete(key);
        this.discard(entry.session);
        return true;
      }
    }
    return false;
  }

  private wakeWaiters(): void {
    const waiters = this.waiting.splice(0);
    for (const wake of waiters) wake();
  }

  private free(host: string): void {
    this.total = Math.max(0, this.total - 1);
    const n = (this.perHost.get(host) ?? 1) - 1;
    if (n <= 0) this.perHost.delete(host);
    else this.perHost.set(host, n);
    this.wakeWaiters();
  }

  /** Closes every connection, idle or busy: transactions in progress fail and are retried later. */
  closeAll(): void {
    this.closed = true;
    for (const session of [...this.busy]) {
      this.busy.delete(session);
      session.abort();
      if (this.holding.delete(session)) this.free(session.target.ip);
    }
    for (const [, list] of this.idle) {
      for (const entry of list) {
        clearTimeout(entry.timer);
        this.discard(entry.session);
      }
    }
    this.idle.clear();
  }
}
