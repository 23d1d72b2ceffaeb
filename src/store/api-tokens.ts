import type { SqlDatabase } from './sql.js';

export interface ApiToken {
  id: number;
  name: string;
  /** Null: staff scope (every customer). */
  customerId: number | null;
  customer: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

interface TokenRow {
  id: number;
  name: string;
  customer_id: number | null;
  customer: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const SELECT = `SELECT t.id, t.name, t.customer_id, c.name AS customer, t.created_at, t.last_used_at, t.revoked_at
  FROM api_tokens t LEFT JOIN customers c ON c.id = t.customer_id`;

const toToken = (r: TokenRow): ApiToken => ({
  id: Number(r.id),
  name: r.name,
  customerId: r.customer_id === null ? null : Number(r.customer_id),
  customer: r.customer,
  createdAt: Number(r.created_at),
  lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
});

/** Bearer tokens of the HTTP API, kept only as hashes. */
export class ApiTokens {
  constructor(private readonly db: SqlDatabase) {}

  async add(name: string, customerId: number | null, tokenHash: string, now: number): Promise<ApiToken> {
    const row = await this.db.transaction(
      (tx) =>
        tx.get<{ id: number }>('INSERT INTO api_tokens (name, customer_id, token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id', [
          name,
          customerId,
          tokenHash,
          now,
        ]),
      { durable: true },
    );
    return (await this.find(Number(row?.id))) as ApiToken;
  }

  async find(id: number): Promise<ApiToken | undefined> {
    const row = await this.db.get<TokenRow>(`${SELECT} WHERE t.id = ?`, [id]);
    return row && toToken(row);
  }

  async findByHash(tokenHash: string): Promise<ApiToken | undefined> {
    const row = await this.db.get<TokenRow>(`${SELECT} WHERE t.token_hash = ?`, [tokenHash]);
    return row && toToken(row);
  }

  async list(): Promise<ApiToken[]> {
    return (await this.db.all<TokenRow>(`${SELECT} ORDER BY t.id`)).map(toToken);
  }

  /** False when there is no such token or it was already revoked. */
  async revoke(id: number, now: number): Promise<boolean> {
    const result = await this.db.run('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, id]);
    return result.changes > 0;
  }

  async touch(id: number, now: number): Promise<void> {
    await this.db.run('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', [now, id]);
  }
}
