import type { SqlDatabase } from './sql.js';

/** A console login: staff (sees everything) or one customer's (sees only that customer). */
export interface Login {
  id: number;
  email: string;
  role: 'staff' | 'customer';
  /** Set for a customer login, null for staff. */
  customerId: number | null;
  customer: string | null;
  createdAt: number;
  disabledAt: number | null;
  lastLoginAt: number | null;
}

interface LoginRow {
  id: number;
  email: string;
  role: string;
  customer_id: number | null;
  customer: string | null;
  created_at: number;
  disabled_at: number | null;
  last_login_at: number | null;
  password_hash: string;
}

const SELECT = `SELECT l.id, l.email, l.role, l.customer_id, c.name AS customer, l.created_at, l.disabled_at, l.last_login_at,
  l.password_hash FROM logins l LEFT JOIN customers c ON c.id = l.customer_id`;

const toLogin = (r: LoginRow): Login => ({
  id: Number(r.id),
  email: r.email,
  role: r.role === 'staff' ? 'staff' : 'customer',
  customerId: r.customer_id === null ? null : Number(r.customer_id),
  customer: r.customer,
  createdAt: Number(r.created_at),
  disabledAt: r.disabled_at === null ? null : Number(r.disabled_at),
  lastLoginAt: r.last_login_at === null ? null : Number(r.last_login_at),
});

export class Logins {
  constructor(private readonly db: SqlDatabase) {}

  /** Returns undefined when the e-mail address already has a login. */
  async add(email: string, customerId: number | null, passwordHash: string, now: number): Promise<Login | undefined> {
    const id = await this.db.transaction(
      async (tx) => {
        if (await tx.get('SELECT id FROM logins WHERE email = ?', [email])) return undefined;
        const row = await tx.get<{ id: number }>(
          'INSERT INTO logins (email, role, customer_id, password_hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id',
          [email, customerId === null ? 'staff' : 'customer', customerId, passwordHash, now],
        );
        return Number(row?.id);
      },
      { durable: true },
    );
    return id === undefined ? undefined : this.find(id);
  }

  async find(id: number): Promise<Login | undefined> {
    const row = await this.db.get<LoginRow>(`${SELECT} WHERE l.id = ?`, [id]);
    return row && toLogin(row);
  }

  /** The login and its password hash, for a sign-in. */
  async findByEmail(email: string): Promise<{ login: Login; passwordHash: string } | undefined> {
    const row = await this.db.get<LoginRow>(`${SELECT} WHERE l.email = ?`, [email]);
    return row && { login: toLogin(row), passwordHash: row.password_hash };
  }

  async list(customerId?: number): Promise<Login[]> {
    const rows =
      customerId === undefined
        ? await this.db.all<LoginRow>(`${SELECT} ORDER BY l.email`)
        : await this.db.all<LoginRow>(`${SELECT} WHERE l.customer_id = ? ORDER BY l.email`, [customerId]);
    return rows.map(toLogin);
  }

  /** Disabling also ends the login's sessions, in the same transaction. */
  async disable(id: number, now: number): Promise<void> {
    await this.db.transaction(
      async (tx) => {
        await tx.run('UPDATE logins SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL', [now, id]);
        await tx.run('DELETE FROM web_sessions WHERE login_id = ?', [id]);
      },
      { durable: true },
    );
  }

  /** A new password ends every session of the login (someone may have had the old one). */
  async setPassword(id: number, passwordHash: string): Promise<void> {
    await this.db.transaction(
      async (tx) => {
        await tx.run('UPDATE logins SET password_hash = ? WHERE id = ?', [passwordHash, id]);
        await tx.run('DELETE FROM web_sessions WHERE login_id = ?', [id]);
      },
      { durable: true },
    );
  }

  async touch(id: number, now: number): Promise<void> {
    await this.db.run('UPDATE logins SET last_login_at = ? WHERE id = ?', [now, id]);
  }
}
