/**
 * The little of MIME (RFC 2045-2046) that reading reports needs: header fields, Content-Type, multipart bodies and
 * transfer encodings. Lenient on purpose: reports come from many programs (and scripts posting with bare LF line
 * ends), so it accepts CRLF or LF, a missing closing boundary or a stray mbox "From " line, and never throws.
 */

export interface HeaderField {
  /** Lower-case. */
  name: string;
  /** Unfolded, trimmed. */
  value: string;
}

export interface Entity {
  fields: HeaderField[];
  body: Buffer;
}

/** Splits an entity at its first empty line; an entity without one is all header. */
export function splitEntity(raw: Buffer): Entity {
  const text = raw.toString('latin1');
  let headerEnd: number;
  let bodyStart: number;
  if (/^\r?\n/.test(text)) {
    headerEnd = 0;
    bodyStart = text.startsWith('\r\n') ? 2 : 1;
  } else {
    const blank = /\r?\n\r?\n/.exec(text);
    headerEnd = blank ? blank.index : text.length;
    bodyStart = blank ? blank.index + blank[0].length : text.length;
  }
  return { fields: headerFields(text.slice(0, headerEnd)), body: raw.subarray(bodyStart) };
}

const FIELD_NAME = /^[!-9;-~]+$/;

/** The fields of a header block, unfolded (RFC 5322 2.2.3); lines that are not fields are skipped. */
export function headerFields(header: string): HeaderField[] {
  const fields: HeaderField[] = [];
  let current: { name: string; value: string } | null = null;
  for (const line of header.split(/\r?\n/)) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && current) {
      current.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!FIELD_NAME.test(name)) {
      current = null;
      continue;
    }
    current = { name: name.toLowerCase(), value: line.slice(colon + 1) };
    fields.push(current);
  }
  for (const field of fields) field.value = field.value.trim();
  return fields;
}

export function fieldValue(fields: readonly HeaderField[], name: string): string | null {
  return fields.find((f) => f.name === name)?.value ?? null;
}

export function fieldValues(fields: readonly HeaderField[], name: string): string[] {
  return fields.filter((f) => f.name === name).map((f) => f.value);
}

export interface ContentType {
  /** `type/subtype`, lower-case; `text/plain` when absent (RFC 2045 5.2). */
  type: string;
  /** Parameter names lower-case; quoted values unquoted. */
  params: Record<string, string>;
}

/** A real Content-Type is short; past this it is an attack on the parser, and the rest is ignored. */
const MAX_CONTENT_TYPE = 4096;

export function parseContentType(value: string | null): ContentType {
  if (!value) return { type: 'text/plain', params: {} };
  const pieces = splitParameters(value.slice(0, MAX_CONTENT_TYPE));
  const type = (pieces.shift() ?? '').trim().toLowerCase();
  const params: Record<string, string> = {};
  for (const piece of pieces) {
    const eq = piece.indexOf('=');
    if (eq <= 0) continue;
    const name = piece.slice(0, eq).trim().toLowerCase();
    const raw = piece.slice(eq + 1).trim();
    params[name] = raw.startsWith('"') ? raw.slice(1, raw.endsWith('"') && raw.length > 1 ? -1 : undefined).replace(/\\(.)/g, '$1') : raw;
  }
  return { type: /^[\w.+-]+\/[\w.+-]+$/.test(type) ? type : 'application/octet-stream', params };
}

/** Splits at the semicolons outside quoted strings, in one pass (no regular expression to backtrack). */
function splitParameters(value: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ';' && !quoted) {
      pieces.push(value.slice(start, i));
      start = i + 1;
    }
  }
  pieces.push(value.slice(start));
  return pieces;
}

/**
 * The body parts of a multipart body (RFC 2046 5.1.1). Without a closing delimiter (a truncated report), the last
 * part runs to the end.
 */
export function multipartParts(body: Buffer, boundary: string): Buffer[] {
  const text = body.toString('latin1');
  const delimiter = `--${boundary}`;
  const parts: Buffer[] = [];
  let start = -1;
  let pos = 0;
  while (pos < text.length) {
    const newline = text.indexOf('\n', pos);
    const end = newline < 0 ? text.length : newline;
    if (text.startsWith(delimiter, pos)) {
      const rest = text.slice(pos + delimiter.length, end).replace(/\r$/, '');
      const closing = rest.startsWith('--');
      if (closing || rest.trim() === '') {
        if (start >= 0) {
          // The line break before a delimiter belongs to the delimiter.
          let partEnd = pos;
          if (text[partEnd - 1] === '\n') partEnd--;
          if (text[partEnd - 1] === '\r') partEnd--;
          parts.push(body.subarray(start, Math.max(start, partEnd)));
        }
        if (closing) return parts;
        start = end + 1;
      }
    }
    pos = end + 1;
  }
  if (start >= 0) parts.push(body.subarray(Math.min(start, body.length)));
  return parts;
}

/** Undoes base64 and quoted-printable; other encodings (7bit, 8bit, binary, unknown) are taken as they are. */
export function decodeBody(body: Buffer, encoding: string | null): Buffer {
  const name = (encoding ?? '').trim().toLowerCase();
  if (name === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
  if (name === 'quoted-printable') {
    const text = body.toString('latin1').replace(/=\r?\n/g, '');
    return Buffer.from(
      text.replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      'latin1',
    );
  }
  return body;
}

/** `<id@host>` from a Message-ID field, ignoring comments and folding; the bare value when it has no brackets. */
export function normalizeMessageId(value: string | null): string | null {
  if (!value) return null;
  const bracketed = /<[^<>\s]{1,998}>/.exec(value.slice(0, 4096));
  if (bracketed) return bracketed[0];
  const bare = value.trim();
  return bare && bare.length <= 998 && !/\s/.test(bare) ? `<${bare}>` : null;
}
