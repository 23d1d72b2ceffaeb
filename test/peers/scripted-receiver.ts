import net from 'node:net';
import { assertLoopback } from './ports.js';

/**
 * A receiving server on bare sockets whose every connection follows a script the test writes: for the
 * behaviours no server library will produce (a greeting after 4 s, a `250-` line every half second forever,
 * a reset in the middle of a TLS handshake, a reply of 100 KiB) and for watching the client's bytes as they
 * arrive (were MAIL, RCPT and DATA sent before the first reply?).
 */
export interface ScriptedConnection {
  /** 0 for the first connection to this receiver, 1 for the next... */
  index: number;
  socket: net.Socket;
  /** The next command line, without its CRLF; rejects once the client has closed and nothing is left. */
  command(): Promise<string>;
  /** Every segment as it arrived from the socket (what one read returned), in order. */
  readonly segments: Buffer[];
  /** Command lines already received and not yet taken by command(): what the client sent ahead of the replies. */
  pendingLines(): string[];
  /** The message after a 354, up to the final dot line (still dot-stuffed, CRLFs kept, the final ".\r\n" not). */
  data(): Promise<Buffer>;
  write(text: string): void;
  /** Resolves once some bytes are waiting (a TLS ClientHello has no line to wait for); rejects on close. */
  waitForBytes(): Promise<void>;
  /** Resolves when the client has closed the connection (or it was reset). */
  closed: Promise<void>;
  isClosed(): boolean;
  /** A TCP reset (RST), not a clean close. */
  reset(): void;
}

export interface ScriptedReceiverOptions {
  address: string;
  port: number;
  script(connection: ScriptedConnection): Promise<void>;
}

export interface ScriptedReceiverPeer {
  address: string;
  port: number;
  /** Every command line received, per connection, in order. */
  readonly commands: string[][];
  /** Errors thrown by scripts (a broken test script, not the client's fault). */
  readonly scriptErrors: Error[];
  connectionCount(): number;
  stop(): Promise<void>;
}

const CRLF_DOT_CRLF = Buffer.from('\r\n.\r\n');

export async function startScriptedReceiver(options: ScriptedReceiverOptions): Promise<ScriptedReceiverPeer> {
  assertLoopback(options.address);
  const commands: string[][] = [];
  const scriptErrors: Error[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;

  const server = net.createServer((socket) => {
    const index = connections++;
    const log: string[] = [];
    commands.push(log);
    sockets.add(socket);
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    let closed = false;
    let wake: (() => void) | null = null;
    const closedPromise = new Promise<void>((resolve) => {
      socket.on('close', () => {
        closed = true;
        sockets.delete(socket);
        wake?.();
        resolve();
      });
    });
    const segments: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      segments.push(chunk);
      buffer = Buffer.concat([buffer, chunk]);
      wake?.();
    });
    const waitMore = () => new Promise<void>((resolve) => (wake = resolve));
    const connection: ScriptedConnection = {
      index,
      socket,
      segments,
      async command() {
        for (;;) {
          const eol = buffer.indexOf('\r\n');
          if (eol >= 0) {
            const line = buffer.subarray(0, eol).toString('utf8');
            buffer = buffer.subarray(eol + 2);
            log.push(line);
            return line;
          }
          if (closed) throw new Error('client closed the connection');
          await waitMore();
        }
      },
      pendingLines() {
        const text = buffer.toString('utf8');
        const lines = text.split('\r\n');
        lines.pop();
        return lines;
      },
      async data() {
        // A message that is only the final dot has no preceding CRLF inside the data.
        for (;;) {
          if (buffer.subarray(0, 3).toString() === '.\r\n') {
            buffer = buffer.subarray(3);
            return Buffer.alloc(0);
          }
          const end = buffer.indexOf(CRLF_DOT_CRLF);
          if (end >= 0) {
            const message = Buffer.from(buffer.subarray(0, end + 2));
            buffer = buffer.subarray(end + 5);
            return message;
          }
          if (closed) throw new Error('client closed the connection during DATA');
          await waitMore();
        }
      },
      async waitForBytes() {
        for (;;) {
          if (buffer.length > 0) return;
          if (closed) throw new Error('client closed the connection');
          await waitMore();
        }
      },
      write(text) {
        if (!closed && !socket.destroyed) socket.write(text);
      },
      closed: closedPromise,
      isClosed: () => closed,
      reset() {
        socket.resetAndDestroy();
      },
    };
    options.script(connection).catch((error: unknown) => {
      // A script ends with the client's close more often than not; only other failures are worth keeping.
      if (!closed) scriptErrors.push(error instanceof Error ? error : new Error(String(error)));
      socket.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`scripted receiver cannot listen on ${options.address}:${options.port}: ${err.message}`)));
    server.listen({ host: options.address, port: options.port, exclusive: true }, () => resolve());
  });
  const bound = server.address() as net.AddressInfo;
  return {
    address: options.address,
    port: bound.port,
    commands,
    scriptErrors,
    connectionCount: () => connections,
    stop() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ServeOptions {
  /** EHLO keywords after the first line; default PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES. */
  extensions?: string[];
  /** The reply to a RCPT line, CRLF included; default 250. */
  rcptReply?(line: string): string;
  /** Each received message, with the MAIL and RCPT lines that came before it. */
  onMessage?(message: { mail: string; rcpts: string[]; data: Buffer }): void;
}

/** A plain, well-behaved conversation from EHLO on (the greeting is the script's), until QUIT or close. */
export async function serveMail(c: ScriptedConnection, options: ServeOptions = {}): Promise<void> {
  const extensions = options.extensions ?? ['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES'];
  let mail = '';
  let rcpts: string[] = [];
  for (;;) {
    let line: string;
    try {
      line = await c.command();
    } catch {
      return;
    }
    const verb = line.slice(0, 4).toUpperCase();
    if (verb === 'EHLO') c.write(['250-mx.scripted.test', ...extensions].map((l, i, all) => `${l.startsWith('250') ? '' : i === all.length - 1 ? '250 ' : '250-'}${l}`).join('\r\n') + '\r\n');
    else if (verb === 'HELO') c.write('250 mx.scripted.test\r\n');
    else if (verb === 'MAIL') {
      mail = line;
      rcpts = [];
      c.write('250 2.1.0 Ok\r\n');
    } else if (verb === 'RCPT') {
      rcpts.push(line);
      c.write(options.rcptReply?.(line) ?? '250 2.1.5 Ok\r\n');
    } else if (verb === 'DATA') {
      c.write('354 End data with <CR><LF>.<CR><LF>\r\n');
      const data = await c.data();
      options.onMessage?.({ mail, rcpts, data });
      c.write('250 2.0.0 Ok: queued\r\n');
    } else if (verb === 'RSET' || verb === 'NOOP') c.write('250 2.0.0 Ok\r\n');
    else if (verb === 'QUIT') {
      c.socket.end('221 2.0.0 Bye\r\n');
      return;
    } else c.write('502 5.5.1 Command not implemented\r\n');
  }
}
