import type net from 'node:net';
import type { Logger } from 'pino';
import { NetworkList, socketPeer, type ClientOrigin } from './client-address.js';
import { readProxyHeader, type HeaderFailure } from './proxy-reader.js';

export interface ProxyProtocolOptions {
  /** listen.proxy_from: the load balancers whose connections start with a PROXY header. Empty: none do. */
  from: readonly string[];
  /** listen.proxy_timeout: how long a balancer's connection may take to send its header. */
  timeoutMs: number;
}

/** Why a PROXY header was refused: the `reason` of the proxy_refused log line and metric. */
export type ProxyRefusal = 'untrusted' | Exclude<HeaderFailure, 'closed'>;
export const PROXY_REFUSALS: readonly ProxyRefusal[] = ['untrusted', 'missing', 'malformed', 'too_long', 'timeout'];

export interface ProxyRefusalObserver {
  proxyRefused(reason: ProxyRefusal): void;
}

/**
 * Decides who the client of each new submission connection is: its TCP peer, or, for a connection from a load
 * balancer in listen.proxy_from, the client its PROXY header names (HAProxy's PROXY protocol, v1 or v2).
 *
 * A balancer's connection must start with a valid header: one that is missing, malformed, too long or late
 * closes the connection (the spec: never guess whether a header is there). From anyone else a header is a
 * client lying about its address; the session refuses it (it sees the first bytes, which for plain SMTP come
 * after our greeting).
 */
export class ClientOrigins {
  private readonly balancers: NetworkList;

  constructor(
    private readonly options: ProxyProtocolOptions,
    private readonly logger: Logger,
    private readonly observer?: ProxyRefusalObserver,
  ) {
    this.balancers = new NetworkList(options.from);
  }

  /** A client connected directly: its origin now. Null for a balancer's connection: read its header (fromHeader). */
  direct(socket: net.Socket): ClientOrigin | null {
    const peer = socketPeer(socket);
    if (this.balancers.has(peer.ip)) return null;
    return { ...peer, via: null, refuseProxyHeader: !this.balancers.empty };
  }

  /**
   * The client a balancer's connection carries, once its PROXY header has arrived; the bytes after the header stay
   * in the socket. Null when there was no valid header: the connection is then closed and the reason logged.
   */
  async fromHeader(socket: net.Socket): Promise<ClientOrigin | null> {
    const peer = socketPeer(socket);
    const read = await readProxyHeader(socket, this.options.timeoutMs);
    if (!read.ok) {
      socket.destroy();
      if (read.reason === 'closed') {
        // A balancer's plain TCP health check connects and closes: normal, and frequent.
        this.logger.debug({ event: 'proxy_closed', client_ip: peer.ip, detail: read.detail }, 'load balancer closed before its PROXY header');
      } else {
        this.refused(peer.ip, read.reason, read.detail);
      }
      return null;
    }
    const source = read.header.source;
    // v1 UNKNOWN, v2 LOCAL (the balancer's own health check) or an address of no IP family: the spec says to use
    // the connection's own address; the check then runs an ordinary session as the balancer.
    if (!source) return { ...peer, via: null, refuseProxyHeader: false };
    return { ip: source.ip, port: source.port, via: peer.ip, refuseProxyHeader: false };
  }

  /** Logs and counts a refused header; `ip` is the TCP peer that sent it. */
  refused(ip: string, reason: ProxyRefusal, detail: string): void {
    this.observer?.proxyRefused(reason);
    this.logger.warn({ event: 'proxy_refused', client_ip: ip, reason, detail }, 'PROXY protocol header refused; connection closed');
  }
}
