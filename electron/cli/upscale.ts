// `ldm upscale IN --out OUT`: "Upscale ×4" from the terminal, with any super-resolution model in the
// paper's layout (bsr_sr, or one of our own with a KL first stage): --model FILE (.safetensors or .ckpt,
// read by the restricted reader) or the NAME of a folder in resources/models/; without --model, the first
// super-resolution model installed there.
import { randomInt } from 'node:crypto';
import * as path from 'node:path';
import { writeBytesAtomic } from '../engine/io/atomic.ts';
import { formatParameters } from '../engine/io/generation-params.ts';
import { encodePng } from '../engine/io/image.ts';
import { sha256Files } from '../engine/families/index.ts';
import { MAX_SEED } from '../engine/pipelines/common.ts';
import { imageToTensor } from '../engine/pipelines/image.ts';
import { generationParams } from '../engine/pipelines/output.ts';
import { openRelease, upscale, type ReleaseModel } from '../engine/pipelines/release.ts';
import { parseCommandLine, UsageError, type FlagSpecs } from './args.ts';
import type { CliIo, Command } from './command.ts';
import { readImageFile } from './image-files.ts';
import { exists, firstInstalledRelease, modelsDir, namedReleaseFile } from './model-dir.ts';
import { ProgressBar } from './progress.ts';

const UPSCALE_FLAGS: FlagSpecs = {
  out: { type: 'string', short: 'o', arg: 'FILE', help: 'output PNG (required)' },
  model: { type: 'string', arg: 'FILE|NAME', help: 'a super-resolution model (.safetensors or .ckpt in the paper\'s layout, e.g. bsr_sr), or a folder name in resources/models/; default: the first one installed there' },
  steps: { type: 'int', help: "DDIM steps (default: the model's, 100 for bsr_sr)" },
  seed: { type: 'int', help: `seed (0…${MAX_SEED}; default random)` },
  sampler: { type: 'string', arg: 'NAME', help: 'sampler (default ddim, as the paper)' },
  eta: { type: 'number', help: 'DDIM eta (default 0)' },
  'back-projection': { type: 'int', arg: 'N', help: "rounds of back-projection after decoding, so the result shrunk back gives the input (0–10; default: the model's, else 0)" },
  strength: { type: 'number', help: "1 = sample from noise (the paper's way); below 1 = start from the picture enlarged and noised that far (default: the model's, else 1)" },
  quiet: { type: 'boolean', short: 'q', help: 'no progress bar' },
};

export const upscaleCommand: Command = {
  summary: 'upscale a picture ×4 with a super-resolution model (the paper\'s bsr_sr or one like it)',
  args: 'IN --out OUT.png [--model FILE|NAME] [--steps N] [--seed S] [--strength X] [--back-projection N]',
  flags: UPSCALE_FLAGS,
  run: upscaleCli,
};

/**
 * --model FILE or NAME, or the first super-resolution release in resources/models/ (also `ldm generate
 * --upscale`, whose flag is --upscale-model: `flag` names it in the errors).
 */
export async function resolveSrModel(model: string | undefined, flag = '--model'): Promise<string> {
  if (model !== undefined) {
    if (/\.(safetensors|ckpt|pt|pth)$/i.test(model)) {
      if (!(await exists(model))) throw new UsageError(`${flag} ${model}: no such file`);
      return model;
    }
    const inFolder = await namedReleaseFile(model);
    if (inFolder) return inFolder;
    throw new UsageError(`${flag} ${model}: not a model file, and no folder of that name in ${modelsDir()} holds one`);
  }
  const installed = await firstInstalledRelease('super-resolution');
  if (installed) return installed;
  throw new UsageError(`no super-resolution model is installed in ${modelsDir()}; pass ${flag} FILE (e.g. the paper's bsr_sr .ckpt)`);
}

/** The super-resolution model in `file` (named after it), opened; any other model is refused, saying what it is. */
export async function openSrModel(file: string, flag = '--model'): Promise<ReleaseModel> {
  const model = await openRelease(file, path.basename(file, path.extname(file)), (await sha256Files([file])).slice(0, 10));
  if (model.release.task === 'super-resolution') return model;
  await model.close();
  throw new UsageError(`${flag} ${file} is a ${model.release.label}, not a super-resolution model`);
}

/** A1111's Extras keys for an upscaled picture (as its LDSR writes them): the factor and the upscaler. */
export function upscaleExtras(from: { width: number }, to: { width: number }, upscaler: string): Record<string, string> {
  return { 'Postprocess upscale by': String(Math.round((to.width / from.width) * 100) / 100), 'Postprocess upscaler': upscaler };
}

async function upscaleCli(argv: readonly string[], io: CliIo): Promise<void> {
  const p = parseCommandLine(argv, UPSCALE_FLAGS);
  if (p.positionals.length !== 1) throw new UsageError("'ldm upscale' takes one picture: ldm upscale IN.png --out OUT.png");
  const f = p.flags as Record<string, unknown>;
  const out = f.out as string | undefined;
  if (!out) throw new UsageError('--out FILE.png is required');
  if (!/\.png$/i.test(out)) throw new UsageError(`--out must name a .png file, got '${out}'`);
  const image = await readImageFile(p.positionals[0]!);
  const file = await resolveSrModel(f.model as string | undefined);
  const seed = (f.seed as number | undefined) ?? randomInt(0, MAX_SEED);
  const model = await openSrModel(file);
  const name = model.name;
  const bar = f.quiet ? null : new ProgressBar(io.stderr);
  try {
    const [made] = await upscale(model, {
      image,
      seed,
      steps: f.steps as number | undefined,
      sampler: f.sampler as string | undefined,
      eta: f.eta as number | undefined,
      strength: f.strength as number | undefined,
      backProjection: f['back-projection'] as number | undefined,
      signal: io.signal,
      onProgress: bar ? (e) => bar.update(e) : undefined,
    });
    bar?.finish();
    const { image: big, record } = made!;
    const params = generationParams(record);
    const text = formatParameters({ ...params, extras: { ...params.extras, ...upscaleExtras(image, big, name) } });
    await writeBytesAtomic(out, await encodePng(imageToTensor(big), { text: { parameters: text } }));
    io.stdout.write(`${out}: ${image.width}×${image.height} → ${big.width}×${big.height} with ${name} (${record.steps} steps, seed ${seed})\n`);
  } finally {
    bar?.finish();
    await model.close();
  }
}
