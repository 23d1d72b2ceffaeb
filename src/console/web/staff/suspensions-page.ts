import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import { InputError } from '../../../accounts/validation.js';
import { isSuspensionReason, liftedByStaff, SUSPENSION_REASONS } from '../../../reputation/suspensions.js';
import type { Services } from '../../../services.js';
import { suspensionsView } from '../../views/staff-suspensions.js';
import { html } from '../../../shared/html.js';
import { field, webContext } from '../session.js';
import { consoleActor, csrfField, noteField, redirectDone, staffAction, staffPage, when } from './staff-kit.js';

/** Quota suspensions are automatic and lift as the window slides: staff suspend for the other reasons. */
const STAFF_REASONS = SUSPENSION_REASONS.filter((r) => liftedByStaff(r));

export function suspensionPages(app: FastifyInstance, services: Services, guard: preHandlerHookHandler[]): void {
  app.get('/suspensions', { preHandler: guard }, async (request, reply) => {
    const { suspended, active } = await suspensionsView(services, webContext(request).viewer);
    return staffPage(
      request,
      reply,
      'Suspensions',
      '/suspensions',
      html`<h1>Suspensions</h1>
${suspended.length === 0 ? html`<p class="muted">No credential is suspended.</p>` : ''}
${suspended.map(
  (s) => html`<section class="card" data-suspended="${s.credential.username}">
<h2 style="margin:0 0 .4rem;overflow-wrap:anywhere">${s.credential.username} <span class="state bad">${s.reason}</span></h2>
<p style="margin:.2rem 0">Customer <a href="/customers/${s.credential.customerId}">${s.credential.customerName}</a> · since <span class="num">${when(s.since)}</span>${s.suspension ? ` · by ${s.suspension.actor}` : ''}</p>
${s.suspension?.note ? html`<p style="margin:.2rem 0" data-note>Note: ${s.suspension.note}</p>` : ''}
${s.refusal ? html`<p class="muted" style="margin:.2rem 0">Reinstatement refused ${when(s.refusal.at)} by ${s.refusal.actor}${s.refusal.note ? `: ${s.refusal.note}` : ''}</p>` : ''}
<p class="muted" style="margin:.2rem 0">${s.held.messages} message(s) held (${s.held.recipients} recipient(s))</p>
${
  s.staffLifted
    ? html`<form class="stack" method="post" action="/suspensions/decide">${csrfField(request)}
<input type="hidden" name="credential" value="${s.credential.username}">
<label>Note (why; the customer reads it) <textarea name="note" rows="2" required maxlength="2000"></textarea></label>
<div style="display:flex;flex-wrap:wrap;gap:.5rem">
<button type="submit" name="decision" value="reinstate">Reinstate</button>
<button type="submit" name="decision" value="waive" class="secondary">Reinstate, waive fees</button>
<button type="submit" name="decision" value="refuse" class="danger">Refuse</button>
</div>
</form>`
    : html`<p class="muted">Lifts by itself as the quota window slides.</p>`
}
</section>`,
)}
<h2>Suspend a credential</h2>
${
  active.length
    ? html`<form class="stack card" method="post" action="/suspensions/suspend">${csrfField(request)}
<label>Credential <select name="credential">${active.map((c) => html`<option value="${c.username}">${c.username} (${c.customerName})</option>`)}</select></label>
<label>Reason <select name="reason">${STAFF_REASONS.map((r) => html`<option${r === 'manual' ? html` selected` : ''}>${r}</option>`)}</select></label>
<label>Note (what happened; the customer reads it) <textarea name="note" rows="2" required maxlength="2000"></textarea></label>
<button type="submit" class="danger">Suspend</button>
<p class="muted" style="margin:0">AUTH still works; MAIL FROM is refused with 550 and its queued mail is held until a decision.</p>
</form>`
    : html`<p class="muted">No active credential to suspend.</p>`
}`,
    );
  });

  app.post('/suspensions/suspend', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/suspensions', async () => {
      const reason = field(request, 'reason');
      if (!isSuspensionReason(reason) || !liftedByStaff(reason)) throw new InputError(`the reason must be one of ${STAFF_REASONS.join(', ')}, not "${reason}"`);
      const note = noteField(field(request, 'note'));
      const actor = consoleActor(request);
      const credential = await services.accounts.credential(field(request, 'credential'));
      const event = await services.suspensions.suspend(credential.id, reason, { actor: actor.name, note });
      if (!event) {
        throw new InputError(`credential "${credential.username}" is already suspended (${credential.holdReason ?? 'unknown'} since ${when(credential.holdSince)})`);
      }
      const held = await services.store.heldMail.summary(credential.id);
      await services.audit.record(actor, { action: 'credential.suspend', subject: credential.username, customerId: credential.customerId, detail: { reason, note } });
      return redirectDone(reply, '/suspensions', 'credential.suspend', credential.username, held.messages);
    }),
  );

  app.post('/suspensions/decide', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/suspensions', async () => {
      const decision = field(request, 'decision');
      if (!['reinstate', 'waive', 'refuse'].includes(decision)) throw new InputError('choose Reinstate, Reinstate waiving fees, or Refuse');
      const note = noteField(field(request, 'note'));
      const actor = consoleActor(request);
      const credential = await services.accounts.credential(field(request, 'credential'));
      const subject = { subject: credential.username, customerId: credential.customerId };
      if (decision === 'refuse') {
        const event = await services.suspensions.refuse(credential.id, { actor: actor.name, note });
        await services.audit.record(actor, { action: 'credential.refuse', ...subject, detail: { reason: event.reason, note } });
        return redirectDone(reply, '/suspensions', 'credential.refuse', credential.username);
      }
      const waiveFees = decision === 'waive';
      const done = await services.suspensions.reinstate(credential.id, { actor: actor.name, note, waiveFees });
      await services.audit.record(actor, {
        action: 'credential.reinstate',
        ...subject,
        detail: { reason: done.event.reason, note, waive_fees: waiveFees, released_messages: done.released.messages, charges: done.charges.length ? done.charges : null },
      });
      return redirectDone(reply, '/suspensions', waiveFees ? 'credential.reinstate_waived' : 'credential.reinstate', credential.username, done.released.messages);
    }),
  );
}
