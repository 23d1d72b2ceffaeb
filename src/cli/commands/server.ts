import type { Command } from 'commander';
import { configPath, loadConfig } from '../../config/load.js';
import { startRelay } from '../../relay.js';
import { redactUrl } from '../../store/postgres-database.js';
import { command, readConfig, type CommonOptions } from '../context.js';
import { printJson } from '../output.js';

export function registerServerCommands(program: Command): void {
  command(program, 'start', 'start the relay: submission listeners on the configured addresses').action(async (options: CommonOptions) => {
    const config = readConfig(options);
    const relay = await startRelay(config);
    const lines = [
      `Relais is running as ${config.hostname}, store ${redactUrl(config.store.url)}`,
      ...relay.listeners.map((l) => `  ${l.kind.padEnd(10)} ${l.address}:${l.port} (${l.tls})`),
      relay.tls.generated ? `  generated a self-signed TLS certificate: ${relay.tls.cert}` : `  TLS certificate: ${relay.tls.cert}`,
      'Create a first credential (in another terminal):',
      '  npx relais customer add "Example Co" --email admin@example.com',
      '  npx relais credential add --customer "Example Co"',
      '  npx relais plan add --credential USERNAME --quota 1000',
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

  const config = program.command('config').description('configuration');
  command(config, 'check [file]', 'validate a configuration file and print the settings in effect').action(
    async (file: string | undefined, options: CommonOptions) => {
      const path = file ?? configPath(options.config);
      const parsed = loadConfig(path);
      if (options.json) return printJson({ file: path ?? null, valid: true, config: { ...parsed, store: { url: redactUrl(parsed.store.url) } } });
      process.stdout.write(`${path ?? '(no file: built-in defaults)'}: valid\n`);
    },
  );
}
