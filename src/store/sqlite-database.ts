import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SqlDatabase, SqlRunner, SqlValue, TransactionOptions } from './sql.js';
import { WalSync } from './wal-sync.js';

/**
 * better-sqlite3 is synchronous, so the only way two callers can interleave is across the awaits inside an
 * async transaction body. A promise chain serialises every use of the one connection.
 */
class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly statements = new Map<string, Database.Statement>();

  /** `walSync` is null for an in-memory database, where there is nothing to make durable. */
  constructor(
    private readonly db: Database.Database,
    private readonly walSync: WalSync | null,
  ) {}

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private readonly direct: SqlRunner = {
    dialect: 'sqlite',
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => this.prepare(sql).all(...params) as T[],
    get: async <T>(sql: string, params: readonly SqlValue[] = []) => this.prepare(sql).get(...params) as T | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => ({ changes: this.prepare(sql).run(...params).changes }),
  };

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.exclusive(() => this.direct.all<T>(sql, params));
  }
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.exclusive(() => this.direct.get<T>(sql, params));
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.exclusive(() => this.direct.run(sql, params));
  }

  async transaction<T>(work: (tx: SqlRunner) => Promise<T>, options: TransactionOptions): Promise<T> {
    const result = await this.exclusive(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const value = await work(this.direct);
        this.db.exec('COMMIT');
        return value;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    });
    // Outside the lock: other transactions commit while this one's flush runs, and share the next flush.
    if (options.durable && this.walSync) await this.walSync.afterCommit();
    return result;
  }

  exec(script: string): Promise<void> {
    return this.exclusive(async () => {
      this.db.exec(script);
    });
  }

  /**
   * SQLite's online backup, consistent while the relay keeps writing. All pages in one step: a backup taken in
   * small steps starts over whenever another connection writes, which a busy relay does every few milliseconds,
   * so it would never end. One step holds a read snapshot only, which in WAL mode blocks no writer.
   */
  async backup(file: string): Promise<void> {
    await this.db.backup(file, { progress: () => 0x7fffffff });
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      await this.walSync?.close();
      this.db.close();
    });
  }
}

export function openSqlite(file: string): SqlDatabase {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (error) {
    throw new Error(`cannot open SQLite database ${file}: ${(error as Error).message}`);
  }
  db.pragma('journal_mode = WAL');
  // NORMAL: a commit writes the WAL without fsync; durable transactions are then flushed by WalSync, off the
  // event loop. FULL would fsync inside COMMIT, on the one thread that also serves every SMTP session.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // Another writer (a CLI command) holds the lock for milliseconds; waiting blocks the event loop, so not for long.
  db.pragma('busy_timeout = 2000');
  return new SqliteDatabase(db, file === ':memory:' ? null : new WalSync(`${path.resolve(file)}-wal`));
}
