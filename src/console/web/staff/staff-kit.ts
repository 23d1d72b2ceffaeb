import type { FastifyReply, FastifyRequest } from 'fastify';
import { InputError } from '../../../accounts/validation.js';
import { formatUtcDateTime } from '../../../shared/time-format.js';
import type { Actor } from '../../../accounts/staff-audit.js';
import { html, type Html } from '../../../shared/html.js';
import { errorPage, layout, sendPage, type PageChrome } from '../layout.js';
import { webContext } from '../session.js';

/** Query parameters of a GET page, as text. */
export function queryText(request: FastifyRequest, name: string): string {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

/**
 * The outcome of the last action, named by a key in the redirect (`?done=credential.suspend&subject=alice`) and
 * worded here: a link someone else crafts can then only show one of these sentences, never text of its choosing.
 */
const FLASH: Record<string, (subject: string, n: string) => string> = {
  'customer.add': (s) => `Customer "${s}" added.`,
  'plan.add': (s) => `Plan added to credential "${s}".`,
  'credential.suspend': (s, n) => `Credential "${s}" suspended${n ? `; ${n} queued message(s) held` : ''}.`,
  'credential.reinstate': (s, n) => `Credential "${s}" reinstated${n ? `; ${n} held message(s) released` : ''}.`,
  'credential.reinstate_waived': (s, n) => `Credential "${s}" reinstated without fees${n ? `; ${n} held message(s) released` : ''}.`,
  'credential.refuse': (s) => `Reinstatement of "${s}" refused: it stays suspended.`,
  'queue.retry': (s, n) => `${s === 'all' ? 'Every message' : `Message ${s}`}: ${n || '0'} pending recipient(s) due now.`,
  'queue.delete': (s) => `Message ${s} deleted from the queue.`,
  'queue.delete_notified': (s) => `Message ${s} deleted from the queue; its sender gets a failure notice.`,
  'subscription.add': (s) => `Credential "${s}" subscribed; the parameter sheet is mailed to the customer.`,
  'subscription.upgrade': (s) => `Subscription ${s} upgraded: the new quota applies now.`,
  'subscription.downgrade': (s) => `Subscription ${s} moves to the smaller offer at its next term.`,
  'renewal.validate': (s) => `Renewal order ${s} validated.`,
  'queue.release': (s, n) => `Held mail of "${s}" released${n ? ` (${n} message(s))` : ''}; the suspension stays.`,
};

export function flashOf(request: FastifyRequest): string | null {
  const word = FLASH[queryText(request, 'done')];
  // A count of zero reads as nothing to add ("reinstated", not "reinstated; 0 held message(s) released").
  const n = /^[1-9]\d{0,8}$/.test(queryText(request, 'n')) ? queryText(request, 'n') : '';
  return word ? word(queryText(request, 'subject').slice(0, 200), n) : null;
}

/** After an action: back to the page it came from, with its outcome (303, so a reload does not post again). */
export function redirectDone(reply: FastifyReply, path: string, done: string, subject: string, n?: number): FastifyReply {
  const query = new URLSearchParams({ done, subject });
  if (n !== undefined) query.set('n', String(n));
  return reply.redirect(`${path}?${query.toString()}`, 303);
}

/** The page frame of a staff page: the viewer, its CSRF token, the nav entry, the flash of the last action. */
export function staffChrome(request: FastifyRequest, title: string, current: string): PageChrome {
  const { viewer, csrf } = webContext(request);
  return { title, viewer, csrf, current, flash: flashOf(request) };
}

export function staffPage(request: FastifyRequest, reply: FastifyReply, title: string, current: string, body: Html, status = 200): FastifyReply {
  return sendPage(reply, layout(staffChrome(request, title, current), body), status);
}

/** Every staff form carries the session's CSRF token; requireSignIn refuses a post without it. */
export function csrfField(request: FastifyRequest): Html {
  return html`<input type="hidden" name="_csrf" value="${webContext(request).csrf}">`;
}

/** Who did it, for the audit log: the signed-in login, through the console. */
export function consoleActor(request: FastifyRequest): Actor {
  return { name: webContext(request).login.email, channel: 'console' };
}

export const when = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : formatUtcDateTime(ms));

/**
 * Runs a staff action; what the staff member typed wrong (an InputError: unknown credential, already suspended,
 * empty note) comes back as a 400 page saying so, with the way back, rather than as a server error.
 */
export async function staffAction(request: FastifyRequest, reply: FastifyReply, back: string, work: () => Promise<FastifyReply>): Promise<FastifyReply> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const { viewer, csrf } = webContext(request);
    return sendPage(
      reply,
      layout({ title: 'Not done', viewer, csrf }, html`<h1>Not done</h1><p class="banner error" role="alert">${error.message}</p><p><a href="${back}">Back</a></p>`),
      400,
    );
  }
}

/** A note staff write into a credential's history: one line, required, at most 2000 characters. */
export function noteField(text: string, what = 'note'): string {
  const note = text.replace(/\s+/g, ' ').trim();
  if (!note) throw new InputError(`write a ${what}: it goes into the credential's history, which staff and the customer read`);
  if (note.length > 2000) throw new InputError(`the ${what} is ${note.length} characters long: keep it to 2000`);
  if (/[\x00-\x1f\x7f]/.test(note)) throw new InputError(`the ${what} must be printable text (no control characters)`);
  return note;
}

/** Not found, in the console's frame (what does not exist). */
export function notFound(request: FastifyRequest, reply: FastifyReply, what: string): FastifyReply {
  const { viewer, csrf } = webContext(request);
  return errorPage(reply, 404, 'Not found', `There is no such ${what}.`, { viewer, csrf });
}
