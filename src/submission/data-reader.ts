/**
 * Reads the DATA phase. Only <CRLF>.<CRLF> ends a message: a dot line after a bare LF or bare CR is content,
 * which is what defeats SMTP smuggling (a receiver that ends DATA on "\n.\n" or "\r.\r" while we do not, or the
 * reverse, would let one message carry another). Bare LF and bare CR are flagged so the session can refuse
 * the message, or, where the operator allows them, normalised to CRLF so they never reach the next hop.
 */
export interface DataReaderOptions {
  maxSize: number;
  /** 0 means no limit. */
  maxLineLength: number;
  normalizeBareNewlines: boolean;
}

export interface DataResult {
  body: Buffer;
  size: number;
  tooBig: boolean;
  bareNewline: boolean;
  longLine: boolean;
  /** A NUL byte anywhere in the content: mail cannot carry it (RFC 5321 2.3.8), and many MTAs truncate at it. */
  nul: boolean;
}

const enum State {
  LineStart,
  Mid,
  CarriageReturn,
  Dot,
  DotCarriageReturn,
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');
const JUST_LF = Buffer.from('\n');
const JUST_CR = Buffer.from('\r');

export class DataReader {
  private state = State.LineStart;
  private readonly parts: Buffer[] = [];
  private size = 0;
  private lineLength = 0;
  private tooBig = false;
  private bareNewline = false;
  private longLine = false;
  private nul = false;
  private ended = false;

  constructor(private readonly options: DataReaderOptions) {}

  /**
   * Feeds bytes; returns undefined while the message goes on, or the bytes after the terminator (the next
   * pipelined commands) once it has ended. Bytes pushed after the end are all returned, never read as content:
   * a message must not grow by whatever the client sent next.
   */
  push(chunk: Buffer): Buffer | undefined {
    if (this.ended) return chunk;
    let start = 0;
    const maxLine = this.options.maxLineLength;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      switch (this.state) {
        case State.LineStart:
          if (byte === DOT) {
            this.emit(chunk, start, i);
            start = i + 1; // the dot is either the terminator or a stuffing dot: never content
            this.state = State.Dot;
            continue;
          }
          this.state = State.Mid;
          break;
        case State.Dot:
          if (byte === CR) {
            this.state = State.DotCarriageReturn;
            start = i + 1; // held back until we know whether this ends the message
            continue;
          }
          this.state = State.Mid;
          break;
        case State.DotCarriageReturn:
          if (byte === LF) {
            this.ended = true;
            return chunk.subarray(i + 1);
          }
          // ".\r" followed by something else: the dot was stuffing, the CR is bare.
          this.bareNewline = true;
          this.emitConstant(this.options.normalizeBareNewlines ? CRLF : JUST_CR);
          this.lineLength = 0;
          this.state = State.Mid;
          break;
        case State.CarriageReturn:
          if (byte === LF) {
            this.lineLength = 0;
            this.state = State.LineStart;
            continue;
          }
          this.bareNewline = true;
          this.lineLength = 0;
          if (this.options.normalizeBareNewlines) {
            this.emit(chunk, start, i);
            this.emitConstant(JUST_LF);
            start = i;
          }
          this.state = State.Mid;
          break;
        case State.Mid:
          break;
      }
      // Here the state is Mid and `byte` is an ordinary position in a line.
      if (byte === CR) {
        this.state = State.CarriageReturn;
      } else if (byte === LF) {
        // A bare LF never starts a line: "\n.\r\n" must not end the message.
        this.bareNewline = true;
        this.lineLength = 0;
        if (this.options.normalizeBareNewlines) {
          this.emit(chunk, start, i);
          this.emitConstant(CRLF);
          start = i + 1;
        }
      } else {
        if (byte === 0) this.nul = true;
        if (maxLine > 0 && ++this.lineLength > maxLine) this.longLine = true;
      }
    }
    this.emit(chunk, start, chunk.length);
    return undefined;
  }

  result(): DataResult {
    return {
      body: this.tooBig ? Buffer.alloc(0) : Buffer.concat(this.parts, this.size),
      size: this.size,
      tooBig: this.tooBig,
      bareNewline: this.bareNewline,
      longLine: this.longLine,
      nul: this.nul,
    };
  }

  private emit(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    this.size += to - from;
    if (this.size > this.options.maxSize) {
      // Keep reading to the terminator so the session stays in step, but stop holding the bytes.
      this.tooBig = true;
      this.parts.length = 0;
      return;
    }
    if (!this.tooBig) this.parts.push(chunk.subarray(from, to));
  }

  private emitConstant(bytes: Buffer): void {
    this.emit(bytes, 0, bytes.length);
  }
}
