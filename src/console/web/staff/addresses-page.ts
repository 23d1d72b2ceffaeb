import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import type { Services } from '../../../services.js';
import { outboundAddresses } from '../../views/staff-addresses.js';
import { html } from '../../../shared/html.js';
import { webContext } from '../session.js';
import { staffPage, when } from './staff-kit.js';

export function addressPages(app: FastifyInstance, services: Services, guard: preHandlerHookHandler[]): void {
  app.get('/ips', { preHandler: guard }, async (request, reply) => {
    const addresses = await outboundAddresses(services, webContext(request).viewer);
    return staffPage(
      request,
      reply,
      'Outbound addresses',
      '/ips',
      html`<h1>Outbound addresses</h1>
<div class="table"><table><thead><tr><th>Address</th><th>EHLO</th><th>Node</th><th>State</th><th>Sent 24 h</th><th>Last error</th></tr></thead><tbody>${addresses.map(
        (a) => html`<tr data-address="${a.address ?? 'default'}"><td><code>${a.address ?? '(system default)'}</code></td><td>${a.ehlo}</td><td>${a.nodes.join(', ')}</td>
<td><span class="state ${a.state === 'listed' ? 'bad' : a.state === 'avoided' ? 'wait' : 'ok'}">${a.state}</span>
${a.listings.map((l) => html`<div>listed in ${l.zone} since ${when(l.since)}${l.code ? ` (${l.code})` : ''}${l.reason ? `: ${l.reason}` : ''}</div>`)}
${a.avoidedFor.map((v) => html`<div class="muted">avoided for ${v.destination} until ${when(v.until)}${v.reason ? ` (${v.reason})` : ''}</div>`)}</td>
<td class="num">${a.sent24h}</td><td>${a.lastError ? html`<span class="num">${when(a.lastErrorAt)}</span> ${a.lastError}` : '-'}</td></tr>`,
      )}</tbody></table></div>
<h2>Blocklist history</h2>
${addresses.map(
  (a) => html`<section class="card" data-history="${a.address ?? 'default'}"><h3 style="margin:0 0 .4rem">${a.address ?? '(system default)'}</h3>${
    a.history.length
      ? html`<div class="table"><table><thead><tr><th>Time</th><th>Event</th><th>Zone</th><th>Code</th><th>Reason</th></tr></thead><tbody>${a.history.map(
          (e) => html`<tr><td class="num">${when(e.at)}</td><td><span class="state ${e.kind === 'listed' ? 'bad' : 'ok'}">${e.kind}</span></td><td>${e.zone}</td><td>${e.code ?? '-'}</td><td>${e.reason ?? '-'}</td></tr>`,
        )}</tbody></table></div>`
      : html`<p class="muted" style="margin:0">Never listed.</p>`
  }</section>`,
)}`,
    );
  });
}
