import { formatDuration } from '../config/duration.js';
import { scanWithClamd, type ClamdAnswer, type ClamdEndpoint } from './clamd-client.js';

export type OverMaxSize = 'scan_prefix' | 'refuse';

export interface VirusScannerSettings {
  clamd: ClamdEndpoint;
  /** For the whole scan, the wait for a free slot included: the client's DATA is answered within this. */
  timeoutMs: number;
  maxSize: number;
  overMaxSize: OverMaxSize;
  maxConcurrent: number;
}

/** What the submission policy needs to know about a message it is about to queue. */
export type ScanVerdict =
  | { kind: 'clean'; scannedBytes: number; partial: boolean }
  | { kind: 'infected'; signature: string }
  | { kind: 'too_big'; maxSize: number }
  | { kind: 'failed'; reason: string };

export interface VirusScanner {
  scan(data: Buffer): Promise<ScanVerdict>;
}

/**
 * Scans messages with clamd, each on its own connection so that concurrent messages are scanned at the same time,
 * at most `maxConcurrent` at once (clamd has a thread pool of its own, MaxThreads, 10 by default; more connections
 * than that only queue inside clamd). Messages beyond the limit wait their turn within the same deadline.
 */
export class ClamdScanner implements VirusScanner {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly settings: VirusScannerSettings) {}

  async scan(data: Buffer): Promise<ScanVerdict> {
    const s = this.settings;
    const partial = data.length > s.maxSize;
    if (partial && s.overMaxSize === 'refuse') return { kind: 'too_big', maxSize: s.maxSize };
    const deadline = Date.now() + s.timeoutMs;
    if (!(await this.acquire(deadline))) {
      return { kind: 'failed', reason: `no free virus scan slot within ${formatDuration(s.timeoutMs)} (${s.maxConcurrent} scans already running)` };
    }
    let answer: ClamdAnswer;
    try {
      const stream = partial ? data.subarray(0, s.maxSize) : data;
      answer = await scanWithClamd(s.clamd, stream, Math.max(1, deadline - Date.now()));
    } finally {
      this.release();
    }
    if (answer.kind === 'error') {
      // The deadline covers the wait for a slot too: say the configured timeout, not what was left of it.
      return { kind: 'failed', reason: answer.timedOut ? `clamd did not answer within ${formatDuration(s.timeoutMs)}` : answer.reason };
    }
    if (answer.kind === 'infected') return answer;
    return { kind: 'clean', scannedBytes: Math.min(data.length, s.maxSize), partial };
  }

  private acquire(deadline: number): Promise<boolean> {
    if (this.active < this.settings.maxConcurrent) {
      this.active++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const turn = () => {
        clearTimeout(timer);
        this.active++;
        resolve(true);
      };
      const timer = setTimeout(() => {
        const index = this.waiting.indexOf(turn);
        if (index >= 0) this.waiting.splice(index, 1);
        resolve(false);
      }, Math.max(1, deadline - Date.now()));
      this.waiting.push(turn);
    });
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }
}
