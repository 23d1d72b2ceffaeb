import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../services.js';
import type { DomainCheck } from '../../../sender-auth/domain-check.js';
import { checkSenderDomain, senderDomains } from '../../views/domains.js';
import { at } from '../format.js';
import { html } from '../../../shared/html.js';
import { errorPage, layout, sendPage } from '../layout.js';
import { webContext } from '../session.js';

/**
 * A check's "to do" as a customer can act on it: `relais` commands are the relay staff's to run, so the customer
 * is told what to ask them; records to publish in the customer's own DNS stay as they are.
 */
function forCustomer(check: DomainCheck, domain: string): string {
  const action = check.action ?? '-';
  if (!/"relais /.test(action)) return action;
  if (check.check === 'dkim' && check.verdict === 'no-key') return `Ask support to create a DKIM key for ${domain}, then publish the TXT record they give you.`;
  if (check.check === 'spf') return "The relay's own SPF record needs updating: tell support.";
  return `Ask support: ${action}`;
}

/** `/domains`: the domains the viewer's credentials send from, their DKIM key and blocklist state. */
export async function domainsPage(request: FastifyRequest, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  const { viewer, csrf } = webContext(request);
  const rows = await senderDomains(services, viewer);
  const body = html`<h1>Sender domains</h1>
<p class="muted">Domains your mail is sent from (envelope sender and From header). Open one to check its SPF, DKIM and DMARC records in DNS.</p>
${
  rows.length === 0
    ? html`<p class="muted">No mail sent yet.</p>`
    : html`<div class="table"><table class="domains">
<thead><tr><th>Domain</th>${viewer.role === 'staff' ? html`<th>Customer</th>` : ''}<th>DKIM</th><th>Blocklists</th></tr></thead>
<tbody>${rows.map(
        (r) => html`<tr>
<td><a href="/domains/${encodeURIComponent(r.domain)}">${r.domain}</a><div class="muted">${r.credentials.map((c) => c.username).join(', ')} · last ${at(r.lastUsedAt)}</div></td>
${viewer.role === 'staff' ? html`<td>${[...new Set(r.credentials.map((c) => c.customer))].join(', ')}</td>` : ''}
<td>${r.dkim ? html`<span class="state ok">signed</span><div class="muted">${r.dkim.selector} (${r.dkim.algorithm})</div>` : html`<span class="state wait">no key</span>`}</td>
<td><span class="state ${r.blocklist.listed ? 'bad' : ''}">${r.blocklist.state}</span></td>
</tr>`,
      )}</tbody></table></div>`
}`;
  return sendPage(reply, layout({ title: 'Domains', viewer, csrf, current: '/domains' }, body));
}

/** `/domains/:domain`: `relais domain check` for one of the viewer's sender domains (asks DNS now). */
export async function domainPage(request: FastifyRequest<{ Params: { domain: string } }>, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  const { viewer, csrf } = webContext(request);
  const checked = await checkSenderDomain(services, viewer, request.params.domain.slice(0, 253));
  if (!checked) return errorPage(reply, 404, 'Not found', 'None of your credentials sends from that domain.', { viewer, csrf, current: '/domains' });
  const { row, report } = checked;
  const body = html`<h1>${row.domain}</h1>
<p class="muted">Sent from by ${row.credentials.map((c) => c.username).join(', ')}; first ${at(row.firstUsedAt)}, last ${at(row.lastUsedAt)}. Blocklists: ${row.blocklist.state}.</p>
${
  'error' in report
    ? html`<p class="banner warn">${report.error}</p>`
    : html`<p>${report.pass ? html`<span class="state ok">ready</span> ${row.domain} is ready to send through the relay.` : html`<span class="state bad">not ready</span> See what to do below.`}</p>
<div class="table"><table class="checks">
<thead><tr><th>Check</th><th>Result</th><th>Detail</th><th>To do</th></tr></thead>
<tbody>${report.checks.map(
        (c) => html`<tr><td>${c.check.toUpperCase()}</td><td><span class="state ${c.pass ? 'ok' : 'bad'}">${c.verdict}</span></td><td>${c.detail}</td><td>${c.action === null ? '-' : viewer.role === 'staff' ? c.action : forCustomer(c, row.domain)}</td></tr>`,
      )}</tbody></table></div>`
}
<p><a href="/domains">Back to domains</a></p>`;
  return sendPage(reply, layout({ title: row.domain, viewer, csrf, current: '/domains' }, body));
}
