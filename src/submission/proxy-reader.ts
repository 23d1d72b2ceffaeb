import type net from 'node:net';
import { MAX_HEADER_LENGTH, parseProxyHeader, proxySignature, type ProxyHeader } from './proxy-header.js';

/** Why a connection from a load balancer was closed before its session: the `reason` of proxy_refused. */
export type HeaderFailure = 'missing' | 'malformed' | 'too_long' | 'timeout' | 'closed';

export type HeaderRead = { ok: true; header: ProxyHeader } | { ok: false; reason: HeaderFailure; detail: string };

/**
 * Reads the PROXY header a load balancer sends first. The bytes after it (the client's TLS handshake or its
 * pipelined commands, often in the same segment) are put back into the socket, so whoever reads next gets the
 * client's stream intact. Always settles: on the header, on bytes that are not one, when the peer closes, or
 * after `timeoutMs`.
 */
export function readProxyHeader(socket: net.Socket, timeoutMs: number): Promise<HeaderRead> {
  return readStart<HeaderRead>(
    socket,
    timeoutMs,
    (bytes) => {
      const parsed = parseProxyHeader(bytes);
      switch (parsed.kind) {
        case 'incomplete':
          // The parser refuses a header before it outgrows this; a guard against holding bytes without end.
          return bytes.length > MAX_HEADER_LENGTH ? { verdict: { ok: false, reason: 'too_long', detail: 'header never ended' }, consumed: 0 } : undefined;
        case 'header':
          return { verdict: { ok: true, header: parsed.header }, consumed: parsed.header.length };
        case 'not-proxy':
          return { verdict: { ok: false, reason: 'missing', detail: `the connection started with ${describeStart(bytes)} instead of a PROXY header` }, consumed: 0 };
        case 'invalid':
          return { verdict: { ok: false, reason: parsed.tooLong ? 'too_long' : 'malformed', detail: parsed.reason }, consumed: 0 };
      }
    },
    (why) => ({
      ok: false,
      reason: why,
      detail: why === 'timeout' ? `no complete PROXY header within ${timeoutMs} ms` : 'the peer closed the connection before its PROXY header ended',
    }),
  );
}

/**
 * Whether a connection starts with a PROXY signature, without taking any byte from it: for implicit TLS, where
 * the first bytes must be the client's TLS handshake and a header from outside listen.proxy_from is refused.
 */
export function sniffProxySignature(socket: net.Socket, timeoutMs: number): Promise<'proxy' | 'none' | 'closed' | 'timeout'> {
  return readStart<'proxy' | 'none' | 'closed' | 'timeout'>(
    socket,
    timeoutMs,
    (bytes) => {
      const signature = proxySignature(bytes);
      if (signature === 'undecided') return undefined;
      return { verdict: signature === 'none' ? 'none' : 'proxy', consumed: 0 };
    },
    (why) => why,
  );
}

/**
 * Reads the start of a connection until `decide` has a verdict, then leaves the socket paused with the bytes
 * past `consumed` unshifted, for the next reader (a 'data' listener must resume it; a TLSSocket reads them first).
 */
function readStart<T>(
  socket: net.Socket,
  timeoutMs: number,
  decide: (bytes: Buffer) => { verdict: T; consumed: number } | undefined,
  ended: (why: 'closed' | 'timeout') => T,
): Promise<T> {
  return new Promise((resolve) => {
    let received: Buffer = Buffer.alloc(0);
    let settled = false;
    const settle = (verdict: T, consumed: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.pause();
      socket.removeListener('data', onData);
      socket.removeListener('end', onGone);
      socket.removeListener('close', onGone);
      socket.removeListener('error', onGone);
      if (consumed !== null && consumed < received.length && !socket.destroyed) socket.unshift(received.subarray(consumed));
      resolve(verdict);
    };
    const onData = (chunk: Buffer) => {
      received = received.length ? Buffer.concat([received, chunk]) : chunk;
      const decision = decide(received);
      if (decision) settle(decision.verdict, decision.consumed);
    };
    const onGone = () => settle(ended('closed'), null);
    const timer = setTimeout(() => settle(ended('timeout'), null), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onGone);
    socket.once('close', onGone);
    socket.once('error', onGone);
    if (socket.destroyed || socket.readableEnded) onGone();
  });
}

/**
 * For the log: the first bytes the peer sent (few, in case they are a client's pipelined AUTH), in hex and as
 * text, enough to tell a TLS handshake (16 03 ...) or an SMTP command from a balancer that sends no header.
 */
function describeStart(bytes: Buffer): string {
  const start = bytes.subarray(0, 8);
  return `${start.toString('hex').replace(/(..)(?!$)/g, '$1 ')} ("${start.toString('latin1').replace(/[^\x20-\x7e]/g, '.')}")`;
}
