import pino, { type Logger } from 'pino';

export type { Logger };

/** One structured JSON line per event on stdout. Passwords and AUTH payloads never reach a log call. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
