import { InputError } from '../accounts/validation.js';
import { NODE_ROLES, type NodeRole } from '../config/schema.js';

/** `--roles submission,delivery`: the roles named, each once; an unknown or missing one is an error naming them all. */
export function parseRoles(text: string): NodeRole[] {
  const names = text.split(',').map((r) => r.trim()).filter(Boolean);
  const allowed = NODE_ROLES.join(', ');
  if (names.length === 0) throw new InputError(`--roles names no role: give a comma-separated list of ${allowed}`);
  for (const name of names) {
    if (!(NODE_ROLES as readonly string[]).includes(name)) {
      throw new InputError(`--roles: "${name}" is not a role; the roles are ${allowed} (comma-separated, for example --roles delivery,jobs)`);
    }
  }
  return [...new Set(names as NodeRole[])];
}
