import net from 'node:net';
import { freePort } from '../peers/ports.js';

/**
 * A TCP forwarder standing for the address clients use to reach "the primary" (a virtual IP, HAProxy in front of
 * PostgreSQL): `switchTo` points it at another server and cuts the connections it carries, as a moved virtual IP
 * does, so clients must reconnect to reach the new one.
 */
export interface TcpSwitch {
  address: string;
  port: number;
  switchTo(target: { address: string; port: number }): void;
  /**
   * A network split: bytes stop flowing on the connections it carries (which stay open, silent, as a dead
   * route leaves them), and new connections are accepted but never answered. `heal()` lets new connections
   * through again; the frozen ones stay frozen.
   */
  freeze(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpSwitch(address: string, initial: { address: string; port: number }): Promise<TcpSwitch> {
  let target = initial;
  let frozen = false;
  const pairs = new Set<[net.Socket, net.Socket]>();
  const silent = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    if (frozen) {
      silent.add(inbound);
      inbound.on('error', () => undefined).on('close', () => silent.delete(inbound));
      return;
    }
    const outbound = net.connect({ host: target.address, port: target.port });
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    pairs.add(pair);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
      pairs.delete(pair);
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  const port = await freePort(address);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, () => resolve()));
  return {
    address,
    port,
    switchTo(next) {
      target = next;
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    freeze() {
      frozen = true;
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
        silent.add(a);
        silent.add(b);
      }
      pairs.clear();
    },
    heal() {
      frozen = false;
    },
    async close() {
      for (const s of silent) s.destroy();
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}
