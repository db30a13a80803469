// `ldm train`: fine-tune a model on a folder of pictures (LoRA on a model package, an SD 1.x/2.x file
// or a diffusers folder; full UNet or textual inversion on a model package), with a progress bar and the loss on stderr. Ctrl-C stops at the next step with a
// checkpoint; the same command line run again resumes from it.
import * as path from 'node:path';
import { FINETUNE_METHODS, METHOD_CATALOG, methodInfo, type FinetuneMethod } from '../engine/finetune/methods/catalog.ts';
import { LORA_TARGETS, type LoraTarget } from '../engine/finetune/lora.ts';
import { FINETUNE_DEFAULTS, finetune, type FinetuneProgress } from '../engine/finetune/train.ts';
import { parseCommandLine, UsageError, type FlagSpecs } from './args.ts';
import type { Command } from './command.ts';
import type { CliIo } from './command.ts';
import { parsePrediction, type Prediction } from '../engine/families/index.ts';
import { resolveModelPath } from './model-dir.ts';
import { renderBar, type ProgressStream } from './progress.ts';
import { PROVIDER_FLAG, providerChoice } from './provider.ts';

const d = FINETUNE_DEFAULTS;

const TRAIN_FLAGS: FlagSpecs = {
  data: { type: 'string', help: 'folder of PNG/JPEG/WebP pictures; captions from NAME.txt / NAME.caption, else the file name' },
  base: { type: 'string', help: 'base model: a package folder or the name of one in resources/models/ (default: the installed one), an SD 1.x/2.x .safetensors file or a diffusers folder (lora only)' },
  prediction: { type: 'string', arg: 'v|eps', help: "what the base predicts, for files that do not say (SD 2.x 768-v: v); v models train toward v. Default: the file's" },
  method: { type: 'string', help: METHOD_CATALOG.map((m) => `${m.name}${m.name === 'lora' ? ' (default)' : ''}: ${m.summary}`).join('; ') },
  steps: { type: 'int', help: 'optimiser steps (default 400)' },
  out: { type: 'string', short: 'o', help: 'output: NAME.safetensors (lora, ti) or a folder (full)' },
  work: { type: 'string', help: 'checkpoints, latent cache and samples (default OUT.work); a run resumes from here' },
  recursive: { type: 'boolean', short: 'r', help: 'also read sub-folders of --data' },
  trigger: { type: 'string', help: 'trigger word put before every caption; for ti, the new word to learn' },
  resolution: { type: 'int', help: "training size in pixels (default: the model's)" },
  buckets: { type: 'boolean', help: 'aspect-ratio buckets as kohya makes them: pictures keep their shape, each trained at its bucket around resolution², never enlarged (default: centre-crop square)' },
  'bucket-step': { type: 'int', help: 'bucket sides in steps of N pixels (default 64)' },
  'bucket-upscale': { type: 'boolean', help: "with --buckets: kohya's table of buckets from 256 to 1024 pixels a side, pictures resized to cover their bucket (may enlarge)" },
  batch: { type: 'int', help: `pictures per micro-batch (default ${d.batchSize})` },
  accumulate: { type: 'int', help: 'micro-batches per optimiser step (gradient accumulation; default 1)' },
  lr: { type: 'number', help: `learning rate (default ${METHOD_CATALOG.map((m) => `${m.name} ${m.learningRate}`).join(', ')})` },
  rank: { type: 'int', help: `LoRA rank (default ${d.lora.rank})` },
  alpha: { type: 'number', help: 'LoRA alpha; scale = alpha/rank (default: the rank)' },
  targets: { type: 'string', help: `LoRA layers, comma-separated: ${LORA_TARGETS.join(', ')} (default ${d.lora.targets.join(',')})` },
  warmup: { type: 'number', help: `fraction of the steps warming the learning rate up, then cosine (default ${d.warmup})` },
  clip: { type: 'number', help: `gradient norm clipping (default ${d.clipNorm})` },
  ema: { type: 'number', help: 'EMA decay of the trained weights, e.g. 0.999 (default off)' },
  'noise-offset': { type: 'number', help: `noise offset (default ${d.noiseOffset})` },
  'min-snr': { type: 'number', help: `min-SNR-γ loss weighting, 0 = off (default ${d.minSnrGamma})` },
  'save-every': { type: 'int', help: `checkpoint every N steps (default ${d.saveEvery})` },
  'sample-every': { type: 'int', help: 'sample images every N steps into WORK/samples (default: only at the end when --sample is given)' },
  sample: { type: 'string', help: 'prompt of the sample images (default: the trigger word or a caption)' },
  'hold-out': { type: 'int', help: 'pictures held out to report the held-out loss before and after (default 0)' },
  seed: { type: 'int', help: `seed of the run (default ${d.seed})` },
  threads: { type: 'int', help: 'CPU threads for onnxruntime' },
  recompute: { type: 'string', help: 'activation recomputation (gradient checkpointing): on, off or auto (default auto: on when a step would need over half the memory)' },
  ...PROVIDER_FLAG,
  quiet: { type: 'boolean', short: 'q', help: 'no progress bar' },
};

const DEFAULT_STEPS = 400;

export const trainCommand: Command = {
  summary: 'fine-tune on a folder of pictures: LoRA, full or textual inversion',
  args: '--data DIR --out PATH',
  flags: TRAIN_FLAGS,
  run: train,
};

async function train(argv: readonly string[], io: CliIo): Promise<void> {
  const p = parseCommandLine(argv, TRAIN_FLAGS);
  const f = p.flags;
  if (p.positionals.length) throw new UsageError(`'ldm train' takes no positional arguments (got '${p.positionals[0]}'); use --data DIR`);
  const data = f.data as string | undefined;
  if (!data) throw new UsageError("'ldm train' needs --data DIR, the folder of training pictures");
  const method = ((f.method as string | undefined) ?? 'lora') as FinetuneMethod;
  if (!FINETUNE_METHODS.includes(method)) throw new UsageError(`--method must be one of ${FINETUNE_METHODS.join(', ')}, got '${method}'`);
  const out = f.out as string | undefined;
  const writesFile = methodInfo(method)!.output === 'file';
  if (!out) throw new UsageError(`'ldm train' needs --out: ${writesFile ? 'a .safetensors file' : 'a folder for the model package'}`);
  if (writesFile && !/\.safetensors$/i.test(out)) throw new UsageError(`--out must name a .safetensors file for --method ${method}, got '${out}'`);
  const targets = (f.targets as string | undefined)?.split(',').map((t) => t.trim()).filter(Boolean) as LoraTarget[] | undefined;
  for (const t of targets ?? []) if (!LORA_TARGETS.includes(t)) throw new UsageError(`--targets: unknown '${t}'; use ${LORA_TARGETS.join(', ')}`);
  const provider = providerChoice(f.provider as string | undefined);
  const bar = f.quiet ? null : new TrainBar(io.stderr);
  const sample = f.sample as string | undefined;
  let prediction: Prediction | undefined;
  try {
    prediction = f.prediction === undefined ? undefined : parsePrediction(f.prediction as string);
  } catch (err) {
    throw new UsageError(`--prediction: ${(err as Error).message}`);
  }
  const result = await finetune({
    base: await resolveModelPath(f.base as string | undefined, '--base'),
    prediction,
    data,
    out,
    method,
    steps: (f.steps as number | undefined) ?? DEFAULT_STEPS,
    workDir: f.work as string | undefined,
    recursive: f.recursive as boolean | undefined,
    triggerWord: f.trigger as string | undefined,
    resolution: f.resolution as number | undefined,
    buckets: f.buckets || f['bucket-step'] !== undefined || f['bucket-upscale']
      ? { steps: f['bucket-step'] as number | undefined, noUpscale: !f['bucket-upscale'] }
      : undefined,
    batchSize: f.batch as number | undefined,
    accumulate: f.accumulate as number | undefined,
    learningRate: f.lr as number | undefined,
    rank: f.rank as number | undefined,
    alpha: f.alpha as number | undefined,
    targets,
    warmup: f.warmup as number | undefined,
    clipNorm: f.clip as number | undefined,
    ema: f.ema as number | undefined,
    noiseOffset: f['noise-offset'] as number | undefined,
    minSnrGamma: f['min-snr'] as number | undefined,
    saveEvery: f['save-every'] as number | undefined,
    sampleEvery: f['sample-every'] as number | undefined,
    samplePrompts: sample ? [sample] : undefined,
    holdOut: f['hold-out'] as number | undefined,
    seed: f.seed as number | undefined,
    threads: f.threads as number | undefined,
    recompute: recomputeChoice(f.recompute as string | undefined),
    provider,
    signal: io.signal,
    onProgress: (e) => bar?.update(e),
  }).finally(() => bar?.finish());
  for (const r of result.rejected) io.stderr.write(`left out ${path.basename(r.path)}: ${r.reason}\n`);
  if (!bar) for (const w of result.warnings) io.stderr.write(`warning: ${w}\n`); // the bar showed them as they came
  if (result.resumedFrom !== null) io.stderr.write(`resumed from the checkpoint at step ${result.resumedFrom}\n`);
  const last = result.losses.at(-1);
  io.stderr.write(`trained ${result.steps} steps on ${result.images} pictures in ${result.seconds.toFixed(1)} s${last ? `, last loss ${last.loss.toFixed(4)}` : ''}\n`);
  if (result.heldOutLoss) io.stderr.write(`held-out loss ${result.heldOutLoss.before.toFixed(4)} → ${result.heldOutLoss.after.toFixed(4)}\n`);
  for (const s of result.samples) io.stderr.write(`sample ${s}\n`);
  io.stdout.write(`${path.resolve(result.out)}\n`);
}

/** Training progress: the bar with a running loss on a terminal; a line every 10% of the steps otherwise. */
class TrainBar {
  private readonly started = Date.now();
  private first: { step: number; at: number } | null = null;
  private drawn = false;
  private avg: number | null = null;

  constructor(private readonly out: ProgressStream) {}

  update(e: FinetuneProgress): void {
    if (e.phase !== 'train') {
      if (e.message && e.phase === 'data') this.line(e.step === 0 && !e.message.startsWith('reading') ? `warning: ${e.message}` : e.message);
      if (e.samples?.length) this.line(`samples at step ${e.step}: ${e.samples.join(', ')}`);
      return;
    }
    this.first ??= { step: e.step - 1, at: Date.now() };
    const secs = (Date.now() - this.first.at) / 1000;
    const rate = secs > 0 ? (e.step - this.first.step) / secs : 0;
    if (e.loss !== undefined) this.avg = this.avg === null ? e.loss : 0.9 * this.avg + 0.1 * e.loss;
    const loss = this.avg === null ? '' : ` loss ${this.avg.toFixed(4)}`;
    const ev = { image: 0, images: 1, step: e.step, steps: e.total, done: e.step, total: e.total, preview: null };
    if (this.out.isTTY) {
      this.out.write(`\r${renderBar(ev, rate, (this.out.columns || 80) - loss.length)}${loss}\x1b[K`);
      this.drawn = true;
    } else if (e.step === e.total || e.step % Math.max(1, Math.round(e.total / 10)) === 0) {
      this.out.write(`step ${e.step}/${e.total}${loss} (${((Date.now() - this.started) / 1000).toFixed(1)} s)\n`);
    }
  }

  private line(s: string): void {
    this.finish();
    this.out.write(`${s}\n`);
  }

  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

function recomputeChoice(v: string | undefined): boolean | 'auto' {
  if (v === undefined || v === 'auto') return 'auto';
  if (v === 'on' || v === 'off') return v === 'on';
  throw new UsageError(`--recompute must be on, off or auto, got '${v}'`);
}
