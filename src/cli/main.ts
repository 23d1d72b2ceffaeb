#!/usr/bin/env node
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { InputError } from '../accounts/validation.js';
import { ConfigError } from '../config/load.js';
import { escapeForDisplay } from '../shared/safe-text.js';
import { registerAccountCommands } from './commands/accounts.js';
import { registerCredentialPoolCommand } from './commands/credential-pool.js';
import { registerDomainCommands } from './commands/domains.js';
import { registerComplaintCommands } from './commands/complaints.js';
import { registerIpCommands } from './commands/ips.js';
import { registerLoginCommands } from './commands/logins.js';
import { registerNodeCommands } from './commands/nodes.js';
import { registerSubscriptionCommands } from './commands/subscriptions.js';
import { registerQueueCommands } from './commands/queue.js';
import { registerQuotaCommands } from './commands/quota.js';
import { registerSenderAuthCommands } from './commands/sender-auth.js';
import { registerServerCommands } from './commands/server.js';
import { registerTokenCommands } from './commands/tokens.js';
import { registerSuspensionCommands } from './commands/suspensions.js';

const program = new Command('relais')
  .description('Relais: multi-tenant outbound SMTP relay')
  .version(packageVersion(), '-V, --version', 'print the version')
  .option('-c, --config <file>', 'configuration file (or RELAIS_CONFIG)')
  .option('--json', 'print JSON')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) });

// `relais --config FILE queue list` and `relais queue list --config FILE` mean the same.
program.hook('preAction', (root, action) => {
  for (const [key, value] of Object.entries(root.opts())) {
    if (value !== undefined && action.getOptionValue(key) === undefined) action.setOptionValue(key, value);
  }
});

registerServerCommands(program);
registerAccountCommands(program);
registerQuotaCommands(program);
registerQueueCommands(program);
registerIpCommands(program);
registerNodeCommands(program);
registerCredentialPoolCommand(program);
registerDomainCommands(program);
registerSenderAuthCommands(program);
registerTokenCommands(program);
registerComplaintCommands(program);
registerSuspensionCommands(program);
registerLoginCommands(program);
registerSubscriptionCommands(program);

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

function packageVersion(): string {
  // src/cli/main.ts and dist/cli/main.js both sit two folders below package.json.
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}
