import crypto from 'node:crypto';
import { InputError } from '../../accounts/validation.js';
import type { Clock } from '../../shared/clock.js';
import type { ApiToken } from '../../store/api-tokens.js';
import type { Store } from '../../store/store.js';

const PREFIX = 'relais_';

/**
 * SHA-256, not scrypt as for SMTP passwords: a token is 256 random bits, so its hash cannot be reversed by
 * guessing, and a slow hash would only cost CPU on every request. Being deterministic, the hash is also the
 * lookup key (a unique index), so checking a token is one indexed read.
 */
export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

export type TokenCheck = { ok: true; token: ApiToken } | { ok: false; why: 'missing' | 'unknown' | 'revoked' };

/** API tokens: made (shown once), listed, revoked, and checked on each request. */
export class ApiTokenService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** `customer` null: a staff token. The secret is returned here only; the store keeps its hash. */
  async add(name: string, customer: string | null): Promise<{ token: ApiToken; secret: string }> {
    const trimmed = name.trim();
    if (!trimmed || trimmed.length > 100 || /[\x00-\x1f\x7f]/.test(trimmed)) {
      throw new InputError(`"${name}" is not a valid token name: use 1-100 printable characters, for example "feedback-loop"`);
    }
    let customerId: number | null = null;
    if (customer !== null) {
      const found = await this.store.findCustomer(customer);
      if (!found) throw new InputError(`no customer named "${customer}": see "relais customer list"`);
      customerId = found.id;
    }
    const secret = PREFIX + crypto.randomBytes(32).toString('base64url');
    const token = await this.store.tokens.add(trimmed, customerId, hashToken(secret), this.clock.now());
    return { token, secret };
  }

  list(): Promise<ApiToken[]> {
    return this.store.tokens.list();
  }

  async revoke(id: number): Promise<ApiToken> {
    const token = await this.store.tokens.find(id);
    if (!token) throw new InputError(`no API token with id ${id}: see "relais token list"`);
    if (token.revokedAt !== null) throw new InputError(`API token ${id} ("${token.name}") is already revoked`);
    await this.store.tokens.revoke(id, this.clock.now());
    return (await this.store.tokens.find(id)) as ApiToken;
  }

  /** Checks the value of an `Authorization` header (`Bearer TOKEN`). */
  async check(authorization: string | undefined): Promise<TokenCheck> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return { ok: false, why: 'missing' };
    const token = await this.store.tokens.findByHash(hashToken(match[1] as string));
    if (!token) return { ok: false, why: 'unknown' };
    if (token.revokedAt !== null) return { ok: false, why: 'revoked' };
    await this.store.tokens.touch(token.id, this.clock.now());
    return { ok: true, token };
  }
}
