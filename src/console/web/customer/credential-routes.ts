import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import type { Services } from '../../../services.js';
import { newSmtpPassword } from '../../actions/accounts.js';
import { NotFound, visibleCredential } from '../../views/scope.js';
import { html } from '../../../shared/html.js';
import { errorPage, layout, sendPage } from '../layout.js';
import { webContext } from '../session.js';

/**
 * A credential's own downloads and self-service: its parameter sheet (the PDF mailed at set-up, without the
 * password) and a new SMTP password, shown once. A customer for its own credentials, staff for any.
 */
export function credentialRoutes(app: FastifyInstance, services: Services, signedIn: preHandlerHookHandler): void {
  app.get<{ Params: { username: string } }>('/credentials/:username/sheet.pdf', { preHandler: signedIn }, async (request, reply) => {
    const { viewer, csrf } = webContext(request);
    try {
      const credential = await visibleCredential(services, viewer, request.params.username);
      const { pdf, filename } = await services.subscriptions.sheet(credential.username);
      return reply
        .header('content-type', 'application/pdf')
        .header('content-disposition', `attachment; filename="${filename}"`)
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .send(pdf);
    } catch (error) {
      if (error instanceof NotFound) return errorPage(reply, 404, 'Not found', 'There is no such credential.', { viewer, csrf });
      throw error;
    }
  });

  app.post<{ Params: { username: string } }>('/credentials/:username/password', { preHandler: signedIn }, async (request, reply) => {
    const { viewer, csrf } = webContext(request);
    try {
      const { username, password } = await newSmtpPassword(services, viewer, 'console', request.params.username);
      reply.header('cache-control', 'no-store');
      return sendPage(
        reply,
        layout(
          { title: 'New SMTP password', viewer, csrf },
          html`<h1>New SMTP password</h1>
<div class="card"><p>The new password of <strong>${username}</strong>:</p>
<p><code class="secret" data-field="password" style="font-size:1.2rem">${password}</code></p>
<p>It is shown only this once: Relais keeps only a hash of it. The old password no longer works: put this one in
every mail client and application that sends with ${username}.</p></div>
<p><a href="/">Back to the home page</a></p>`,
        ),
      );
    } catch (error) {
      if (error instanceof NotFound) return errorPage(reply, 404, 'Not found', 'There is no such credential.', { viewer, csrf });
      throw error;
    }
  });
}
