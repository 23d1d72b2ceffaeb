import type { SqlDatabase } from './sql.js';

export type DkimAlgorithm = 'rsa' | 'ed25519';

/**
 * One sender domain's DKIM key. `publicKey` is the p= value published in DNS (not secret); `privateKeySealed`
 * is the private key encrypted with the relay's secrets key (src/sender-auth/key-cipher.ts), never the PEM.
 */
export interface DkimKeyRecord {
  id: number;
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  publicKey: string;
  privateKeySealed: string;
  createdAt: number;
}

export type NewDkimKey = Omit<DkimKeyRecord, 'id'>;

interface DkimKeyRow {
  id: number;
  domain: string;
  selector: string;
  algorithm: string;
  public_key: string;
  private_key_sealed: string;
  created_at: number;
}

const SELECT = 'SELECT id, domain, selector, algorithm, public_key, private_key_sealed, created_at FROM dkim_keys';

const toRecord = (r: DkimKeyRow): DkimKeyRecord => ({
  id: Number(r.id),
  domain: r.domain,
  selector: r.selector,
  algorithm: r.algorithm === 'ed25519' ? 'ed25519' : 'rsa',
  publicKey: r.public_key,
  privateKeySealed: r.private_key_sealed,
  createdAt: Number(r.created_at),
});

/** DKIM keys by sender domain (lower case): at most one per domain. */
export class DkimKeyStore {
  constructor(private readonly db: SqlDatabase) {}

  /** Null when the domain already has a key (the UNIQUE rule decides, so two concurrent adds cannot both win). */
  async add(key: NewDkimKey): Promise<DkimKeyRecord | null> {
    return this.db.transaction(
      async (tx) => {
        const existing = await tx.get<{ id: number }>('SELECT id FROM dkim_keys WHERE domain = ?', [key.domain]);
        if (existing) return null;
        await tx.run(
          'INSERT INTO dkim_keys (domain, selector, algorithm, public_key, private_key_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?)',
          [key.domain, key.selector, key.algorithm, key.publicKey, key.privateKeySealed, key.createdAt],
        );
        const row = await tx.get<DkimKeyRow>(`${SELECT} WHERE domain = ?`, [key.domain]);
        return row ? toRecord(row) : null;
      },
      { durable: true },
    );
  }

  async find(domain: string): Promise<DkimKeyRecord | undefined> {
    const row = await this.db.get<DkimKeyRow>(`${SELECT} WHERE domain = ?`, [domain]);
    return row ? toRecord(row) : undefined;
  }

  async list(): Promise<DkimKeyRecord[]> {
    return (await this.db.all<DkimKeyRow>(`${SELECT} ORDER BY domain`)).map(toRecord);
  }

  /** Any one key, to check that the secrets key in use can open what the store holds. */
  async sample(): Promise<DkimKeyRecord | undefined> {
    const row = await this.db.get<DkimKeyRow>(`${SELECT} ORDER BY id LIMIT 1`);
    return row ? toRecord(row) : undefined;
  }

  async remove(domain: string): Promise<boolean> {
    return this.db.transaction(async (tx) => (await tx.run('DELETE FROM dkim_keys WHERE domain = ?', [domain])).changes > 0, { durable: true });
  }
}
