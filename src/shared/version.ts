import fs from 'node:fs';

let cached: string | undefined;

/** This Relais's version, from package.json (src/shared/ and dist/shared/ both sit two folders below it). */
export function relaisVersion(): string {
  cached ??= (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
