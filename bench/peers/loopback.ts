/**
 * Loopback helpers shared by the benchmark peers: every peer in the test world lives on 127.0.0.0/8
 * (see /work/shared/TEST-WORLD.md), so anything that would send traffic elsewhere is refused up front.
 */
import fs from 'node:fs';
import net from 'node:net';

/** True for a dotted-quad IPv4 address inside 127.0.0.0/8. Hostnames are deliberately not accepted. */
export function isLoopbackIPv4(host: string): boolean {
  if (net.isIPv4(host) === false) return false;
  return host.split('.')[0] === '127';
}

/**
 * Throws unless `host` is an IPv4 literal in 127.0.0.0/8. A hostname could resolve anywhere, and the
 * benchmark must never send mail off this machine.
 */
export function assertLoopbackIPv4(host: string, what: string): void {
  if (!isLoopbackIPv4(host)) {
    throw new Error(
      `${what}: "${host}" is not an IPv4 address in 127.0.0.0/8. Benchmark peers only talk to loopback; ` +
        'pass an address such as 127.0.0.1.',
    );
  }
}

/** Throws unless `port` is an integer TCP port (1-65535). */
export function assertPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${what}: port ${String(port)} is not an integer between 1 and 65535.`);
  }
}

/**
 * Asks the kernel for a currently free TCP port on `host` by binding port 0 and closing again.
 * There is a small race (someone else may take it before the peer binds); peers fail loudly on bind
 * errors, so a caller can simply retry.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  assertLoopbackIPv4(host, 'freePort');
  return await new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected listen address ${String(address)} on ${host}`));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Throws if something already listens on host:port. Needed because smtp-sink and Postfix set
 * SO_REUSEPORT: their bind succeeds on a port another smtp-sink/Postfix of the same user already
 * holds, and the kernel then splits connections between the two. Our test bind sets no SO_REUSEPORT,
 * so any existing listener makes it fail.
 */
export async function assertPortFree(host: string, port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new Error(
          `${what}: ${host}:${port} is not free (${error.code ?? error.message}); stop whatever listens there ` +
            '(ss -ltnp) or pick another port, e.g. with freePort().',
        ),
      );
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

/** /proc/net/tcp address "0100007F:1F90" for an IPv4 address and port (address bytes in host order, little-endian here). */
function procNetAddress(host: string, port: number): string {
  const ip = host
    .split('.')
    .map((octet) => Number(octet).toString(16).padStart(2, '0').toUpperCase())
    .reverse()
    .join('');
  return `${ip}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
}

/**
 * Number of IPv4 TCP sockets listening on host:port or 0.0.0.0:port. More than one after a peer started
 * means it shares the port through SO_REUSEPORT with someone else (see assertPortFree).
 */
export function listenerCount(host: string, port: number): number {
  const wanted = new Set([procNetAddress(host, port), procNetAddress('0.0.0.0', port)]);
  const LISTEN = '0A';
  return fs
    .readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[3] === LISTEN && wanted.has(fields[1] ?? '')).length;
}

/** Throws if host:port has more than one listener (two SO_REUSEPORT servers splitting the traffic). */
export function assertSingleListener(host: string, port: number, what: string): void {
  const count = listenerCount(host, port);
  if (count > 1) {
    throw new Error(
      `${what}: ${count} sockets listen on ${host}:${port}; another SO_REUSEPORT server (smtp-sink, Postfix) ` +
        'shares the port and would take part of the traffic. Stop it (ss -ltnp) or use another port.',
    );
  }
}

function tryConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface WaitForPortOptions {
  timeoutMs: number;
  /** Returns a reason string once the process that should listen has died, so waiting stops early. */
  failed?: () => string | undefined;
}

/**
 * Resolves once `host:port` accepts a TCP connection. The probe connection is closed immediately;
 * SMTP servers see it as a session that ended before any command (smtp-sink counts it in `sess=`,
 * never in `mesg=`).
 */
export async function waitForPort(host: string, port: number, options: WaitForPortOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const reason = options.failed?.();
    if (reason !== undefined) throw new Error(`${host}:${port} never accepted connections: ${reason}`);
    if (await tryConnect(host, port, 500)) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `${host}:${port} did not accept connections within ${options.timeoutMs} ms; ` +
          'check that the peer started (its stderr / log) and that nothing else holds the port.',
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
