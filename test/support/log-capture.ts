import { createLogger, type Logger } from '../../src/log/logger.js';

/** A logger whose JSON lines a test can read back, to check what operators (and fail2ban) would see. */
export interface CapturedLog {
  logger: Logger;
  lines: Record<string, unknown>[];
  raw: string[];
  find(event: string): Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', {
    write(text: string) {
      raw.push(text);
      lines.push(JSON.parse(text) as Record<string, unknown>);
    },
  });
  return { logger, lines, raw, find: (event) => lines.filter((l) => l.event === event) };
}
