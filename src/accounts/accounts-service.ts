import crypto from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import type { Credential, Customer, Plan } from '../store/records.js';
import { StoreConflict, type Store } from '../store/store.js';
import { AuthCache } from './auth-cache.js';
import { generatePassword, hashPassword, verifyPassword } from './passwords.js';
import { InputError, checkCustomerName, checkEmail, checkPositiveInteger, checkUsername, parseDay } from './validation.js';

const DAY = 86_400_000;

export type AuthOutcome =
  | { ok: true; credential: Credential }
  | { ok: false; reason: 'unknown' | 'password' | 'disabled' };

export interface PlanTerm {
  quota: number;
  days?: number;
  until?: string;
  start?: string;
}

/** Customers, their credentials and the plans that give each credential its quota. */
export class AccountsService {
  private readonly authCache: AuthCache;

  constructor(private readonly store: Store, private readonly clock: Clock, authCacheTtlMs = 300_000) {
    this.authCache = new AuthCache(authCacheTtlMs);
  }

  /** `language` (en, fr): of the notices the customer receives; absent, provider.language applies. */
  async addCustomer(name: string, email: string, language?: string): Promise<Customer> {
    if (language !== undefined && language !== 'en' && language !== 'fr') {
      throw new InputError(`--lang "${language}" is not a language Relais writes notices in: use en or fr`);
    }
    const customer = await conflictsAsInput(() => this.store.addCustomer(checkCustomerName(name), checkEmail(email), this.clock.now()));
    if (language !== undefined) await this.store.setCustomerLanguage(customer.id, language);
    return customer;
  }

  listCustomers(): Promise<Customer[]> {
    return this.store.listCustomers();
  }

  /** Returns the credential and its password in clear: the only moment the password exists outside a hash. */
  async addCredential(customerName: string, username?: string): Promise<{ credential: Credential; password: string }> {
    const customer = await this.store.findCustomer(customerName);
    if (!customer) throw new InputError(`no customer named "${customerName}": see "relais customer list"`);
    const name = username ? checkUsername(username) : defaultUsername(customer.name);
    const password = generatePassword();
    const credential = await conflictsAsInput(async () =>
      this.store.addCredential(customer.id, name, await hashPassword(password), this.clock.now()),
    );
    return { credential, password };
  }

  listCredentials(customerName?: string): Promise<Credential[]> {
    return this.store.listCredentials(customerName);
  }

  async credential(username: string): Promise<Credential> {
    const credential = await this.store.findCredential(username);
    if (!credential) throw new InputError(`no credential with username "${username}": see "relais credential list"`);
    return credential;
  }

  async setEnabled(username: string, enabled: boolean): Promise<Credential> {
    const credential = await this.credential(username);
    await this.store.setCredentialEnabled(credential.id, enabled, this.clock.now());
    return this.credential(username);
  }

  async resetPassword(username: string): Promise<{ credential: Credential; password: string }> {
    const credential = await this.credential(username);
    const password = generatePassword();
    await this.store.setCredentialPassword(credential.id, await hashPassword(password), this.clock.now());
    return { credential: await this.credential(username), password };
  }

  async authenticate(username: string, password: string): Promise<AuthOutcome> {
    const credential = await this.store.findCredential(username);
    const now = this.clock.now();
    if (!credential) {
      // Spend the same time as a real check so response timing does not reveal which usernames exist.
      await verifyPassword(password, DUMMY_HASH);
      return { ok: false, reason: 'unknown' };
    }
    const valid =
      this.authCache.matches(username, password, credential.passwordHash, now) || (await verifyPassword(password, credential.passwordHash));
    if (!valid) return { ok: false, reason: 'password' };
    this.authCache.remember(username, password, credential.passwordHash, now);
    if (!credential.enabled) return { ok: false, reason: 'disabled' };
    return { ok: true, credential };
  }

  async addPlan(username: string, term: PlanTerm): Promise<Plan> {
    const credential = await this.credential(username);
    const quota = checkPositiveInteger(term.quota, 'the quota');
    const now = this.clock.now();
    const startsAt = term.start ? parseDay(term.start) : now;
    let endsAt: number;
    if (term.until !== undefined && term.days !== undefined) throw new InputError('give either --days or --until, not both');
    if (term.until !== undefined) endsAt = parseDay(term.until) + DAY; // the named day is included
    else endsAt = startsAt + checkPositiveInteger(term.days ?? 365, 'the number of days') * DAY;
    if (endsAt <= now) throw new InputError(`the plan would end (${new Date(endsAt).toISOString()}) in the past`);
    if (endsAt <= startsAt) throw new InputError(`the plan would end (${new Date(endsAt).toISOString()}) before it starts`);
    return this.store.addPlan(credential.id, quota, startsAt, endsAt, now);
  }

  async listPlans(username: string): Promise<Plan[]> {
    return this.store.listPlans((await this.credential(username)).id);
  }
}

const DUMMY_HASH = `scrypt$16384$8$1$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

function defaultUsername(customerName: string): string {
  const slug = customerName.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'user';
  return `${slug}-${crypto.randomBytes(3).toString('hex')}`;
}

async function conflictsAsInput<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StoreConflict) throw new InputError(error.message);
    throw error;
  }
}
