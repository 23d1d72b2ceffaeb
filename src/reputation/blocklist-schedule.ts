import type { Logger } from '../log/logger.js';

/** Runs a job's work if this node is the one to run it now (see JobLeases); a single node always is. */
export type JobGate = (work: () => Promise<void>) => Promise<unknown>;

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
    /** Several nodes: only the holder of the blocklist job lease runs the rounds. */
    private readonly gate: JobGate = (work) => work(),
  ) {}

  start(): void {
    if (this.rounds.length === 0) return;
    this.tick();
  }

  /** One round of everything now (and what tests wait for). */
  runNow(): Promise<void> {
    this.current ??= this.gate(async () => {
      for (const round of this.rounds) {
        try {
          await round.run();
        } catch (error) {
          this.logger.error({ event: 'dnsbl_round_failed', round: round.name, error: (error as Error).message }, 'blocklist round failed; the next one runs on time');
        }
      }
    })
      .then(() => undefined)
      // The gate itself can fail (the store, recording the run): the next round comes on time all the same.
      .catch((error: Error) => this.logger.error({ event: 'dnsbl_round_failed', round: 'all', error: error.message }, 'blocklist rounds could not start; the next ones run on time'))
      .finally(() => {
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
