import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import { selfSignedCertificate, type Certificate } from './certs.js';
import { assertLoopback } from './ports.js';

/** A reply; `message` may start with an enhanced status code (`'4.2.0 Try again later'`), which is sent as is. */
export interface SmtpReply {
  code: number;
  message: string;
}

/**
 * - `starttls`: STARTTLS advertised and working (self-signed certificate).
 * - `none`: STARTTLS neither advertised nor accepted.
 * - `broken`: STARTTLS advertised and answered 220, then the handshake fails (the server answers the
 *   ClientHello with a fatal handshake_failure alert and closes).
 */
export type TlsMode = 'starttls' | 'none' | 'broken';

export interface RefuseRule {
  /** Client IPs to refuse, e.g. `['127.0.0.5']`. */
  ips: string[];
  /** At the greeting (the 554 replaces the 220) or at MAIL FROM. */
  at: 'connect' | 'mail';
  /** Default `554 5.7.1 Service unavailable; client [IP] blocked using zen.test`. */
  reply?: SmtpReply;
}

export interface ReceiverBehaviour {
  /** Decided when a connection opens: a change applies to the next connection. */
  tls: TlsMode;
  refuse?: RefuseRule;
  /** Every MAIL FROM gets this reply. */
  mail?: SmtpReply;
  /** Every RCPT TO gets this reply. */
  rcpt?: SmtpReply;
  /**
   * A per-transaction recipient limit, like Postfix's smtpd_recipient_limit: RCPTs past `limit` in one
   * transaction get `reply` (Postfix: `452 4.5.3 Error: too many recipients`).
   */
  maxRecipients?: { limit: number; reply: SmtpReply };
  /** The end of DATA gets this reply, or `'disconnect'`: the connection is dropped after the final dot, unanswered. */
  data?: SmtpReply | 'disconnect';
  /** Wait this long before answering the final dot (a receiver scanning the message): tests client timeouts. */
  dataDelayMs?: number;
  /**
   * Failure injection by local part, like KumoMTA's sink: `tempfail...@` gets 451 4.2.0 and `permfail...@`
   * 550 5.1.1 at RCPT, `disconnect...@` is accepted and the connection dropped after DATA. Default true.
   */
  localPartFailures: boolean;
}

/** The default: accept everything, STARTTLS offered, failure injection by local part on. */
export const ACCEPT_ALL: Readonly<ReceiverBehaviour> = Object.freeze({ tls: 'starttls', localPartFailures: true });

export interface ReceivedAddress {
  /** `''` for the null sender. */
  address: string;
  /** MAIL/RCPT parameters, keys upper case (`SIZE`, `BODY`, `RET`, `ENVID`, `NOTIFY`, `ORCPT`). */
  args: Record<string, string | true>;
}

export interface ReceivedRecipient extends ReceivedAddress {
  /** DSN parameters of this recipient (RFC 3461), if the client sent any. */
  dsn?: { notify?: string[]; orcpt?: string };
}

export interface ReceivedMessage {
  time: Date;
  /** What the 250 reply said: `Ok: queued as QUEUEID`. */
  queueId: string;
  sessionId: string;
  /** Ordinal of the transaction within its connection (1, 2, ... when the client reuses the connection). */
  transaction: number;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  /** The HELO/EHLO argument. */
  helo: string;
  /** `EHLO` or `HELO`. */
  openingCommand: string;
  /** null for a cleartext session. */
  tls: { protocol: string; cipher: string } | null;
  mailFrom: ReceivedAddress;
  rcptTo: ReceivedRecipient[];
  /** RET and ENVID of MAIL FROM (RFC 3461). */
  dsn: { ret: string | null; envid: string | null };
  raw: Buffer;
}

/** A reply other than success, or a dropped connection, as seen by the client. */
export interface ReceiverRefusal {
  time: Date;
  sessionId: string;
  remoteAddress: string;
  stage: 'connect' | 'starttls' | 'mail' | 'rcpt' | 'data';
  /** The address of MAIL FROM or RCPT TO, when the refusal was for one. */
  address?: string;
  /** `'451 4.2.0 ...'`, or `'connection dropped'`, `'TLS handshake failed'`. */
  reply: string;
}

export interface ReceiverOptions {
  /** 127.0.0.x; give each receiver its own (127.0.0.21, 127.0.0.22, ...). */
  address: string;
  /** Default 0: a free port. As root, 25 works too. */
  port?: number;
  /** Host name in the greeting and in the certificate; default `mx.receiver.test`. */
  name?: string;
  behaviour?: Partial<ReceiverBehaviour>;
  /** Default: a fresh self-signed certificate for `name` and `address`. */
  certificate?: Certificate;
  /** SIZE limit, advertised and enforced with 552 at MAIL FROM (SIZE=) or at the end of DATA; default none. */
  size?: number;
  /** Advertise DSN (RFC 3461) and accept its parameters; default true. */
  dsn?: boolean;
}

export interface ReceiverPeer {
  address: string;
  port: number;
  name: string;
  certificate: Certificate;
  /** Accepted messages, in order. */
  readonly messages: ReceivedMessage[];
  readonly refusals: ReceiverRefusal[];
  /** Errors of the server (failed TLS handshakes, resets), which would otherwise crash the process. */
  readonly errors: Error[];
  /** Connections accepted so far. */
  connectionCount(): number;
  behaviour(): ReceiverBehaviour;
  /** Merges `patch` into the current behaviour (`{ rcpt: undefined }` removes a reply). */
  setBehaviour(patch: Partial<ReceiverBehaviour>): void;
  /** Resolves with all messages once there are at least `count`; rejects after `timeoutMs` (default 5000). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Forgets messages, refusals and errors. */
  clear(): void;
  /** clear(), and back to the behaviour the receiver started with: for tests that share a receiver. */
  reset(): void;
  stop(): Promise<void>;
}

type SmtpConnection = SMTPServer['connections'] extends Set<infer C> ? C : never;

/** TLS record: alert (21), TLS 1.2 (3,3), length 2, fatal (2), handshake_failure (40). */
const TLS_HANDSHAKE_FAILURE_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);

const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3}(\s|$)/;

function replyError(reply: SmtpReply): Error {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

function replyText(reply: SmtpReply): string {
  return `${reply.code} ${reply.message}`;
}

function localPart(address: string): string {
  const at = address.lastIndexOf('@');
  return (at < 0 ? address : address.slice(0, at)).toLowerCase();
}

function addressRecord(a: SMTPServerAddress): ReceivedAddress {
  return { address: a.address, args: a.args === false ? {} : { ...a.args } };
}

function recipientRecord(a: SMTPServerAddress): ReceivedRecipient {
  const record: ReceivedRecipient = addressRecord(a);
  const notify = a.dsn?.notify;
  const orcpt = a.dsn?.orcpt;
  if (notify !== undefined || orcpt !== undefined) {
    record.dsn = {};
    if (notify !== undefined) record.dsn.notify = [...notify];
    if (orcpt !== undefined) record.dsn.orcpt = orcpt;
  }
  return record;
}

/** Starts a receiving SMTP server on address:port that behaves as told and records what it gets. */
export async function startReceiver(options: ReceiverOptions): Promise<ReceiverPeer> {
  assertLoopback(options.address);
  const name = options.name ?? 'mx.receiver.test';
  const certificate = options.certificate ?? (await selfSignedCertificate(name, [options.address]));
  const initial: ReceiverBehaviour = { ...ACCEPT_ALL, ...options.behaviour };
  let current = initial;
  const messages: ReceivedMessage[] = [];
  const refusals: ReceiverRefusal[] = [];
  const errors: Error[] = [];
  const events = new EventEmitter();
  const connectionsById = new Map<string, SmtpConnection>();
  const tlsById = new Map<string, { protocol: string; cipher: string }>();
  let connectionCount = 0;

  const recordRefusal = (session: SMTPServerSession, stage: ReceiverRefusal['stage'], reply: string, address?: string): void => {
    const refusal: ReceiverRefusal = { time: new Date(), sessionId: session.id, remoteAddress: session.remoteAddress, stage, reply };
    if (address !== undefined) refusal.address = address;
    refusals.push(refusal);
  };

  const refusalReply = (session: SMTPServerSession, rule: RefuseRule): SmtpReply =>
    rule.reply ?? { code: 554, message: `5.7.1 Service unavailable; client [${session.remoteAddress}] blocked using zen.test` };

  /*
   * smtp-server prefixes every error reply with an enhanced status code of its own choosing (550 -> 5.1.1,
   * 451 -> 4.3.0, 554 -> 5.6.0). Tests need the exact code a real server would send, so a reply whose text
   * already starts with one is sent without the server's.
   */
  const keepOwnEnhancedCodes = (conn: SmtpConnection): void => {
    const send = conn.send.bind(conn);
    conn.send = (code, data, context) => send(code, data, typeof data === 'string' && ENHANCED_CODE.test(data) ? false : context);
  };

  const breakStartTls = (conn: SmtpConnection, session: SMTPServerSession): void => {
    conn.upgrade = () => {
      const socket = conn._socket;
      recordRefusal(session, 'starttls', 'TLS handshake failed');
      socket.unpipe(); // the ClientHello must not reach the SMTP command parser
      // Wait for the ClientHello: closing before it arrives could make the client see a reset instead of the alert.
      socket.once('data', () => socket.end(TLS_HANDSHAKE_FAILURE_ALERT));
      socket.resume(); // unpipe() paused it
      setTimeout(() => socket.destroy(), 5000).unref();
    };
  };

  const server = new SMTPServer({
    name,
    banner: 'Relais test receiver',
    key: certificate.key,
    cert: certificate.cert,
    logger: false,
    // No AUTH: a receiving MX. STARTTLS is switched per session in onConnect.
    disabledCommands: ['AUTH'],
    authOptional: true,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: options.dsn === false,
    // No PTR lookup of the client: it would ask the system resolver, outside the test world.
    disableReverseLookup: true,
    ...(options.size !== undefined ? { size: options.size } : {}),
    socketTimeout: 30_000,
    // stop() should not wait 30 s for a client that keeps its connection open for reuse.
    closeTimeout: 250,

    onConnect(session, callback) {
      connectionCount++;
      const conn = [...server.connections].find((c) => c.id === session.id);
      if (conn === undefined) return callback(new Error('receiver cannot find the connection of this session'));
      connectionsById.set(session.id, conn);
      keepOwnEnhancedCodes(conn);
      const behaviour = current;
      session.disabledCommands = behaviour.tls === 'none' ? ['AUTH', 'STARTTLS'] : ['AUTH'];
      if (behaviour.tls === 'broken') breakStartTls(conn, session);
      const rule = behaviour.refuse;
      if (rule?.at === 'connect' && rule.ips.includes(session.remoteAddress)) {
        const reply = refusalReply(session, rule);
        recordRefusal(session, 'connect', replyText(reply));
        return callback(replyError(reply));
      }
      callback();
    },

    onSecure(socket, session, callback) {
      if (socket instanceof tls.TLSSocket) {
        tlsById.set(session.id, { protocol: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher().name });
      }
      callback();
    },

    onMailFrom(address, session, callback) {
      const rule = current.refuse;
      if (rule?.at === 'mail' && rule.ips.includes(session.remoteAddress)) {
        const reply = refusalReply(session, rule);
        recordRefusal(session, 'mail', replyText(reply), address.address);
        return callback(replyError(reply));
      }
      if (current.mail !== undefined) {
        recordRefusal(session, 'mail', replyText(current.mail), address.address);
        return callback(replyError(current.mail));
      }
      callback();
    },

    onRcptTo(address, session, callback) {
      const local = localPart(address.address);
      let reply = current.rcpt;
      const cap = current.maxRecipients;
      if (reply === undefined && cap !== undefined && session.envelope.rcptTo.length >= cap.limit) reply = cap.reply;
      if (current.localPartFailures && local.startsWith('tempfail')) {
        reply = { code: 451, message: `4.2.0 <${address.address}>: temporary failure (tempfail requested)` };
      } else if (current.localPartFailures && local.startsWith('permfail')) {
        reply = { code: 550, message: `5.1.1 <${address.address}>: no such user (permfail requested)` };
      }
      if (reply !== undefined) {
        recordRefusal(session, 'rcpt', replyText(reply), address.address);
        return callback(replyError(reply));
      }
      callback();
    },

    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const behaviour = current;
        const envelope = session.envelope;
        const drop =
          behaviour.data === 'disconnect' ||
          (behaviour.localPartFailures && envelope.rcptTo.some((r) => localPart(r.address).startsWith('disconnect')));
        if (drop) {
          recordRefusal(session, 'data', 'connection dropped');
          const conn = connectionsById.get(session.id);
          // No reply: the client sees the connection close after its final dot.
          if (conn !== undefined) conn._socket.destroy();
          else callback(replyError({ code: 421, message: '4.3.0 receiver lost track of this connection' }));
          return;
        }
        if (stream.sizeExceeded) {
          const reply = { code: 552, message: `5.3.4 Message exceeds the size limit of ${options.size ?? 0} bytes` };
          recordRefusal(session, 'data', replyText(reply));
          return callback(replyError(reply));
        }
        if (behaviour.data !== undefined && behaviour.data !== 'disconnect') {
          recordRefusal(session, 'data', replyText(behaviour.data));
          return callback(replyError(behaviour.data));
        }
        const queueId = randomBytes(6).toString('hex').toUpperCase();
        const message: ReceivedMessage = {
          time: new Date(),
          queueId,
          sessionId: session.id,
          transaction: session.transaction,
          remoteAddress: session.remoteAddress,
          remotePort: session.remotePort,
          localAddress: session.localAddress,
          helo: session.hostNameAppearsAs || '',
          openingCommand: session.openingCommand || '',
          tls: session.secure ? (tlsById.get(session.id) ?? { protocol: 'unknown', cipher: 'unknown' }) : null,
          mailFrom: envelope.mailFrom === false ? { address: '', args: {} } : addressRecord(envelope.mailFrom),
          rcptTo: envelope.rcptTo.map(recipientRecord),
          dsn: { ret: envelope.dsn?.ret ?? null, envid: envelope.dsn?.envid ?? null },
          raw: Buffer.concat(chunks),
        };
        messages.push(message);
        events.emit('message');
        const answer = () => callback(null, `Ok: queued as ${queueId}`);
        if (behaviour.dataDelayMs) setTimeout(answer, behaviour.dataDelayMs);
        else answer();
      });
    },

    onClose(session) {
      connectionsById.delete(session.id);
      tlsById.delete(session.id);
    },
  });
  server.on('error', (err) => errors.push(err));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new Error(`receiver ${name} cannot listen on ${options.address}:${options.port ?? 0}: ${err.message}`));
    server.once('error', onError);
    server.listen(options.port ?? 0, options.address, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.server.address();
  if (bound === null || typeof bound === 'string') throw new Error(`receiver ${name} has no TCP address after listen`);
  const port = bound.port;

  const clear = (): void => {
    messages.length = 0;
    refusals.length = 0;
    errors.length = 0;
  };

  return {
    address: options.address,
    port,
    name,
    certificate,
    messages,
    refusals,
    errors,
    connectionCount: () => connectionCount,
    behaviour: () => ({ ...current }),
    setBehaviour(patch) {
      current = { ...current, ...patch };
    },
    waitFor(count, timeoutMs = 5000) {
      if (messages.length >= count) return Promise.resolve([...messages]);
      return new Promise((resolve, reject) => {
        const onMessage = (): void => {
          if (messages.length < count) return;
          clearTimeout(timer);
          events.off('message', onMessage);
          resolve([...messages]);
        };
        const timer = setTimeout(() => {
          events.off('message', onMessage);
          const seen = refusals.map((r) => `${r.stage} from ${r.remoteAddress}${r.address ? ` for ${r.address}` : ''}: ${r.reply}`);
          reject(
            new Error(
              `receiver ${name} at ${options.address}:${port} got ${messages.length} of ${count} messages within ${timeoutMs} ms ` +
                `(${connectionCount} connections; refusals: ${seen.length ? seen.join('; ') : 'none'}; errors: ${errors.map((e) => e.message).join('; ') || 'none'})`,
            ),
          );
        }, timeoutMs);
        events.on('message', onMessage);
      });
    },
    clear,
    reset() {
      clear();
      current = initial;
    },
    stop() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
