import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { AuthExchange, type AuthStep } from './auth-exchange.js';
import type { AuthGuard } from './auth-guard.js';
import { DataReader, type DataReaderOptions } from './data-reader.js';
import { parseMailFrom, parseRcptTo, type MailArgs, type RcptArgs } from './envelope-parser.js';
import { LineReader } from './line-reader.js';
import type { AuthenticatedUser, ClientInfo, SubmissionPolicy, TransactionTicket } from './policy.js';
import { REPLY, formatReply, type Reply } from './replies.js';

export interface SessionSettings {
  hostname: string;
  maxMessageSize: number;
  maxRecipients: number;
  maxLineLength: number;
  maxCommandLength: number;
  rejectBareNewlines: boolean;
  allowPlainAuthOnLoopback: boolean;
  idleTimeoutMs: number;
  maxErrors: number;
}

export interface SessionContext {
  settings: SessionSettings;
  policy: SubmissionPolicy;
  guard: AuthGuard;
  logger: Logger;
  /** Absent when the listener cannot offer STARTTLS. */
  secureContext?: tls.SecureContext;
  onClosed(session: SmtpSession): void;
}

interface Transaction {
  mail: MailArgs;
  recipients: RcptArgs[];
  ticket: TransactionTicket;
}

/**
 * One SMTP conversation on the submission ports. Commands are read and answered strictly in order (PIPELINING
 * just means several arrive at once); decisions about users, quota and storage are the policy's.
 */
export class SmtpSession {
  private socket: net.Socket;
  private lines: LineReader;
  private data: DataReader | null = null;
  private readonly inbox: Buffer[] = [];
  private pumping = false;
  private closed = false;
  private heloName = '';
  private user: AuthenticatedUser | null = null;
  private transaction: Transaction | null = null;
  private readonly authExchange = new AuthExchange();
  private errors = 0;
  private readonly started = Date.now();
  private readonly stats = { messages: 0, recipients: 0, rejected: 0, messageIds: [] as string[] };
  private readonly clientIp: string;
  private readonly clientPort: number;

  constructor(socket: net.Socket, private readonly ctx: SessionContext, private secure: boolean) {
    this.socket = socket;
    this.clientIp = normalizeIp(socket.remoteAddress ?? '');
    this.clientPort = socket.remotePort ?? 0;
    this.lines = new LineReader(ctx.settings.maxCommandLength);
    this.attach(socket);
  }

  start(): void {
    this.send(REPLY.custom(220, '', `${this.ctx.settings.hostname} ESMTP Relais`));
  }

  /** Refuses the connection outright (connection limit, shutdown). */
  refuse(reply: Reply): void {
    this.send({ ...reply, close: true });
  }

  shutdown(): void {
    if (!this.closed && !this.pumping && !this.data) this.send(REPLY.shuttingDown);
  }

  /** Drops the connection at once: shutdown grace is over. */
  abort(): void {
    this.socket.destroy();
    this.finish('aborted');
  }

  private attach(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.setTimeout(this.ctx.settings.idleTimeoutMs, () => {
      this.send(REPLY.timeout);
    });
    socket.on('data', (chunk: Buffer) => {
      this.inbox.push(chunk);
      // A client that floods us without reading replies is paused until we catch up.
      if (this.inbox.length > 64) socket.pause();
      void this.pump();
    });
    socket.on('error', () => this.finish('error'));
    socket.on('close', () => this.finish('close'));
    const onEnd = () => {
      // The client has said all it will say; what it pipelined before is still answered, then we close.
      this.peerEnded = true;
      if (!this.pumping && this.inbox.length === 0) this.closeAfterPeerEnd();
    };
    socket.on('end', onEnd);
    // A client may close right after the TLS handshake, before the server-side socket reaches us.
    if (socket.readableEnded) setImmediate(onEnd);
  }

  private get client(): ClientInfo {
    return { ip: this.clientIp, port: this.clientPort, heloName: this.heloName, tls: this.tlsInfo() };
  }

  private tlsInfo(): ClientInfo['tls'] {
    if (!this.secure || !(this.socket instanceof tls.TLSSocket)) return null;
    return { version: this.socket.getProtocol() ?? 'TLS', cipher: this.socket.getCipher()?.standardName ?? 'unknown' };
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.socket.cork();
      while (!this.closed) {
        const chunk = this.inbox.shift();
        if (chunk) {
          if (this.data) this.feedData(chunk);
          else this.lines.push(chunk);
        }
        if (this.data === null) {
          const input = this.lines.next();
          if (input === undefined) {
            if (this.inbox.length === 0) break;
            continue;
          }
          if (input.kind === 'too-long') {
            this.reject('(too long)', REPLY.commandTooLong(this.ctx.settings.maxCommandLength));
            continue;
          }
          const work = this.handle(input.line);
          if (work) {
            // Replies already written are flushed while we wait on the store or a password hash.
            this.socket.uncork();
            await work;
            this.socket.cork();
          }
        } else if (this.dataDone !== null) {
          const rest = this.dataDone;
          this.dataDone = null;
          this.socket.uncork();
          await this.finishData();
          this.socket.cork();
          if (rest.length) this.lines.push(rest);
        } else if (this.inbox.length === 0) {
          break;
        }
      }
    } finally {
      this.pumping = false;
      if (!this.closed) {
        this.socket.uncork();
        if (this.socket.isPaused() && this.inbox.length === 0) this.socket.resume();
        if (this.peerEnded && this.inbox.length === 0) this.closeAfterPeerEnd();
      }
    }
  }

  private dataDone: Buffer | null = null;
  private peerEnded = false;

  private closeAfterPeerEnd(): void {
    if (this.closed) return;
    this.socket.end();
    this.finish('server-closed');
  }

  private feedData(chunk: Buffer): void {
    const rest = (this.data as DataReader).push(chunk);
    if (rest !== undefined) this.dataDone = rest;
  }

  /** Returns a promise only for commands that must wait (AUTH, RCPT, MAIL); the rest answer at once. */
  private handle(line: string): Promise<void> | void {
    if (this.authExchange.active) return this.authStep(this.authExchange.next(line));
    const space = line.indexOf(' ');
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const rest = space < 0 ? '' : line.slice(space + 1);
    switch (verb) {
      case 'EHLO':
      case 'HELO':
        return this.hello(verb, rest.trim());
      case 'STARTTLS':
        return this.startTls(rest);
      case 'AUTH':
        return this.auth(rest);
      case 'MAIL':
        return this.mail(rest);
      case 'RCPT':
        return this.rcpt(rest);
      case 'DATA':
        return this.startData(rest);
      case 'RSET':
        return this.reset();
      case 'NOOP':
        return this.send(REPLY.ok);
      case 'QUIT':
        return this.send(REPLY.closing);
      case 'VRFY':
        return this.send(REPLY.vrfy);
      case 'HELP':
        return this.send(REPLY.help);
      case 'BDAT':
      case 'EXPN':
      case 'TURN':
      case 'ETRN':
        return this.reject(verb, REPLY.notImplemented);
      default:
        return this.reject(verb.slice(0, 20) || '(empty)', REPLY.commandUnrecognized);
    }
  }

  private async hello(verb: string, name: string): Promise<void> {
    if (!name || /\s/.test(name) || name.length > 255) {
      return this.reject(verb, REPLY.syntax(`${verb} hostname`));
    }
    this.heloName = name;
    await this.abandonTransaction();
    if (verb === 'HELO') return this.send(REPLY.custom(250, '', this.ctx.settings.hostname));
    const lines = [this.ctx.settings.hostname, 'PIPELINING', `SIZE ${this.ctx.settings.maxMessageSize}`, 'ENHANCEDSTATUSCODES', '8BITMIME', 'SMTPUTF8', 'DSN'];
    if (!this.secure && this.ctx.secureContext) lines.push('STARTTLS');
    if (this.authAllowed() && !this.user) lines.push('AUTH PLAIN LOGIN');
    this.send(REPLY.custom(250, '', lines.join('\n')));
  }

  private authAllowed(): boolean {
    return this.secure || (this.ctx.settings.allowPlainAuthOnLoopback && isLoopback(this.clientIp));
  }

  private startTls(rest: string): Promise<void> | void {
    if (rest.trim()) return this.reject('STARTTLS', REPLY.syntax('STARTTLS'));
    if (this.secure) return this.reject('STARTTLS', REPLY.alreadyTls);
    if (!this.ctx.secureContext) return this.reject('STARTTLS', REPLY.tlsNotAvailable);
    this.send(REPLY.readyForTls);
    // Anything pipelined after STARTTLS arrived in clear and must not be executed as if it came over TLS
    // (CVE-2011-0411 and its kin): drop it.
    this.lines.takeRest();
    this.inbox.length = 0;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('timeout');
    plain.setTimeout(0);
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.ctx.secureContext });
    return new Promise<void>((resolve) => {
      const failed = (error: Error) => {
        this.ctx.logger.info({ event: 'tls_failed', client_ip: this.clientIp, error: error.message }, 'STARTTLS handshake failed');
        plain.destroy();
        this.finish('tls-failed');
        resolve();
      };
      secure.once('error', failed);
      secure.once('secure', () => {
        secure.removeListener('error', failed);
        this.socket = secure;
        this.secure = true;
        // RFC 3207 4.2: the session starts over, the client must say EHLO again.
        this.heloName = '';
        this.lines = new LineReader(this.ctx.settings.maxCommandLength);
        this.attach(secure);
        resolve();
      });
    });
  }

  private async auth(rest: string): Promise<void> {
    if (!this.heloName) return this.reject('AUTH', REPLY.sendHelloFirst);
    if (!this.authAllowed()) return this.reject('AUTH', REPLY.encryptionRequired);
    if (this.user) return this.reject('AUTH', REPLY.alreadyAuthenticated);
    if (this.transaction) return this.reject('AUTH', REPLY.authInTransaction);
    const verdict = this.ctx.guard.check(this.clientIp);
    if (!verdict.allowed) return this.blocked(verdict.scope, '');
    return this.authStep(this.authExchange.start(rest));
  }

  private authStep(step: AuthStep): Promise<void> | void {
    switch (step.kind) {
      case 'prompt':
        return this.send(REPLY.custom(334, '', step.challenge));
      case 'credentials':
        return this.checkPassword(step.username, step.password);
      case 'reply':
        return this.reject('AUTH', step.reply);
      case 'malformed':
        return this.authFailure('', 'malformed');
    }
  }

  private async checkPassword(username: string, password: string): Promise<void> {
    const verdict = this.ctx.guard.check(this.clientIp, username);
    if (!verdict.allowed) return this.blocked(verdict.scope, username);
    const decision = await this.ctx.policy.authenticate(username, password, this.client);
    if (this.closed) return;
    if (!decision.ok) return this.authFailure(username, decision.reply.text, decision.reply);
    this.ctx.guard.recordSuccess(this.clientIp, username);
    this.user = decision.value;
    this.ctx.logger.info({ event: 'auth', client_ip: this.clientIp, credential: username, tls: this.tlsInfo()?.version ?? null }, 'authenticated');
    this.send(REPLY.authOk);
  }

  private authFailure(username: string, why: string, reply: Reply = REPLY.authFailed): void {
    const { ipBlocked, usernameBlocked } = this.ctx.guard.recordFailure(this.clientIp, username);
    // A stable, flat line for fail2ban: failregex = "event":"auth_failed","client_ip":"<HOST>"
    this.ctx.logger.warn({ event: 'auth_failed', client_ip: this.clientIp, credential: username || null, reason: why }, 'authentication failed');
    this.stats.rejected++;
    if (ipBlocked || usernameBlocked) {
      this.ctx.logger.warn(
        { event: 'auth_blocked', client_ip: this.clientIp, credential: username || null, scope: ipBlocked ? 'ip' : 'username' },
        'too many authentication failures',
      );
    }
    this.send(reply);
    this.countError();
  }

  private blocked(scope: 'ip' | 'username', username: string): void {
    this.ctx.logger.warn({ event: 'auth_blocked', client_ip: this.clientIp, credential: username || null, scope }, 'authentication refused during cool-down');
    this.send(REPLY.authBlocked);
  }

  private async mail(rest: string): Promise<void> {
    if (!this.user) return this.reject('MAIL', REPLY.authRequired, rest);
    if (!this.heloName) return this.reject('MAIL', REPLY.sendHelloFirst, rest);
    if (this.transaction) return this.reject('MAIL', REPLY.nestedMail, rest);
    const parsed = parseMailFrom(rest, this.ctx.settings.maxMessageSize);
    if (!parsed.ok) return this.reject('MAIL', parsed.reply, rest);
    const decision = await this.ctx.policy.checkSender(this.user, parsed.value);
    if (this.closed) return;
    if (!decision.ok) return this.reject('MAIL', decision.reply, rest);
    this.transaction = { mail: parsed.value, recipients: [], ticket: { units: 0 } };
    this.send(REPLY.senderOk);
  }

  private async rcpt(rest: string): Promise<void> {
    if (!this.user) return this.reject('RCPT', REPLY.authRequired, rest);
    const transaction = this.transaction;
    if (!transaction) return this.reject('RCPT', REPLY.needMail, rest);
    const parsed = parseRcptTo(rest, transaction.mail.smtputf8);
    if (!parsed.ok) return this.reject('RCPT', parsed.reply, rest);
    if (transaction.recipients.length >= this.ctx.settings.maxRecipients) {
      return this.reject('RCPT', REPLY.tooManyRecipients(this.ctx.settings.maxRecipients), rest);
    }
    const decision = await this.ctx.policy.addRecipient(this.user, transaction.ticket, parsed.value);
    if (this.closed) return;
    if (!decision.ok) return this.reject('RCPT', decision.reply, rest);
    transaction.recipients.push(parsed.value);
    this.send(REPLY.recipientOk);
  }

  private startData(rest: string): void {
    if (!this.user) return this.reject('DATA', REPLY.authRequired);
    if (rest.trim()) return this.reject('DATA', REPLY.syntax('DATA'));
    if (!this.transaction) return this.reject('DATA', REPLY.needMail);
    if (this.transaction.recipients.length === 0) return this.reject('DATA', REPLY.needRecipient);
    const options: DataReaderOptions = {
      maxSize: this.ctx.settings.maxMessageSize,
      maxLineLength: this.ctx.settings.maxLineLength,
      normalizeBareNewlines: !this.ctx.settings.rejectBareNewlines,
    };
    this.data = new DataReader(options);
    this.send(REPLY.startData);
    const buffered = this.lines.takeRest();
    if (buffered.length) this.feedData(buffered);
  }

  private async finishData(): Promise<void> {
    const result = (this.data as DataReader).result();
    this.data = null;
    const transaction = this.transaction as Transaction;
    const user = this.user as AuthenticatedUser;
    const settings = this.ctx.settings;
    let reply: Reply | undefined;
    if (result.tooBig) reply = REPLY.messageTooBig(settings.maxMessageSize);
    else if (result.bareNewline && settings.rejectBareNewlines) reply = REPLY.bareNewline;
    else if (result.longLine) reply = REPLY.dataLineTooLong(settings.maxLineLength);
    if (reply) {
      await this.abandonTransaction();
      return this.reject('DATA', reply);
    }
    const accepted = await this.ctx.policy.accept(
      { user, client: this.client, mail: transaction.mail, recipients: transaction.recipients, ticket: transaction.ticket },
      result.body,
    );
    // The ticket is spent or released either way: the transaction is over.
    this.transaction = null;
    if (!accepted.ok) {
      await this.ctx.policy.abandon(transaction.ticket);
      return this.reject('DATA', accepted.reply);
    }
    this.stats.messages++;
    this.stats.recipients += transaction.recipients.length;
    if (this.stats.messageIds.length < 100) this.stats.messageIds.push(accepted.value);
    this.ctx.logger.info(
      {
        event: 'accepted',
        message_id: accepted.value,
        credential: user.username,
        client_ip: this.clientIp,
        from: transaction.mail.address,
        recipients: transaction.recipients.length,
        size: result.size,
      },
      'message queued',
    );
    this.send(REPLY.custom(250, '2.0.0', `Ok: queued as ${accepted.value}`));
  }

  private async reset(): Promise<void> {
    // The units are back before the reply, so the client's next RCPT sees them.
    await this.abandonTransaction();
    this.send(REPLY.resetOk);
  }

  private async abandonTransaction(): Promise<void> {
    const transaction = this.transaction;
    this.transaction = null;
    if (transaction && transaction.ticket.units > 0) await this.ctx.policy.abandon(transaction.ticket);
  }

  private reject(command: string, reply: Reply, argument?: string): void {
    this.stats.rejected++;
    this.ctx.logger.info(
      {
        event: 'rejected',
        command,
        argument: argument?.slice(0, 300),
        reply: `${reply.code} ${reply.status} ${reply.text}`.replace(/\s+/g, ' '),
        client_ip: this.clientIp,
        credential: this.user?.username ?? null,
      },
      'command rejected',
    );
    this.send(reply);
    if (reply.code >= 500) this.countError();
  }

  private countError(): void {
    if (++this.errors >= this.ctx.settings.maxErrors) {
      this.send(REPLY.tooManyErrors);
    }
  }

  private send(reply: Reply): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(formatReply(reply));
    if (reply.close) {
      this.socket.end();
      this.finish('server-closed');
    }
  }

  private finish(how: string): void {
    if (this.closed) return;
    this.closed = true;
    void this.abandonTransaction();
    this.inbox.length = 0;
    if (how !== 'server-closed') this.socket.destroy();
    else setTimeout(() => this.socket.destroy(), 1000).unref();
    this.ctx.logger.info(
      {
        event: 'session',
        client_ip: this.clientIp,
        credential: this.user?.username ?? null,
        tls: this.tlsInfo()?.version ?? null,
        messages: this.stats.messages,
        message_ids: this.stats.messageIds,
        recipients: this.stats.recipients,
        rejected: this.stats.rejected,
        ended: how,
        duration_ms: Date.now() - this.started,
      },
      'session ended',
    );
    this.ctx.onClosed(this);
  }
}

function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}
