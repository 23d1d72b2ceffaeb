import type { NewMessage } from '../store/records.js';
import type { Store } from '../store/store.js';

interface Waiting {
  message: NewMessage;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Group commit: messages that finish DATA while a commit is on disk are gathered and written together in the
 * next single fsynced transaction, so throughput grows with concurrency instead of waiting one fsync each.
 * No caller is answered before its own message is committed.
 */
export class Spool {
  private waiting: Waiting[] = [];
  private flushing = false;
  private scheduled = false;

  /** Called after each commit: the scheduler looks at the queue at once instead of at its next scan. */
  onCommitted: () => void = () => undefined;

  constructor(private readonly store: Store, private readonly maxBatch: number) {}

  commit(message: NewMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ message, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    // One turn of the event loop lets messages finishing at the same moment join this batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.waiting.length === 0) return;
    this.flushing = true;
    const batch = this.waiting.splice(0, this.maxBatch);
    try {
      await this.store.enqueue(batch.map((w) => w.message));
      for (const w of batch) w.resolve();
      this.onCommitted();
    } catch (error) {
      // One bad message (a constraint broken) must not fail its neighbours: retry each alone. When the store
      // itself is unavailable, retrying would only make every client wait longer for the same 451.
      if (batch.length === 1 || !isConstraintError(error)) {
        for (const w of batch) w.reject(error as Error);
        return;
      }
      for (const w of batch) {
        try {
          await this.store.enqueue([w.message]);
          w.resolve();
        } catch (error) {
          w.reject(error as Error);
        }
      }
    } finally {
      this.flushing = false;
      if (this.waiting.length > 0) this.schedule();
    }
  }

  /** Resolves once everything handed to commit() so far is committed or refused. */
  async drain(): Promise<void> {
    while (this.waiting.length > 0 || this.flushing || this.scheduled) await new Promise((r) => setTimeout(r, 5));
  }
}

function isConstraintError(error: unknown): boolean {
  const code = String((error as { code?: unknown }).code ?? '');
  return code.startsWith('SQLITE_CONSTRAINT') || /^23\d{3}$/.test(code);
}
