import pg from 'pg';
import { numberPlaceholders, type SqlDatabase, type SqlRunner, type SqlValue, type TransactionOptions } from './sql.js';

// int8 and numeric (COUNT, SUM, BIGINT columns) come back as strings by default; all ours fit in a double.
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20 || oid === 1700) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

function runnerOn(client: pg.Pool | pg.PoolClient): SqlRunner {
  const query = (sql: string, params: readonly SqlValue[] = []) =>
    client.query({ text: numberPlaceholders(sql), values: params as unknown[], types });
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
    try {
      await client.query('BEGIN');
      // A reservation lost in a crash only frees quota early; it need not wait for the WAL flush.
      if (!options.durable) await client.query('SET LOCAL synchronous_commit TO OFF');
      const result = await work(runnerOn(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
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

export async function openPostgres(url: string): Promise<SqlDatabase> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
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
