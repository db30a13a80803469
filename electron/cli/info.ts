// `ldm info FILE… [--json]`: what a picture says about how it was made, as AUTOMATIC1111's PNG Info shows
// it: read from A1111/ComfyUI/InvokeAI/Fooocus/NovelAI metadata, EXIF or stealth bits (readImageParameters).
import { infotextEntries } from '../engine/io/generation-params.ts';
import { readImageParameters } from '../engine/io/metadata/index.ts';
import { parseCommandLine, UsageError, type FlagSpecs } from './args.ts';
import type { Command } from './command.ts';
import { readFileBytes } from './image-files.ts';
import type { CliIo } from './command.ts';

const INFO_FLAGS: FlagSpecs = {
  json: { type: 'boolean', help: 'print {file, format, source, location, params, warnings} as JSON, one line per file' },
};

const TOOLS: Record<string, string> = { a1111: 'AUTOMATIC1111', comfyui: 'ComfyUI', invokeai: 'InvokeAI', fooocus: 'Fooocus', novelai: 'NovelAI' };

export const infoCommand: Command = {
  summary: 'show the generation parameters a picture carries (A1111, ComfyUI, InvokeAI, Fooocus, NovelAI)',
  args: 'FILE... [--json]',
  flags: INFO_FLAGS,
  run: info,
};

/** A value on one line; continuation lines of a multi-line value indented. */
const block = (v: string): string => v.replace(/\n/g, '\n  ');

async function info(argv: readonly string[], io: CliIo): Promise<void> {
  const p = parseCommandLine(argv, INFO_FLAGS);
  if (p.positionals.length === 0) throw new UsageError(`'ldm info' needs a picture, e.g. ldm info image.png`);
  const many = p.positionals.length > 1;
  for (const file of p.positionals) {
    const r = await readImageParameters(await readFileBytes(file));
    if (p.flags.json) {
      io.stdout.write(JSON.stringify({ file, ...r }) + '\n');
      continue;
    }
    if (many) io.stdout.write(`== ${file}\n`);
    if (r.params) {
      io.stdout.write(`Read from: ${TOOLS[r.source ?? ''] ?? r.source} (${r.location})\n`);
      io.stdout.write(`Prompt: ${block(r.params.prompt)}\n`);
      if (r.params.negative) io.stdout.write(`Negative prompt: ${block(r.params.negative)}\n`);
      for (const [k, v] of infotextEntries(r.params)) io.stdout.write(`${k}: ${block(v)}\n`);
    } else {
      io.stdout.write(`no generation parameters in ${file}${r.format ? ` (${r.format.toUpperCase()})` : ''}\n`);
    }
    for (const w of r.warnings) io.stdout.write(`warning: ${w}\n`);
  }
}
