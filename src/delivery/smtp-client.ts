import { isAscii } from 'node:buffer';
import net from 'node:net';
import { safeLine } from '../shared/safe-text.js';
import type { OutboundIp } from './ip-pool.js';
import type { Target } from './routing.js';
import { dotStuffed } from './smtp/dot-stuff.js';
import { replyText, type SmtpReply } from './smtp/reply-reader.js';
import { SmtpWire, WireError } from './smtp/wire.js';

/**
 * One outbound SMTP connection: connect from a pool address, STARTTLS whenever offered (falling back to clear
 * when anything in the handshake fails, unless TLS is required), then one transaction per message with
 * per-recipient replies, pipelined when the server offers PIPELINING. Everything Relais decides about the
 * replies lives outside; this only speaks the protocol and says precisely what happened.
 */
export interface ClientTimeouts {
  /** The TCP connection. */
  connect: number;
  /** The server's 220 greeting (RFC 5321 4.5.3.2.1: 5 minutes). */
  greeting: number;
  /** The whole reply to one command (EHLO, STARTTLS, MAIL, RCPT, RSET; 4.5.3.2.2-3: 5 minutes). */
  command: number;
  /** The reply after the message's final dot, when receivers scan it (4.5.3.2.6: 10 minutes). */
  dataEnd: number;
  /** The TLS handshake after STARTTLS's 220; default one minute. */
  tlsHandshake?: number;
  /** The 354 reply to DATA (4.5.3.2.4: 2 minutes); default `command`. */
  dataStart?: number;
}

export interface TlsUse {
  version: string;
  cipher: string;
}

export type ConnectResult =
  | { ok: true; session: OutboundSession }
  | { ok: false; trouble: 'refused' | 'timeout' | 'dropped' | 'tls' | 'greeting'; code: number | null; reply: string };

export interface RecipientReply {
  address: string;
  code: number;
  reply: string;
}

export type TransactionResult =
  | {
      stage: 'done';
      code: number;
      reply: string;
      accepted: string[];
      rejected: RecipientReply[];
      /** The next hop offered DSN and got the message's NOTIFY/ORCPT/ENVID/RET (RFC 3461 5.2, 5.3). */
      dsnPassed?: boolean;
    }
  | { stage: 'mail' | 'data' | 'rcpt'; code: number; reply: string; rejected: RecipientReply[] }
  | { stage: 'connection'; code: null; reply: string; rejected: RecipientReply[] };

/** What the message carries besides sender and recipients, passed on when the next hop can take it. */
export interface SendOptions {
  /** ENVID as submitted (xtext). */
  envid?: string | null;
  /** RET as submitted: FULL or HDRS. */
  ret?: string | null;
  /** NOTIFY (comma list) and ORCPT (`rfc822;xtext`) as submitted, per recipient address. */
  recipientDsn?: ReadonlyMap<string, { notify: string | null; orcpt: string | null }>;
  /** The submission said BODY=8BITMIME; when unknown, the body is scanned for 8-bit bytes. */
  eightBit?: boolean;
}

/** What the server's EHLO reply offered, as far as the client uses it. */
export interface ServerExtensions {
  pipelining: boolean;
  starttls: boolean;
  dsn: boolean;
  eightBitMime: boolean;
  smtputf8: boolean;
  size: boolean;
}

const NO_EXTENSIONS: Readonly<ServerExtensions> = Object.freeze({ pipelining: false, starttls: false, dsn: false, eightBitMime: false, smtputf8: false, size: false });

const DEFAULT_TLS_HANDSHAKE = 60_000;

function extensionsOf(reply: SmtpReply): ServerExtensions {
  const ext = { ...NO_EXTENSIONS };
  // The first line is the server's name and greeting text, not an extension.
  for (let i = 1; i < reply.lines.length; i++) {
    const keyword = (reply.lines[i] as string).slice(4).trim().split(/\s+/, 1)[0]?.toUpperCase();
    if (keyword === 'PIPELINING') ext.pipelining = true;
    else if (keyword === 'STARTTLS') ext.starttls = true;
    else if (keyword === 'DSN') ext.dsn = true;
    else if (keyword === '8BITMIME') ext.eightBitMime = true;
    else if (keyword === 'SMTPUTF8') ext.smtputf8 = true;
    else if (keyword === 'SIZE') ext.size = true;
  }
  return ext;
}

/**
 * Every reply text enters Relais here, to be stored, logged, shown and quoted in notices: one line, control
 * characters neutralised (a bare CR inside a reply line once forged fields in failure notices).
 */
function textOf(reply: SmtpReply): string {
  return safeLine(replyText(reply));
}

const NON_ASCII = /[^\x00-\x7f]/;
/** Addresses come from the submission parser, which refuses these; a command must still never carry a line break. */
const LINE_BREAK = /[\r\n]/;

class Ended extends Error {
  constructor(readonly result: TransactionResult) {
    super(result.reply);
  }
}

export class OutboundSession {
  messages = 0;
  /** The last transaction ended cleanly (250 after DATA) or never started: a new MAIL may follow without RSET. */
  private clean = true;
  /** A 421 or a failed RSET: the server is done with us even if the socket still stands. */
  private finished = false;

  /** Use OutboundSession.open(). */
  private constructor(
    private readonly wire: SmtpWire,
    private readonly ext: ServerExtensions,
    readonly target: Target,
    readonly source: OutboundIp,
    readonly tls: TlsUse | null,
    private readonly timeouts: ClientTimeouts,
  ) {}

  /** Fit for another transaction: connected, not told to go (421), and in step with the server's replies. */
  get usable(): boolean {
    return this.wire.alive && !this.finished && this.wire.quiet;
  }

  /** The source address the connection really uses (the system's choice when no outbound.ips are set). */
  get localAddress(): string | null {
    return this.wire.localAddress;
  }

  /** The next hop offers DSN: NOTIFY, ORCPT, ENVID and RET go on to it. */
  get offersDsn(): boolean {
    return this.ext.dsn;
  }

  get pipelining(): boolean {
    return this.ext.pipelining;
  }

  /** `signal` cuts a connection still being set up (the node is stopping): it resolves at once, not ok. */
  static async open(target: Target, source: OutboundIp, tlsPolicy: 'may' | 'encrypt', timeouts: ClientTimeouts, signal?: AbortSignal): Promise<ConnectResult> {
    const first = await connect({ target, source, tlsMode: tlsPolicy === 'encrypt' ? 'require' : 'opportunistic', timeouts }, signal);
    if (first.ok || first.trouble !== 'tls' || tlsPolicy === 'encrypt' || signal?.aborted) return first;
    // Opportunistic TLS, as Postfix's "may": whatever broke the handshake, the next connection goes in clear.
    return connect({ target, source, tlsMode: 'none', timeouts }, signal);
  }

  /** @internal Used by connect(). */
  static create(wire: SmtpWire, ext: ServerExtensions, target: Target, source: OutboundIp, tls: TlsUse | null, timeouts: ClientTimeouts): OutboundSession {
    return new OutboundSession(wire, ext, target, source, tls, timeouts);
  }

  async send(from: string, recipients: readonly string[], body: Buffer, sizeHint: number, options: SendOptions = {}): Promise<TransactionResult> {
    if (!this.usable) return { stage: 'connection', code: null, reply: 'connection no longer usable before the transaction', rejected: [] };
    this.messages++;
    const rejected: RecipientReply[] = [];
    const utf8 = NON_ASCII.test(from) || recipients.some((r) => NON_ASCII.test(r));
    // RFC 6531 3.4: a non-ASCII envelope cannot go to a server without SMTPUTF8; downgrading is not ours to do.
    if (LINE_BREAK.test(from) || (utf8 && !this.ext.smtputf8 && NON_ASCII.test(from))) {
      const reply = LINE_BREAK.test(from)
        ? '501 5.1.7 Sender address contains a line break'
        : `553 5.6.7 The sender address needs SMTPUTF8, which ${this.target.name} does not offer`;
      return { stage: 'mail', code: Number(reply.slice(0, 3)), reply, rejected };
    }
    const sendable: string[] = [];
    for (const address of recipients) {
      if (LINE_BREAK.test(address)) rejected.push({ address, code: 501, reply: '501 5.1.3 Recipient address contains a line break' });
      else if (NON_ASCII.test(address) && !this.ext.smtputf8) {
        rejected.push({ address, code: 553, reply: `553 5.6.7 The recipient address needs SMTPUTF8, which ${this.target.name} does not offer` });
      } else sendable.push(address);
    }
    if (sendable.length === 0) {
      const last = rejected[rejected.length - 1] as RecipientReply;
      return { stage: 'rcpt', code: last.code, reply: last.reply, rejected };
    }
    this.clean = false;
    try {
      // Only what is actually sent decides SMTPUTF8: the addresses refused above never reach the server.
      const needsUtf8 = utf8 && (NON_ASCII.test(from) || sendable.some((r) => NON_ASCII.test(r)));
      const result = await this.transaction(from, sendable, rejected, body, sizeHint, options, needsUtf8);
      this.clean = result.stage === 'done';
      return result;
    } catch (error) {
      if (error instanceof Ended) {
        if (error.result.code === 421) this.end();
        return error.result;
      }
      this.end();
      const reply = error instanceof WireError ? error.message : `transaction failed: ${String(error)}`;
      return { stage: 'connection', code: null, reply, rejected };
    }
  }

  private async transaction(
    from: string,
    recipients: readonly string[],
    rejected: RecipientReply[],
    body: Buffer,
    sizeHint: number,
    options: SendOptions,
    utf8: boolean,
  ): Promise<TransactionResult> {
    const { ext, wire, timeouts } = this;
    let mail = `MAIL FROM:<${from}>`;
    if (ext.size) mail += ` SIZE=${sizeHint}`;
    if (ext.eightBitMime && (options.eightBit ?? !isAscii(body))) mail += ' BODY=8BITMIME';
    if (utf8) mail += ' SMTPUTF8';
    if (ext.dsn && options.ret) mail += ` RET=${options.ret}`;
    if (ext.dsn && options.envid) mail += ` ENVID=${options.envid}`;
    const rcpts = recipients.map((address) => {
      let line = `RCPT TO:<${address}>`;
      const dsn = ext.dsn ? options.recipientDsn?.get(address) : undefined;
      if (dsn?.notify) line += ` NOTIFY=${dsn.notify}`;
      if (dsn?.orcpt) line += ` ORCPT=${dsn.orcpt}`;
      return line;
    });
    const dataStart = timeouts.dataStart ?? timeouts.command;

    // A 421 at any step ends the session; the reply goes up so the caller defers (or changes address).
    const check421 = (reply: SmtpReply, stage: 'mail' | 'rcpt' | 'data', pending: readonly string[]) => {
      if (reply.code !== 421) return;
      const text = textOf(reply);
      const all = stage === 'rcpt' ? [...rejected, ...pending.map((address) => ({ address, code: 421, reply: text }))] : rejected;
      throw new Ended({ stage, code: 421, reply: text, rejected: all });
    };

    const accepted: string[] = [];
    let mailReply: SmtpReply;
    let dataReply: SmtpReply | null = null;
    if (ext.pipelining) {
      // RFC 2920: MAIL, every RCPT and DATA in one write; the replies come back in the same order.
      wire.write(Buffer.from(`${mail}\r\n${rcpts.join('\r\n')}\r\nDATA\r\n`, utf8 ? 'utf8' : 'latin1'));
      mailReply = await wire.reply('reply to MAIL FROM', timeouts.command);
      check421(mailReply, 'mail', recipients);
      for (let i = 0; i < recipients.length; i++) {
        const reply = await wire.reply('reply to RCPT TO', timeouts.command);
        this.takeRcpt(reply, recipients[i] as string, accepted, rejected, mailReply.code < 400);
        check421(reply, 'rcpt', recipients.slice(i + 1).concat(accepted));
      }
      dataReply = await wire.reply('reply to DATA', dataStart);
      check421(dataReply, 'data', []);
      if (dataReply.code === 354 && (mailReply.code >= 400 || accepted.length === 0)) {
        // RFC 2920 3.1: DATA accepted with nobody to deliver to; end it empty rather than send the message.
        wire.write('.\r\n');
        const reply = await wire.reply('reply to an empty DATA', timeouts.dataEnd);
        check421(reply, 'data', []);
      }
    } else {
      wire.write(Buffer.from(`${mail}\r\n`, utf8 ? 'utf8' : 'latin1'));
      mailReply = await wire.reply('reply to MAIL FROM', timeouts.command);
      check421(mailReply, 'mail', recipients);
      if (mailReply.code < 400) {
        for (let i = 0; i < recipients.length; i++) {
          wire.write(Buffer.from(`${rcpts[i]}\r\n`, utf8 ? 'utf8' : 'latin1'));
          const reply = await wire.reply('reply to RCPT TO', timeouts.command);
          this.takeRcpt(reply, recipients[i] as string, accepted, rejected, true);
          check421(reply, 'rcpt', recipients.slice(i + 1).concat(accepted));
        }
      }
    }
    if (mailReply.code >= 400) return { stage: 'mail', code: mailReply.code, reply: textOf(mailReply), rejected };
    if (accepted.length === 0) {
      const last = rejected[rejected.length - 1] as RecipientReply;
      return { stage: 'rcpt', code: last.code, reply: last.reply, rejected };
    }
    if (!dataReply) {
      wire.write('DATA\r\n');
      dataReply = await wire.reply('reply to DATA', dataStart);
      check421(dataReply, 'data', []);
    }
    if (dataReply.code !== 354) return { stage: 'data', code: dataReply.code, reply: textOf(dataReply), rejected };
    wire.writeAll(dotStuffed(body));
    const final = await wire.reply('reply to the end of the message data', timeouts.dataEnd);
    check421(final, 'data', []);
    if (final.code >= 400 || final.code < 200) return { stage: 'data', code: final.code, reply: textOf(final), rejected };
    return { stage: 'done', code: final.code, reply: textOf(final), accepted, rejected, dsnPassed: ext.dsn };
  }

  private takeRcpt(reply: SmtpReply, address: string, accepted: string[], rejected: RecipientReply[], mailOk: boolean): void {
    // After a refused MAIL (pipelined) the RCPT replies are 503s about the missing MAIL, never about the
    // recipient: the MAIL reply decides for everyone.
    if (!mailOk) return;
    if (reply.code >= 200 && reply.code < 300) accepted.push(address);
    else rejected.push({ address, code: reply.code, reply: textOf(reply) });
  }

  private end(): void {
    this.finished = true;
    this.wire.destroy();
  }

  /** Ready for another transaction on the same connection: RSET only after one that did not end cleanly. */
  async readyForNext(): Promise<boolean> {
    if (!this.usable) return false;
    if (this.clean) return true;
    this.wire.write('RSET\r\n');
    try {
      const reply = await this.wire.reply('reply to RSET', this.timeouts.command);
      if (reply.code >= 200 && reply.code < 300) {
        this.clean = true;
        return true;
      }
    } catch {
      // The connection is gone; the caller opens another.
    }
    this.end();
    return false;
  }

  /** Drops the connection at once, even mid-transaction (the node is stopping). */
  abort(): void {
    this.finished = true;
    this.wire.destroy('connection closed by Relais (the relay is stopping)');
  }

  close(): void {
    this.finished = true;
    this.wire.quit();
  }
}

type ConnectFailure = Extract<ConnectResult, { ok: false }>;

const STOPPING: ConnectFailure = { ok: false, trouble: 'dropped', code: null, reply: 'relay stopping; delivery will be retried' };

/** What one connection attempt is: where to, from where, how much TLS, within which deadlines. */
interface Dial {
  target: Target;
  source: OutboundIp;
  tlsMode: 'require' | 'opportunistic' | 'none';
  timeouts: ClientTimeouts;
}

/**
 * A session set up under `signal`: an abort (the node is stopping) resolves at once, even during the TCP connect,
 * and cuts the connection at whatever stage it is, so no receiver keeps the node waiting.
 */
async function connect(dial: Dial, signal?: AbortSignal): Promise<ConnectResult> {
  if (signal?.aborted) return STOPPING;
  let stop: () => void = () => undefined;
  const aborted = new Promise<ConnectFailure>((resolve) => {
    stop = () => resolve(STOPPING);
    signal?.addEventListener('abort', stop, { once: true });
  });
  const opening = (async (): Promise<ConnectResult> => {
    let wire: SmtpWire;
    try {
      wire = await SmtpWire.connect({ host: dial.target.ip, port: dial.target.port, localAddress: dial.source.address ?? undefined, timeoutMs: dial.timeouts.connect });
    } catch (error) {
      return failure(error, 'dropped');
    }
    const cut = () => wire.destroy();
    if (signal?.aborted) cut();
    signal?.addEventListener('abort', cut, { once: true });
    try {
      return await converse(wire, dial);
    } finally {
      signal?.removeEventListener('abort', cut);
    }
  })();
  const result = await Promise.race([opening, aborted]);
  signal?.removeEventListener('abort', stop);
  if (result === STOPPING) {
    // Whatever the set-up still does, its connection must carry nothing.
    void opening.then((late) => {
      if (late.ok) late.session.abort();
    });
  }
  return result;
}

async function converse(wire: SmtpWire, dial: Dial): Promise<ConnectResult> {
  const { target, source, tlsMode, timeouts } = dial;
  try {
    const greeting = await wire.reply('greeting', timeouts.greeting);
    if (greeting.code !== 220) {
      wire.quit();
      return { ok: false, trouble: 'greeting', code: greeting.code, reply: textOf(greeting) };
    }
    let ext = await hello(wire, source.ehlo, timeouts);
    if (!ext.ok) return ext;
    let tlsUse: TlsUse | null = null;
    if (tlsMode !== 'none' && ext.value.starttls) {
      wire.write('STARTTLS\r\n');
      let reply: SmtpReply;
      try {
        reply = await wire.reply('reply to STARTTLS', timeouts.command);
      } catch (error) {
        // Silence, a close or a reset after STARTTLS is the TLS attempt failing: clear text may still work.
        return { ...failure(error, 'tls'), trouble: 'tls' };
      }
      if (reply.code === 421) {
        wire.destroy();
        return { ok: false, trouble: 'greeting', code: 421, reply: textOf(reply) };
      }
      if (reply.code === 220) {
        try {
          tlsUse = await wire.startTls(
            {
              // Opportunistic TLS does not verify the certificate (RFC 7435); verification comes with DANE/MTA-STS.
              rejectUnauthorized: false,
              // SNI carries host names only (RFC 6066 3): a route or literal written as an IP address sends none.
              servername: net.isIP(target.name) ? undefined : target.name.replace(/\.$/, ''),
            },
            timeouts.tlsHandshake ?? DEFAULT_TLS_HANDSHAKE,
          );
          ext = await hello(wire, source.ehlo, timeouts);
        } catch (error) {
          wire.destroy();
          // Anything up to a working session inside TLS counts as the TLS attempt failing, a timeout included.
          return { ...failure(error, 'tls'), trouble: 'tls' };
        }
        // Still inside the TLS attempt: a server that takes the handshake and then drops us is a TLS failure.
        if (!ext.ok) return { ...ext, trouble: 'tls', reply: `after the TLS handshake: ${ext.reply}` };
      } else if (tlsMode === 'require') {
        wire.quit();
        return { ok: false, trouble: 'tls', code: reply.code, reply: `TLS required but STARTTLS refused: ${textOf(reply)}` };
      }
      // Otherwise STARTTLS was refused and the session goes on in clear, unchanged (RFC 3207 4).
    } else if (tlsMode === 'require') {
      wire.quit();
      return { ok: false, trouble: 'tls', code: null, reply: `TLS required but ${target.name} does not offer STARTTLS` };
    }
    return { ok: true, session: OutboundSession.create(wire, ext.value, target, source, tlsUse, timeouts) };
  } catch (error) {
    wire.destroy();
    return failure(error, 'dropped');
  }
}

/** EHLO, or HELO when the server refuses EHLO (RFC 5321 3.2); a 421 or a dead connection ends the attempt. */
async function hello(wire: SmtpWire, name: string, timeouts: ClientTimeouts): Promise<{ ok: true; value: ServerExtensions } | ConnectFailure> {
  wire.write(`EHLO ${name}\r\n`);
  const reply = await wire.reply('reply to EHLO', timeouts.command);
  if (reply.code >= 200 && reply.code < 300) return { ok: true, value: extensionsOf(reply) };
  if (reply.code === 421 || reply.code < 500) {
    wire.destroy();
    return { ok: false, trouble: 'greeting', code: reply.code, reply: textOf(reply) };
  }
  wire.write(`HELO ${name}\r\n`);
  const helo = await wire.reply('reply to HELO', timeouts.command);
  if (helo.code >= 200 && helo.code < 300) return { ok: true, value: { ...NO_EXTENSIONS } };
  wire.destroy();
  return { ok: false, trouble: 'greeting', code: helo.code, reply: textOf(helo) };
}

function failure(error: unknown, otherwise: ConnectFailure['trouble']): ConnectFailure {
  if (!(error instanceof WireError)) return { ok: false, trouble: otherwise, code: null, reply: `connection failed: ${String(error)}` };
  const trouble: ConnectFailure['trouble'] =
    error.trouble === 'refused' ? 'refused' : error.trouble === 'timeout' ? 'timeout' : error.trouble === 'tls' ? 'tls' : otherwise;
  return { ok: false, trouble, code: null, reply: error.message };
}
