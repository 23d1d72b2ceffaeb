import crypto from 'node:crypto';
import { generatePassword, hashPassword, verifyPassword } from './passwords.js';
import { checkEmail, InputError } from './validation.js';
import type { Clock } from '../shared/clock.js';
import type { Login } from '../store/logins.js';
import type { Store } from '../store/store.js';
import type { WebSession } from '../store/web-sessions.js';

export interface SessionSettings {
  idleMs: number;
  maxMs: number;
}

/** A signed-in request: who, and the session's CSRF token that every form must carry back. */
export interface SignedIn {
  login: Login;
  session: WebSession;
  /** The SHA-256 of the cookie value: what the store knows the session by. */
  idHash: string;
}

const sha256 = (value: string): string => crypto.createHash('sha256').update(value, 'utf8').digest('hex');

// Compared with the same hash cost when the e-mail is unknown, so timing does not tell which logins exist.
let decoyHash: Promise<string> | undefined;

/**
 * Console logins and their sessions. Passwords are generated and hashed like SMTP credentials' (scrypt); a
 * session id is 256 random bits, and only its hash is stored.
 */
export class LoginService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly sessions: SessionSettings,
  ) {}

  /** `customer` null: a staff login. Returns the generated password, shown once. */
  async add(email: string, customer: string | null): Promise<{ login: Login; password: string }> {
    const address = checkEmail(email.trim()).toLowerCase();
    let customerId: number | null = null;
    if (customer !== null) {
      const found = await this.store.findCustomer(customer);
      if (!found) throw new InputError(`no customer named "${customer}": see "relais customer list"`);
      customerId = found.id;
    }
    const password = generatePassword();
    const login = await this.store.logins.add(address, customerId, await hashPassword(password), this.clock.now());
    if (!login) throw new InputError(`${address} already has a login: see "relais login list", or give it a new password with "relais login password ${address}"`);
    return { login, password };
  }

  list(customerId?: number): Promise<Login[]> {
    return this.store.logins.list(customerId);
  }

  async find(email: string): Promise<Login> {
    const found = await this.store.logins.findByEmail(email.trim().toLowerCase());
    if (!found) throw new InputError(`no login for ${email}: see "relais login list"`);
    return found.login;
  }

  async disable(email: string): Promise<Login> {
    const login = await this.find(email);
    if (login.disabledAt !== null) throw new InputError(`the login ${login.email} is already disabled`);
    await this.store.logins.disable(login.id, this.clock.now());
    return (await this.store.logins.find(login.id)) as Login;
  }

  /** A new generated password (shown once); the login's sessions end. */
  async resetPassword(email: string): Promise<{ login: Login; password: string }> {
    const login = await this.find(email);
    const password = generatePassword();
    await this.store.logins.setPassword(login.id, await hashPassword(password));
    return { login, password };
  }

  /** Checks a sign-in. Unknown e-mail, wrong password and disabled login all answer undefined, in the same time. */
  async verify(email: string, password: string): Promise<Login | undefined> {
    const found = await this.store.logins.findByEmail(email.trim().toLowerCase());
    if (!found) {
      decoyHash ??= hashPassword(generatePassword());
      await verifyPassword(password, await decoyHash);
      return undefined;
    }
    const ok = await verifyPassword(password, found.passwordHash);
    return ok && found.login.disabledAt === null ? found.login : undefined;
  }

  /** Opens a session for a verified login; returns the cookie value. */
  async openSession(login: Login, clientIp: string | null): Promise<{ cookie: string; session: WebSession }> {
    const now = this.clock.now();
    const cookie = crypto.randomBytes(32).toString('base64url');
    const session: WebSession = {
      loginId: login.id,
      csrfToken: crypto.randomBytes(24).toString('base64url'),
      createdAt: now,
      expiresAt: now + Math.min(this.sessions.idleMs, this.sessions.maxMs),
    };
    await this.store.webSessions.add(sha256(cookie), session, clientIp);
    await this.store.logins.touch(login.id, now);
    return { cookie, session };
  }

  /** The session a cookie value names, if live; a request extends it (up to session_max after sign-in). */
  async resume(cookie: string | undefined): Promise<SignedIn | undefined> {
    if (!cookie || cookie.length > 200) return undefined;
    const now = this.clock.now();
    const idHash = sha256(cookie);
    const session = await this.store.webSessions.find(idHash, now);
    if (!session) return undefined;
    const login = await this.store.logins.find(session.loginId);
    if (!login || login.disabledAt !== null) return undefined;
    const expiresAt = Math.min(now + this.sessions.idleMs, session.createdAt + this.sessions.maxMs);
    // Written at most once a minute per session, not on every page view.
    if (expiresAt - session.expiresAt > 60_000) {
      await this.store.webSessions.extend(idHash, expiresAt);
      session.expiresAt = expiresAt;
    }
    return { login, session, idHash };
  }

  async closeSession(idHash: string): Promise<void> {
    await this.store.webSessions.remove(idHash);
  }

  purgeExpired(): Promise<number> {
    return this.store.webSessions.purgeExpired(this.clock.now());
  }
}
