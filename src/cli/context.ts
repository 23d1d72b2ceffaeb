import { Command } from 'commander';
import { configPath, loadConfig } from '../config/load.js';
import type { RelaisConfig } from '../config/schema.js';
import { openServices, type Services } from '../relay.js';

export interface CommonOptions {
  config?: string;
  json?: boolean;
}

/** Every command takes --config and --json, wherever they are written on the line. */
export function command(parent: Command, spec: string, description: string): Command {
  return parent.command(spec).description(description).option('-c, --config <file>', 'configuration file (or RELAIS_CONFIG)').option('--json', 'print JSON');
}

export function readConfig(options: CommonOptions): RelaisConfig {
  return loadConfig(configPath(options.config));
}

/** Opens the store for one command and always closes it, so a CLI call never leaves the database locked. */
export async function withServices<T>(options: CommonOptions, work: (services: Services) => Promise<T>): Promise<T> {
  const services = await openServices(readConfig(options));
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}
