import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import nodemailer from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';

/** Real SMTP clients for tests: nodemailer (what applications use) and a raw line client for hostile input. */

export interface SubmitOptions {
  port: number;
  host?: string;
  implicitTls?: boolean;
  username: string;
  password: string;
  method?: 'PLAIN' | 'LOGIN';
  from?: string;
  to?: string[];
  subject?: string;
  text?: string;
  raw?: string;
}

export async function sendWithNodemailer(o: SubmitOptions): Promise<{ response: string; accepted: string[]; rejected: string[] }> {
  const transport = nodemailer.createTransport({
    host: o.host ?? '127.0.0.1',
    port: o.port,
    secure: o.implicitTls ?? false,
    requireTLS: !o.implicitTls,
    auth: { user: o.username, pass: o.password, method: o.method ?? 'PLAIN' },
    authMethod: o.method ?? 'PLAIN',
    tls: { rejectUnauthorized: false },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
  });
  try {
    const info = await transport.sendMail(
      o.raw !== undefined
        ? { envelope: { from: o.from ?? 'sender@customer.test', to: o.to ?? ['rcpt@example.test'] }, raw: o.raw }
        : {
            from: o.from ?? 'sender@customer.test',
            to: o.to ?? ['rcpt@example.test'],
            subject: o.subject ?? 'test',
            text: o.text ?? 'hello',
          },
    );
    return { response: info.response, accepted: info.accepted as string[], rejected: info.rejected as string[] };
  } finally {
    transport.close();
  }
}

/** An authenticated nodemailer connection kept open for several transactions (as load clients do). */
export async function openAuthenticated(o: { port: number; username: string; password: string; implicitTls?: boolean; host?: string }): Promise<SMTPConnection> {
  const connection = new SMTPConnection({
    host: o.host ?? '127.0.0.1',
    port: o.port,
    secure: o.implicitTls ?? false,
    requireTLS: !o.implicitTls,
    tls: { rejectUnauthorized: false },
  });
  await new Promise<void>((resolve, reject) => {
    connection.once('error', reject);
    connection.connect(() => {
      connection.login({ user: o.username, pass: o.password }, (error) => (error ? reject(error) : resolve()));
    });
  });
  connection.on('error', () => undefined);
  return connection;
}

export function sendOn(connection: SMTPConnection, from: string, to: string[], body: string): Promise<SMTPConnection.SentMessageInfo> {
  return new Promise((resolve, reject) => {
    // nodemailer does not call back a send whose connection dies mid-transaction; the 'end' event says it.
    const onEnd = () => reject(new Error('connection closed during the transaction'));
    connection.once('end', onEnd);
    connection.send({ from, to }, body, (error, info) => {
      connection.removeListener('end', onEnd);
      if (error) reject(error);
      else resolve(info);
    });
  });
}

/** A stream over `socket` whose first write carries `first` in front of it: one segment for both. */
function prependToFirstWrite(socket: net.Socket, first: Buffer): Duplex {
  let pending: Buffer | null = first;
  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      const data = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      socket.write(data, callback);
    },
    read() {
      socket.resume();
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('close', () => duplex.destroy());
  socket.on('error', () => undefined);
  return duplex;
}

/**
 * A byte-exact SMTP client: writes what the test says, reads replies as the server sends them. Hostile-input
 * tests need it because real client libraries refuse to send broken input.
 */
export class RawSmtpClient {
  private buffer = '';
  private waiters: (() => void)[] = [];
  closed = false;
  /** The server's first reply (220, or 421/554 when it refuses the connection). */
  greeting = '';

  private constructor(private socket: net.Socket) {
    this.listen(socket);
  }

  private listen(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /**
   * `first`: bytes written as soon as TCP is up, before TLS and before the greeting (a load balancer's PROXY
   * header, with pipelined commands if the test wants them in the same segment); with implicitTls and
   * `firstWithTls`, they go in the same write as the TLS ClientHello.
   */
  static async connect(
    port: number,
    options: { implicitTls?: boolean; localAddress?: string; host?: string; first?: Buffer | string; firstWithTls?: boolean } = {},
  ): Promise<RawSmtpClient> {
    let socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: options.host ?? '127.0.0.1', port, localAddress: options.localAddress }, () => resolve(s));
      s.once('error', reject);
    });
    const first = options.first === undefined ? undefined : Buffer.from(options.first);
    if (first && !(options.implicitTls && options.firstWithTls)) socket.write(first);
    if (options.implicitTls) {
      const plain = socket;
      const transport = first && options.firstWithTls ? prependToFirstWrite(plain, first) : plain;
      socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ socket: transport, rejectUnauthorized: false }, () => resolve(s));
        s.once('error', reject);
        // The server may close before the handshake (a refused PROXY header): that fails the connect.
        plain.once('close', () => reject(new Error('connection closed during the TLS handshake')));
      });
    }
    const client = new RawSmtpClient(socket);
    client.greeting = await client.reply();
    return client;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Reads one complete (possibly multi-line) reply. */
  async reply(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\n/.exec(this.buffer);
      if (match) {
        this.buffer = this.buffer.slice(match[0].length);
        return match[0].replace(/\r?\n$/, '');
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      if (Date.now() > deadline) throw new Error(`no reply within ${timeoutMs} ms; unread: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  async startTls(): Promise<void> {
    const reply = await this.command('STARTTLS');
    if (!reply.startsWith('220')) throw new Error(`STARTTLS refused: ${reply}`);
    this.socket.removeAllListeners('data');
    this.socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: this.socket, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.listen(this.socket);
  }

  /** EHLO and AUTH PLAIN in one go. */
  async login(username: string, password: string): Promise<string> {
    await this.command('EHLO client.test');
    return this.command(`AUTH PLAIN ${Buffer.from(`\0${username}\0${password}`).toString('base64')}`);
  }

  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }

  /** Half-close: nothing more will be sent, replies can still be read. */
  endWriting(): void {
    this.socket.end();
  }

  close(): void {
    this.socket.destroy();
  }
}
