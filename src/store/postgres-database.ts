import pg from 'pg';
import { numberPlaceholders, type PoolSettings, type SqlDatabase, type SqlRunner, type SqlValue, type TransactionOptions } from './sql.js';
import { isStoreUnavailable } from './store-unavailable.js';

// int8 and numeric (COUNT, SUM, BIGINT columns) come back as strings by default; all ours fit in a double.
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20 || oid === 1700) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** The longest timer Node keeps: the driver's own wait, for statements exempt from store.statement_timeout. */
const NO_READ_TIMEOUT = 2 ** 31 - 1;

function runnerOn(client: pg.Pool | pg.PoolClient, unbounded = false): SqlRunner {
  const query = (sql: string, params: readonly SqlValue[] = []) =>
    client.query({ text: numberPlaceholders(sql), values: params as unknown[], types, ...(unbounded ? { query_timeout: NO_READ_TIMEOUT } : {}) });
  return {
    dialect: 'postgres',
    all: async <T>(sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rows as T[],
    get: async <T>(sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params?: readonly SqlValue[]) => ({ changes: (await query(sql, params)).rowCount ?? 0 }),
  };
}

class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const;
  private readonly direct: SqlRunner;

  constructor(private readonly pool: pg.Pool) {
    this.direct = runnerOn(pool);
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.direct.all<T>(sql, params);
  }
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.direct.get<T>(sql, params);
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.direct.run(sql, params);
  }

  async transaction<T>(work: (tx: SqlRunner) => Promise<T>, options: TransactionOptions): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      // A reservation lost in a crash only frees quota early; it need not wait for the WAL flush.
      if (!options.durable) await client.query('SET LOCAL synchronous_commit TO OFF');
      // Schema changes at start may rewrite big tables: store.statement_timeout is for the relay's own work.
      if (options.unbounded) await client.query('SET LOCAL statement_timeout TO 0');
      const result = await work(runnerOn(client, options.unbounded));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // Nothing of a transaction that failed is applied: PostgreSQL rolls it back, here or when the connection
      // ends. (A COMMIT whose answer was lost may have been applied: callers that retry one are idempotent.)
      await client.query('ROLLBACK').catch(() => undefined);
      // A connection that failed this way (terminated, timed out, or on a server that is now a standby) is
      // closed rather than handed to the next caller; the pool opens a new one, wherever the address leads now.
      if (isStoreUnavailable(error)) broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async exec(script: string): Promise<void> {
    await this.pool.query(script);
  }

  async backup(): Promise<void> {
    throw new Error('relais backup copies SQLite stores; back up a PostgreSQL store with pg_dump (see the README, "Backups")');
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export async function openPostgres(url: string, settings: PoolSettings): Promise<SqlDatabase> {
  const pool = new pg.Pool({
    connectionString: url,
    max: settings.poolSize,
    // Also the longest wait for a free connection when all are busy: an outage answers 451 promptly.
    connectionTimeoutMillis: settings.connectTimeoutMs,
    // Sent at connection start, so the server enforces them on every session of the pool.
    statement_timeout: settings.statementTimeoutMs,
    idle_in_transaction_session_timeout: settings.idleInTransactionTimeoutMs,
    // A server that vanished without closing its sockets (a failover, a network split) cannot cancel anything:
    // the driver gives up waiting a little after the server itself would have, and keepalives find dead idle
    // connections.
    ...(settings.statementTimeoutMs > 0 ? { query_timeout: settings.statementTimeoutMs + Math.max(settings.connectTimeoutMs, 1000) } : {}),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // A client losing its connection (database restarted, backend terminated) must not crash the relay: an
  // 'error' event without a listener would. The query in progress, or the next one, reports the problem.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot connect to PostgreSQL at ${redactUrl(url)}: ${(error as Error).message}`);
  }
  return new PostgresDatabase(pool);
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
