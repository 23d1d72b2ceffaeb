import type net from 'node:net';
import tls from 'node:tls';

export type TlsUpgrade = { ok: true; socket: tls.TLSSocket } | { ok: false; reason: string };

/**
 * The server side of a TLS handshake on an accepted connection, for STARTTLS and implicit TLS alike. It always
 * settles: on success, on a handshake error, when the client closes or resets at any point, or when the
 * handshake takes longer than `timeoutMs`. On failure both sockets are destroyed, so no half-open connection
 * is left holding a slot. `budgetMs` is what is left of `timeoutMs` when part of it was spent before (waiting for
 * the client's first byte).
 */
export function upgradeToTls(raw: net.Socket, context: tls.SecureContext, timeoutMs: number, budgetMs = timeoutMs): Promise<TlsUpgrade> {
  return new Promise((resolve) => {
    // The idle timer belongs to the session; during the handshake only the handshake deadline counts.
    raw.setTimeout(0);
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    let settled = false;
    const settle = (result: TlsUpgrade) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const socket of [raw, secure] as net.Socket[]) {
        socket.removeListener('end', closedEarly);
        socket.removeListener('close', closedEarly);
      }
      secure.removeListener('error', failed);
      if (!result.ok) {
        secure.on('error', () => undefined);
        secure.destroy();
        raw.destroy();
      }
      resolve(result);
    };
    const failed = (error: Error) => settle({ ok: false, reason: error.message });
    const closedEarly = () => settle({ ok: false, reason: 'the client closed the connection during the TLS handshake' });
    const timer = setTimeout(() => settle({ ok: false, reason: `no TLS handshake within ${timeoutMs} ms` }), budgetMs);
    secure.once('secure', () => settle({ ok: true, socket: secure }));
    secure.on('error', failed);
    for (const socket of [raw, secure] as net.Socket[]) {
      socket.once('end', closedEarly);
      socket.once('close', closedEarly);
    }
    if (raw.destroyed || raw.readableEnded) closedEarly();
  });
}
