import type { SqlDatabase, SqlRunner } from './sql.js';

/** What one blocklist zone said about one address or domain. */
export type ZoneAnswer =
  | { kind: 'listed'; code: string; reason: string | null }
  | { kind: 'clear' }
  /** No usable answer (timeout, SERVFAIL, REFUSED, a "query refused" code): changes nothing. */
  | { kind: 'error'; error: string };

/** The current state of one (address or domain, zone) pair. */
export interface Listing {
  subject: string;
  zone: string;
  listed: boolean;
  code: string | null;
  reason: string | null;
  /** When it was listed; null while clear. */
  since: number | null;
  checkedAt: number;
  /** The last lookup's error, if the last lookup failed. */
  error: string | null;
}

/** A change of an outbound address's state in one zone: `relais ip history`. */
export interface IpEvent {
  id: number;
  address: string;
  zone: string;
  at: number;
  kind: 'listed' | 'delisted';
  code: string | null;
  reason: string | null;
}

export interface SenderDomain {
  credentialId: number;
  domain: string;
  firstUsedAt: number;
  lastUsedAt: number;
}

export interface DomainUse {
  credentialId: number;
  domain: string;
  at: number;
}

interface ListingRow {
  subject: string;
  zone: string;
  listed: number;
  code: string | null;
  reason: string | null;
  since: number | null;
  checked_at: number;
  error: string | null;
}

const toListing = (r: ListingRow): Listing => ({
  subject: r.subject,
  zone: r.zone,
  listed: Number(r.listed) === 1,
  code: r.code,
  reason: r.reason,
  since: r.since === null ? null : Number(r.since),
  checkedAt: Number(r.checked_at),
  error: r.error,
});

/** The two tables of current answers: outbound addresses and sender domains. Table names never come from input. */
const TABLES = {
  ip: { table: 'ip_listings', key: 'address' },
  domain: { table: 'domain_listings', key: 'domain' },
} as const;
type Kind = keyof typeof TABLES;

/**
 * Blocklist state shared by every node: the answers of the zones for each outbound address and sender domain,
 * the history of the addresses' listings, which domains each credential sends from, and credentials pinned to
 * part of the outbound pool.
 */
export class BlocklistStore {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Records a lookup's answer. Returns the transition this call made ('listed', 'delisted') or null: when two
   * nodes record the same change at once, the conditional UPDATE lets exactly one of them see it.
   */
  recordIpAnswer(address: string, zone: string, answer: ZoneAnswer, now: number): Promise<'listed' | 'delisted' | null> {
    return this.recordAnswer('ip', address, zone, answer, now);
  }

  recordDomainAnswer(domain: string, zone: string, answer: ZoneAnswer, now: number): Promise<'listed' | 'delisted' | null> {
    return this.recordAnswer('domain', domain, zone, answer, now);
  }

  private recordAnswer(kind: Kind, subject: string, zone: string, answer: ZoneAnswer, now: number): Promise<'listed' | 'delisted' | null> {
    const { table, key } = TABLES[kind];
    return this.db.transaction(
      async (tx) => {
        await tx.run(`INSERT INTO ${table} (${key}, zone, listed, checked_at) VALUES (?, ?, 0, ?) ON CONFLICT (${key}, zone) DO NOTHING`, [subject, zone, now]);
        const where = `${key} = ? AND zone = ?`;
        if (answer.kind === 'error') {
          await tx.run(`UPDATE ${table} SET checked_at = ?, error = ? WHERE ${where}`, [now, answer.error, subject, zone]);
          return null;
        }
        if (answer.kind === 'listed') {
          const changed = await tx.run(
            `UPDATE ${table} SET listed = 1, code = ?, reason = ?, since = ?, checked_at = ?, error = NULL WHERE ${where} AND listed = 0`,
            [answer.code, answer.reason, now, now, subject, zone],
          );
          if (changed.changes === 0) {
            await tx.run(`UPDATE ${table} SET code = ?, reason = ?, checked_at = ?, error = NULL WHERE ${where}`, [answer.code, answer.reason, now, subject, zone]);
            return null;
          }
          if (kind === 'ip') await insertIpEvent(tx, subject, zone, now, 'listed', answer.code, answer.reason);
          return 'listed';
        }
        const previous = await tx.get<{ code: string | null; reason: string | null }>(`SELECT code, reason FROM ${table} WHERE ${where}`, [subject, zone]);
        const changed = await tx.run(
          `UPDATE ${table} SET listed = 0, code = NULL, reason = NULL, since = NULL, checked_at = ?, error = NULL WHERE ${where} AND listed = 1`,
          [now, subject, zone],
        );
        if (changed.changes === 0) {
          await tx.run(`UPDATE ${table} SET checked_at = ?, error = NULL WHERE ${where}`, [now, subject, zone]);
          return null;
        }
        if (kind === 'ip') await insertIpEvent(tx, subject, zone, now, 'delisted', previous?.code ?? null, previous?.reason ?? null);
        return 'delisted';
      },
      { durable: true },
    );
  }

  async ipListings(): Promise<Listing[]> {
    const rows = await this.db.all<ListingRow>(
      'SELECT address AS subject, zone, listed, code, reason, since, checked_at, error FROM ip_listings ORDER BY address, zone',
    );
    return rows.map(toListing);
  }

  /** Only the addresses listed now: what every delivering node reads every few seconds. */
  async listedIps(): Promise<Listing[]> {
    const rows = await this.db.all<ListingRow>(
      'SELECT address AS subject, zone, listed, code, reason, since, checked_at, error FROM ip_listings WHERE listed = 1 ORDER BY address, zone',
    );
    return rows.map(toListing);
  }

  async ipEvents(address: string): Promise<IpEvent[]> {
    const rows = await this.db.all<{ id: number; address: string; zone: string; at: number; kind: string; code: string | null; reason: string | null }>(
      'SELECT id, address, zone, at, kind, code, reason FROM ip_events WHERE address = ? ORDER BY at, id',
      [address],
    );
    return rows.map((r) => ({ id: Number(r.id), address: r.address, zone: r.zone, at: Number(r.at), kind: r.kind === 'listed' ? 'listed' : 'delisted', code: r.code, reason: r.reason }));
  }

  async domainListings(domains: readonly string[]): Promise<Listing[]> {
    if (domains.length === 0) return [];
    const out: Listing[] = [];
    // Chunked: a credential may have sent from thousands of domains, more than a statement takes parameters.
    for (let i = 0; i < domains.length; i += 500) {
      const chunk = domains.slice(i, i + 500);
      const rows = await this.db.all<ListingRow>(
        `SELECT domain AS subject, zone, listed, code, reason, since, checked_at, error FROM domain_listings WHERE domain IN (${chunk.map(() => '?').join(', ')}) ORDER BY domain, zone`,
        chunk,
      );
      out.push(...rows.map(toListing));
    }
    return out;
  }

  /**
   * Records uses of sender domains in one transaction. Returns the (credential, domain) pairs seen for the first
   * time, which the caller checks against the domain zones at once.
   */
  async touchSenderDomains(uses: readonly DomainUse[]): Promise<DomainUse[]> {
    if (uses.length === 0) return [];
    return this.db.transaction(
      async (tx) => {
        const fresh: DomainUse[] = [];
        for (const u of uses) {
          const inserted = await tx.run(
            'INSERT INTO sender_domains (credential_id, domain, first_used_at, last_used_at) VALUES (?, ?, ?, ?) ON CONFLICT (credential_id, domain) DO NOTHING',
            [u.credentialId, u.domain, u.at, u.at],
          );
          if (inserted.changes > 0) fresh.push(u);
          else await tx.run('UPDATE sender_domains SET last_used_at = ? WHERE credential_id = ? AND domain = ? AND last_used_at < ?', [u.at, u.credentialId, u.domain, u.at]);
        }
        return fresh;
      },
      // Losing a last-use update in a power cut costs nothing that matters; the 250 does not wait for it.
      { durable: false },
    );
  }

  async senderDomains(credentialId: number): Promise<SenderDomain[]> {
    const rows = await this.db.all<{ credential_id: number; domain: string; first_used_at: number; last_used_at: number }>(
      'SELECT credential_id, domain, first_used_at, last_used_at FROM sender_domains WHERE credential_id = ? ORDER BY domain',
      [credentialId],
    );
    return rows.map((r) => ({ credentialId: Number(r.credential_id), domain: r.domain, firstUsedAt: Number(r.first_used_at), lastUsedAt: Number(r.last_used_at) }));
  }

  /** Every domain any credential has sent from: what the periodic check looks up. */
  async allSenderDomains(): Promise<string[]> {
    const rows = await this.db.all<{ domain: string }>('SELECT DISTINCT domain FROM sender_domains ORDER BY domain');
    return rows.map((r) => r.domain);
  }

  async credentialsUsingDomain(domain: string): Promise<number[]> {
    const rows = await this.db.all<{ credential_id: number }>('SELECT credential_id FROM sender_domains WHERE domain = ? ORDER BY credential_id', [domain]);
    return rows.map((r) => Number(r.credential_id));
  }

  /** Pins a credential to some outbound addresses; an empty list sends it through the whole pool again. */
  async setPoolPins(credentialId: number, addresses: readonly string[]): Promise<void> {
    await this.db.transaction(
      async (tx) => {
        await tx.run('DELETE FROM credential_pool_pins WHERE credential_id = ?', [credentialId]);
        for (const address of addresses) await tx.run('INSERT INTO credential_pool_pins (credential_id, address) VALUES (?, ?)', [credentialId, address]);
      },
      { durable: true },
    );
  }

  async poolPinsFor(credentialId: number): Promise<string[]> {
    const rows = await this.db.all<{ address: string }>('SELECT address FROM credential_pool_pins WHERE credential_id = ? ORDER BY address', [credentialId]);
    return rows.map((r) => r.address);
  }

  /** Every pinned credential's addresses: few rows (staff isolate a handful of customers), read whole. */
  async allPoolPins(): Promise<Map<number, string[]>> {
    const rows = await this.db.all<{ credential_id: number; address: string }>('SELECT credential_id, address FROM credential_pool_pins ORDER BY credential_id, address');
    const pins = new Map<number, string[]>();
    for (const r of rows) {
      const id = Number(r.credential_id);
      const list = pins.get(id);
      if (list) list.push(r.address);
      else pins.set(id, [r.address]);
    }
    return pins;
  }
}

async function insertIpEvent(tx: SqlRunner, address: string, zone: string, at: number, kind: 'listed' | 'delisted', code: string | null, reason: string | null): Promise<void> {
  await tx.run('INSERT INTO ip_events (address, zone, at, kind, code, reason) VALUES (?, ?, ?, ?, ?, ?)', [address, zone, at, kind, code, reason]);
}
