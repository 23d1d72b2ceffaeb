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

/**
 * TLS 1.2 suites allowed by default: forward secret (ECDHE) and AEAD only, for ECDSA and RSA certificates. No
 * static-RSA key exchange, no CBC with SHA-1 MAC. TLS 1.3 suites are left at OpenSSL's defaults (all are AEAD and
 * forward secret).
 */
export const DEFAULT_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const TLS_MIN_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type TlsMinVersion = (typeof TLS_MIN_VERSIONS)[number];

/** The tls.* protocol settings; absent ones take the modern defaults. */
export interface TlsProfile {
  min_version?: TlsMinVersion;
  ciphers?: string;
}

/**
 * Why an OpenSSL cipher string would not work, or null. OpenSSL ignores a misspelt name as long as some other
 * part of the list matches, so each positive element is tried on its own too: a typo would otherwise silently
 * drop the suite the operator meant to allow.
 */
export function cipherListProblem(ciphers: string): string | null {
  const attempt = (list: string): string | null => {
    try {
      tls.createSecureContext({ ciphers: list });
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  };
  if (ciphers.trim() === '') return 'expected an OpenSSL cipher list, got an empty one';
  for (const element of ciphers.split(/[:, ]+/)) {
    // Exclusions, reorderings and @STRENGTH/@SECLEVEL=n only act on what the other elements selected.
    if (element === '' || '!-+@'.includes(element[0] as string)) continue;
    if (attempt(element) !== null) return `"${element}" matches no cipher suite of this OpenSSL (${process.versions.openssl}); see "openssl ciphers -v"`;
  }
  const whole = attempt(ciphers);
  return whole === null ? null : `the list selects no cipher suite at all (${whole})`;
}

/** Both forms are needed: a SecureContext for STARTTLS upgrades, the options for the implicit-TLS server. */
export interface ServerTls {
  context: tls.SecureContext;
  options: tls.SecureContextOptions;
}

/** Called at start and on every reload with the same profile, so a certificate renewal never changes the suites. */
export function loadServerTls(files: TlsFiles, profile: TlsProfile = {}): ServerTls {
  const ciphers = profile.ciphers ?? DEFAULT_TLS12_CIPHERS;
  const problem = cipherListProblem(ciphers);
  if (problem) throw new Error(`tls.ciphers: ${problem}`);
  const protocol = { minVersion: profile.min_version ?? 'TLSv1.2', ciphers };
  try {
    const options: tls.SecureContextOptions = { cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key), ...protocol };
    return { context: tls.createSecureContext(options), options };
  } catch (error) {
    throw new Error(`cannot load the TLS certificate ${files.cert} and key ${files.key}: ${(error as Error).message}`);
  }
}
