import type { Command } from 'commander';
import { ConfigError, configPath, loadConfig } from '../../config/load.js';
import { ensureTlsFiles, loadServerTls } from '../../submission/tls-context.js';
import { openServices, startRelay } from '../../relay.js';
import { redactUrl } from '../../store/postgres-database.js';
import fs from 'node:fs';
import { resolve } from 'node:path';
import { InputError } from '../../accounts/validation.js';
import { parseRoles } from '../../cluster/roles.js';
import { NODE_ROLES } from '../../config/schema.js';
import { command, readConfig, withServices, type CommonOptions } from '../context.js';
import { commandHint } from '../invocation.js';
import { printJson } from '../output.js';

export function registerServerCommands(program: Command): void {
  command(program, 'start', 'start the relay: submission listeners on the configured addresses')
    .option('--roles <roles>', `what this node does, comma-separated (setting node.roles): ${NODE_ROLES.join(', ')}`)
    .action(async (options: CommonOptions & { roles?: string }) => {
      const read = readConfig(options);
      const config = options.roles === undefined ? read : { ...read, node: { ...read.node, roles: parseRoles(options.roles) } };
      const relay = await startRelay(config);
      const hint = commandHint(configPath(options.config));
      const lines = [
        `Relais is running as ${config.hostname}, store ${redactUrl(config.store.url)}`,
        ...relay.listeners.map((l) => `  ${l.kind.padEnd(10)} ${l.address}:${l.port} (${l.tls})`),
        relay.tls.generated ? `  generated a self-signed TLS certificate: ${relay.tls.cert}` : `  TLS certificate: ${relay.tls.cert}`,
        'Create a first credential (in another terminal):',
        `  ${hint} customer add "Example Co" --email admin@example.com`,
        `  ${hint} credential add --customer "Example Co"`,
        `  ${hint} plan add --credential USERNAME --quota 1000`,
      ];
      process.stderr.write(`${lines.join('\n')}\n`);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        relay.logger.info({ event: 'signal', signal }, 'stopping');
        // The promise to the operator is stop_grace plus a little: whatever a peer or the store does, go then.
        const limitMs = config.delivery.stop_grace + 5_000;
        setTimeout(() => {
          relay.logger.error({ event: 'stop_overdue', after_ms: limitMs }, `stop did not finish within delivery.stop_grace + 5 s (${limitMs} ms); exiting now, unsettled deliveries are retried after their lease`);
          relay.logger.flush?.();
          process.exit(1);
        }, limitMs).unref();
        await relay.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      // After a certificate renewal (certbot's deploy hook, say): `kill -HUP` loads the new files without a restart.
      process.on('SIGHUP', () => {
        try {
          relay.reloadTls();
        } catch (error) {
          relay.logger.error({ event: 'tls_reload_failed', error: (error as Error).message }, 'TLS reload failed; keeping the current certificate');
        }
      });
      process.on('SIGINT', () => void stop('SIGINT'));
    });

  command(program, 'init', 'create the store named by the configuration (start does it too), and say where it is').action(async (options: CommonOptions) => {
    const config = readConfig(options);
    const services = await openServices(config);
    await services.close();
    if (options.json) return printJson({ store: redactUrl(config.store.url) });
    process.stdout.write(`store ready: ${redactUrl(config.store.url)}\n`);
  });

  command(program, 'backup <file>', 'copy a SQLite store consistently into a new file while the relay runs (PostgreSQL: pg_dump)').action(
    async (file: string, options: CommonOptions) => {
      await withServices(options, async ({ store }) => {
        const target = resolve(file);
        if (store.dialect !== 'sqlite') throw new InputError('relais backup copies SQLite stores; back up a PostgreSQL store with pg_dump (see the README, "Backups")');
        if (fs.existsSync(target)) throw new InputError(`${target} already exists: give the backup a new file name`);
        await store.backup(target);
        if (options.json) return printJson({ backup: target });
        process.stdout.write(`backup written: ${target}\n`);
      });
    },
  );

  const config = program.command('config').description('configuration');
  command(config, 'check [file]', 'validate a configuration file, including the TLS files it names (--json: the settings in effect, durations in ms)').action(
    async (file: string | undefined, options: CommonOptions) => {
      const path = file ?? configPath(options.config);
      const parsed = loadConfig(path);
      // What start would refuse, refused here: a certificate or key that is missing or does not load.
      if (parsed.tls.cert || parsed.tls.key) {
        try {
          loadServerTls(await ensureTlsFiles(parsed.tls, parsed.data_dir, parsed.hostname), parsed.tls);
        } catch (error) {
          throw new ConfigError(`invalid configuration in ${path ?? '(defaults)'}:\n  tls.cert/tls.key: ${(error as Error).message}`);
        }
      }
      if (options.json) return printJson({ file: path ?? null, valid: true, config: { ...parsed, store: { ...parsed.store, url: redactUrl(parsed.store.url) } } });
      process.stdout.write(`${path ?? '(no file: built-in defaults)'}: valid\n`);
    },
  );
}
