import { generate } from 'selfsigned';

export interface Certificate {
  /** PEM private key. */
  key: string;
  /** PEM certificate. */
  cert: string;
}

/**
 * A self-signed server certificate for `hostname` (CN and DNS SAN) and the given IPs (IP SANs), valid for a
 * year from now. RSA 2048 because that is what most real MX hosts present; generating one takes ~50 ms.
 */
export async function selfSignedCertificate(hostname: string, ips: string[] = []): Promise<Certificate> {
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }, ...ips.map((ip) => ({ type: 7 as const, ip }))] },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
