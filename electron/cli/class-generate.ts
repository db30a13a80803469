// `ldm generate --class NAME [--model FILE|NAME]`: a class-conditional model (one in the paper's cin
// layout: cin256-v2, or this project's emoji-ldm-32-class) draws a class instead of a prompt, through
// the same pipeline and PNG metadata as the studio's class jobs (the prompt is the class; guidance
// steers away from the model's "no class" entry). Without --model, the first class-conditional model
// installed in resources/models/.
import { randomInt } from 'node:crypto';
import * as path from 'node:path';
import { sha256Files } from '../engine/families/index.ts';
import { describeLdmFile, namedClassIndex } from '../engine/families/ldm-run.ts';
import { imagenetClassIndex } from '../engine/families/ldm-classes.ts';
import { MAX_SEED } from '../engine/pipelines/common.ts';
import { openRelease } from '../engine/pipelines/release.ts';
import { txt2img } from '../engine/pipelines/txt2img.ts';
import { parseCommandLine, UsageError, type FlagSpecs } from './args.ts';
import type { CliIo } from './command.ts';
import { openDataRecorder } from './data-hook.ts';
import { writeGeneratedPng } from './image-files.ts';
import { openUpscaleAfter } from './generate-upscale.ts';
import { exists, firstInstalledRelease, modelsDir, namedReleaseFile } from './model-dir.ts';
import { ProgressBar } from './progress.ts';

export const CLASS_FLAG: FlagSpecs = {
  class: { type: 'string', arg: 'NAME|N', help: "draw a class instead of a prompt, with a class-conditional model (e.g. --model emoji-ldm-32-class --class face-smiling)" },
};

/** Flags of `ldm generate` that a class-conditional model has no use for. */
const TEXT_ONLY = ['negative', 'lora', 'lora-dir', 'embeddings', 'clip-skip', 'vae', 'prediction', 'weights'];

/** Whether the command line asks for a class (`--class NAME` or `--class=NAME`). */
export function wantsClass(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--class' || a.startsWith('--class='));
}

/** --model FILE, NAME (a folder of resources/models/) or FOLDER; without it, the first class-conditional model installed. */
async function resolveClassModel(model: string | undefined): Promise<string> {
  if (model !== undefined) {
    if (/\.(ckpt|pt|pth|bin)$/i.test(model)) throw new UsageError(`--model ${model}: pickle checkpoints are refused here; convert it with 'ldm paper' or use a .safetensors file`);
    if (/\.safetensors$/i.test(model)) {
      if (!(await exists(model))) throw new UsageError(`--model ${model}: no such file`);
      return model;
    }
    const file = await namedReleaseFile(model);
    if (file) return file;
    throw new UsageError(`--model ${model}: --class needs a class-conditional model file, and no folder of that name in ${modelsDir()} holds one`);
  }
  const installed = await firstInstalledRelease('class-conditional');
  if (installed) return installed;
  throw new UsageError(`no class-conditional model is installed in ${modelsDir()}; pass --model FILE`);
}

function outputFile(out: string | null, cls: string, seed: number, n: number): string {
  if (out === null) return path.resolve(`class-${cls.replace(/[^A-Za-z0-9_-]+/g, '_')}-${seed}.png`);
  if (n === 1) return path.resolve(out);
  return path.resolve(out.replace(/\.png$/i, `-${seed}.png`));
}

export async function classGeneration(argv: readonly string[], flags: FlagSpecs, io: CliIo): Promise<void> {
  const p = parseCommandLine(argv, flags);
  const f = p.flags;
  const cls = String(f.class ?? '').trim();
  if (cls === '') throw new UsageError('--class needs a class name or index, e.g. --class face-smiling');
  if (p.positionals.length > 0) throw new UsageError(`give either a prompt or --class, not both (got the prompt '${p.positionals.join(' ')}')`);
  const unused = TEXT_ONLY.filter((k) => f[k] !== undefined);
  if (unused.length) throw new UsageError(`--class draws with a class-conditional model, which takes no ${unused.map((k) => `--${k}`).join(', ')}`);
  const n = (f.n as number | undefined) ?? 1;
  if (n < 1) throw new UsageError(`--n must be at least 1, got ${n}`);
  const size = f.size as { width: number; height: number } | undefined;
  if (size && (f.width !== undefined || f.height !== undefined)) throw new UsageError('give either --size or --width/--height, not both');
  const out = (f.out as string | undefined) ?? null;
  if (out !== null && !/\.png$/i.test(out)) throw new UsageError(`--out must name a .png file, got '${out}'`);

  const file = await resolveClassModel(f.model as string | undefined);
  const described = await describeLdmFile(file).catch(() => null);
  if (described?.release.task !== 'class-conditional') {
    const what = described ? `a ${described.release.label}` : 'not a model in the paper\'s layout (a text model takes a prompt instead)';
    throw new UsageError(`--class needs a class-conditional model; ${path.basename(file)} is ${what}`);
  }
  const { release } = described;
  const names = release.classNames;
  const index = names ? namedClassIndex(names, cls) : imagenetClassIndex(cls);
  const classes = names?.length ?? release.classEmbedder!.nClasses - (release.unconditionalClass !== null ? 1 : 0);
  if (index === null || index >= classes) {
    const hint = names ? `one of ${names.slice(0, 5).join(', ')}, … (${names.length} in all; the Generate view lists them)` : 'an ImageNet class name';
    throw new UsageError(`--class ${cls}: ${path.basename(file)} takes a class index from 0 to ${classes - 1} or ${hint}`);
  }
  const seed = (f.seed as number | undefined) ?? randomInt(0, MAX_SEED - n + 2);
  const recorder = f.data !== undefined ? await openDataRecorder(f.data as string) : null;
  const upscaler = await openUpscaleAfter(f, io);
  const name = path.basename(file, path.extname(file));
  const model = await openRelease(file, name, (await sha256Files([file])).slice(0, 10));
  const bar = f.quiet ? null : new ProgressBar(io.stderr);
  const label = names ? names[index]! : cls;
  try {
    await txt2img(model, {
      prompt: label,
      negativePrompt: '',
      seed,
      steps: f.steps as number | undefined,
      sampler: f.sampler as string | undefined,
      scheduleType: f.schedule as string | undefined,
      guidance: f.cfg as number | undefined,
      width: size?.width ?? (f.width as number | undefined),
      height: size?.height ?? (f.height as number | undefined),
      batchCount: n,
      eta: f.eta as number | undefined,
      signal: io.signal,
      onProgress: bar ? (e) => bar.update(e) : undefined,
      previewEvery: 0,
      onImage: async (img) => {
        const target = outputFile(out, label, img.record.seed, n);
        if (upscaler) {
          await upscaler.write(target, img, recorder);
        } else {
          const png = await writeGeneratedPng(target, img);
          await recorder?.record({ file: target, png, generated: img });
        }
        bar?.finish();
        io.stdout.write(`${target}\n`);
      },
    });
  } finally {
    bar?.finish();
    await model.close();
    await upscaler?.close();
    await recorder?.close();
  }
}
