import pino, { type Logger } from 'pino';
import { escapeJsonText } from '../shared/safe-text.js';
import { prettyDestination } from './pretty-stream.js';

export type { Logger };

/**
 * One structured JSON line per event on stdout. Passwords and AUTH payloads never reach a log call. Logged values
 * carry clients' and remote servers' text: JSON escapes C0 controls but not DEL, C1 controls (a terminal's CSI and
 * OSC) or bidi overrides, so each line is escaped once more, as JSON, before it is written: the values parse back
 * unchanged and `tail -f` shows no raw control byte.
 */
export function createLogger(level: string, destination?: pino.DestinationStream, format: 'json' | 'pretty' = 'json'): Logger {
  if (format === 'pretty' && !destination) destination = prettyDestination();
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: escapeJsonText },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
