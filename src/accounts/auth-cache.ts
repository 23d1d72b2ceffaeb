import crypto from 'node:crypto';

/**
 * Remembers recent successful logins so a busy application that opens a connection per message does not
 * pay a full scrypt each time. An entry is only valid for the exact stored hash it was checked against, so a
 * password change or reset invalidates it at once; the password itself is kept only as a keyed digest.
 */
export class AuthCache {
  private readonly key = crypto.randomBytes(32);
  private readonly entries = new Map<string, { digest: Buffer; storedHash: string; expiresAt: number }>();

  constructor(private readonly ttlMs: number, private readonly maxEntries = 10_000) {}

  private digest(username: string, password: string): Buffer {
    return crypto.createHmac('sha256', this.key).update(username).update('\0').update(password).digest();
  }

  matches(username: string, password: string, storedHash: string, now: number): boolean {
    const entry = this.entries.get(username);
    if (!entry || entry.expiresAt <= now || entry.storedHash !== storedHash) return false;
    return crypto.timingSafeEqual(entry.digest, this.digest(username, password));
  }

  remember(username: string, password: string, storedHash: string, now: number): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(username, { digest: this.digest(username, password), storedHash, expiresAt: now + this.ttlMs });
  }
}
