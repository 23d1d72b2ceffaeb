import net from 'node:net';
import tls from 'node:tls';
import { REPLY } from './replies.js';
import { SmtpSession, type SessionContext } from './session.js';

export type ListenerKind = 'submission' | 'smtps' | 'smtp';

export interface BoundListener {
  kind: ListenerKind;
  address: string;
  port: number;
  /** How clients must speak TLS on this port. */
  tls: 'STARTTLS' | 'implicit TLS';
}

export function parseEndpoint(endpoint: string): { address: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(endpoint);
  if (!match) throw new Error(`"${endpoint}" is not address:port`);
  return { address: (match[1] ?? match[2]) as string, port: Number(match[3]) };
}

/**
 * The listening sockets of the three submission services: `submission` (STARTTLS, normally 587), `smtps`
 * (implicit TLS, normally 465) and `smtp` (an extra plain port with STARTTLS, normally 2525, for networks that
 * block the other two).
 */
export class SubmissionListeners {
  private readonly servers: net.Server[] = [];
  private readonly sessions = new Set<SmtpSession>();
  /** Every open connection, including those whose session ended and which wait for the client to close. */
  private readonly sockets = new Set<net.Socket>();
  readonly bound: BoundListener[] = [];

  constructor(
    private context: Omit<SessionContext, 'onClosed'>,
    private readonly endpoints: Record<ListenerKind, readonly string[]>,
    private readonly maxConnections: number,
    private tlsOptions: tls.SecureContextOptions,
  ) {}

  /** A renewed certificate: new connections and new STARTTLS upgrades use it, sessions in progress keep theirs. */
  updateTls(context: tls.SecureContext, options: tls.SecureContextOptions): void {
    this.context = { ...this.context, secureContext: context };
    this.tlsOptions = options;
    for (const server of this.servers) if (server instanceof tls.Server) server.setSecureContext(options);
  }

  async start(): Promise<BoundListener[]> {
    try {
      for (const kind of ['submission', 'smtps', 'smtp'] as const) {
        for (const endpoint of this.endpoints[kind]) await this.listen(kind, endpoint);
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
    return this.bound;
  }

  private listen(kind: ListenerKind, endpoint: string): Promise<void> {
    const { address, port } = parseEndpoint(endpoint);
    const implicit = kind === 'smtps';
    const server = implicit
      ? tls.createServer({ ...this.tlsOptions, handshakeTimeout: 30_000 }, (socket) => this.accept(socket, true))
      : // Half-open: a client that sends its whole session and then shuts down its side still gets every reply.
        net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket, false));
    if (implicit) {
      server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => {
        this.context.logger.info({ event: 'tls_failed', client_ip: socket.remoteAddress ?? null, error: error.message }, 'TLS handshake failed');
        socket.destroy();
      });
    }
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(new Error(`cannot listen on ${endpoint} (listen.${kind}): ${error.code === 'EADDRINUSE' ? 'the address is already in use' : error.message}`));
      });
      server.listen({ host: address, port, backlog: 1024 }, () => {
        const bound = server.address() as net.AddressInfo;
        this.bound.push({ kind, address: bound.address, port: bound.port, tls: implicit ? 'implicit TLS' : 'STARTTLS' });
        server.on('error', (error) => this.context.logger.error({ event: 'listener_error', error: error.message }, 'listener error'));
        resolve();
      });
    });
  }

  private accept(socket: net.Socket, secure: boolean): void {
    socket.on('error', () => undefined);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const session = new SmtpSession(socket, { ...this.context, onClosed: (s) => this.sessions.delete(s) }, secure);
    if (this.sessions.size >= this.maxConnections) {
      session.refuse(REPLY.tooManyConnections);
      return;
    }
    this.sessions.add(session);
    session.start();
  }

  /** Stops accepting, tells idle sessions 421, and waits (up to graceMs) for those mid-transaction. */
  async stop(graceMs = 5000): Promise<void> {
    // server.close() only calls back once every connection is gone, so sessions are ended first.
    const closed = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const session of this.sessions) session.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const session of this.sessions) session.abort();
    // server.close() also waits for connections whose session is over but whose client has not closed yet.
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(closed);
    this.servers.length = 0;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }
}
