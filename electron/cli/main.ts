// `ldm`: the engine from a terminal. `npm run cli -- generate "a red heart" --out heart.png`.
// Errors print one line `ldm: <reason>` on stderr and exit non-zero (2 for bad usage, 1 otherwise).
import { pathToFileURL } from 'node:url';
import { UsageError } from './args.ts';
import { COMMANDS, usage } from './commands.ts';

import type { CliIo } from './command.ts';

export type { CliIo } from './command.ts';

/** Runs one command line; returns the exit code (never calls process.exit, so tests can call it). */
export async function runCli(argv: readonly string[], io: CliIo = process): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.stdout.write(usage(rest[0]));
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command '${name}'; commands: ${Object.keys(COMMANDS).join(', ')} (see 'ldm help')`);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(usage(name));
      return 0;
    }
    await command.run(rest, io);
    return 0;
  } catch (err) {
    const e = err as Error;
    io.stderr.write(`ldm: ${oneLine(e.message || String(err))}\n`);
    if (process.env.LDM_DEBUG && e.stack) io.stderr.write(`${e.stack}\n`);
    if (e.name === 'AbortError') return 130;
    return err instanceof UsageError ? 2 : 1;
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * The process entry: Ctrl-C (or SIGTERM, from a service manager) cancels a running generation or stops
 * `ldm serve`; a second Ctrl-C kills the process.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  process.exitCode = await runCli(argv, { stdout: process.stdout, stderr: process.stderr, signal: ac.signal });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(process.argv.slice(2));
