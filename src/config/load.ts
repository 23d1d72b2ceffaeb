import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { configSchema, type RelaisConfig, type RelaisConfigInput } from './schema.js';

export class ConfigError extends Error {}

/** Which file to read: --config, then RELAIS_CONFIG, then ./relais.yaml if present; none means all defaults. */
export function configPath(explicit?: string): string | undefined {
  if (explicit) return explicit;
  if (process.env.RELAIS_CONFIG) return process.env.RELAIS_CONFIG;
  return fs.existsSync('relais.yaml') ? 'relais.yaml' : undefined;
}

export function loadConfig(file?: string): RelaisConfig {
  if (!file) return parseConfig({}, '(defaults)');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read configuration file ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text) ?? {};
  } catch (error) {
    throw new ConfigError(`${file} is not valid YAML: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: expected a mapping of settings at the top level`);
  const config = parseConfig(raw as RelaisConfigInput, file);
  // Relative paths in a config file mean relative to the file, so `relais --config /etc/relais/relais.yaml` works from anywhere.
  const base = path.dirname(path.resolve(file));
  return resolvePaths(config, base);
}

export function parseConfig(raw: RelaisConfigInput, source = '(inline)'): RelaisConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(result.error, source));
  const parsed = result.data;
  return { ...parsed, store: { ...parsed.store, url: parsed.store.url ?? `sqlite:${path.join(parsed.data_dir, 'relais.db')}` } };
}

function resolvePaths(config: RelaisConfig, base: string): RelaisConfig {
  const abs = (p: string | undefined) => (p === undefined || path.isAbsolute(p) ? p : path.resolve(base, p));
  const dataDir = abs(config.data_dir) as string;
  let url = config.store.url;
  if (url.startsWith('sqlite:') && url !== 'sqlite::memory:') url = `sqlite:${abs(url.slice('sqlite:'.length))}`;
  return { ...config, data_dir: dataDir, store: { ...config.store, url }, tls: { ...config.tls, cert: abs(config.tls.cert), key: abs(config.tls.key) }, secrets: { key_file: abs(config.secrets.key_file) } };
}

function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.map((part) => (typeof part === 'number' ? `[${part}]` : String(part))).join('.').replace(/\.\[/g, '[');
    if (issue.code === 'unrecognized_keys') {
      const where = key ? `${key}.` : '';
      return `unknown setting ${issue.keys.map((k) => `"${where}${k}"`).join(', ')}: check the spelling against the configuration reference`;
    }
    return `${key || '(top level)'}: ${plainMessage(issue)}`;
  });
  return `invalid configuration in ${source}:\n  ${lines.join('\n  ')}`;
}

const KIND: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'text',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of settings',
  undefined: 'nothing',
  null: 'nothing',
};

/** The schema library's wording ("Invalid input: expected number, received string") in an operator's words. */
function plainMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const received = /received (\w+)/.exec(issue.message)?.[1];
      const got = received ? `, not ${KIND[received] ?? received}` : '';
      return `expected ${KIND[issue.expected] ?? issue.expected}${got}`;
    }
    case 'too_small':
      if (issue.origin === 'array') return `expected at least ${issue.minimum} entries`;
      if (issue.origin === 'string') return 'expected a value, not an empty text';
      return `expected ${issue.inclusive ? 'at least' : 'more than'} ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'array') return `expected at most ${issue.maximum} entries`;
      return `expected ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return 'expected a duration such as "30s", "15m", "1h" or "7d", or a number of seconds';
    default:
      return issue.message;
  }
}
