import { escapeForDisplay } from '../shared/safe-text.js';

/**
 * `log.format: pretty`: the same events as the JSON lines, one readable line each for a terminal:
 * `09:31:02.114 INFO  accepted message queued message_id=01M8... credential=acme-1 size=479`.
 * JSON stays the default, for journald and log shippers.
 */
export function prettyLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, event, msg, ...rest } = record;
  const clock = typeof time === 'string' ? time.slice(11, 23) : '';
  const fields = Object.entries(rest)
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? quoteIfNeeded(value) : JSON.stringify(value)}`);
  const head = [clock, String(level ?? '').toUpperCase().padEnd(5), event ?? '', msg ?? ''].filter((part) => part !== '').join(' ');
  return `${escapeForDisplay([head, ...fields].join(' '))}\n`;
}

function quoteIfNeeded(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

/** A pino destination writing pretty lines to a stream (stdout). */
export function prettyDestination(out: NodeJS.WritableStream = process.stdout): { write(chunk: string): boolean } {
  return {
    write(chunk: string) {
      let text = '';
      for (const line of chunk.split('\n')) if (line) text += prettyLine(line);
      return out.write(text);
    },
  };
}
