import { withinDeadline } from '../shared/deadline.js';
import type { StoreSnapshot } from '../store/metrics-snapshot.js';

/** However slow the last read, the next scrape at most this much later reads again. */
const MAX_REUSE_MS = 30_000;

/** A failed or late read: the scrape still answers, with relais_store_up 0 and without the store's gauges. */
export type Reading = { ok: true; snapshot: StoreSnapshot } | { ok: false; error: string };

/**
 * The store's part of a scrape, shared by every scraper (and anyone else reaching /metrics): concurrent scrapes
 * share one read, and a read is reused for at least `minAgeMs`, and for twenty times as long as it took (up to
 * 30 s), so the store spends at most about 5% of its time on metrics even on a very large queue (on SQLite that
 * time is the event loop's). A read is never waited on longer than `timeoutMs`. Real time, not the relay's clock: this
 * bounds the load on the store.
 */
export class StoreReadings {
  private last: { at: number; reusableMs: number; reading: Reading } | undefined;
  private inFlight: Promise<Reading> | undefined;

  constructor(
    private readonly read: () => Promise<StoreSnapshot>,
    private readonly minAgeMs = 1000,
    private readonly timeoutMs = 2000,
  ) {}

  get(): Promise<Reading> {
    if (this.last && performance.now() - this.last.at < this.last.reusableMs) return Promise.resolve(this.last.reading);
    this.inFlight ??= this.readNow().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async readNow(): Promise<Reading> {
    const started = performance.now();
    let reading: Reading;
    try {
      reading = { ok: true, snapshot: await withinDeadline(this.read(), this.timeoutMs, 'the store') };
    } catch (error) {
      reading = { ok: false, error: (error as Error).message };
    }
    const at = performance.now();
    // A failure is tried again soon: the next scrape should see the store come back.
    const reusableMs = reading.ok ? Math.max(this.minAgeMs, Math.min(MAX_REUSE_MS, 20 * (at - started))) : this.minAgeMs;
    this.last = { at, reusableMs, reading };
    return reading;
  }
}
