import { formatUtcMinute } from '../../shared/time-format.js';
import { html, type Html } from '../../shared/html.js';

/** A past or present instant as people read it on the console: "2026-11-29 14:31 UTC". */
export function at(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A promise about the future ("resumes at"), rounded up to the minute so it is never earlier than true. */
export function notBefore(ms: number): string {
  return formatUtcMinute(ms);
}

const STATE_CLASS: Record<string, string> = { delivered: 'ok', failed: 'bad', deferred: 'wait', queued: 'wait', held: 'wait' };

/** A recipient's (or anything's) state as a coloured tag. */
export function stateTag(state: string): Html {
  return html`<span class="state ${STATE_CLASS[state] ?? ''}">${state}</span>`;
}
