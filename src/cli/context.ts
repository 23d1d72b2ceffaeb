import { Command } from 'commander';
import { configPath, loadConfig } from '../config/load.js';
import type { RelaisConfig } from '../config/schema.js';
import { InputError } from '../accounts/validation.js';
import { openServices, type Services } from '../relay.js';
import { StoreNotFound } from '../store/store.js';

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

/**
 * Opens the store for one command and always closes it, so a CLI call never leaves the database locked. Only
 * `start` and `init` create a store: any other command pointed at none says which it looked for and why.
 */
export async function withServices<T>(options: CommonOptions, work: (services: Services) => Promise<T>): Promise<T> {
  const file = configPath(options.config);
  let services: Services;
  try {
    services = await openServices(loadConfig(file), undefined, { create: false });
  } catch (error) {
    if (!(error instanceof StoreNotFound)) throw error;
    const from = file ? `store.url of ${file}` : 'the built-in default, no configuration file found';
    throw new InputError(
      `no store at ${error.file} (${from}): point this command at the relay's configuration with --config FILE or RELAIS_CONFIG, or create a store with "relais init"`,
    );
  }
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}
