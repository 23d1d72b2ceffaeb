import os from 'node:os';
import { InputError } from '../accounts/validation.js';
import type { Actor } from '../accounts/staff-audit.js';

/**
 * Who a staff command is recorded as having been run by: `--actor NAME`, or the operating-system user running it,
 * which is who staff are on a shared administration host.
 */
export function actorName(given: string | undefined): string {
  if (given !== undefined) return checkText(given, '--actor', 100);
  try {
    return os.userInfo().username;
  } catch {
    // A container's uid may have no passwd entry: the environment is the next best witness.
    return process.env.USER ?? process.env.LOGNAME ?? `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}

/** A note staff write into a credential's history: one readable line, read later by staff and the customer. */
export function staffNote(given: string): string {
  return checkText(given, '--note', 2000);
}

function checkText(value: string, option: string, max: number): string {
  const text = value.trim();
  if (!text) throw new InputError(`${option} must not be empty`);
  if (text.length > max) throw new InputError(`${option} is ${text.length} characters long: keep it to ${max}`);
  if (/[\x00-\x1f\x7f]/.test(text)) throw new InputError(`${option} must be one line of printable text (no control characters)`);
  return text;
}

/** The option every staff command takes, so its audit entry names who ran it. */
export const ACTOR_OPTION = ['--actor <name>', 'who is recorded as having done it (default: the operating-system user)'] as const;

/** The audit actor of a staff command: `--actor NAME` or the system user, through the CLI. */
export function cliActor(given: string | undefined): Actor {
  return { name: actorName(given), channel: 'cli' };
}
