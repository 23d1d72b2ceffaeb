/** How times and durations read in SMTP replies and CLI output: UTC always, never earlier than true. */

/**
 * "2026-11-29 14:32 UTC", rounded up to the minute, for replies a customer reads: with the date, because the
 * unit that frees next is usually tomorrow's, and a bare "14:32" read as a minute away.
 */
export function formatUtcMinute(at: number): string {
  const minute = Math.ceil(at / 60_000) * 60_000;
  return `${new Date(minute).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** ISO 8601 in UTC to the second ("2026-11-29T14:31:10Z"), for the CLI and logs an operator compares. */
export function formatUtcDateTime(at: number): string {
  return `${new Date(at).toISOString().slice(0, 19)}Z`;
}

export function describeWindow(ms: number): string {
  const units: [number, string][] = [
    [86_400_000 * 7, 'week'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1000, 'second'],
  ];
  for (const [size, name] of units) {
    if (ms >= size && ms % size === 0) {
      const n = ms / size;
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  return `${ms} ms`;
}
