import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';

export interface TlsFiles {
  cert: string;
  key: string;
  generated: boolean;
}

/**
 * The certificate the submission ports present. Without tls.cert/tls.key in the configuration, a self-signed one
 * is made once under data_dir/tls so a first start works; production sets real files.
 */
export async function ensureTlsFiles(configured: { cert?: string; key?: string }, dataDir: string, hostname: string): Promise<TlsFiles> {
  if (configured.cert || configured.key) {
    if (!configured.cert || !configured.key) throw new Error('set both tls.cert and tls.key, or neither to use a generated self-signed certificate');
    for (const file of [configured.cert, configured.key]) {
      if (!fs.existsSync(file)) throw new Error(`TLS file ${file} does not exist: fix tls.cert/tls.key or remove both to generate one`);
    }
    return { cert: configured.cert, key: configured.key, generated: false };
  }
  const dir = path.join(dataDir, 'tls');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  if (fs.existsSync(cert) && fs.existsSync(key)) return { cert, key, generated: false };
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keySize: 2048,
    notAfterDate: new Date(Date.now() + 3650 * 86_400_000),
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: hostname }] }],
  });
  fs.writeFileSync(key, pems.private, { mode: 0o600 });
  fs.writeFileSync(cert, pems.cert, { mode: 0o644 });
  return { cert, key, generated: true };
}

/** Both forms are needed: a SecureContext for STARTTLS upgrades, the options for the implicit-TLS server. */
export interface ServerTls {
  context: tls.SecureContext;
  options: tls.SecureContextOptions;
}

export function loadServerTls(files: TlsFiles): ServerTls {
  try {
    const options: tls.SecureContextOptions = { cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key), minVersion: 'TLSv1.2' };
    return { context: tls.createSecureContext(options), options };
  } catch (error) {
    throw new Error(`cannot load the TLS certificate ${files.cert} and key ${files.key}: ${(error as Error).message}`);
  }
}
