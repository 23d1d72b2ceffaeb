import net from 'node:net';
import tls from 'node:tls';

/**
 * A lean load client for the submission benchmark: STARTTLS, AUTH PLAIN, then messages over the same connection
 * with MAIL/RCPT/DATA pipelined (RFC 2920), as a busy application would. Lean so that the load generator does not
 * eat the CPU the relay is measured on.
 */
export interface LoadSession {
  send(from: string, to: string, body: Buffer): Promise<string>;
  close(): void;
}

class ReplyReader {
  private buffer = '';
  private waiting: { count: number; resolve: (replies: string[]) => void; reject: (e: Error) => void } | null = null;
  private replies: string[] = [];

  constructor(private socket: net.Socket) {
    this.attach(socket);
  }

  attach(socket: net.Socket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk.toString('latin1')));
    socket.on('close', () => this.waiting?.reject(new Error('connection closed')));
    socket.on('error', (error) => this.waiting?.reject(error));
  }

  detach(): void {
    this.socket.removeAllListeners('data');
  }

  private onData(text: string): void {
    this.buffer += text;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline + 1);
      this.buffer = this.buffer.slice(newline + 1);
      if (line[3] === ' ' || line.length <= 6) this.replies.push(line.trimEnd());
    }
    this.settle();
  }

  private settle(): void {
    if (this.waiting && this.replies.length >= this.waiting.count) {
      const { count, resolve } = this.waiting;
      this.waiting = null;
      resolve(this.replies.splice(0, count));
    }
  }

  next(count: number): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.waiting = { count, resolve, reject };
      this.settle();
    });
  }
}

function expect(reply: string | undefined, code: string, what: string): void {
  if (!reply?.startsWith(code)) throw new Error(`${what}: expected ${code}, got ${reply}`);
}

export async function openLoadSession(port: number, username: string, password: string, host = '127.0.0.1'): Promise<LoadSession> {
  const plain = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
  plain.setNoDelay(true);
  const reader = new ReplyReader(plain);
  expect((await reader.next(1))[0], '220', 'greeting');
  plain.write('EHLO load.bench\r\n');
  expect((await reader.next(1))[0], '250', 'EHLO');
  plain.write('STARTTLS\r\n');
  expect((await reader.next(1))[0], '220', 'STARTTLS');
  reader.detach();
  const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });
  reader.attach(secure);
  secure.write('EHLO load.bench\r\n');
  expect((await reader.next(1))[0], '250', 'EHLO after STARTTLS');
  secure.write(`AUTH PLAIN ${Buffer.from(`\0${username}\0${password}`).toString('base64')}\r\n`);
  expect((await reader.next(1))[0], '235', 'AUTH');
  return {
    async send(from, to, body) {
      secure.write(`MAIL FROM:<${from}>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
      const [mail, rcpt, data] = await reader.next(3);
      expect(mail, '250', 'MAIL');
      expect(rcpt, '250', 'RCPT');
      expect(data, '354', 'DATA');
      secure.write(body);
      secure.write('\r\n.\r\n');
      const [done] = await reader.next(1);
      expect(done, '250', 'end of DATA');
      return done as string;
    },
    close() {
      secure.end('QUIT\r\n');
    },
  };
}

/** A 4 KiB-ish message body with 76-character lines, like real mail. */
export function messageBody(sizeBytes: number): Buffer {
  const header = 'From: bench@source.test\r\nTo: sink@sink.test\r\nSubject: benchmark\r\n\r\n';
  const line = `${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(3).slice(0, 76)}\r\n`;
  let body = header;
  while (body.length + line.length <= sizeBytes) body += line;
  body += 'x'.repeat(Math.max(0, sizeBytes - body.length - 2));
  return Buffer.from(body, 'latin1');
}
