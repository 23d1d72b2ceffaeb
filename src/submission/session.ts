import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { AuthExchange, type AuthStep } from './auth-exchange.js';
import { isLoopback, type ClientOrigin } from './client-address.js';
import type { ClientOrigins, ProxyRefusal } from './client-origin.js';
import type { AuthGuard, AuthPermit } from './auth-guard.js';
import { DataReader, type DataReaderOptions } from './data-reader.js';
import { parseMailFrom, parseRcptTo, type MailArgs, type RcptArgs } from './envelope-parser.js';
import { LineReader } from './line-reader.js';
import type { AuthenticatedUser, ClientInfo, SubmissionPolicy, TransactionTicket } from './policy.js';
import { proxySignature } from './proxy-header.js';
import { sniffProxySignature } from './proxy-reader.js';
import { REPLY, formatReply, type Reply } from './replies.js';
import { upgradeToTls } from './tls-upgrade.js';

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
  /**
   * Commands that move no mail (NOOP, RSET, VRFY, HELP, EHLO, HELO) a session may send before each one counts as an
   * error, like Postfix's smtpd_junk_command_limit; the count starts again after each queued message.
   */
  maxJunkCommands: number;
  /** STARTTLS and implicit TLS alike: a client that does not finish its handshake in time is dropped. */
  tlsHandshakeTimeoutMs: number;
}

const JUNK_VERBS = new Set(['NOOP', 'RSET', 'VRFY', 'HELP', 'EHLO', 'HELO']);

/** Unread input past which the socket is paused until the session catches up. */
const INBOX_PAUSE_BYTES = 64 * 1024;
/** Unsent replies past which no more commands are read: a client that never reads gets nothing more. */
const OUTPUT_SOFT_LIMIT = 64 * 1024;
/** Unsent replies past which the client is dropped: a safety net, the soft limit normally stops it first. */
const OUTPUT_HARD_LIMIT = 1024 * 1024;
/** Commands answered in a row before other sessions get a turn on the event loop. */
const COMMANDS_PER_TURN = 64;

export interface SessionContext {
  settings: SessionSettings;
  policy: SubmissionPolicy;
  guard: AuthGuard;
  logger: Logger;
  /** Absent when the listener cannot offer STARTTLS. */
  secureContext?: tls.SecureContext;
  /**
   * Set on a listener without AUTH (listen.inbound, mail to the relay itself): every client is this identity from
   * its first command, AUTH is neither offered nor accepted, and the policy decides recipient by recipient.
   */
  anonymous?: AuthenticatedUser;
  /** Told of every queued message and every refusal (the metrics); absent on listen.inbound. */
  observer?: SubmissionObserver;
  /** Who each client is (its PROXY header, if it came through a load balancer), and where refused headers are told. */
  origins: ClientOrigins;
  onClosed(session: SmtpSession): void;
}

/**
 * What the session tells the rest of Relais as it answers: called on the hot path, so an observer only counts.
 * `command` is the SMTP verb refused ('CONNECT' for a connection turned away before its greeting).
 */
export interface SubmissionObserver {
  accepted(recipients: number): void;
  rejected(command: string, reply: Reply): void;
  proxyRefused(reason: ProxyRefusal): void;
}

interface Transaction {
  mail: MailArgs;
  recipients: RcptArgs[];
  /** mailboxKey() of each recipient, to drop a repeated RCPT. */
  mailboxes: Set<string>;
  ticket: TransactionTicket;
}

/**
 * The same mailbox twice in one transaction: the domain compared case-insensitively (DNS names are), the local
 * part exactly as given. RFC 5321 lets the receiving server treat `Bob` and `bob` as different mailboxes, and
 * merging them could drop a recipient, whereas keeping them costs at worst one duplicate; Postfix's cleanup
 * draws the line at the same place.
 */
function mailboxKey(rcpt: RcptArgs): string {
  return `${rcpt.address.slice(0, rcpt.address.lastIndexOf('@'))}@${rcpt.domain}`;
}

/**
 * One SMTP conversation on the submission ports. Commands are read and answered strictly in order (PIPELINING
 * just means several arrive at once); decisions about users, quota and storage are the policy's.
 *
 * A session never trusts the client to behave: it stops reading while its replies go unread, yields to other
 * sessions between bursts of commands, bounds the TLS handshake, and frees everything the moment the client
 * closes or resets, whatever state it is in.
 */
export class SmtpSession {
  /** The TCP connection; `socket` is the same one, or the TLS socket over it. */
  private readonly raw: net.Socket;
  private socket: net.Socket;
  private detach: () => void = () => undefined;
  private lines: LineReader;
  private data: DataReader | null = null;
  /** Set when the message being read has ended: the bytes after its terminator (the next pipelined commands). */
  private dataRest: Buffer | null = null;
  private readonly inbox: Buffer[] = [];
  private inboxBytes = 0;
  private pumping = false;
  private waitingForDrain = false;
  private handshaking = false;
  private closed = false;
  private peerEnded = false;
  private secure = false;
  private heloName = '';
  /** EHLO (not HELO) was used: ESMTP parameters are allowed. */
  private esmtp = false;
  private user: AuthenticatedUser | null = null;
  private transaction: Transaction | null = null;
  private readonly authExchange = new AuthExchange();
  /** The store or password work being awaited; a transaction is only released once it has settled. */
  private inFlight: Promise<unknown> = Promise.resolve();
  /** shutdown() was called while the session was busy: 421 when its transaction is over. */
  private stopping = false;
  private errors = 0;
  private junkCommands = 0;
  private readonly started = Date.now();
  private readonly stats = { messages: 0, recipients: 0, rejected: 0, messageIds: [] as string[] };
  private readonly clientIp: string;
  private readonly clientPort: number;
  /**
   * The first bytes, held until they show whether they start a PROXY header (refused from this client), when
   * origin.refuseProxyHeader; null once decided or when there is nothing to check. At most 11 bytes wait, and
   * only those matching a signature so far ("PROXY", or CR LF CR LF NUL...): no SMTP command starts that way.
   */
  private firstBytes: Buffer | null;

  constructor(
    raw: net.Socket,
    private readonly ctx: SessionContext,
    private readonly implicitTls: boolean,
    private readonly origin: ClientOrigin,
  ) {
    this.raw = raw;
    this.socket = raw;
    this.clientIp = origin.ip;
    this.clientPort = origin.port;
    this.firstBytes = origin.refuseProxyHeader && !implicitTls ? Buffer.alloc(0) : null;
    this.lines = new LineReader(ctx.settings.maxCommandLength);
    this.user = ctx.anonymous ?? null;
    raw.setNoDelay(true);
  }

  /** Greets the client, after the handshake on an implicit-TLS port; or refuses it with `refusal` and closes. */
  async start(refusal?: Reply): Promise<void> {
    if (this.implicitTls) {
      if (!(await this.implicitHandshake())) return;
    } else {
      this.attach(this.raw);
    }
    if (refusal) {
      this.ctx.observer?.rejected('CONNECT', refusal);
      this.send({ ...refusal, close: true });
    } else this.send(REPLY.custom(220, '', `${this.ctx.settings.hostname} ESMTP Relais`));
  }

  /**
   * The relay is stopping: an idle session gets 421 now; one busy with a command or a message gets it once its
   * transaction is over (after the 250 that ends it), so a rolling restart cuts no transaction in progress.
   */
  shutdown(): void {
    this.stopping = true;
    if (this.handshaking) this.abort();
    else if (!this.closed && !this.pumping && !this.data) this.send(REPLY.shuttingDown);
  }

  /** Stopping and between transactions: the 421 goes now, before any further command is read. */
  private closeIfStopping(): boolean {
    if (!this.stopping || this.closed || this.handshaking || this.data || this.transaction) return false;
    this.send(REPLY.shuttingDown);
    return true;
  }

  /** Drops the connection at once: shutdown grace is over. */
  abort(): void {
    this.finish('aborted');
  }

  /**
   * smtps: the client's first bytes must be its TLS handshake. When a PROXY header from it is refused, they are
   * looked at first (not taken), within the same handshake deadline.
   */
  private async implicitHandshake(): Promise<boolean> {
    if (!this.origin.refuseProxyHeader) return this.handshake(0);
    const timeoutMs = this.ctx.settings.tlsHandshakeTimeoutMs;
    const started = Date.now();
    this.handshaking = true;
    const first = await sniffProxySignature(this.raw, timeoutMs);
    this.handshaking = false;
    if (this.closed) return false;
    if (first === 'proxy') {
      this.refuseProxyHeader();
      return false;
    }
    if (first === 'timeout') return this.tlsFailed(`no TLS handshake within ${timeoutMs} ms`);
    return this.handshake(Date.now() - started);
  }

  /** `spentMs`: of the handshake deadline, already used waiting for the client's first byte. */
  private async handshake(spentMs: number): Promise<boolean> {
    const context = this.ctx.secureContext;
    if (!context) throw new Error('an implicit-TLS listener needs a TLS context');
    this.handshaking = true;
    const timeoutMs = this.ctx.settings.tlsHandshakeTimeoutMs;
    const result = await upgradeToTls(this.raw, context, timeoutMs, Math.max(1, timeoutMs - spentMs));
    this.handshaking = false;
    if (!result.ok) return this.tlsFailed(result.reason);
    if (this.closed) {
      result.socket.destroy();
      return false;
    }
    this.socket = result.socket;
    this.secure = true;
    this.attach(result.socket);
    return true;
  }

  private tlsFailed(reason: string): false {
    this.ctx.logger.info({ event: 'tls_failed', client_ip: this.clientIp, error: reason }, 'TLS handshake failed');
    this.finish('tls-failed');
    return false;
  }

  /**
   * A PROXY header from a client outside listen.proxy_from: it claims another address, which only a trusted
   * balancer may. On a plain port the SMTP session has begun (our greeting went first), so it ends the SMTP way,
   * 554 then close, which also tells the operator of a balancer missing from listen.proxy_from what is wrong.
   * Before an implicit-TLS handshake there is no SMTP to speak (the client expects TLS): the connection is closed.
   */
  private refuseProxyHeader(): void {
    this.ctx.origins.refused(this.clientIp, 'untrusted', 'a PROXY header from an address not in listen.proxy_from');
    if (this.secure || !this.implicitTls) this.send({ ...REPLY.proxyRefused, close: true });
    else this.finish('proxy-refused');
  }

  private attach(socket: net.Socket): void {
    const onData = (chunk: Buffer) => this.receive(chunk);
    const onEnd = () => this.peerEnd();
    const onDrain = () => this.drained();
    const onGone = () => this.finish('close');
    const onError = () => this.finish('error');
    socket.setTimeout(this.ctx.settings.idleTimeoutMs, () => this.send(REPLY.timeout));
    socket.on('data', onData);
    // With allowHalfOpen, the end of the client's side is only a FIN: the session decides when to close ours.
    socket.on('end', onEnd);
    socket.on('drain', onDrain);
    socket.on('close', onGone);
    socket.on('error', onError);
    // A socket whose first bytes were read for a PROXY header was left paused, with the rest put back.
    if (socket.isPaused()) socket.resume();
    this.detach = () => {
      socket.setTimeout(0);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('drain', onDrain);
      socket.removeListener('close', onGone);
      socket.removeListener('error', onError);
    };
    // A client may close right after the TLS handshake, before its end event reaches us.
    if (socket.readableEnded) setImmediate(onEnd);
  }

  private get client(): ClientInfo {
    return { ip: this.clientIp, port: this.clientPort, heloName: this.heloName, tls: this.tlsInfo() };
  }

  private tlsInfo(): ClientInfo['tls'] {
    if (!this.secure || !(this.socket instanceof tls.TLSSocket)) return null;
    return { version: this.socket.getProtocol() ?? 'TLS', cipher: this.socket.getCipher()?.standardName ?? 'unknown' };
  }

  private receive(data: Buffer): void {
    if (this.closed) return;
    let chunk = data;
    if (this.firstBytes) {
      chunk = this.firstBytes.length ? Buffer.concat([this.firstBytes, data]) : data;
      const signature = proxySignature(chunk);
      if (signature === 'undecided') {
        this.firstBytes = chunk;
        return;
      }
      this.firstBytes = null;
      if (signature !== 'none') return this.refuseProxyHeader();
    }
    this.inbox.push(chunk);
    this.inboxBytes += chunk.length;
    // A client that floods us is paused until we catch up; TCP then slows it down.
    if (this.inboxBytes > INBOX_PAUSE_BYTES) this.socket.pause();
    void this.pump();
  }

  private takeInbox(): Buffer | undefined {
    const chunk = this.inbox.shift();
    if (chunk) this.inboxBytes -= chunk.length;
    return chunk;
  }

  private peerEnd(): void {
    // The client has said all it will say; what it pipelined before is still answered, then we close.
    this.peerEnded = true;
    if (!this.pumping) this.closeIfPeerDone();
  }

  private closeIfPeerDone(): void {
    if (this.closed || !this.peerEnded || this.inbox.length > 0 || this.waitingForDrain) return;
    this.socket.end();
    this.finish('server-closed');
  }

  private drained(): void {
    if (!this.waitingForDrain) return;
    this.waitingForDrain = false;
    this.socket.resume();
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.closed || this.handshaking) return;
    this.pumping = true;
    let answered = 0;
    try {
      this.socket.cork();
      while (!this.closed) {
        if (this.socket.writableNeedDrain && this.socket.writableLength > OUTPUT_SOFT_LIMIT) {
          // The client is not reading its replies: read nothing more from it until it does.
          this.waitingForDrain = true;
          this.socket.pause();
          break;
        }
        if (this.closeIfStopping()) break;
        const step = this.step();
        if (step === 'idle') break;
        if (step === 'done') {
          if (++answered < COMMANDS_PER_TURN) continue;
          // A long pipelined burst must not starve every other session of the event loop.
          this.socket.uncork();
          await new Promise<void>((resolve) => setImmediate(resolve));
        } else {
          // Replies already written are flushed while we wait on the store or a password hash.
          this.socket.uncork();
          this.inFlight = step;
          await step;
        }
        answered = 0;
        if (!this.closed) this.socket.cork();
      }
    } catch (error) {
      // A defect in one session's handling must not take the process (and every other session) down.
      this.ctx.logger.error({ event: 'session_error', client_ip: this.clientIp, error: (error as Error).stack ?? String(error) }, 'session failed');
      this.send({ ...REPLY.localError, close: true });
      this.finish('error');
    } finally {
      this.pumping = false;
      if (!this.closed) {
        this.closeIfStopping();
        this.socket.uncork();
        if (!this.waitingForDrain && this.inboxBytes <= INBOX_PAUSE_BYTES && this.socket.isPaused()) this.socket.resume();
        this.closeIfPeerDone();
      }
    }
  }

  /**
   * Does the next piece of work: reads a chunk, answers a command, or finishes a message. Returns a promise
   * for work that waits (store, password hash, TLS handshake), 'idle' when it needs more bytes.
   */
  private step(): 'idle' | 'done' | Promise<void> {
    if (this.data) {
      if (this.dataRest === null) {
        const chunk = this.takeInbox();
        if (!chunk) return 'idle';
        this.feedData(chunk);
        return 'done';
      }
      // The message has ended; what followed its terminator are commands, whatever chunks they came in.
      this.lines.push(this.dataRest);
      this.dataRest = null;
      return this.finishData();
    }
    const input = this.lines.next();
    if (input === undefined) {
      const chunk = this.takeInbox();
      if (!chunk) return 'idle';
      this.lines.push(chunk);
      return 'done';
    }
    if (input.kind === 'too-long') {
      // An over-long response cancels an AUTH exchange: the next line must not be taken as the password.
      if (this.authExchange.active) this.authExchange.cancel();
      this.reject('(too long)', REPLY.commandTooLong(this.ctx.settings.maxCommandLength));
      return 'done';
    }
    return this.handle(input.line) ?? 'done';
  }

  private feedData(chunk: Buffer): void {
    const rest = (this.data as DataReader).push(chunk);
    if (rest !== undefined) this.dataRest = rest;
  }

  /** Returns a promise only for commands that must wait (AUTH, RCPT, MAIL); the rest answer at once. */
  private handle(line: string): Promise<void> | void {
    if (this.authExchange.active) return this.authStep(this.authExchange.next(line));
    const space = line.indexOf(' ');
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const rest = space < 0 ? '' : line.slice(space + 1);
    const work = this.dispatch(verb, rest);
    // A client pipelining endless NOOPs or EHLOs without reading costs CPU every other session needs: past the
    // limit each one, once answered, counts as an error, and max_errors ends the session.
    if (!JUNK_VERBS.has(verb) || ++this.junkCommands <= this.ctx.settings.maxJunkCommands) return work;
    if (work) return work.then(() => this.countError());
    this.countError();
  }

  private dispatch(verb: string, rest: string): Promise<void> | void {
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
        // Never the line itself: after a refused AUTH the client's next lines are its base64 username and password.
        return this.reject('(unrecognized)', REPLY.commandUnrecognized);
    }
  }

  private async hello(verb: string, name: string): Promise<void> {
    if (!name || /\s/.test(name) || name.length > 255) {
      return this.reject(verb, REPLY.syntax(`${verb} hostname`));
    }
    this.heloName = name;
    this.esmtp = verb === 'EHLO';
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

  private async startTls(rest: string): Promise<void> {
    if (rest.trim()) return this.reject('STARTTLS', REPLY.syntax('STARTTLS'));
    if (this.secure) return this.reject('STARTTLS', REPLY.alreadyTls);
    if (!this.ctx.secureContext) return this.reject('STARTTLS', REPLY.tlsNotAvailable);
    this.send(REPLY.readyForTls);
    // Anything pipelined after STARTTLS arrived in clear and must not be executed as if it came over TLS
    // (CVE-2011-0411 and its kin): drop it.
    this.lines.takeRest();
    this.inbox.length = 0;
    this.inboxBytes = 0;
    this.socket.uncork();
    this.detach();
    // RFC 3207 4.2: the server forgets everything the client said in clear: EHLO, AUTH, a transaction.
    this.heloName = '';
    this.esmtp = false;
    this.user = this.ctx.anonymous ?? null;
    await this.abandonTransaction();
    this.lines = new LineReader(this.ctx.settings.maxCommandLength);
    if (!(await this.handshake(0))) return;
    // Commands are now read from the TLS socket; the caller corks the new one.
  }

  private async auth(rest: string): Promise<void> {
    if (this.ctx.anonymous) return this.reject('AUTH', REPLY.authNotOffered);
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
        return this.authFailure('', 'malformed', REPLY.authFailed, this.ctx.guard.recordFailure(this.clientIp, ''));
    }
  }

  private async checkPassword(username: string, password: string): Promise<void> {
    const admission = await this.ctx.guard.admit(this.clientIp, username);
    if (!admission.allowed) return this.blocked(admission.scope, username);
    const permit: AuthPermit = admission.permit;
    if (this.closed) return permit.cancelled();
    let decision: Awaited<ReturnType<SubmissionPolicy['authenticate']>>;
    try {
      decision = await this.ctx.policy.authenticate(username, password, this.client);
    } catch (error) {
      permit.cancelled();
      throw error;
    }
    // The outcome counts even if the client has left: the guess was made.
    if (decision.ok) permit.succeeded();
    else if (decision.reply.code < 500) {
      // A temporary failure (the store is down) says nothing about the password.
      permit.cancelled();
      return this.reject('AUTH', decision.reply);
    }
    if (this.closed) {
      if (!decision.ok) permit.failed();
      return;
    }
    if (!decision.ok) return this.authFailure(username, decision.reply.text, decision.reply, permit.failed());
    this.user = decision.value;
    this.ctx.logger.info({ event: 'auth', client_ip: this.clientIp, credential: username, tls: this.tlsInfo()?.version ?? null }, 'authenticated');
    this.send(REPLY.authOk);
  }

  private authFailure(username: string, why: string, reply: Reply, outcome: { ipBlocked: boolean; usernameBlocked: boolean }): void {
    // A stable, flat line for fail2ban: failregex = "event":"auth_failed","client_ip":"<HOST>"
    this.ctx.logger.warn({ event: 'auth_failed', client_ip: this.clientIp, credential: username || null, reason: why }, 'authentication failed');
    this.stats.rejected++;
    this.ctx.observer?.rejected('AUTH', reply);
    if (outcome.ipBlocked || outcome.usernameBlocked) {
      this.ctx.logger.warn(
        { event: 'auth_blocked', client_ip: this.clientIp, credential: username || null, scope: outcome.ipBlocked ? 'ip' : 'username' },
        'too many authentication failures',
      );
    }
    this.send(reply);
    this.countError();
  }

  private blocked(scope: 'ip' | 'username', username: string): void {
    this.ctx.logger.warn({ event: 'auth_blocked', client_ip: this.clientIp, credential: username || null, scope }, 'authentication refused during cool-down');
    const reply = scope === 'ip' ? REPLY.authBlocked : REPLY.authBlockedUsername;
    this.ctx.observer?.rejected('AUTH', reply);
    this.send(reply);
  }

  private async mail(rest: string): Promise<void> {
    if (!this.user) return this.reject('MAIL', REPLY.authRequired, rest);
    if (!this.heloName) return this.reject('MAIL', REPLY.sendHelloFirst, rest);
    if (this.transaction) return this.reject('MAIL', REPLY.nestedMail, rest);
    const parsed = parseMailFrom(rest, this.ctx.settings.maxMessageSize);
    if (!parsed.ok) return this.reject('MAIL', parsed.reply, rest);
    if (!this.esmtp && parsed.value.parameters.length) return this.reject('MAIL', REPLY.parametersNeedEhlo, rest);
    const decision = await this.ctx.policy.checkSender(this.user, parsed.value);
    if (this.closed) return;
    if (!decision.ok) return this.reject('MAIL', decision.reply, rest);
    this.transaction = { mail: parsed.value, recipients: [], mailboxes: new Set(), ticket: { units: 0 } };
    this.send(REPLY.senderOk);
  }

  private async rcpt(rest: string): Promise<void> {
    if (!this.user) return this.reject('RCPT', REPLY.authRequired, rest);
    const transaction = this.transaction;
    if (!transaction) return this.reject('RCPT', REPLY.needMail, rest);
    const parsed = parseRcptTo(rest, transaction.mail.smtputf8);
    if (!parsed.ok) return this.reject('RCPT', parsed.reply, rest);
    if (!this.esmtp && parsed.value.parameters.length) return this.reject('RCPT', REPLY.parametersNeedEhlo, rest);
    // A repeated recipient is queued once (two rows would be two deliveries) and counted against the quota once;
    // it still gets its 250, as from Postfix, so the client sees nothing wrong. The first RCPT's DSN parameters stand.
    if (transaction.mailboxes.has(mailboxKey(parsed.value))) return this.send(REPLY.recipientOk);
    if (transaction.recipients.length >= this.ctx.settings.maxRecipients) {
      return this.reject('RCPT', REPLY.tooManyRecipients(this.ctx.settings.maxRecipients), rest);
    }
    const decision = await this.ctx.policy.addRecipient(this.user, transaction.ticket, parsed.value);
    // Closed meanwhile: a unit just reserved is released with the transaction, once this has settled.
    if (this.closed) return;
    if (!decision.ok) return this.reject('RCPT', decision.reply, rest);
    transaction.recipients.push(parsed.value);
    transaction.mailboxes.add(mailboxKey(parsed.value));
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
    else if (result.nul) reply = REPLY.nulInData;
    else if (result.bareNewline && settings.rejectBareNewlines) reply = REPLY.bareNewline;
    else if (result.longLine) reply = REPLY.dataLineTooLong(settings.maxLineLength);
    if (reply) {
      await this.abandonTransaction();
      return this.reject('DATA', reply);
    }
    // The transaction stays the session's while the commit runs: if the client leaves now, its quota units are
    // released only after the commit's outcome is known (a commit in progress may be spending them).
    const accepted = await this.ctx.policy.accept(
      { user, client: this.client, mail: transaction.mail, recipients: transaction.recipients, ticket: transaction.ticket },
      result.body,
    );
    if (accepted.ok) this.transaction = null;
    else await this.abandonTransaction();
    if (!accepted.ok) return this.reject('DATA', accepted.reply);
    this.stats.messages++;
    this.stats.recipients += transaction.recipients.length;
    this.ctx.observer?.accepted(transaction.recipients.length);
    const { queueId, size } = accepted.value;
    if (this.stats.messageIds.length < 100) this.stats.messageIds.push(queueId);
    this.ctx.logger.info(
      {
        event: 'accepted',
        message_id: queueId,
        credential: user.username,
        client_ip: this.clientIp,
        from: transaction.mail.address,
        recipients: transaction.recipients.length,
        // The size everywhere (queue list, queue show): the message as stored and delivered, trace headers included.
        size,
      },
      'message queued',
    );
    this.junkCommands = 0;
    this.send(REPLY.custom(250, '2.0.0', `Ok: queued as ${queueId}`));
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
    this.ctx.observer?.rejected(command, reply);
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
    if (this.closed || this.handshaking || this.socket.destroyed) return;
    if (this.socket.writableLength > OUTPUT_HARD_LIMIT) {
      this.ctx.logger.warn({ event: 'unread_replies', client_ip: this.clientIp, bytes: this.socket.writableLength }, 'client does not read its replies; dropped');
      this.finish('unread-replies');
      return;
    }
    this.socket.write(formatReply(reply));
    if (reply.close) {
      this.socket.end();
      this.finish('server-closed');
    }
  }

  private finish(how: string): void {
    if (this.closed) return;
    this.closed = true;
    this.inbox.length = 0;
    this.inboxBytes = 0;
    // Only once the store work in progress has settled: a commit still running may be spending the units.
    const release = () => this.abandonTransaction();
    void this.inFlight.then(release, release);
    const socket = this.socket;
    const raw = this.raw;
    if (how === 'server-closed') {
      // Our last reply is on its way; a client that never reads it does not keep the socket.
      setTimeout(() => {
        socket.destroy();
        raw.destroy();
      }, 1000).unref();
    } else {
      socket.destroy();
      raw.destroy();
    }
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
        // The load balancer the client came through (listen.proxy_from); client_ip is the client behind it.
        ...(this.origin.via ? { via: this.origin.via } : {}),
      },
      'session ended',
    );
    this.ctx.onClosed(this);
  }
}
