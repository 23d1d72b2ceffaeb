import net from 'node:net';
import { Readable } from 'node:stream';
import type tls from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { safeLine } from '../shared/safe-text.js';
import type { OutboundIp } from './ip-pool.js';
import type { Target } from './routing.js';

/**
 * One outbound SMTP connection: connect from a pool address, STARTTLS whenever offered (falling back to clear
 * when the handshake fails, unless TLS is required), then one transaction per message with per-recipient
 * replies. Built on nodemailer's SMTPConnection; everything Relais decides lives outside.
 */
export interface ClientTimeouts {
  connect: number;
  greeting: number;
  /** Each reply to a command (MAIL, RCPT, DATA, RSET). */
  command: number;
  /** The reply after the message's final dot, when receivers scan it. */
  dataEnd: number;
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
      /** The next hop advertised DSN and got the NOTIFY/ORCPT/RET/ENVID parameters: it notifies from now on. */
      dsnPassed?: boolean;
    }
  | { stage: 'mail' | 'data' | 'rcpt'; code: number; reply: string; rejected: RecipientReply[] }
  | { stage: 'connection'; code: null; reply: string; rejected: RecipientReply[] };

interface NodemailerError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  rejectedErrors?: NodemailerError[];
  recipient?: string;
}

/**
 * Every reply text enters Relais here, to be stored, logged, shown and quoted in notices: one line, control
 * characters neutralised (a bare CR inside a reply line once forged fields in failure notices).
 */
function replyOf(error: NodemailerError): string {
  return safeLine(error.response ?? error.message);
}

function recipientOf(error: NodemailerError): string {
  return error.recipient ?? '';
}

export class OutboundSession {
  messages = 0;
  private broken = false;
  /** The last transaction ended cleanly (250 after DATA): a new MAIL may follow without RSET. */
  private clean = true;

  /** Use OutboundSession.open(). */
  constructor(
    private readonly connection: SMTPConnection,
    readonly target: Target,
    readonly source: OutboundIp,
    readonly tls: TlsUse | null,
    private readonly timeouts: ClientTimeouts,
  ) {
    connection.on('error', () => {
      this.broken = true;
    });
    connection.on('end', () => {
      this.broken = true;
    });
  }

  get usable(): boolean {
    return !this.broken;
  }

  /** `signal` cuts a connection still being set up (the node is stopping): it resolves at once, not ok. */
  static async open(target: Target, source: OutboundIp, tlsPolicy: 'may' | 'encrypt', timeouts: ClientTimeouts, signal?: AbortSignal): Promise<ConnectResult> {
    const first = await connect(target, source, tlsPolicy === 'encrypt' ? 'require' : 'opportunistic', timeouts, signal);
    if (first.ok || first.trouble !== 'tls' || tlsPolicy === 'encrypt' || signal?.aborted) return first;
    // Opportunistic TLS, as Postfix's "may": a failed handshake is retried in clear.
    return connect(target, source, 'none', timeouts, signal);
  }

  send(from: string, recipients: readonly string[], body: Buffer, sizeHint: number): Promise<TransactionResult> {
    this.messages++;
    this.clean = false;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: TransactionResult) => {
        if (settled) return;
        settled = true;
        this.clean = result.stage === 'done';
        this.connection.removeListener('end', onEnd);
        this.connection.removeListener('error', onError);
        resolve(result);
      };
      let lastError: Error | undefined;
      const onError = (error: Error) => {
        lastError = error;
      };
      // The send callback, or the error that says why (a timeout), may come just after 'end'.
      const onEnd = () =>
        setImmediate(() =>
          finish({
            stage: 'connection',
            code: null,
            reply: lastError ? `connection lost during the transaction: ${replyOf(lastError)}` : 'connection closed during the transaction',
            rejected: [],
          }),
        );
      this.connection.on('error', onError);
      this.connection.once('end', onEnd);
      // nodemailer has one inactivity timeout; it is switched to the longer data_end wait once the whole
      // body has been handed over, and back for the next commands.
      const socket = (this.connection as unknown as { _socket?: net.Socket })._socket;
      socket?.setTimeout(this.timeouts.command);
      const stream = Readable.from([body]);
      stream.once('end', () => socket?.setTimeout(this.timeouts.dataEnd));
      this.connection.send({ from, to: [...recipients], size: sizeHint } as SMTPConnection.Envelope, stream, (error, info) => {
        socket?.setTimeout(this.timeouts.command);
        if (error) {
          const e = error as NodemailerError;
          const rejected = (e.rejectedErrors ?? []).map((r) => ({ address: recipientOf(r), code: r.responseCode ?? 450, reply: replyOf(r) }));
          if (e.code === 'EENVELOPE' && e.command === 'MAIL FROM') return finish({ stage: 'mail', code: e.responseCode ?? 451, reply: replyOf(e), rejected });
          if (e.code === 'EENVELOPE' && e.command === 'RCPT TO') return finish({ stage: 'rcpt', code: e.responseCode ?? 451, reply: replyOf(e), rejected });
          if (e.responseCode) return finish({ stage: 'data', code: e.responseCode, reply: replyOf(e), rejected });
          this.broken = true;
          return finish({ stage: 'connection', code: null, reply: replyOf(e), rejected });
        }
        const rejected = ((info as { rejectedErrors?: NodemailerError[] }).rejectedErrors ?? []).map((r) => ({
          address: recipientOf(r),
          code: r.responseCode ?? 450,
          reply: replyOf(r),
        }));
        const response = String(info.response ?? '250');
        finish({ stage: 'done', code: Number(response.slice(0, 3)) || 250, reply: safeLine(response), accepted: (info.accepted as string[]).map(String), rejected });
      });
    });
  }

  /** Ready for another transaction on the same connection: RSET only after one that did not end cleanly. */
  readyForNext(): Promise<boolean> {
    if (this.broken) return Promise.resolve(false);
    if (this.clean) return Promise.resolve(true);
    // A receiver that closes instead of answering RSET never calls the reset callback: its end must answer too.
    return new Promise((resolve) => {
      const gone = () => {
        this.broken = true;
        this.connection.removeListener('end', gone);
        this.connection.removeListener('error', gone);
        resolve(false);
      };
      this.connection.once('end', gone);
      this.connection.once('error', gone);
      this.connection.reset((error) => {
        this.connection.removeListener('end', gone);
        this.connection.removeListener('error', gone);
        resolve(!error);
      });
    });
  }

  /** Drops the connection at once, even mid-transaction (the node is stopping). */
  abort(): void {
    this.broken = true;
    this.connection.close();
  }

  close(): void {
    this.broken = true;
    try {
      this.connection.quit();
    } catch {
      this.connection.close();
    }
  }
}

function connect(
  target: Target,
  source: OutboundIp,
  tlsMode: 'require' | 'opportunistic' | 'none',
  timeouts: ClientTimeouts,
  signal?: AbortSignal,
): Promise<ConnectResult> {
  const connection = new SMTPConnection({
    host: target.ip,
    port: target.port,
    name: source.ehlo,
    localAddress: source.address ?? undefined,
    secure: false,
    ignoreTLS: tlsMode === 'none',
    requireTLS: tlsMode === 'require',
    opportunisticTLS: tlsMode === 'opportunistic',
    // Opportunistic TLS does not verify the certificate (RFC 7435); verification comes with DANE/MTA-STS.
    // SNI carries host names only (RFC 6066 3): a route or literal written as an IP address sends none.
    tls: { rejectUnauthorized: false, servername: net.isIP(target.name) ? undefined : target.name.replace(/\.$/, '') },
    connectionTimeout: timeouts.connect,
    greetingTimeout: timeouts.greeting,
    socketTimeout: timeouts.command,
    logger: false,
  } as SMTPConnection.Options);
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: ConnectResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    connection.once('error', (error: NodemailerError) => {
      connection.close();
      done({ ok: false, ...classifyConnectError(error) });
    });
    // 'end' can come just before the 'error' that says why (refused, TLS): let the error speak first.
    connection.once('end', () => setImmediate(() => done({ ok: false, trouble: 'dropped', code: null, reply: 'connection closed before the session started' })));
    const cut = () => {
      connection.close();
      done({ ok: false, trouble: 'dropped', code: null, reply: 'relay stopping; delivery will be retried' });
    };
    if (signal?.aborted) {
      cut();
      return;
    }
    signal?.addEventListener('abort', cut, { once: true });
    connection.connect(() => {
      const socket = (connection as unknown as { _socket?: tls.TLSSocket })._socket;
      const secure = (connection as unknown as { secure?: boolean }).secure === true;
      const tlsUse = secure && socket && typeof socket.getProtocol === 'function'
        ? { version: socket.getProtocol() ?? 'TLS', cipher: socket.getCipher()?.standardName ?? 'unknown' }
        : null;
      signal?.removeEventListener('abort', cut);
      if (settled) {
        connection.close();
        return;
      }
      done({ ok: true, session: new OutboundSession(connection, target, source, tlsUse, timeouts) });
    });
  });
}

function classifyConnectError(error: NodemailerError): { trouble: 'refused' | 'timeout' | 'dropped' | 'tls' | 'greeting'; code: number | null; reply: string } {
  const message = replyOf(error);
  if (error.code === 'ETLS' || /TLS|SSL|handshake/i.test(error.message)) return { trouble: 'tls', code: null, reply: `TLS failed: ${message}` };
  if (error.responseCode) return { trouble: 'greeting', code: error.responseCode, reply: message };
  if (/ECONNREFUSED/.test(error.message) || error.code === 'ECONNREFUSED') return { trouble: 'refused', code: null, reply: `connection refused (${message})` };
  if (error.code === 'ETIMEDOUT' || /timeout|timed out/i.test(error.message)) return { trouble: 'timeout', code: null, reply: `connection timed out (${message})` };
  return { trouble: 'dropped', code: null, reply: message };
}
