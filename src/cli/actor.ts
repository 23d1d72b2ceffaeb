import os from 'node:os';

/** Who runs a staff command, for the credential's history: --actor, else the OS user. */
export function actorName(given: string | undefined): string {
  if (given !== undefined && given.trim() !== '') return given.trim();
  try {
    return os.userInfo().username;
  } catch {
    // A container user without a passwd entry has no name: the environment may still say.
    return process.env.USER ?? process.env.LOGNAME ?? `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}
