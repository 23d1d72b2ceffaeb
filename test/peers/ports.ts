import dgram from 'node:dgram';
import net from 'node:net';

/**
 * Peers only ever listen on and talk to 127.0.0.0/8: every address in it is local on Linux, so a test can
 * give each peer its own address (127.0.0.21, 127.0.0.22, ...) without any setup, and nothing leaves the host.
 */
export function assertLoopback(address: string, what = 'address'): void {
  const octets = address.split('.');
  const valid = octets.length === 4 && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
  if (!valid || octets[0] !== '127') {
    throw new Error(`${what} ${JSON.stringify(address)} is not an IPv4 address in 127.0.0.0/8; test peers only use loopback`);
  }
}

function listenTcp(address: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => resolve(server));
  });
}

function closeTcp(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function udpPortFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/**
 * A port that was free on `address` a moment ago (bind port 0, read it, close). Another process can take it
 * before the caller binds it, so peers that start a daemon retry with a new port when the bind fails.
 * `udp: true` also checks the same UDP port, which a DNS server needs.
 */
export async function freePort(address = '127.0.0.1', options: { udp?: boolean } = {}): Promise<number> {
  assertLoopback(address);
  for (let attempt = 0; attempt < 50; attempt++) {
    const server = await listenTcp(address, 0);
    const bound = server.address();
    await closeTcp(server);
    if (bound === null || typeof bound === 'string') throw new Error(`could not read the port bound on ${address}`);
    if (!options.udp || (await udpPortFree(address, bound.port))) return bound.port;
  }
  throw new Error(`found no port free for both TCP and UDP on ${address} in 50 attempts`);
}

/**
 * Starts a daemon on `port`, or on a free port when none is given (0 or absent). A free port can be taken between
 * freePort() and the daemon's bind, so a start that fails with `busy` is tried again on another port.
 */
export async function startOnFreePort<T>(address: string, port: number | undefined, busy: RegExp, start: (port: number) => Promise<T>): Promise<T> {
  if (port !== undefined && port !== 0) return start(port);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await start(await freePort(address, { udp: true }));
    } catch (err) {
      lastError = err;
      if (!busy.test((err as Error).message)) throw err;
    }
  }
  throw lastError;
}
