import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../accounts/validation.js';

/** The file holding the key that encrypts secrets at rest (DKIM private keys): secrets.key_file, else DATA_DIR/secret.key. */
export function secretKeyPath(config: { data_dir: string; secrets: { key_file?: string } }): string {
  return config.secrets.key_file ?? path.join(config.data_dir, 'secret.key');
}

/**
 * Reads the 256-bit key (64 hex digits). With `create`, a missing file is made with 32 random bytes and mode
 * 0600; callers pass `create` only when the store holds nothing sealed with an earlier key, so a lost key file
 * is reported instead of being silently replaced by one that opens nothing.
 */
export function loadSecretKey(file: string, options: { create: boolean }): { key: Buffer; created: boolean } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new InputError(`cannot read the secrets key file ${file} (${(error as Error).message}): check its owner and permissions`);
    }
    if (!options.create) {
      throw new InputError(
        `the secrets key file ${file} is missing, but the store holds DKIM keys encrypted with it: restore the file from backup (or set secrets.key_file to where it is); without it those keys cannot be used and must be re-created with "relais dkim remove" and "relais dkim add"`,
      );
    }
    const key = crypto.randomBytes(32);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // 'wx': two processes creating it at once must not end with two different keys.
    try {
      fs.writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadSecretKey(file, { create: false });
      throw new InputError(`cannot create the secrets key file ${file} (${(error as Error).message}): check that its folder is writable`);
    }
    return { key, created: true };
  }
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new InputError(`the secrets key file ${file} does not hold a 256-bit key as 64 hex digits: restore the right file (a new one would open none of the stored keys)`);
  }
  return { key: Buffer.from(hex, 'hex'), created: false };
}
