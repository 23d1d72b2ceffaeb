import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../services.js';
import { describeWindow } from '../../../shared/time-format.js';
import { recentMessages } from '../../views/messages.js';
import { credentialUsages, type CredentialUsage, type Suspension } from '../../views/usage-by-credential.js';
import { gauge, sliceBars } from '../charts.js';
import { at, notBefore } from '../format.js';
import { html, type Html } from '../../../shared/html.js';
import { layout, sendPage } from '../layout.js';
import { webContext } from '../session.js';
import { messageRows } from './message-table.js';

/** Why sending stopped, in the customer's words. */
const REASON_TEXT: Record<string, string> = {
  quota: 'its quota for the sliding window is used up',
  no_plan: 'it has no active plan',
  complaint: 'recipients complained about its mail',
  blocklist: 'a domain it sends from is on a blocklist',
  bounces: 'too many of its recipients bounced',
  expired: 'its subscription term has ended',
  manual: 'staff suspended it',
  disabled: 'it is disabled',
};

function whatNext(s: Suspension): Html {
  if (s.automatic && s.liftsAt !== null) {
    return html`Sending resumes automatically at <strong>${notBefore(s.liftsAt)}</strong>, as older mail leaves the window; nothing to do.`;
  }
  if (s.reason === 'quota') return html`The plans give fewer units than one message needs: contact support to raise the quota.`;
  if (s.reason === 'no_plan') return html`Contact support to renew or add a plan.`;
  if (s.reason === 'expired') {
    return html`Renewal is not automatic: once the renewal order is paid and validated, sending resumes at once. Mail queued before is held, not lost (<a href="/subscriptions">subscriptions</a>).`;
  }
  return html`Mail queued before the suspension is held, not lost. Contact support: staff review the suspension and lift it.`;
}

/** One line per suspended credential, at the top of the page. */
function suspensionBanner(usages: readonly CredentialUsage[]): Html | undefined {
  const suspended = usages.filter((u) => u.suspension !== null);
  if (suspended.length === 0) return undefined;
  const kind = suspended.every((u) => u.suspension?.automatic) ? 'warn' : 'error';
  return html`<div class="banner ${kind}" role="alert" id="suspension">${suspended.map((u) => {
    const s = u.suspension as Suspension;
    return html`<p><strong>Sending is suspended for credential ${u.credential.username}</strong>: ${REASON_TEXT[s.reason] ?? s.reason} (reason: <code>${s.reason}</code>)${
      s.since !== null ? html`, since ${at(s.since)}` : ''
    }. ${whatNext(s)}${s.note ? html`<br><span class="muted">Note: ${s.note}</span>` : ''}</p>`;
  })}</div>`;
}

function usageCard(u: CredentialUsage, csrf: string): Html {
  const path = `/credentials/${encodeURIComponent(u.credential.username)}`;
  const window = describeWindow(u.usage.windowMs);
  const { sent, quota, remaining, held, nextFreeAt } = u.usage;
  return html`<section class="card usage" data-credential="${u.credential.username}">
<h2 style="margin-top:0">${u.credential.username} ${u.suspension ? html`<span class="state bad">suspended</span>` : html`<span class="state ok">sending</span>`}</h2>
${gauge(sent, quota, `${sent} of ${quota} sent in the last ${window}`)}
<dl class="facts">
<dt>Sent, last ${window}</dt><dd class="num" data-field="sent">${sent}</dd>
<dt>Quota</dt><dd class="num" data-field="quota">${quota}</dd>
<dt>Remaining</dt><dd class="num" data-field="remaining">${remaining}</dd>
${held > 0 ? html`<dt>In progress</dt><dd class="num">${held}</dd>` : ''}
<dt>Next unit frees</dt><dd data-field="next-free">${nextFreeAt === null ? 'nothing sent in the window' : notBefore(nextFreeAt)}</dd>
</dl>
<h3>By hour, last ${window}</h3>
${sliceBars(u.byHour, u.usage.windowMs / u.byHour.length, `Messages sent by hour over the last ${window}`)}
<p><a href="${path}/sheet.pdf">Parameter sheet (PDF)</a></p>
<form method="post" action="${path}/password"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit" class="secondary">New SMTP password</button></form>
</section>`;
}

function plansTable(usages: readonly CredentialUsage[]): Html {
  const rows = usages.flatMap((u) =>
    u.plans.length === 0
      ? [html`<tr><td>${u.credential.username}</td><td colspan="4" class="muted">no plan</td></tr>`]
      : u.plans.map((p) => html`<tr><td>${u.credential.username}</td><td class="num">${p.quota}</td><td>${at(p.startsAt)}</td><td>${at(p.endsAt)}</td><td>${p.state}</td></tr>`),
  );
  return html`<div class="table"><table>
<thead><tr><th>Credential</th><th>Quota / window</th><th>Starts</th><th>Ends</th><th>State</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

/** `/` for a customer: usage of each credential against its quota, the suspension banner, plans, latest mail. */
export async function customerHome(request: FastifyRequest, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  const { viewer, csrf } = webContext(request);
  const usages = await credentialUsages(services, viewer);
  const latest = await recentMessages(services, viewer, { limit: 5 });
  const body = html`<h1>${viewer.role === 'customer' ? viewer.customer : 'Home'}</h1>
${usages.length === 0 ? html`<p class="muted">No credential yet: your provider creates them.</p>` : html`<div class="cards">${usages.map((u) => usageCard(u, csrf))}</div>`}
<h2>Credentials and plans</h2>
${plansTable(usages)}
<h2>Latest messages</h2>
${messageRows(latest, { withCustomer: false })}
<p><a href="/messages">All messages and search</a></p>`;
  return sendPage(reply, layout({ title: 'Home', viewer, csrf, current: '/', banner: suspensionBanner(usages) }, body));
}
