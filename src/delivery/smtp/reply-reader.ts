/**
 * Turns the bytes a receiving server sends into whole SMTP replies (RFC 5321 4.2), with hard bounds: a server
 * is untrusted input, and one that sends an endless line or an endless multi-line reply must cost a bounded
 * amount of memory and be dropped with a reason, not read forever.
 */

export interface SmtpReply {
  code: number;
  /** Every line without its CRLF, code included (`250-PIPELINING`, `250 SIZE 1000`). */
  lines: string[];
}

export interface ReplyLimits {
  /** Longest reply line, CRLF included. RFC 5321 4.5.3.1.5 says 512; real servers go beyond, a little. */
  maxLineBytes: number;
  /** Most lines in one reply (an EHLO reply has a dozen). */
  maxLines: number;
  /** Most bytes in one reply, all lines together. */
  maxReplyBytes: number;
}

export const DEFAULT_REPLY_LIMITS: Readonly<ReplyLimits> = Object.freeze({ maxLineBytes: 2048, maxLines: 100, maxReplyBytes: 16 * 1024 });

/** The server broke the protocol or a bound: the connection cannot go on. */
export class ReplyError extends Error {}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Incremental: push() each chunk as it arrives and get back the replies it completed (often none, sometimes
 * several when the server answers pipelined commands together). Throws ReplyError on a malformed reply or one
 * past the limits; the reader is then unusable, like the connection.
 */
export class ReplyReader {
  /** Bytes of an unfinished line, carried to the next chunk. */
  private partial: Buffer | null = null;
  private lines: string[] = [];
  private code = 0;
  private replyBytes = 0;

  constructor(private readonly limits: ReplyLimits = DEFAULT_REPLY_LIMITS) {}

  /** Bytes of the reply being read so far: a caller can tell "nothing yet" from "half a reply". */
  get pendingBytes(): number {
    return this.replyBytes + (this.partial?.length ?? 0);
  }

  push(chunk: Buffer): SmtpReply[] {
    const out: SmtpReply[] = [];
    let data = chunk;
    if (this.partial) {
      data = Buffer.concat([this.partial, chunk]);
      this.partial = null;
    }
    let start = 0;
    for (;;) {
      const lf = data.indexOf(LF, start);
      if (lf < 0) break;
      if (lf + 1 - start > this.limits.maxLineBytes) throw this.tooLong();
      const end = lf > start && data[lf - 1] === CR ? lf - 1 : lf;
      const reply = this.line(data.toString('utf8', start, end), lf + 1 - start);
      if (reply) out.push(reply);
      start = lf + 1;
    }
    if (start < data.length) {
      if (data.length - start >= this.limits.maxLineBytes) throw this.tooLong();
      this.partial = data.subarray(start);
    }
    return out;
  }

  private tooLong(): ReplyError {
    return new ReplyError(`reply line longer than ${this.limits.maxLineBytes} bytes`);
  }

  private line(text: string, bytes: number): SmtpReply | null {
    // RFC 5321 4.2: three digits, then a space (last line), a hyphen (more follow), or nothing (last line).
    const c0 = text.charCodeAt(0);
    const c1 = text.charCodeAt(1);
    const c2 = text.charCodeAt(2);
    const sep = text.length > 3 ? text.charCodeAt(3) : 0x20;
    if (!(c0 >= 0x32 && c0 <= 0x35 && c1 >= 0x30 && c1 <= 0x39 && c2 >= 0x30 && c2 <= 0x39) || (sep !== 0x20 && sep !== 0x2d)) {
      throw new ReplyError(`malformed reply line ${JSON.stringify(text.slice(0, 80))} (expected a 3-digit code, then a space or a hyphen)`);
    }
    const code = (c0 - 0x30) * 100 + (c1 - 0x30) * 10 + (c2 - 0x30);
    if (this.lines.length > 0 && code !== this.code) {
      throw new ReplyError(`multi-line reply changes its code from ${this.code} to ${code}`);
    }
    this.code = code;
    this.lines.push(text);
    this.replyBytes += bytes;
    if (this.lines.length > this.limits.maxLines) throw new ReplyError(`reply longer than ${this.limits.maxLines} lines`);
    if (this.replyBytes > this.limits.maxReplyBytes) throw new ReplyError(`reply larger than ${this.limits.maxReplyBytes} bytes`);
    if (sep === 0x2d) return null;
    const reply = { code, lines: this.lines };
    this.lines = [];
    this.replyBytes = 0;
    return reply;
  }
}

/** The reply as one text, lines joined by LF as received; callers pass it through safeLine before keeping it. */
export function replyText(reply: SmtpReply): string {
  return reply.lines.length === 1 ? (reply.lines[0] as string) : reply.lines.join('\n');
}
