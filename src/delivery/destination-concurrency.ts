/**
 * How many jobs run at once for one destination domain, learnt from its answers as Postfix's qmgr does: a new
 * destination starts at `initial` (initial_destination_concurrency, 5), gains one slot after as many successful
 * jobs as it has slots (positive feedback 1/concurrency), up to `max` (default_destination_concurrency_limit,
 * 20), and loses one each time it asks for fewer connections or cannot be reached. A fast receiver is soon
 * served over many connections; one that pushes back is not pushed harder.
 */
export class DestinationConcurrency {
  private readonly windows = new Map<string, { limit: number; successes: number; touched: number }>();
  private lastSweep = 0;

  constructor(
    private readonly initial: number,
    private readonly max: number,
    private readonly now: () => number,
    /** A destination left alone this long starts again from `initial` (its receivers may have changed). */
    private readonly forgetAfterMs = 600_000,
  ) {}

  limit(domain: string): number {
    return this.windows.get(domain)?.limit ?? this.start();
  }

  /** A job reached the destination and completed a transaction (whatever the recipients' verdicts). */
  succeeded(domain: string): void {
    const w = this.window(domain);
    if (w.limit >= this.max) return;
    if (++w.successes >= w.limit) {
      w.limit++;
      w.successes = 0;
    }
  }

  /** The destination said "too many connections" (a 421 that does not blame the address) or was unreachable. */
  pushedBack(domain: string): void {
    const w = this.window(domain);
    w.limit = Math.max(1, w.limit - 1);
    w.successes = 0;
  }

  private start(): number {
    return Math.min(this.initial, this.max);
  }

  private window(domain: string): { limit: number; successes: number; touched: number } {
    const now = this.now();
    this.sweep(now);
    let w = this.windows.get(domain);
    if (!w) this.windows.set(domain, (w = { limit: this.start(), successes: 0, touched: now }));
    w.touched = now;
    return w;
  }

  /** At most once a minute: the map holds only destinations seen lately. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [domain, w] of this.windows) if (now - w.touched > this.forgetAfterMs) this.windows.delete(domain);
  }
}
