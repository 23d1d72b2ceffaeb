/**
 * Where a process's time went, from the .cpuprofile files `node --cpu-prof` writes at exit: each sample is
 * charged to the innermost frame on its stack that names a part of the relay (the database driver or the store,
 * TLS, the SMTP server or client, ...), so a socket write under pg counts as database and one under a session as
 * SMTP. Shares are of the non-idle samples.
 */
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** In order: the first that matches a frame names it; frames that match none are passed through to their caller. */
const PARTS: readonly [string, (f: CallFrame) => boolean][] = [
  ['gc', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)'],
  ['tls', (f) => /node:(_tls|tls|internal\/tls|crypto|internal\/crypto)/.test(f.url) || /TLSWrap|TLSSocket/.test(f.functionName)],
  ['database', (f) => /node_modules\/(pg|pg-protocol|pg-pool|better-sqlite3|kysely)\//.test(f.url) || /\/(src|dist)\/store\//.test(f.url)],
  ['logging', (f) => /node_modules\/(pino|sonic-boom|thread-stream)\//.test(f.url) || /\/(src|dist)\/log\//.test(f.url)],
  ['dkim/mime', (f) => /node_modules\/(mailauth|@zone-eu|libmime|libbase64|libqp)\//.test(f.url) || /\/(src|dist)\/sender-auth\//.test(f.url)],
  ['smtp (submission)', (f) => /\/(src|dist)\/submission\//.test(f.url) || /node_modules\/smtp-server\//.test(f.url)],
  ['smtp (delivery)', (f) => /\/(src|dist)\/delivery\//.test(f.url) || /node_modules\/nodemailer\//.test(f.url)],
  ['queue', (f) => /\/(src|dist)\/(queue|quota|dsn)\//.test(f.url)],
  ['relais other', (f) => /\/(src|dist)\//.test(f.url)],
];

export type ProfileShares = Record<string, number>;

/** Milliseconds per part over every profile in `dir`, and the frames with the most self time. */
/** Native socket writes: for a TLS socket the encryption happens inside them. */
const NATIVE_WRITE = /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString|writeString|writeUcs2String)$/;

/**
 * `window`: only samples taken between these two instants (microseconds of the monotonic clock, as
 * process.hrtime.bigint() / 1000n gives them), so start-up and shut-down are left out.
 */
export function summarizeProfiles(dir: string, window?: { fromUs: number; toUs: number }): { ms: ProfileShares; files: number; topFrames: string[] } {
  const ms: ProfileShares = {};
  const self = new Map<string, number>();
  let files = 0;
  if (!fs.existsSync(dir)) return { ms, files, topFrames: [] };
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    files++;
    const profile = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const partOf = new Map<number, string>();
    const classify = (id: number): string => {
      const known = partOf.get(id);
      if (known) return known;
      const node = byId.get(id);
      let part = 'node/other';
      if (node) {
        const match = PARTS.find(([, test]) => test(node.callFrame));
        if (match) part = match[0];
        else if (NATIVE_WRITE.test(node.callFrame.functionName) && node.callFrame.url === '') {
          // Charged to whoever writes, but apart: the database's writes are plain TCP, the log's go to a file,
          // the submission side's replies carry TLS (encrypted inside the write), the delivery side's to the
          // sink do not (it offers no STARTTLS).
          const up = parent.get(id);
          const caller = up !== undefined ? classify(up) : 'node/other';
          part = caller === 'database' || caller === 'logging' ? caller : `native writes (${caller})`;
        }
        else if (node.callFrame.functionName === '(program)') part = 'native (program)';
        else {
          const up = parent.get(id);
          if (up !== undefined) part = classify(up);
        }
      }
      partOf.set(id, part);
      return part;
    };
    let at = profile.startTime;
    profile.samples.forEach((id, i) => {
      at += profile.timeDeltas[i] ?? 0;
      if (window && (at < window.fromUs || at > window.toUs)) return;
      const part = classify(id);
      const t = (profile.timeDeltas[i] ?? 0) / 1000;
      ms[part] = (ms[part] ?? 0) + t;
      const frame = byId.get(id)?.callFrame;
      if (frame && frame.functionName !== '(idle)') {
        const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(node_modules|src|dist)\//, '$1/')}`;
        self.set(key, (self.get(key) ?? 0) + t);
      }
    });
  }
  const busy = [...self.values()].reduce((a, b) => a + b, 0);
  const topFrames = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([k, v]) => `${((100 * v) / busy).toFixed(1)}% ${k}`);
  return { ms, files, topFrames };
}

/** "database 31%, tls 22%, ..." over the busy (non-idle) time. */
export function formatShares(ms: ProfileShares): string {
  const busy = Object.entries(ms).filter(([k]) => k !== 'idle');
  const total = busy.reduce((s, [, v]) => s + v, 0);
  if (total === 0) return '(no profile)';
  return busy
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${((100 * v) / total).toFixed(0)}%`)
    .join(', ');
}
