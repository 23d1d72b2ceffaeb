/** Input rules shared by the CLI and, later, the console. Each error says what is expected. */

export class InputError extends Error {}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

export function checkUsername(username: string): string {
  if (!USERNAME.test(username)) {
    throw new InputError(
      `"${username}" is not a valid username: use 1-128 characters among letters, digits and . _ @ + -, starting with a letter or digit`,
    );
  }
  return username;
}

export function checkCustomerName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 200 || /[\x00-\x1f]/.test(trimmed)) {
    throw new InputError(`"${name}" is not a valid customer name: use 1-200 printable characters`);
  }
  return trimmed;
}

export function checkEmail(email: string): string {
  if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(email)) throw new InputError(`"${email}" is not an e-mail address (expected name@domain.tld)`);
  return email;
}

/** "2027-03-31" → that day at 00:00 UTC, or an error that shows the expected form. */
export function parseDay(text: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (match) {
    const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const ms = Date.UTC(y, m - 1, d);
    const back = new Date(ms);
    if (back.getUTCFullYear() === y && back.getUTCMonth() === m - 1 && back.getUTCDate() === d) return ms;
  }
  throw new InputError(`"${text}" is not a date: write YYYY-MM-DD, for example 2027-03-31`);
}

export function checkPositiveInteger(value: string | number, what: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InputError(`${what} must be a whole number above zero, not "${value}"`);
  return n;
}
