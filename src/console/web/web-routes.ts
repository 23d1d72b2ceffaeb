import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../log/logger.js';
import type { Services } from '../../services.js';
import { customerPageRoutes } from './customer/routes.js';
import { homePage } from './home-page.js';
import { loginRoutes } from './login-routes.js';
import { requireSignIn } from './session.js';
import { staffRoutes } from './staff/staff-routes.js';

export interface WebDeps {
  services: Services;
  logger: Logger;
}

/** Largest form post the console reads: forms hold a few short fields, never files. */
const FORM_LIMIT = 64 * 1024;

/** The server-rendered console: sign-in, then the pages of each role. */
export async function webRoutes(app: FastifyInstance, deps: WebDeps): Promise<void> {
  const { services } = deps;
  const c = services.config.console;
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_request, body, done) => {
    const fields: Record<string, string> = {};
    for (const [name, value] of new URLSearchParams(body as string)) if (!(name in fields)) fields[name] = value;
    done(null, fields);
  });
  loginRoutes(app, {
    logins: services.logins,
    clock: services.clock,
    logger: deps.logger,
    settings: {
      secureCookies: c.secure_cookies,
      sessionMaxMs: c.session_max,
      maxFailuresPerIp: c.max_login_failures_per_ip,
      maxFailuresPerAccount: c.max_login_failures_per_account,
      failureWindowMs: c.login_failure_window,
      blockForMs: c.login_block_for,
    },
  });
  const signedIn = requireSignIn(services.logins);
  customerPageRoutes(app, services, signedIn);
  app.get('/', { preHandler: signedIn }, (request, reply) => homePage(request, reply, services));
  staffRoutes(app, services);
}
