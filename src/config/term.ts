import { parseDuration } from './duration.js';

/**
 * The length of a subscription term. Years and months are calendar lengths ("1y" from 2026-03-31 ends on
 * 2027-03-31, whatever leap days lie between), as contracts count them; anything else is a plain duration, so
 * tests can run a whole term in minutes.
 */
export type TermLength = { unit: 'year' | 'month'; count: number } | { unit: 'ms'; count: number };

export const TERM_HINT = 'expected a term such as "1y", "6mo", "30d" or "10m"';

export function parseTerm(text: string): TermLength {
  const calendar = /^\s*(\d+)\s*(y|mo)\s*$/.exec(text);
  if (calendar) {
    const count = Number(calendar[1]);
    if (count < 1) throw new Error(`"${text}" is not a term: ${TERM_HINT}`);
    return { unit: calendar[2] === 'y' ? 'year' : 'month', count };
  }
  const ms = parseDuration(text);
  if (ms <= 0) throw new Error(`"${text}" is not a term: ${TERM_HINT}`);
  return { unit: 'ms', count: ms };
}

/** When a term starting at `start` ends (exclusive: the next term starts at that instant). */
export function termEnd(start: number, term: TermLength): number {
  if (term.unit === 'ms') return start + term.count;
  const date = new Date(start);
  const months = term.unit === 'year' ? 12 * term.count : term.count;
  const day = date.getUTCDate();
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() + months);
  // 31 January plus a month is the last day of February, not 3 March.
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
  date.setUTCDate(Math.min(day, lastDay));
  return date.getTime();
}
