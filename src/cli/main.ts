#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { InputError } from '../accounts/validation.js';
import { ConfigError } from '../config/load.js';
import { escapeForDisplay } from '../shared/safe-text.js';
import { registerAccountCommands } from './commands/accounts.js';
import { registerIpCommands } from './commands/ips.js';
import { registerQueueCommands } from './commands/queue.js';
import { registerQuotaCommands } from './commands/quota.js';
import { registerServerCommands } from './commands/server.js';

const program = new Command('relais')
  .description('Relais: multi-tenant outbound SMTP relay')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) });

registerServerCommands(program);
registerAccountCommands(program);
registerQuotaCommands(program);
registerQueueCommands(program);
registerIpCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  // Expected problems (bad input, bad config) are one line; anything else too, but marked as unexpected.
  const known = error instanceof InputError || error instanceof ConfigError;
  const message = (error as Error).message ?? String(error);
  // Messages quote what was typed and what was stored: escaped, so one line, except a configuration's list of problems.
  const text = error instanceof ConfigError ? message.split('\n').map(escapeForDisplay).join('\n') : escapeForDisplay(message);
  process.stderr.write(`relais: ${known ? '' : 'error: '}${text}\n`);
  process.exit(known ? 1 : 2);
}
