/**
 * Loopback helpers shared by the benchmark peers: every peer in the test world lives on 127.0.0.0/8
 * (see /work/shared/TEST-WORLD.md), so anything that would send traffic elsewhere is refused up front.
 */
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
