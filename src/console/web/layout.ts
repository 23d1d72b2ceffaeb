import type { FastifyReply } from 'fastify';
import type { Viewer } from '../viewer.js';
import { html, type Html } from '../../shared/html.js';

export interface PageChrome {
  title: string;
  viewer?: Viewer;
  /** The session's CSRF token, for the sign-out form in the header. */
  csrf?: string;
  /** The nav entry to mark as current (its href). */
  current?: string;
  /** A banner above everything (the suspension warning). */
  banner?: Html;
  /** A one-line outcome of the last action (?done=...), shown at the top. */
  flash?: string | null;
}

const STAFF_NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/customers', 'Customers'],
  ['/subscriptions', 'Subscriptions'],
  ['/suspensions', 'Suspensions'],
  ['/queue', 'Queue'],
  ['/messages', 'Messages'],
  ['/ips', 'Addresses'],
  ['/complaints', 'Complaints'],
  ['/charges', 'Charges'],
  ['/audit', 'Audit'],
];

const CUSTOMER_NAV: [string, string][] = [
  ['/', 'Home'],
  ['/subscriptions', 'Subscriptions'],
  ['/messages', 'Messages'],
  ['/domains', 'Domains'],
  ['/complaints', 'Complaints'],
  ['/charges', 'Charges'],
];

// One small stylesheet, inline: no build step, no second request, and the CSP allows nothing else. Layout is a
// single column that wraps, tables scroll inside their own box, so a 360 px phone never scrolls sideways.
const STYLE = `
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f5f6f8}
a{color:#1b5fbf}
header{background:#1d2330;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center}
header .brand{font-weight:700;margin-right:auto}
header form{margin:0}
header button{background:none;border:1px solid #8a93a6;color:#fff;border-radius:4px;padding:.2rem .6rem;cursor:pointer}
nav{background:#fff;border-bottom:1px solid #dde1e8;padding:0 .5rem;display:flex;flex-wrap:wrap}
nav a{padding:.55rem .6rem;text-decoration:none;color:#3b4458}
nav a[aria-current=page]{color:#1b5fbf;font-weight:600;box-shadow:inset 0 -2px #1b5fbf}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:1rem;margin-bottom:1rem;min-width:0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:1rem}
.banner{padding:.8rem 1rem;border-radius:8px;margin:0 0 1rem;border:1px solid}
.banner.warn{background:#fff4e5;border-color:#f0b45a;color:#5c3a00}
.banner.error{background:#fdecec;border-color:#e58b8b;color:#6b1010}
.flash{background:#e9f6ec;border:1px solid #8cc79a;color:#124d22;padding:.6rem 1rem;border-radius:8px;margin-bottom:1rem}
.table{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e6e9ef;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:#5b6478}
td{overflow-wrap:anywhere}
.muted{color:#6b7386}
.num{font-variant-numeric:tabular-nums}
.state{display:inline-block;padding:0 .4rem;border-radius:4px;font-size:.85rem;background:#eef0f4}
.state.ok{background:#e3f4e7;color:#17622d}.state.bad{background:#fbe3e3;color:#8a1c1c}.state.wait{background:#fff1d6;color:#6b4a00}
form.inline{display:inline}
form.stack{display:grid;gap:.5rem;max-width:28rem}
label{display:grid;gap:.2rem;font-size:.9rem}
input,select,textarea,button{font:inherit}
input,select,textarea{padding:.4rem .5rem;border:1px solid #c4cad6;border-radius:4px;width:100%;max-width:100%}
button{padding:.4rem .8rem;border-radius:4px;border:1px solid #1b5fbf;background:#1b5fbf;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1b5fbf}
button.danger{background:#b42318;border-color:#b42318}
.search{display:flex;flex-wrap:wrap;gap:.5rem;margin-bottom:1rem}
.search input{flex:1 1 12rem;width:auto}
svg{max-width:100%;height:auto;display:block}
.facts{display:grid;grid-template-columns:auto 1fr;gap:.15rem .8rem;margin:.6rem 0}.facts dt{color:#5b6478}.facts dd{margin:0}
code{overflow-wrap:anywhere}
.banner p{margin:.2rem 0}
.gauge{max-width:15rem;margin:0 auto}
@media (max-width:40rem){main{padding:.6rem}th,td{padding:.35rem .3rem}}
`;

export function layout(chrome: PageChrome, body: Html): Html {
  const nav = chrome.viewer ? (chrome.viewer.role === 'staff' ? STAFF_NAV : CUSTOMER_NAV) : [];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${chrome.title} · Relais</title>
<style>${STYLE}</style>
</head>
<body>
<header><span class="brand">Relais</span>${
    chrome.viewer
      ? html`<span class="muted">${chrome.viewer.role === 'staff' ? 'staff' : chrome.viewer.customer} · ${chrome.viewer.name}</span>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${chrome.csrf ?? ''}"><button type="submit">Sign out</button></form>`
      : ''
  }</header>
${nav.length ? html`<nav>${nav.map(([href, label]) => html`<a href="${href}"${chrome.current === href ? html` aria-current="page"` : ''}>${label}</a>`)}</nav>` : ''}
<main>
${chrome.banner ?? ''}
${chrome.flash ? html`<p class="flash" role="status">${chrome.flash}</p>` : ''}
${body}
</main>
</body>
</html>`;
}

/** Sends a page with the headers every console page carries. */
export function sendPage(reply: FastifyReply, page: Html, status = 200): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('x-frame-options', 'DENY')
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    .send(page.text);
}

/** An error page in the console's frame (404 for what does not exist or is not the viewer's). */
export function errorPage(reply: FastifyReply, status: number, title: string, message: string, chrome: Omit<PageChrome, 'title'> = {}): FastifyReply {
  return sendPage(reply, layout({ ...chrome, title }, html`<h1>${title}</h1><p>${message}</p><p><a href="/">Back to the home page</a></p>`), status);
}
