import net from 'node:net';
import tls from 'node:tls';
import { DEFAULT_REPLY_LIMITS, ReplyError, ReplyReader, type ReplyLimits, type SmtpReply } from './reply-reader.js';

/**
 * One TCP (later maybe TLS) connection to a receiving server, seen as replies in order: the session writes
 * commands, possibly several at once (PIPELINING), then asks for the replies one by one, each with a deadline
 * for the WHOLE reply (a server trickling `250-` lines cannot stretch it, RFC 5321 4.5.3.2 timeouts are per
 * stage). Once anything goes wrong (timeout, reset, close, malformed or oversized reply) the wire is dead for
 * good: the byte stream is no longer in a known state, so it is destroyed and every later call fails at once.
 */

export type WireTrouble = 'refused' | 'timeout' | 'reset' | 'closed' | 'protocol' | 'tls' | 'error';

export class WireError extends Error {
  constructor(
    readonly trouble: WireTrouble,
    message: string,
  ) {
    super(message);
  }
}

/** Unread replies kept: a server that answers far more than it was asked is broken or hostile. */
const MAX_QUEUED_REPLIES = 1024;

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

export class SmtpWire {
  private reader: ReplyReader;
  private queued: SmtpReply[] = [];
  private waiter: { resolve(reply: SmtpReply): void; reject(error: WireError): void; what: string; ms: number } | null = null;
  /** What killed the wire, in words that fit after "...while waiting for X". */
  private death: { trouble: WireTrouble; why: string } | null = null;
  private lastSocketError: NodeJS.ErrnoException | null = null;
  /**
   * One timer per connection, re-armed lazily: a reply usually comes long before its deadline, so most replies
   * only move `deadlineAt` and never touch a timer (no allocation per command at thousands of messages/s).
   */
  private deadlineAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;

  private constructor(
    private socket: net.Socket,
    private readonly limits: ReplyLimits,
  ) {
    this.reader = new ReplyReader(limits);
    this.attach(socket);
  }

  /** The address this end is bound to: with no outbound.ips, the one the operating system chose. */
  get localAddress(): string | null {
    const address = this.socket.localAddress;
    if (!address) return null;
    return address.startsWith('::ffff:') ? address.slice(7) : address;
  }

  /** Opens the TCP connection within `timeoutMs`; rejects with a WireError whose trouble is refused, timeout or error. */
  static connect(options: { host: string; port: number; localAddress?: string; timeoutMs: number; limits?: ReplyLimits }): Promise<SmtpWire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: options.host, port: options.port, localAddress: options.localAddress, noDelay: true });
      const where = `${options.host}:${options.port}`;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new WireError('timeout', `connection to ${where} timed out after ${seconds(options.timeoutMs)}`));
      }, options.timeoutMs);
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        if (error.code === 'ECONNREFUSED') reject(new WireError('refused', `connection refused by ${where}`));
        else if (error.code === 'ETIMEDOUT') reject(new WireError('timeout', `connection to ${where} timed out (${error.code})`));
        else reject(new WireError('error', `cannot connect to ${where}: ${error.code ?? error.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new SmtpWire(socket, options.limits ?? DEFAULT_REPLY_LIMITS));
      });
    });
  }

  get alive(): boolean {
    return this.death === null;
  }

  /**
   * Nothing received that nobody asked for. Between transactions anything else means the server and Relais
   * no longer agree on which reply answers which command: reusing the connection could take a stale 250 for
   * the end of a message that was never accepted.
   */
  get quiet(): boolean {
    return this.queued.length === 0 && this.reader.pendingBytes === 0;
  }

  private readonly onData = (chunk: Buffer): void => {
    let replies: SmtpReply[];
    try {
      replies = this.reader.push(chunk);
    } catch (error) {
      const why = error instanceof ReplyError ? error.message : String(error);
      this.kill('protocol', `the server broke the SMTP reply format (${why}); connection dropped`);
      return;
    }
    for (const reply of replies) {
      const waiter = this.waiter;
      if (waiter) {
        this.waiter = null;
        waiter.resolve(reply);
      } else if (this.queued.push(reply) > MAX_QUEUED_REPLIES) {
        this.kill('protocol', `the server sent more than ${MAX_QUEUED_REPLIES} replies nobody asked for; connection dropped`);
        return;
      }
    }
  };

  private readonly onError = (error: NodeJS.ErrnoException): void => {
    this.lastSocketError = error;
  };

  private readonly onClose = (): void => {
    if (this.death) return;
    const code = this.lastSocketError?.code;
    if (code === 'ECONNRESET') this.kill('reset', 'connection reset by the server');
    else if (this.lastSocketError) this.kill('error', `connection failed (${code ?? this.lastSocketError.message})`);
    else this.kill('closed', 'connection closed by the server');
  };

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private detach(socket: net.Socket): void {
    socket.removeListener('data', this.onData);
    socket.removeListener('close', this.onClose);
    // The error listener stays: an error event without one would crash the process.
  }

  private kill(trouble: WireTrouble, why: string): void {
    if (this.death) return;
    this.death = { trouble, why };
    this.socket.destroy();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(this.failure(waiter.what, waiter.ms));
  }

  private failure(what: string, ms: number): WireError {
    const death = this.death as { trouble: WireTrouble; why: string };
    if (death.trouble === 'timeout') return new WireError('timeout', `timed out: no complete ${what} within ${seconds(ms)} (a deadline for the whole reply); connection dropped`);
    return new WireError(death.trouble, `${death.why} while waiting for the ${what}`);
  }

  /** Writes now (one segment when it fits); nothing is ever written to a dead or closed connection. */
  write(data: string | Buffer): void {
    if (this.death || this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(data);
  }

  /** Writes all parts as one corked write: the body's slices and the final dot leave together. */
  writeAll(parts: readonly Buffer[]): void {
    if (this.death || this.socket.destroyed || !this.socket.writable) return;
    this.socket.cork();
    for (const part of parts) this.socket.write(part);
    this.socket.uncork();
  }

  /**
   * The next reply, in order. `what` names it for the error message ("reply to RCPT TO"); `ms` is the
   * deadline for the whole reply, counted from now.
   */
  reply(what: string, ms: number): Promise<SmtpReply> {
    const next = this.queued.shift();
    if (next) return Promise.resolve(next);
    if (this.death) return Promise.reject(this.failure(what, ms));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject, what, ms };
      this.arm(ms);
    });
  }

  private arm(ms: number): void {
    const now = Date.now();
    this.deadlineAt = now + ms;
    // A timer already due before this deadline re-arms itself when it fires; only an earlier deadline needs a new one.
    if (this.timer && this.timerAt <= this.deadlineAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = this.deadlineAt;
    this.timer = setTimeout(this.onTimer, ms);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (!this.waiter || this.death) return;
    const left = this.deadlineAt - Date.now();
    if (left <= 0) {
      this.kill('timeout', 'timeout');
      return;
    }
    this.timerAt = this.deadlineAt;
    this.timer = setTimeout(this.onTimer, left);
    this.timer.unref();
  };

  /**
   * STARTTLS after the server's 220 (RFC 3207). Whatever the server sent after that 220 is thrown away: in
   * clear it could have been injected by anyone on the path, and must not be read as a reply inside TLS.
   * Any failure before the handshake completes (alert, reset, close, timeout) is trouble 'tls', so the caller
   * can fall back to clear text where policy allows.
   */
  startTls(options: tls.ConnectionOptions, ms: number): Promise<{ version: string; cipher: string }> {
    if (this.death) return Promise.reject(new WireError('tls', `TLS handshake not started: ${this.death.why}`));
    const plain = this.socket;
    this.detach(plain);
    this.queued = [];
    this.reader = new ReplyReader(this.limits);
    return new Promise((resolve, reject) => {
      const secure = tls.connect({ ...options, socket: plain });
      this.socket = secure;
      let done = false;
      const fail = (why: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.death = { trouble: 'tls', why: `TLS handshake failed: ${why}` };
        secure.destroy();
        plain.destroy();
        reject(new WireError('tls', this.death.why));
      };
      const timer = setTimeout(() => fail(`not finished within ${seconds(ms)}`), ms);
      timer.unref();
      secure.on('error', (error: NodeJS.ErrnoException) => {
        this.lastSocketError = error;
        fail(error.code === 'ECONNRESET' ? 'connection reset by the server' : `${error.code ?? 'error'}: ${error.message}`);
      });
      secure.once('close', () => fail('connection closed by the server'));
      secure.once('secureConnect', () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        secure.removeAllListeners('close');
        secure.removeAllListeners('error');
        this.attach(secure);
        resolve({ version: secure.getProtocol() ?? 'TLS', cipher: secure.getCipher()?.standardName ?? 'unknown' });
      });
    });
  }

  /** Sends QUIT and closes without waiting long for the 221: nothing more is needed from this server. */
  quit(): void {
    if (this.death) return;
    this.death = { trouble: 'closed', why: 'connection closed by Relais' };
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    if (!socket.destroyed && socket.writable) socket.end('QUIT\r\n');
    setTimeout(() => socket.destroy(), 2000).unref();
    // The 221 and the server's close are of no interest; the socket goes as soon as the server closes.
    socket.once('end', () => socket.destroy());
  }

  destroy(why = 'connection closed by Relais'): void {
    this.kill('closed', why);
  }
}
