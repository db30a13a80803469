// `ldm convert IN.ckpt --out OUT.safetensors`: a PyTorch checkpoint read by the restricted reader (nothing
// in it is run; a file that asks to run code is refused, naming what it asked for) and written as
// safetensors, tensors as they are stored, non-tensor entries (global_step, …) in the metadata.
import * as path from 'node:path';
import { convertCheckpoint } from '../engine/io/checkpoint.ts';
import { sha256Files } from '../engine/io/hash.ts';
import { parseCommandLine, UsageError, type FlagSpecs } from './args.ts';
import type { Command } from './command.ts';
import type { CliIo } from './command.ts';

const CONVERT_FLAGS: FlagSpecs = {
  out: { type: 'string', short: 'o', arg: 'FILE', help: 'the .safetensors file to write (default: IN with .safetensors)' },
};

export const convertCommand: Command = {
  summary: 'convert a PyTorch .ckpt/.pt/.pth to .safetensors (read safely, nothing in it is run)',
  args: 'IN.ckpt [--out OUT.safetensors]',
  flags: CONVERT_FLAGS,
  run: convert,
};

async function convert(argv: readonly string[], io: CliIo): Promise<void> {
  const p = parseCommandLine(argv, CONVERT_FLAGS);
  if (p.positionals.length !== 1) throw new UsageError("'ldm convert' takes one checkpoint file: ldm convert IN.ckpt --out OUT.safetensors");
  const input = p.positionals[0]!;
  const out = (p.flags.out as string | undefined) ?? input.replace(/\.(ckpt|pt|pth|bin)$/i, '') + '.safetensors';
  if (!out.toLowerCase().endsWith('.safetensors')) throw new UsageError(`--out ${out}: the output must be a .safetensors file`);
  if (path.resolve(out) === path.resolve(input)) throw new UsageError('--out must differ from the input');
  const hash = await sha256Files([input]);
  const r = await convertCheckpoint(input, out, { converted_from: path.basename(input), converted_from_sha256: hash });
  const dtypes = Object.entries(r.dtypes).map(([d, n]) => `${n} ${d}`).join(', ');
  io.stdout.write(`${out}: ${r.tensors} tensors (${dtypes}), ${r.bytes} bytes, from ${r.stateDictKey ? `'${r.stateDictKey}' of ` : ''}${path.basename(input)} (sha256 ${hash.slice(0, 12)}…)\n`);
  const meta = Object.keys(r.metadata).filter((k) => !k.startsWith('converted_from') && k !== 'format');
  if (meta.length) io.stdout.write(`metadata: ${meta.join(', ')}\n`);
  for (const note of r.notes) io.stdout.write(`${note}\n`);
}
