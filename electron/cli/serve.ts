// `ldm serve`: the studio in a browser, as `npm run web` starts it (electron/web), until Ctrl-C.
import { parseWebArgs, startWebStudio } from '../web/main.ts';
import { parseCommandLine, UsageError, type FlagSpecs } from './args.ts';
import type { Command } from './command.ts';
import type { CliIo } from './command.ts';

const SERVE_FLAGS: FlagSpecs = {
  data: { type: 'string', arg: 'DIR', help: "studio data folder (default: the desktop app's, so both share one history)" },
  port: { type: 'int', help: 'port to listen on (default 7860; 0 picks a free one)' },
  host: { type: 'string', arg: 'HOST', help: 'address to listen on (default 127.0.0.1, this computer only)' },
  allow: { type: 'string', arg: 'DIR', multiple: true, help: 'a folder (besides the data folder) that the browser may import from, export to, train on; repeatable' },
};

export const serveCommand: Command = {
  summary: 'serve the studio to a web browser (web mode) until Ctrl-C',
  args: '[--data DIR] [--port N] [--host HOST] [--allow DIR …]',
  flags: SERVE_FLAGS,
  run: serve,
};

async function serve(argv: readonly string[], io: CliIo): Promise<void> {
  const p = parseCommandLine(argv, SERVE_FLAGS);
  if (p.positionals.length > 0) throw new UsageError(`'ldm serve' takes no arguments, got '${p.positionals[0]}'`);
  // Web mode's own parsing gives the same defaults and port checks as `npm run web`.
  let args;
  try {
    args = parseWebArgs([...argv]);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const signal = io.signal;
  if (!signal) throw new Error("'ldm serve' runs until stopped and needs an abort signal (the ldm process gives one on Ctrl-C)");
  if (signal.aborted) return;
  // The URL (with its session token) on stdout, the rest on stderr.
  const studio = await startWebStudio(args, (line) => (line.startsWith('Open ') ? io.stdout : io.stderr).write(`${line}\n`));
  try {
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    await studio.close();
  }
  io.stderr.write('stopped\n');
}
