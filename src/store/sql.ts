/**
 * The two database drivers behind one small async interface. Queries are written once with `?` placeholders;
 * the PostgreSQL driver numbers them. Timestamps are integer milliseconds and booleans 0/1 on both.
 */
export type Dialect = 'sqlite' | 'postgres';
export type SqlValue = string | number | bigint | Buffer | null;

export interface SqlRunner {
  readonly dialect: Dialect;
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
}

export interface TransactionOptions {
  /**
   * Durable transactions are fsynced before they resolve (a 250 depends on them). Non-durable ones (quota
   * reservations) may be lost in a power cut, which only releases a reservation early.
   */
  durable: boolean;
  /** Exempt from store.statement_timeout: schema migrations at start, which may rewrite big tables. */
  unbounded?: boolean;
}

export interface SqlDatabase extends SqlRunner {
  transaction<T>(work: (tx: SqlRunner) => Promise<T>, options: TransactionOptions): Promise<T>;
  /** Runs a multi-statement DDL script. */
  exec(script: string): Promise<void>;
  /** A consistent copy of the whole database in a new file, taken while it is in use (SQLite only). */
  backup(file: string): Promise<void>;
  close(): Promise<void>;
}

/** Turns `?` placeholders into PostgreSQL's `$1, $2...`; our SQL never has a literal `?`. */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** The PostgreSQL pool's bounds (store.* settings); SQLite has no pool and ignores them. 0 turns a timeout off. */
export interface PoolSettings {
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
  poolSize: number;
}

/** The shipped defaults, for callers without a configuration (tools, tests of the store alone). */
export const DEFAULT_POOL_SETTINGS: Readonly<PoolSettings> = Object.freeze({
  connectTimeoutMs: 5_000,
  statementTimeoutMs: 60_000,
  idleInTransactionTimeoutMs: 60_000,
  poolSize: 10,
});

export async function openDatabase(url: string, pool: PoolSettings = DEFAULT_POOL_SETTINGS): Promise<SqlDatabase> {
  if (url.startsWith('sqlite:')) {
    const { openSqlite } = await import('./sqlite-database.js');
    return openSqlite(url.slice('sqlite:'.length));
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { openPostgres } = await import('./postgres-database.js');
    return openPostgres(url, pool);
  }
  throw new Error(`store.url "${url}" names no supported database: use "sqlite:PATH" or "postgres://..."`);
}
