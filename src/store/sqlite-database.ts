import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SqlDatabase, SqlRunner, SqlValue, TransactionOptions } from './sql.js';

/**
 * better-sqlite3 is synchronous, so the only way two callers can interleave is across the awaits inside an
 * async transaction body. A promise chain serialises every use of the one connection.
 */
class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

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

  transaction<T>(work: (tx: SqlRunner) => Promise<T>, options: TransactionOptions): Promise<T> {
    return this.exclusive(async () => {
      // WAL with synchronous=NORMAL does not fsync at commit; FULL does. Switching per transaction keeps
      // reservations cheap while every enqueue is on disk before its 250.
      if (options.durable) this.db.pragma('synchronous = FULL');
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(this.direct);
        this.db.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      } finally {
        if (options.durable) this.db.pragma('synchronous = NORMAL');
      }
    });
  }

  exec(script: string): Promise<void> {
    return this.exclusive(async () => {
      this.db.exec(script);
    });
  }

  /** SQLite's online backup: page by page, consistent, while the relay keeps writing. */
  async backup(file: string): Promise<void> {
    await this.db.backup(file);
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
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
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // Another writer (a CLI command) holds the lock for milliseconds; waiting blocks the event loop, so not for long.
  db.pragma('busy_timeout = 2000');
  return new SqliteDatabase(db);
}
