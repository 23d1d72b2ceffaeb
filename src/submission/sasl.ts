/** Decoding of the SASL PLAIN (RFC 4616) and LOGIN exchanges; the session drives the 334 prompts. */

export function decodeBase64(text: string): string | undefined {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) return undefined;
  return Buffer.from(trimmed, 'base64').toString('utf8');
}

export type PlainResult = { ok: true; username: string; password: string } | { ok: false; reason: 'undecodable' | 'malformed' };

export function decodePlain(response: string): PlainResult {
  const decoded = decodeBase64(response);
  if (decoded === undefined) return { ok: false, reason: 'undecodable' };
  const parts = decoded.split('\0');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [authzid, username, password] = parts as [string, string, string];
  // RFC 4616: authcid = 1*SAFE, passwd = 1*SAFE; an empty one is not a credential worth a lookup.
  if (username === '' || password === '') return { ok: false, reason: 'malformed' };
  // Acting as another identity is not offered: an authzid must name the same user, or be empty.
  if (authzid !== '' && authzid !== username) return { ok: false, reason: 'malformed' };
  return { ok: true, username, password };
}

export const LOGIN_USERNAME_PROMPT = Buffer.from('Username:').toString('base64');
export const LOGIN_PASSWORD_PROMPT = Buffer.from('Password:').toString('base64');
