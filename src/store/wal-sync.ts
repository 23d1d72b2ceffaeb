import fs from 'node:fs';

/**
 * Makes SQLite commits durable without blocking the event loop. Transactions commit with synchronous=NORMAL, which
 * in WAL mode writes the frames to the -wal file but does not fsync it; this then fdatasyncs that file on libuv's
 * thread pool. fsync is per file (inode), not per descriptor, so a descriptor of our own covers SQLite's writes.
 * What it does not cover SQLite already makes durable itself under NORMAL: a checkpoint syncs the WAL before
 * copying and the database after, and the WAL header is synced when the file is reused.
 *
 * Commits that end while one fdatasync runs share the next one (group commit across every caller), so a burst
 * costs one flush per round, not one per transaction, and the event loop keeps serving sessions meanwhile.
 */
export class WalSync {
  private fd: number | null = null;
  private committed = 0;
  private synced = 0;
  private running: Promise<void> | null = null;

  constructor(private readonly walFile: string) {}

  /** Called right after a COMMIT returns; resolves once that commit is on disk. */
  async afterCommit(): Promise<void> {
    const mine = ++this.committed;
    while (this.synced < mine) {
      if (this.running) {
        await this.running;
        continue;
      }
      this.running = this.flush(this.committed).finally(() => {
        this.running = null;
      });
      await this.running;
    }
  }

  private async flush(upTo: number): Promise<void> {
    // The -wal file exists from the first write after journal_mode=WAL and stays (same inode) while the
    // connection is open: SQLite truncates or rewrites it in place, it only deletes it at the last close.
    this.fd ??= fs.openSync(this.walFile, 'r');
    const fd = this.fd;
    await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
    this.synced = Math.max(this.synced, upTo);
  }

  /** After the flush in progress, if any: a commit already made must still become durable. */
  async close(): Promise<void> {
    await this.running?.catch(() => undefined);
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
