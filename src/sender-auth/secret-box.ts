import crypto from 'node:crypto';

/** A sealed value could not be opened: the secrets key is not the one it was sealed with, or the value was altered. */
export class SecretKeyMismatch extends Error {}

const VERSION = 'v1';

/**
 * AES-256-GCM with a fresh 96-bit nonce per value. `context` (for example the DKIM domain and selector) is bound
 * as associated data, so a sealed key copied onto another domain's row does not open.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the secrets key must be 32 bytes');
  }

  seal(plaintext: string, context: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(':');
  }

  open(sealed: string, context: string): string {
    const [version, iv, tag, body] = sealed.split(':');
    if (version !== VERSION || iv === undefined || tag === undefined || body === undefined) {
      throw new SecretKeyMismatch(`not a value sealed by this version of Relais (${version ?? 'empty'})`);
    }
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretKeyMismatch('the secrets key does not open this value');
    }
  }
}
