import net from 'node:net';

/** What clamd said about one stream, or why it said nothing usable. */
export type ClamdAnswer =
  | { kind: 'clean' }
  | { kind: 'infected'; signature: string }
  /** clamd could not be reached, did not answer in time, or answered with an error (size limit, bad request). */
  | { kind: 'error'; reason: string; timedOut?: boolean };

export interface ClamdEndpoint {
  host: string;
  port: number;
}

/** Chunks of the INSTREAM stream; clamd reads each into memory, so moderate sizes keep both sides lean. */
const CHUNK_BYTES = 64 * 1024;
/** A clamd reply is one short line; anything longer is not clamd. */
const MAX_REPLY_BYTES = 4096;

/** Parses one `z`-command reply of INSTREAM (`stream: OK`, `stream: NAME FOUND`, `... ERROR`). */
export function parseClamdReply(reply: string): ClamdAnswer {
  const text = reply.replace(/\0+$/, '').trim();
  if (text === 'stream: OK') return { kind: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(text);
  if (found) return { kind: 'infected', signature: found[1] as string };
  if (/ERROR$/.test(text)) return { kind: 'error', reason: `clamd error: ${text.replace(/\s*ERROR$/, '').replace(/^stream:\s*/, '')}` };
  return { kind: 'error', reason: `unexpected clamd reply: ${JSON.stringify(text.slice(0, 200))}` };
}

/**
 * Streams `data` to clamd with INSTREAM (RFC-less clamd protocol: `zINSTREAM\0`, then chunks each prefixed by its
 * length as 4 bytes big-endian, then a zero length) on a connection of its own, and reads the one reply.
 *
 * Whatever happens, the socket is destroyed by `deadline` (epoch ms): a clamd that accepts and never answers, or
 * answers a byte a minute, cannot hold a connection or a client's transaction longer than that.
 */
export function scanWithClamd(endpoint: ClamdEndpoint, data: Buffer, timeoutMs: number): Promise<ClamdAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    const replyChunks: Buffer[] = [];
    let replyBytes = 0;
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    const finish = (answer: ClamdAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(
      () => finish({ kind: 'error', reason: `clamd did not answer within ${timeoutMs} ms`, timedOut: true }),
      timeoutMs,
    );
    const reply = () => Buffer.concat(replyChunks).toString('utf8');

    socket.on('connect', () => void send());
    socket.on('data', (chunk: Buffer) => {
      replyChunks.push(chunk);
      replyBytes += chunk.length;
      // With the z prefix the reply ends with a NUL; clamd closes the connection after it anyway.
      if (chunk.includes(0)) finish(parseClamdReply(reply()));
      else if (replyBytes > MAX_REPLY_BYTES) finish({ kind: 'error', reason: 'clamd sent an over-long reply' });
    });
    socket.on('end', () => {
      // A reply cut short of its NUL (an older clamd, or an error it sent before closing) is still its verdict.
      finish(replyBytes > 0 ? parseClamdReply(reply()) : { kind: 'error', reason: 'clamd closed the connection without answering' });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // clamd answers "INSTREAM size limit exceeded" and closes while we may still be writing: its words win.
      if (replyBytes > 0) return finish(parseClamdReply(reply()));
      // Said to the client as well: what failed, never where clamd runs (the log names the address).
      const connected = socket.bytesWritten > 0 || socket.readyState === 'open';
      finish({ kind: 'error', reason: `${connected ? 'connection to clamd failed' : 'clamd unreachable'}: ${error.code ?? error.message}` });
    });

    async function send(): Promise<void> {
      // The command, the chunks and the terminator go out as they are ready: with Nagle's algorithm the last small
      // write would wait for clamd's delayed ACK (40 ms on Linux), on every message.
      socket.setNoDelay(true);
      const write = (buffer: Buffer) =>
        socket.write(buffer) ? Promise.resolve() : new Promise<void>((drained) => socket.once('drain', drained).once('close', drained));
      let pending: Buffer[] = [Buffer.from('zINSTREAM\0', 'latin1')];
      for (let offset = 0; offset < data.length && !settled; offset += CHUNK_BYTES) {
        const chunk = data.subarray(offset, Math.min(offset + CHUNK_BYTES, data.length));
        const length = Buffer.alloc(4);
        length.writeUInt32BE(chunk.length);
        pending.push(length, chunk);
        if (offset + CHUNK_BYTES < data.length) {
          await write(Buffer.concat(pending));
          pending = [];
        }
      }
      // A message of one chunk (most of them) is one write: command, chunk and terminator together.
      pending.push(Buffer.alloc(4));
      if (!settled) await write(Buffer.concat(pending));
    }
  });
}
