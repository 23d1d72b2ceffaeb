import path from 'node:path';

/**
 * How to run another relais command the way this one was run, for hints printed to the operator: the checkout's
 * `./relais` script under `npm start`, the `relais` binary when installed, and the same configuration file, so a
 * hint never writes to another store than the running relay's.
 */
export function commandHint(configFile: string | undefined): string {
  const script = process.argv[1] ?? '';
  let command: string;
  if (process.env.npm_lifecycle_event === 'start') command = './relais';
  else if (path.basename(script) === 'relais') command = 'relais';
  else command = `node ${shellQuote(path.relative(process.cwd(), script) || script)}`;
  return configFile ? `${command} --config ${shellQuote(path.resolve(configFile))}` : command;
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
