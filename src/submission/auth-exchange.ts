import { REPLY, type Reply } from './replies.js';
import { LOGIN_PASSWORD_PROMPT, LOGIN_USERNAME_PROMPT, decodeBase64, decodePlain } from './sasl.js';

/** What the session does next in an AUTH exchange. */
export type AuthStep =
  | { kind: 'prompt'; challenge: string }
  | { kind: 'credentials'; username: string; password: string }
  | { kind: 'reply'; reply: Reply }
  /** Decodable but not a valid PLAIN message: counted as a failed login. */
  | { kind: 'malformed' };

type Waiting = { kind: 'plain' } | { kind: 'login-username' } | { kind: 'login-password'; username: string };

/**
 * The SASL PLAIN and LOGIN conversations (RFC 4954, 4616): which 334 prompt comes next and when the credentials
 * are complete. Checking them is the session's business.
 */
export class AuthExchange {
  private waiting: Waiting | null = null;

  get active(): boolean {
    return this.waiting !== null;
  }

  /** Ends an exchange the client cannot finish properly (an over-long response line): nothing is counted. */
  cancel(): void {
    this.waiting = null;
  }

  /** `args` is what follows AUTH: the mechanism and an optional initial response. */
  start(args: string): AuthStep {
    // A new AUTH abandons any conversation left half-way, so no stale prompt can take the next line.
    this.waiting = null;
    const [mechanism = '', given] = args.trim().split(/\s+/);
    // RFC 4954 4: "=" is how a client sends an empty initial response; no argument at all means none (a prompt).
    const initial = given === '=' ? '' : given;
    switch (mechanism.toUpperCase()) {
      case 'PLAIN':
        if (initial !== undefined) return this.plain(initial);
        this.waiting = { kind: 'plain' };
        return { kind: 'prompt', challenge: '' };
      case 'LOGIN':
        if (initial !== undefined) return this.loginUsername(initial);
        this.waiting = { kind: 'login-username' };
        return { kind: 'prompt', challenge: LOGIN_USERNAME_PROMPT };
      default:
        return { kind: 'reply', reply: REPLY.unknownMechanism };
    }
  }

  /** A client's response line to the last prompt. */
  next(line: string): AuthStep {
    const waiting = this.waiting;
    this.waiting = null;
    if (!waiting) return { kind: 'reply', reply: REPLY.commandUnrecognized };
    if (line.trim() === '*') return { kind: 'reply', reply: REPLY.authCancelled };
    switch (waiting.kind) {
      case 'plain':
        return this.plain(line);
      case 'login-username':
        return this.loginUsername(line);
      case 'login-password': {
        const password = decodeBase64(line);
        if (password === undefined) return { kind: 'reply', reply: REPLY.authUndecodable };
        // An empty username (AUTH LOGIN =) or password matches no credential; the password was still asked for,
        // so the exchange looks like any other failed login.
        if (waiting.username === '' || password === '') return { kind: 'malformed' };
        return { kind: 'credentials', username: waiting.username, password };
      }
    }
  }

  private plain(encoded: string): AuthStep {
    const decoded = decodePlain(encoded);
    if (decoded.ok) return { kind: 'credentials', username: decoded.username, password: decoded.password };
    return decoded.reason === 'undecodable' ? { kind: 'reply', reply: REPLY.authUndecodable } : { kind: 'malformed' };
  }

  private loginUsername(encoded: string): AuthStep {
    const username = decodeBase64(encoded);
    if (username === undefined) return { kind: 'reply', reply: REPLY.authUndecodable };
    this.waiting = { kind: 'login-password', username };
    return { kind: 'prompt', challenge: LOGIN_PASSWORD_PROMPT };
  }
}
