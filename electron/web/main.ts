// `npm run web -- [--data DIR] [--port N] [--host HOST] [--allow DIR …]`: the studio in a browser. Listens
// on 127.0.0.1 unless --host says otherwise, and prints the URL with its session token. Requests may name
// files only in the data folder and the folders given with --allow.
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startWebServer, type WebServer } from './server.ts';
import { createStudio } from '../services/studio.ts';
import { defaultDataDir } from './paths.ts';

export interface WebArgs {
  dataDir: string;
  port: number;
  host: string;
  /** Folders outside the data folder that requests may read from and export to. */
  allow?: string[];
}

export function parseWebArgs(argv: string[]): WebArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      allow: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const port = values.port === undefined ? 7860 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be a whole number from 0 to 65535 (0 picks a free port), not "${values.port}".`);
  }
  const allow = (values.allow ?? []).map((d) => path.resolve(d));
  for (const d of allow) {
    if (!statSync(d, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--allow ${d}: no such folder.`);
  }
  return { dataDir: path.resolve(values.data ?? defaultDataDir()), port, host: values.host ?? '127.0.0.1', allow };
}

export interface WebStudio {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server, then the studio (its workers and database). */
  close(): Promise<void>;
}

export const RENDERER_DIST = fileURLToPath(new URL('../../renderer/dist', import.meta.url));

/** The studio in web mode: `npm run web` and `ldm serve` both start it here. Lines for the user go to `log`. */
export async function startWebStudio(args: WebArgs, log: (line: string) => void = console.log, staticDir = RENDERER_DIST): Promise<WebStudio> {
  mkdirSync(args.dataDir, { recursive: true });
  const backend = await createStudio({ dataDir: args.dataDir, transport: 'web', allowedDirs: args.allow ?? [] });
  let server: WebServer;
  try {
    server = await startWebServer({ backend, staticDir, host: args.host, port: args.port, uploadDir: backend.paths.uploads });
  } catch (err) {
    await backend.close();
    throw err;
  }
  if (args.host !== '127.0.0.1' && args.host !== 'localhost' && args.host !== '::1') {
    log(`Warning: listening on ${args.host}; anyone who can reach it and has the token can use the studio.`);
  }
  log(`Latent Diffusion Studio (web mode), data in ${args.dataDir}`);
  for (const d of args.allow ?? []) log(`Requests may also read and write files in ${d}`);
  log(`Open ${server.url}`);
  return {
    url: server.url,
    port: server.port,
    dataDir: args.dataDir,
    async close() {
      await server.close();
      await backend.close();
    },
  };
}

export async function main(argv: string[]): Promise<void> {
  const studio = await startWebStudio(parseWebArgs(argv));
  const stop = async () => {
    await studio.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
