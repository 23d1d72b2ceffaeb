import type { Logger } from '../log/logger.js';

export interface Round {
  name: string;
  run(): Promise<void>;
}

/**
 * Runs the blocklist rounds (outbound addresses, sender domains) at start and then every dnsbl.interval, one
 * round at a time: the next waits for the last to end, so a slow zone cannot pile rounds up. A failed round is
 * logged and the next one comes on time.
 */
export class BlocklistSchedule {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly rounds: readonly Round[],
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.rounds.length === 0) return;
    this.tick();
  }

  /** One round of everything now (and what tests wait for). */
  runNow(): Promise<void> {
    this.current ??= (async () => {
      for (const round of this.rounds) {
        try {
          await round.run();
        } catch (error) {
          this.logger.error({ event: 'dnsbl_round_failed', round: round.name, error: (error as Error).message }, 'blocklist round failed; the next one runs on time');
        }
      }
    })().finally(() => {
      this.current = null;
    });
    return this.current;
  }

  private tick(): void {
    void this.runNow().then(() => {
      if (this.stopped) return;
      this.timer = setTimeout(() => this.tick(), this.intervalMs);
      this.timer.unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current;
  }
}
