/** How times and durations read in SMTP replies and CLI output: UTC, minute precision, never earlier than true. */

/** "14:32 UTC", rounded up to the minute; quota replies use it and are never more than a window ahead. */
export function formatUtcClock(at: number): string {
  const minute = Math.ceil(at / 60_000) * 60_000;
  return `${new Date(minute).toISOString().slice(11, 16)} UTC`;
}

export function formatUtcDateTime(at: number): string {
  return `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
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
