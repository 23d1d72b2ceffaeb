import type { SqlDatabase } from './sql.js';

export interface WebSession {
  loginId: number;
  csrfToken: string;
  createdAt: number;
  expiresAt: number;
}

/** Console sessions, keyed by the SHA-256 of the cookie's value (the value itself is never stored). */
export class WebSessions {
  constructor(private readonly db: SqlDatabase) {}

  async add(idHash: string, session: WebSession, clientIp: string | null): Promise<void> {
    await this.db.transaction(
      (tx) =>
        tx.run('INSERT INTO web_sessions (id_hash, login_id, csrf_token, created_at, expires_at, client_ip) VALUES (?, ?, ?, ?, ?, ?)', [
          idHash,
          session.loginId,
          session.csrfToken,
          session.createdAt,
          session.expiresAt,
          clientIp,
        ]),
      { durable: true },
    );
  }

  /** A live session: not expired, and its login not disabled. */
  async find(idHash: string, now: number): Promise<WebSession | undefined> {
    const row = await this.db.get<{ login_id: number; csrf_token: string; created_at: number; expires_at: number }>(
      `SELECT s.login_id, s.csrf_token, s.created_at, s.expires_at FROM web_sessions s JOIN logins l ON l.id = s.login_id
        WHERE s.id_hash = ? AND s.expires_at > ? AND l.disabled_at IS NULL`,
      [idHash, now],
    );
    return row && { loginId: Number(row.login_id), csrfToken: row.csrf_token, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) };
  }

  async extend(idHash: string, expiresAt: number): Promise<void> {
    await this.db.run('UPDATE web_sessions SET expires_at = ? WHERE id_hash = ?', [expiresAt, idHash]);
  }

  async remove(idHash: string): Promise<void> {
    await this.db.run('DELETE FROM web_sessions WHERE id_hash = ?', [idHash]);
  }

  async purgeExpired(now: number): Promise<number> {
    return (await this.db.run('DELETE FROM web_sessions WHERE expires_at <= ?', [now])).changes;
  }
}
