import net from 'node:net';
import type tls from 'node:tls';
import type { ClientOrigin } from './client-address.js';
import type { ConnectionLimiter } from './connection-limits.js';
import { REPLY } from './replies.js';
import { SmtpSession, type SessionContext } from './session.js';

/** `inbound` is mail to the relay itself (complaints), without AUTH. */
export type ListenerKind = 'submission' | 'smtps' | 'smtp' | 'inbound';

export interface BoundListener {
  kind: ListenerKind | 'console';
  address: string;
  port: number;
  /** How clients must speak TLS on this port (HTTP: the console, plain HTTP for a reverse proxy to front). */
  tls: 'STARTTLS' | 'implicit TLS' | 'HTTP';
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
  /** stop() is under way: new connections are told 421 rather than refused, until the listeners close. */
  private stopping = false;

  constructor(
    private context: Omit<SessionContext, 'onClosed'>,
    private readonly endpoints: Partial<Record<ListenerKind, readonly string[]>>,
    private readonly limiter: ConnectionLimiter,
  ) {}

  /** A renewed certificate: new connections and new STARTTLS upgrades use it, sessions in progress keep theirs. */
  updateTls(context: tls.SecureContext): void {
    this.context = { ...this.context, secureContext: context };
  }

  async start(): Promise<BoundListener[]> {
    try {
      for (const kind of ['submission', 'smtps', 'smtp', 'inbound'] as const) {
        for (const endpoint of this.endpoints[kind] ?? []) await this.listen(kind, endpoint);
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
    // Every port accepts plain TCP; the session does the TLS handshake itself (at once on smtps, after STARTTLS
    // elsewhere), so both have the same deadline and the same handling of a client that vanishes mid-handshake.
    // Half-open: a client that sends its whole session and then shuts down its side still gets every reply.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket, implicit));
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

  private accept(socket: net.Socket, implicitTls: boolean): void {
    socket.on('error', () => undefined);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const origin = this.context.origins.direct(socket);
    if (origin) return this.open(socket, origin, implicitTls);
    // From a load balancer: the client is known once its PROXY header has come (or the connection is closed).
    // Until then the connection holds no slot of the limits, which count clients, not the balancer; the
    // header's deadline (listen.proxy_timeout) bounds how long it can wait.
    void this.context.origins.fromHeader(socket).then((proxied) => {
      if (proxied && !socket.destroyed) this.open(socket, proxied, implicitTls);
    });
  }

  /** Starts the session of a client whose address is known, within the connection limits of that address. */
  private open(socket: net.Socket, origin: ClientOrigin, implicitTls: boolean): void {
    const admission = this.stopping ? null : this.limiter.admit(origin.ip);
    const session = new SmtpSession(
      socket,
      {
        ...this.context,
        onClosed: (s) => {
          this.sessions.delete(s);
          if (admission?.admitted) admission.release();
        },
      },
      implicitTls,
      origin,
    );
    socket.once('close', () => {
      if (admission?.admitted) admission.release();
    });
    this.sessions.add(session);
    if (admission === null) {
      // A balancer's header that arrived while the relay stops: the client is told, as idle sessions are.
      void session.start(REPLY.shuttingDown);
      return;
    }
    if (!admission.admitted) {
      this.context.logger.warn(
        { event: 'connection_refused', client_ip: origin.ip, reason: admission.reason, ...(origin.via ? { via: origin.via } : {}) },
        'connection limit reached',
      );
    }
    void session.start(this.stopping ? REPLY.shuttingDown : admission.admitted ? undefined : admission.reply);
  }

  /**
   * Tells idle sessions 421 at once and the others when their transaction is over, waits (up to graceMs) for
   * those, then stops accepting. Meanwhile a new connection gets 421 too: a client (or a load balancer's check)
   * learns at once to go to another node, instead of finding nothing listening.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    for (const session of this.sessions) session.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // server.close() only calls back once every connection is gone, so sessions are ended first.
    const closed = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
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
