import { escapeForDisplay, escapeJsonText } from '../shared/safe-text.js';
import { formatUtcDateTime } from '../shared/time-format.js';

/**
 * Output of CLI commands: a plain table or key/value block for people, one JSON document with --json. Everything
 * printed goes through these functions, which escape what a terminal would act on: stored text (addresses,
 * replies from remote servers, names) is written by customers and by strangers.
 */
export interface OutputOptions {
  json?: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${escapeJsonText(JSON.stringify(value, null, 2))}\n`);
}

export function printTable(headers: string[], rows: (string | number)[][]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cells = [headers, ...rows.map((row) => row.map((cell) => escapeForDisplay(String(cell))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  for (const row of cells) process.stdout.write(`${row.map((cell, i) => (cell ?? '').padEnd(widths[i] as number)).join('  ').trimEnd()}\n`);
}

export function printFields(fields: [string, string | number][]): void {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  for (const [label, value] of fields) process.stdout.write(`${`${label}:`.padEnd(width + 1)}${escapeForDisplay(String(value))}\n`);
}

/** One line of text for people; whatever stored text it quotes is escaped. */
export function printLine(text: string): void {
  process.stdout.write(`${escapeForDisplay(text)}\n`);
}

export const when = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : formatUtcDateTime(ms));
export const isoOrNull = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
