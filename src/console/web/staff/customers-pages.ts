import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { InputError } from '../../../accounts/validation.js';
import type { Services } from '../../../services.js';
import { customerDetail, customerList, type CredentialSummary } from '../../views/staff-customers.js';
import { html, type Html } from '../../../shared/html.js';
import { field, webContext } from '../session.js';
import { consoleActor, csrfField, notFound, redirectDone, staffAction, staffPage, when } from './staff-kit.js';

const idOf = (request: FastifyRequest): number | null => {
  const id = (request.params as { id?: string }).id ?? '';
  return /^\d{1,12}$/.test(id) ? Number(id) : null;
};

/** The customer a form posts to, or null (then 404): it is looked up, never trusted from the URL alone. */
async function customerOf(services: Services, request: FastifyRequest) {
  const id = idOf(request);
  return id === null ? undefined : customerDetail(services, webContext(request).viewer, id);
}

function planRows(summary: CredentialSummary): Html {
  if (summary.plans.length === 0) return html`<p class="muted">No plan: this credential cannot send.</p>`;
  return html`<div class="table"><table><thead><tr><th>Quota / 24 h</th><th>Starts</th><th>Ends</th><th>State</th></tr></thead><tbody>${summary.plans.map(
    (p) => html`<tr><td class="num">${p.quota}</td><td class="num">${when(p.startsAt)}</td><td class="num">${when(p.endsAt)}</td><td><span class="state ${p.state === 'active' ? 'ok' : p.state === 'future' ? 'wait' : ''}">${p.state}</span></td></tr>`,
  )}</tbody></table></div>`;
}

/** A result page that shows a secret once (a credential's or a login's password): never a redirect, never cached. */
function secretPage(request: FastifyRequest, reply: FastifyReply, title: string, fields: [string, string][], note: string, back: string): FastifyReply {
  return staffPage(
    request,
    reply,
    title,
    '/customers',
    html`<h1>${title}</h1>
<div class="card"><dl style="display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0">${fields.map(
      ([k, v]) => html`<dt class="muted">${k}</dt><dd style="margin:0;overflow-wrap:anywhere"><code data-field="${k.toLowerCase()}">${v}</code></dd>`,
    )}</dl></div>
<p class="banner warn">${note}</p>
<p><a href="${back}">Back to the customer</a></p>`,
  );
}

export function customerPages(app: FastifyInstance, services: Services, guard: preHandlerHookHandler[]): void {
  app.get('/customers', { preHandler: guard }, async (request, reply) => {
    const list = await customerList(services, webContext(request).viewer);
    return staffPage(
      request,
      reply,
      'Customers',
      '/customers',
      html`<h1>Customers</h1>
<div class="table"><table><thead><tr><th>Name</th><th>Contact</th><th>Credentials</th><th>Since</th></tr></thead><tbody>${
        list.length
          ? list.map((c) => html`<tr><td><a href="/customers/${c.id}">${c.name}</a></td><td>${c.email}</td><td class="num">${c.credentialCount}</td><td class="num">${when(c.createdAt)}</td></tr>`)
          : html`<tr><td colspan="4" class="muted">No customer yet.</td></tr>`
      }</tbody></table></div>
<h2>Add a customer</h2>
<form class="stack card" method="post" action="/customers">${csrfField(request)}
<label>Name <input name="name" required maxlength="100"></label>
<label>Contact e-mail <input type="email" name="email" required maxlength="320"></label>
<button type="submit">Add customer</button>
</form>`,
    );
  });

  app.post('/customers', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/customers', async () => {
      const c = await services.accounts.addCustomer(field(request, 'name'), field(request, 'email'));
      await services.audit.record(consoleActor(request), { action: 'customer.add', subject: c.name, customerId: c.id, detail: { email: c.email } });
      return redirectDone(reply, `/customers/${c.id}`, 'customer.add', c.name);
    }),
  );

  app.get('/customers/:id', { preHandler: guard }, async (request, reply) => {
    const detail = await customerOf(services, request);
    if (!detail) return notFound(request, reply, 'customer');
    const { customer, credentials, logins } = detail;
    const base = `/customers/${customer.id}`;
    return staffPage(
      request,
      reply,
      customer.name,
      '/customers',
      html`<h1 style="overflow-wrap:anywhere">${customer.name}</h1>
<p class="muted">Contact ${customer.email} · customer since ${when(customer.createdAt)}</p>
<h2>Credentials</h2>
${credentials.length === 0 ? html`<p class="muted">No credential yet.</p>` : ''}
${credentials.map(
  (s) => html`<section class="card" data-credential="${s.credential.username}">
<h3 style="margin:0 0 .4rem;overflow-wrap:anywhere">${s.credential.username}
${!s.credential.enabled ? html`<span class="state bad">disabled</span>` : s.credential.holdReason ? html`<span class="state bad">suspended: ${s.credential.holdReason}</span>` : html`<span class="state ok">active</span>`}</h3>
<p class="muted">Sent ${s.sent} of ${s.quota} over the sliding window · created ${when(s.credential.createdAt)}${s.credential.holdSince ? ` · suspended since ${when(s.credential.holdSince)}` : ''}</p>
${planRows(s)}
${s.suspended ? html`<p><a href="/suspensions">Decide on the suspension</a></p>` : ''}
</section>`,
)}
<div class="cards">
<form class="stack card" method="post" action="${base}/credentials">${csrfField(request)}
<h3 style="margin:0">Add a credential</h3>
<label>Username <input name="username" maxlength="64" placeholder="derived from the customer name"></label>
<button type="submit">Add credential</button>
<p class="muted" style="margin:0">Its password is generated and shown once.</p>
</form>
<form class="stack card" method="post" action="${base}/plans">${csrfField(request)}
<h3 style="margin:0">Add a plan</h3>
${
  credentials.length
    ? html`<label>Credential <select name="credential">${credentials.map((s) => html`<option>${s.credential.username}</option>`)}</select></label>
<label>Quota (recipients per 24 h) <input name="quota" inputmode="numeric" pattern="[0-9]+" required></label>
<label>Days <input name="days" inputmode="numeric" pattern="[0-9]*" placeholder="365"></label>
<label>Or last day (YYYY-MM-DD) <input name="until" pattern="\\d{4}-\\d{2}-\\d{2}"></label>
<label>First day (YYYY-MM-DD, default now) <input name="start" pattern="\\d{4}-\\d{2}-\\d{2}"></label>
<button type="submit">Add plan</button>
<p class="muted" style="margin:0">Plans running at the same time add up.</p>`
    : html`<p class="muted">Add a credential first.</p>`
}
</form>
<form class="stack card" method="post" action="${base}/logins">${csrfField(request)}
<h3 style="margin:0">Add a console login</h3>
<label>E-mail <input type="email" name="email" required maxlength="320"></label>
<button type="submit">Add login</button>
<p class="muted" style="margin:0">It sees only this customer; its password is shown once.</p>
</form>
</div>
<h2>Console logins</h2>
<div class="table"><table><thead><tr><th>E-mail</th><th>Created</th><th>Last sign-in</th><th>State</th></tr></thead><tbody>${
        logins.length
          ? logins.map(
              (l) => html`<tr><td>${l.email}</td><td class="num">${when(l.createdAt)}</td><td class="num">${when(l.lastLoginAt)}</td><td>${l.disabledAt ? html`<span class="state bad">disabled</span>` : html`<span class="state ok">active</span>`}</td></tr>`,
            )
          : html`<tr><td colspan="4" class="muted">No login yet.</td></tr>`
      }</tbody></table></div>`,
    );
  });

  app.post('/customers/:id/credentials', { preHandler: guard }, async (request, reply) => {
    const detail = await customerOf(services, request);
    if (!detail) return notFound(request, reply, 'customer');
    const base = `/customers/${detail.customer.id}`;
    return staffAction(request, reply, base, async () => {
      const username = field(request, 'username').trim();
      const { credential, password } = await services.accounts.addCredential(detail.customer.name, username || undefined);
      await services.audit.record(consoleActor(request), { action: 'credential.add', subject: credential.username, customerId: credential.customerId });
      return secretPage(
        request,
        reply,
        'Credential created',
        [
          ['Server', services.config.hostname],
          ['Username', credential.username],
          ['Password', password],
        ],
        'The password is shown only this once: Relais keeps only a hash of it. Give it to the customer now.',
        base,
      );
    });
  });

  app.post('/customers/:id/plans', { preHandler: guard }, async (request, reply) => {
    const detail = await customerOf(services, request);
    if (!detail) return notFound(request, reply, 'customer');
    const base = `/customers/${detail.customer.id}`;
    return staffAction(request, reply, base, async () => {
      const username = field(request, 'credential');
      // Only one of this customer's credentials: the form names a username, which could be anyone's.
      const owned = detail.credentials.find((s) => s.credential.username === username);
      if (!owned) throw new InputError(`"${username}" is not a credential of ${detail.customer.name}: pick one from the list`);
      const number = (name: string) => {
        const text = field(request, name).trim();
        if (!text) return undefined;
        if (!/^\d{1,9}$/.test(text)) throw new InputError(`${name} must be a whole number, not "${text}"`);
        return Number(text);
      };
      const text = (name: string) => field(request, name).trim() || undefined;
      const plan = await services.accounts.addPlan(username, { quota: number('quota') ?? Number.NaN, days: number('days'), until: text('until'), start: text('start') });
      await services.audit.record(consoleActor(request), {
        action: 'plan.add',
        subject: username,
        customerId: detail.customer.id,
        detail: { quota: plan.quota, starts_at: new Date(plan.startsAt).toISOString(), ends_at: new Date(plan.endsAt).toISOString() },
      });
      return redirectDone(reply, base, 'plan.add', username);
    });
  });

  app.post('/customers/:id/logins', { preHandler: guard }, async (request, reply) => {
    const detail = await customerOf(services, request);
    if (!detail) return notFound(request, reply, 'customer');
    const base = `/customers/${detail.customer.id}`;
    return staffAction(request, reply, base, async () => {
      const { login, password } = await services.logins.add(field(request, 'email'), detail.customer.name);
      await services.audit.record(consoleActor(request), { action: 'login.add', subject: login.email, customerId: login.customerId, detail: { role: login.role } });
      return secretPage(
        request,
        reply,
        'Login created',
        [
          ['E-mail', login.email],
          ['Password', password],
        ],
        'The password is shown only this once: Relais keeps only a hash of it. The customer signs in at /login.',
        base,
      );
    });
  });
}
