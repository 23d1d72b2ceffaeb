import net from 'node:net';
import { assertLoopback } from './ports.js';

/**
 * A receiving SMTP server written on bare sockets, for the replies no well-behaved server library will send:
 * smtp-server replaces control characters in reply texts, so a reply with bare CRs in it (fields forged into a
 * notice) needs this one. It speaks just enough SMTP for a client to reach RCPT and DATA: no STARTTLS, no
 * pipelining, every command answered at once.
 */
export interface RawReceiverOptions {
  /** 127.0.0.x. */
  address: string;
  port: number;
  name?: string;
  /** The reply to every RCPT TO, sent byte for byte: it must end with CRLF, and may hold anything before. */
  rcptReply: string;
  /** The reply after the final dot, byte for byte (default `250 2.0.0 Ok: queued`). */
  dataReply?: string;
  /** Close the connection right after the reply to the final dot, as some servers do after a 554. */
  closeAfterData?: boolean;
  /** Answer EHLO with a multi-line reply that never ends (a line every 50 ms): a client must give up by itself. */
  endlessEhlo?: boolean;
}

export interface RawReceiverPeer {
  address: string;
  port: number;
  /** Every command line received, in order, over every connection. */
  readonly commands: string[];
  connectionCount(): number;
  stop(): Promise<void>;
}

export async function startRawReceiver(options: RawReceiverOptions): Promise<RawReceiverPeer> {
  assertLoopback(options.address);
  if (!options.rcptReply.endsWith('\r\n')) throw new Error('rcptReply must end with CRLF: it is sent byte for byte');
  const name = options.name ?? 'mx.raw.test';
  const commands: string[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;

  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    let inData = false;
    socket.write(`220 ${name} ESMTP raw test receiver\r\n`);
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          buffer = buffer.slice(end + 5);
          inData = false;
          socket.write(options.dataReply ?? '250 2.0.0 Ok: queued\r\n');
          if (options.closeAfterData) {
            socket.end();
            return;
          }
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        commands.push(line);
        const verb = line.split(' ')[0]?.toUpperCase() ?? '';
        if (verb === 'EHLO' && options.endlessEhlo) {
          const timer = setInterval(() => socket.write(`250-${name} still thinking\r\n`), 50);
          socket.on('close', () => clearInterval(timer));
          return;
        }
        if (verb === 'EHLO' || verb === 'HELO') socket.write(`250-${name}\r\n250 8BITMIME\r\n`);
        else if (verb === 'MAIL' || verb === 'RSET' || verb === 'NOOP') socket.write('250 2.0.0 Ok\r\n');
        else if (verb === 'RCPT') socket.write(options.rcptReply);
        else if (verb === 'DATA') {
          inData = true;
          socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else if (verb === 'QUIT') {
          socket.end('221 2.0.0 Bye\r\n');
          return;
        } else socket.write('502 5.5.1 Command not implemented\r\n');
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`raw receiver cannot listen on ${options.address}:${options.port}: ${err.message}`)));
    server.listen({ host: options.address, port: options.port, exclusive: true }, () => resolve());
  });
  const bound = server.address() as net.AddressInfo;

  return {
    address: options.address,
    port: bound.port,
    commands,
    connectionCount: () => connections,
    stop() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
