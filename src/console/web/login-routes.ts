import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../log/logger.js';
import type { Clock } from '../../shared/clock.js';
import { AuthGuard } from '../../submission/auth-guard.js';
import type { LoginService } from '../../accounts/console-logins.js';
import { html } from '../../shared/html.js';
import { layout, sendPage } from './layout.js';
import { field, localPath, parseCookies, requireSignIn, SESSION_COOKIE, sameToken, setCookie, webContext } from './session.js';

export interface LoginRouteSettings {
  secureCookies: boolean;
  sessionMaxMs: number;
  maxFailuresPerIp: number;
  maxFailuresPerAccount: number;
  failureWindowMs: number;
  blockForMs: number;
}

export interface LoginRouteDeps {
  logins: LoginService;
  clock: Clock;
  logger: Logger;
  settings: LoginRouteSettings;
}

// The sign-in form has no session yet: its CSRF token is a cookie the form must echo (double submit), so another
// site cannot sign a browser in to an account of its choosing.
const LOGIN_CSRF_COOKIE = 'relais_login';

function loginPage(reply: FastifyReply, token: string, next: string, email: string, error: string | null, status = 200): FastifyReply {
  return sendPage(
    reply,
    layout(
      { title: 'Sign in' },
      html`<div class="card" style="max-width:26rem;margin:2rem auto">
<h1>Sign in</h1>
${error ? html`<p class="banner error" role="alert">${error}</p>` : ''}
<form class="stack" method="post" action="/login">
<input type="hidden" name="_csrf" value="${token}">
<input type="hidden" name="next" value="${next}">
<label>E-mail <input type="email" name="email" value="${email}" autocomplete="username" required autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</div>`,
    ),
    status,
  );
}

export function loginRoutes(app: FastifyInstance, deps: LoginRouteDeps): void {
  const { settings } = deps;
  const guard = new AuthGuard(
    {
      maxFailuresPerIp: settings.maxFailuresPerIp,
      maxFailuresPerUser: settings.maxFailuresPerAccount,
      failureWindowMs: settings.failureWindowMs,
      blockForMs: settings.blockForMs,
      maxParallelPerIp: 2,
    },
    deps.clock,
  );
  const freshToken = (reply: FastifyReply): string => {
    const token = crypto.randomBytes(24).toString('base64url');
    setCookie(reply, LOGIN_CSRF_COOKIE, token, { secure: settings.secureCookies });
    return token;
  };

  app.get('/login', async (request: FastifyRequest<{ Querystring: { next?: string } }>, reply) => {
    const next = localPath(request.query.next);
    if (await deps.logins.resume(parseCookies(request.headers.cookie).get(SESSION_COOKIE))) return reply.redirect(next, 303);
    return loginPage(reply, freshToken(reply), next, '', null);
  });

  app.post('/login', async (request, reply) => {
    const next = localPath(field(request, 'next'));
    const email = field(request, 'email').trim().toLowerCase().slice(0, 320);
    const password = field(request, 'password');
    if (!sameToken(field(request, '_csrf'), parseCookies(request.headers.cookie).get(LOGIN_CSRF_COOKIE) ?? '')) {
      return loginPage(reply, freshToken(reply), next, email, 'The sign-in form had expired: please sign in again.', 403);
    }
    if (!email || !password) return loginPage(reply, freshToken(reply), next, email, 'Enter your e-mail address and your password.', 400);
    const admission = await guard.admit(request.ip, email);
    if (!admission.allowed) {
      deps.logger.warn({ event: 'console_login', outcome: 'blocked', scope: admission.scope, client_ip: request.ip, email }, 'console sign-in refused: too many failures');
      reply.header('retry-after', Math.max(1, Math.ceil((admission.until - deps.clock.now()) / 1000)));
      return loginPage(
        reply,
        freshToken(reply),
        next,
        email,
        `Too many failed sign-ins ${admission.scope === 'ip' ? 'from your address' : 'for this account'}: try again after ${new Date(admission.until).toISOString().slice(11, 16)} UTC.`,
        429,
      );
    }
    let login;
    try {
      login = await deps.logins.verify(email, password);
    } catch (error) {
      admission.permit.cancelled();
      throw error;
    }
    if (!login) {
      const blocked = admission.permit.failed();
      deps.logger.warn({ event: 'console_login', outcome: 'failed', client_ip: request.ip, email, ...blocked }, 'console sign-in failed');
      return loginPage(reply, freshToken(reply), next, email, 'Wrong e-mail address or password.', 401);
    }
    admission.permit.succeeded();
    const { cookie } = await deps.logins.openSession(login, request.ip);
    deps.logger.info({ event: 'console_login', outcome: 'ok', client_ip: request.ip, email: login.email, role: login.role }, 'console sign-in');
    setCookie(reply, LOGIN_CSRF_COOKIE, '', { secure: settings.secureCookies, maxAge: 0 });
    setCookie(reply, SESSION_COOKIE, cookie, { secure: settings.secureCookies, maxAge: Math.floor(settings.sessionMaxMs / 1000) });
    return reply.redirect(next, 303);
  });

  app.post('/logout', { preHandler: requireSignIn(deps.logins) }, async (request, reply) => {
    await deps.logins.closeSession(webContext(request).idHash);
    setCookie(reply, SESSION_COOKIE, '', { secure: settings.secureCookies, maxAge: 0 });
    return reply.redirect('/login', 303);
  });
}
