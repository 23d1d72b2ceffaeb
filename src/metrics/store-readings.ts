import { withinDeadline } from '../shared/deadline.js';
import type { StoreSnapshot } from '../store/metrics-snapshot.js';

/** A failed or late read: the scrape still answers, with relais_store_up 0 and without the store's gauges. */
export type Reading = { ok: true; snapshot: StoreSnapshot } | { ok: false; error: string };

/**
 * The store's part of a scrape, read at most once per `maxAgeMs` however many scrapers (or anyone else reaching
 * /metrics) ask, and never waited on longer than `timeoutMs`. Concurrent scrapes share one read. Real time, not
 * the relay's clock: this bounds the load on the store.
 */
export class StoreReadings {
  private last: { at: number; reading: Reading } | undefined;
  private inFlight: Promise<Reading> | undefined;

  constructor(
    private readonly read: () => Promise<StoreSnapshot>,
    private readonly maxAgeMs = 1000,
    private readonly timeoutMs = 2000,
  ) {}

  get(): Promise<Reading> {
    if (this.last && performance.now() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.reading);
    this.inFlight ??= this.readNow().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async readNow(): Promise<Reading> {
    let reading: Reading;
    try {
      reading = { ok: true, snapshot: await withinDeadline(this.read(), this.timeoutMs, 'the store') };
    } catch (error) {
      reading = { ok: false, error: (error as Error).message };
    }
    this.last = { at: performance.now(), reading };
    return reading;
  }
}
