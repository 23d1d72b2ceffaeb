/**
 * Splits the command stream into lines. A line longer than the limit is not buffered: its bytes are dropped
 * up to the next newline and the caller is told once, so a 1 MB line costs no memory and the session goes on.
 */
export type CommandInput = { kind: 'line'; line: string } | { kind: 'too-long' };

export class LineReader {
  private pending: Buffer = Buffer.alloc(0);
  private discarding = false;

  constructor(private readonly maxLength: number) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
  }

  /** The next complete command, a too-long notice, or undefined when more bytes are needed. */
  next(): CommandInput | undefined {
    for (;;) {
      const newline = this.pending.indexOf(0x0a);
      if (this.discarding) {
        if (newline < 0) {
          this.pending = Buffer.alloc(0);
          return undefined;
        }
        this.pending = this.pending.subarray(newline + 1);
        this.discarding = false;
        return { kind: 'too-long' };
      }
      if (newline < 0) {
        // A trailing CR may be the first half of the CRLF: counting it would make a line of exactly maxLength
        // too long or not depending on where the client's segments were cut.
        const last = this.pending.length - 1;
        const content = last >= 0 && this.pending[last] === 0x0d ? last : this.pending.length;
        if (content > this.maxLength) {
          this.discarding = true;
          continue;
        }
        return undefined;
      }
      let end = newline;
      if (end > 0 && this.pending[end - 1] === 0x0d) end--;
      if (end > this.maxLength) {
        this.pending = this.pending.subarray(newline + 1);
        return { kind: 'too-long' };
      }
      // latin1 keeps every byte as one char; SMTPUTF8 addresses are decoded where they are parsed.
      const line = this.pending.toString('latin1', 0, end);
      this.pending = this.pending.subarray(newline + 1);
      return { kind: 'line', line };
    }
  }

  /** Bytes received but not yet read as commands: handed to the DATA reader, or dropped at STARTTLS. */
  takeRest(): Buffer {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    return rest;
  }

  get buffered(): number {
    return this.pending.length;
  }
}
