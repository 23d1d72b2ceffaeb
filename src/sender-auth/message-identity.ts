/**
 * What DKIM signing needs to know of a message before signing it: the domain of its From header and the
 * domains that already signed it. Read from the header block only, tolerant of folding and odd spacing.
 */

/** The header block (up to, not including, the empty line), unfolded into one string per field. */
export function headerFields(message: Buffer): { name: string; value: string }[] {
  let end = message.indexOf('\r\n\r\n');
  if (message.subarray(0, 2).toString('latin1') === '\r\n') end = 0;
  const text = message.toString('latin1', 0, end < 0 ? message.length : end);
  const fields: { name: string; value: string }[] = [];
  for (const line of text.split('\r\n')) {
    if ((line[0] === ' ' || line[0] === '\t') && fields.length > 0) {
      (fields[fields.length - 1] as { value: string }).value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) fields.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1) });
  }
  return fields;
}

/** Comments "(...)" and quoted strings can hold "@" and "<": drop them before looking for the address. */
function withoutCommentsAndQuotes(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && (quoted || depth > 0)) {
      i++;
      continue;
    }
    if (quoted) {
      if (c === '"') quoted = false;
      continue;
    }
    if (c === '"' && depth === 0) quoted = true;
    else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (depth === 0) out += c;
  }
  return out;
}

/** The domain of the (first) From address, lower case; null when there is no usable one. */
export function fromDomain(fields: readonly { name: string; value: string }[]): string | null {
  const from = fields.find((f) => f.name === 'from');
  if (!from) return null;
  const plain = withoutCommentsAndQuotes(from.value);
  const angle = /<([^>]*)>/.exec(plain);
  const address = (angle ? (angle[1] as string) : (plain.split(',')[0] as string)).trim();
  const at = address.lastIndexOf('@');
  if (at < 0) return null;
  const domain = address.slice(at + 1).trim().replace(/\.$/, '').toLowerCase();
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(domain) && domain.includes('.') ? domain : null;
}

/** The d= domains of the DKIM-Signature fields already present, lower case. */
export function signingDomains(fields: readonly { name: string; value: string }[]): Set<string> {
  const domains = new Set<string>();
  for (const f of fields) {
    if (f.name !== 'dkim-signature') continue;
    const d = /(?:^|;)\s*d\s*=\s*([^;\s]+)/i.exec(f.value.replace(/[\r\n]/g, ''));
    if (d) domains.add((d[1] as string).replace(/\.$/, '').toLowerCase());
  }
  return domains;
}
