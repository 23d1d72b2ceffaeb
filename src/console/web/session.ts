import crypto from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Login } from '../../store/logins.js';
import type { LoginService } from '../../accounts/console-logins.js';
import { viewerOfLogin, type Viewer } from '../viewer.js';
import { errorPage } from './layout.js';

export const SESSION_COOKIE = 'relais_session';

/** What a signed-in page knows about its request. */
export interface WebContext {
  viewer: Viewer;
  login: Login;
  /** Every form carries it back as `_csrf`. */
  csrf: string;
  idHash: string;
}

const contexts = new WeakMap<FastifyRequest, WebContext>();

/** The signed-in context of a request that passed `requireSignIn`. */
export function webContext(request: FastifyRequest): WebContext {
  const context = contexts.get(request);
  if (!context) throw new Error('console page reached without requireSignIn');
  return context;
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

export interface CookieOptions {
  secure: boolean;
  /** Seconds; 0 deletes the cookie; undefined: a browser-session cookie. */
  maxAge?: number;
}

/** HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site form posts), Secure unless turned off. */
export function setCookie(reply: FastifyReply, name: string, value: string, options: CookieOptions): void {
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
  if (options.secure) parts.push('Secure');
  if (options.maxAge !== undefined) parts.push(`Max-Age=${options.maxAge}`);
  // Fastify appends set-cookie values rather than replacing them.
  reply.header('set-cookie', parts.join('; '));
}

/** Constant-time comparison of a submitted token with the expected one; nothing matches an empty expectation. */
export function sameToken(a: string | undefined, b: string): boolean {
  // Without this, a sign-in post with neither the login cookie nor the field ('' and '') would pass as matching.
  if (b.length === 0 || typeof a !== 'string' || a.length !== b.length) return false;
  return crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** A form's field, as text (fields absent or repeated are empty or the first value). */
export function field(request: FastifyRequest, name: string): string {
  const body = request.body as Record<string, unknown> | undefined;
  const value = body?.[name];
  return typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : '';
}

/** Only a path on this console: an open redirect after sign-in would help phishing. */
export function localPath(next: string | undefined): string {
  return next && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/';
}

/**
 * A preHandler for every signed-in page and form: resumes the session from its cookie (a GET without one goes
 * to /login and comes back after), and checks the CSRF token of every form post against the session's.
 */
export function requireSignIn(logins: LoginService) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const signedIn = await logins.resume(parseCookies(request.headers.cookie).get(SESSION_COOKIE));
    if (!signedIn) {
      if (request.method === 'GET' || request.method === 'HEAD') {
        return void reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 303);
      }
      return void errorPage(reply, 401, 'Signed out', 'Your session has ended: sign in again, then repeat what you were doing.');
    }
    const context: WebContext = { viewer: viewerOfLogin(signedIn.login), login: signedIn.login, csrf: signedIn.session.csrfToken, idHash: signedIn.idHash };
    if (request.method !== 'GET' && request.method !== 'HEAD' && !sameToken(field(request, '_csrf'), context.csrf)) {
      return void errorPage(
        reply,
        403,
        'Form refused',
        'This form did not come from your current console session (its security token is missing or old): reload the page and try again.',
        { viewer: context.viewer, csrf: context.csrf },
      );
    }
    contexts.set(request, context);
  };
}

/** For staff pages, after requireSignIn: a customer gets the same 404 as for a page that does not exist. */
export async function requireStaff(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const context = webContext(request);
  if (context.viewer.role !== 'staff') {
    return void errorPage(reply, 404, 'Not found', 'There is no such page.', { viewer: context.viewer, csrf: context.csrf });
  }
}
