/**
 * The message as it goes out after DATA (RFC 5321 4.5.2): every line that starts with "." gets one more, and
 * the data ends with CRLF.CRLF. One scan of the Buffer for "\n." and no copy of the body: the result is the
 * body's own slices with the inserted dots between them, for one corked write.
 */

const DOT = Buffer.from('.');
const END_AFTER_CRLF = Buffer.from('.\r\n');
const END_WITHOUT_CRLF = Buffer.from('\r\n.\r\n');
const LF_DOT = Buffer.from('\n.');

export function dotStuffed(body: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  if (body.length > 0 && body[0] === 0x2e) parts.push(DOT);
  for (;;) {
    const at = body.indexOf(LF_DOT, start);
    if (at < 0) break;
    // Up to and including the LF; the dot stays at the start of the next slice, after the inserted one.
    parts.push(body.subarray(start, at + 1), DOT);
    start = at + 1;
  }
  if (start === 0) parts.push(body);
  else if (start < body.length) parts.push(body.subarray(start));
  const endsWithCrlf = body.length === 0 || (body.length >= 2 && body[body.length - 2] === 0x0d && body[body.length - 1] === 0x0a);
  parts.push(endsWithCrlf ? END_AFTER_CRLF : END_WITHOUT_CRLF);
  return parts;
}
