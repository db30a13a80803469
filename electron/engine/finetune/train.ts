// Fine-tuning a model package on a local folder: LoRA, full UNet fine-tuning or textual inversion.
// Read the folder (io/dataset), encode every picture once with the base autoencoder (latents cached
// per data set), then train with the engine trainer (AdamW, warm-up + cosine, clipping, optional
// EMA), checkpointing every few steps so a killed run resumes where it stopped, with sample images
// at fixed seeds, loss reported as progress, pause at step boundaries and cancel by AbortSignal.
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../diffusion/rng.ts';
import { makeSchedule, type Schedule } from '../diffusion/schedule.ts';
import { loadDataset, type DatasetItem, type RejectedFile } from '../io/dataset.ts';
import { writeBytesAtomic } from '../io/atomic.ts';
import { loadModelPackage, saveModelPackage, type ModelManifest } from '../io/model-package.ts';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.ts';
import type { ImageLimits } from '../io/image.ts';
import { timestepEmbedding } from '../nn/unet.ts';
import { PipelineAbortedError } from '../pipelines/errors.ts';
import { generatedPng } from '../pipelines/output.ts';
import { LoadedModel, loadModel, type ModelSpec } from '../pipelines/loaded-model.ts';
import { txt2img } from '../pipelines/txt2img.ts';
import type { Provider } from '../onnx/runtime.ts';
import { tensor, type TensorData } from '../tensor.ts';
import { Trainer, type Feeds } from '../training/index.ts';
import { adaptSpec, type LoadedAdapter } from './adapters.ts';
import { buildFinetuneGraph, FinetuneError, FINETUNE_METHODS, textInGraph, type FinetuneMethod } from './graph.ts';
import { loraTensors, validateLoraConfig, type LoraModule, type LoraTarget } from './lora.ts';
import { checkTriggerWord, EMBEDDING_PARAM, extendTokenizer, meanEmbedding, TI_MASK, tiFeeds, TOKEN_EMBEDDING, TOKEN_METADATA } from './ti.ts';

export interface FinetuneOptions {
  /** Base model package folder. */
  readonly base: string;
  /** Folder of training pictures (PNG/JPEG/WebP) with optional .txt/.caption sidecars. */
  readonly data: string;
  /** Output: a .safetensors file (lora, ti) or a model package folder (full). */
  readonly out: string;
  readonly method: FinetuneMethod;
  /** Optimiser steps in all (a resumed run counts the steps already done). */
  readonly steps: number;
  /** Checkpoints, the latent cache and sample images (default `<out>.work`). */
  readonly workDir?: string;
  readonly recursive?: boolean;
  /** Prepended to every caption; for ti, the new word (required there). */
  readonly triggerWord?: string;
  /** Training size in pixels (default: the model's sampling size). */
  readonly resolution?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly rank?: number;
  readonly alpha?: number;
  readonly targets?: readonly LoraTarget[];
  /** Fraction of the steps spent warming the learning rate up (then cosine to 0). */
  readonly warmup?: number;
  readonly clipNorm?: number;
  /** EMA decay of the trained weights (off when absent). */
  readonly ema?: number;
  /** Per-channel offset added to the noise (brightness and colour range; Draw Things' 0.05). */
  readonly noiseOffset?: number;
  /** Checkpoint every this many steps (default 50). */
  readonly saveEvery?: number;
  /** Sample images every this many steps (0 = never) and at the end, with the same seeds each time. */
  readonly sampleEvery?: number;
  readonly samplePrompts?: readonly string[];
  readonly sampleSeed?: number;
  readonly sampleSteps?: number;
  /** Pictures held out of training to measure the held-out loss before and after (default 0). */
  readonly holdOut?: number;
  readonly seed?: number;
  /** Name of the result (kohya ss_output_name / the package's name). */
  readonly name?: string;
  readonly minSide?: number;
  readonly limits?: ImageLimits;
  readonly threads?: number;
  readonly provider?: Provider | 'auto';
  readonly signal?: AbortSignal;
  /** Called at every step boundary; the run continues when it resolves (pause/resume). A pending pause checkpoints first. */
  readonly pause?: () => Promise<void>;
  readonly onProgress?: (e: FinetuneProgress) => void;
}

export interface FinetuneProgress {
  readonly phase: 'data' | 'train' | 'sample' | 'done';
  readonly step: number;
  readonly total: number;
  /** Training phase: this step's loss and learning rate. */
  readonly loss?: number;
  readonly lr?: number;
  readonly message?: string;
  /** Sample phase: the PNG files written. */
  readonly samples?: readonly string[];
}

export interface FinetuneResult {
  readonly out: string;
  readonly method: FinetuneMethod;
  readonly steps: number;
  /** The checkpoint step the run resumed from, or null for a fresh run. */
  readonly resumedFrom: number | null;
  readonly images: number;
  readonly rejected: readonly RejectedFile[];
  readonly losses: readonly { step: number; loss: number }[];
  /** With holdOut > 0: mean ε-MSE on the held-out pictures at fixed noise, before and after training. */
  readonly heldOutLoss: { before: number; after: number } | null;
  readonly samples: readonly string[];
  readonly seconds: number;
}

/**
 * ldm-facts §9 scaled to a small model: kohya/OneTrainer LoRA rank 8–16 at lr 1e-4–3e-4 on SD; a
 * model of a few million parameters trains stably at ~10× that, and short runs need alpha = rank.
 * Linear and conv layers as Draw Things trains them: on small UNets the convs carry most of the change.
 * Textual inversion: A1111's 5e-3. Cosine with 10% warm-up (kohya GUI), batch 4 (OneTrainer).
 */
export const FINETUNE_DEFAULTS = {
  lora: { learningRate: 1e-3, rank: 8, alpha: 8, targets: ['attn', 'ff', 'conv'] as LoraTarget[] },
  full: { learningRate: 2e-4 },
  ti: { learningRate: 5e-3 },
  batchSize: 4,
  warmup: 0.1,
  clipNorm: 1,
  noiseOffset: 0.05,
  saveEvery: 50,
  sampleSeed: 1234,
  seed: 0,
} as const;

const CHECKPOINT = 'checkpoint.safetensors';

function check(cond: boolean, msg: string): void {
  if (!cond) throw new FinetuneError(msg);
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const started = Date.now();
  check(FINETUNE_METHODS.includes(o.method), `unknown method '${o.method}'; use ${FINETUNE_METHODS.join(', ')}`);
  check(Number.isInteger(o.steps) && o.steps >= 1, `steps must be a whole number ≥ 1, got ${o.steps}`);
  const batch = o.batchSize ?? FINETUNE_DEFAULTS.batchSize;
  check(Number.isInteger(batch) && batch >= 1 && batch <= 256, `batch size must be a whole number from 1 to 256, got ${batch}`);
  const lr = o.learningRate ?? FINETUNE_DEFAULTS[o.method].learningRate;
  check(lr > 0 && lr < 1, `learning rate must be between 0 and 1, got ${lr}`);
  const warmup = o.warmup ?? FINETUNE_DEFAULTS.warmup;
  check(warmup >= 0 && warmup < 1, `warm-up must be a fraction from 0 to below 1, got ${warmup}`);
  const lora = o.method === 'lora'
    ? validateLoraConfig({
        rank: o.rank ?? FINETUNE_DEFAULTS.lora.rank,
        alpha: o.alpha ?? o.rank ?? FINETUNE_DEFAULTS.lora.alpha,
        targets: o.targets ?? FINETUNE_DEFAULTS.lora.targets,
      })
    : undefined;
  if (o.method === 'full') check(!o.out.endsWith('.safetensors'), `full fine-tuning writes a model package folder; --out ${o.out} looks like a file`);
  else check(o.out.endsWith('.safetensors'), `${o.method} writes a .safetensors file; give --out a name ending in .safetensors`);
  const signal = o.signal;
  const progress = o.onProgress ?? (() => {});
  const workDir = o.workDir ?? `${o.out}.work`;
  await fsp.mkdir(workDir, { recursive: true });

  // ---- base model and data
  const base = await loadModel(o.base, { threads: o.threads, provider: o.provider });
  const pkg = await loadModelPackage(o.base);
  const manifest = pkg.manifest;
  const baseWeights = new Map([...pkg.weights].map(([k, t]) => [k, t.data as Float32Array]));
  const baseSha = manifest.files.find((f) => f.role === 'weights')!.sha256;
  const spec = base.spec;
  const size = o.resolution ?? spec.defaults.width;
  const f = base.downscale;
  check(Number.isInteger(size) && size % (f * 2 ** (spec.unet.channelMult.length - 1)) === 0,
    `resolution ${size} must be a multiple of ${f * 2 ** (spec.unet.channelMult.length - 1)} for this model`);
  let trigger = o.triggerWord?.trim() ?? '';
  let tiWord: { word: string; id: number; pad: number; tokenize: (t: string) => ArrayLike<number> } | null = null;
  if (o.method === 'ti') {
    check(trigger !== '', 'textual inversion needs a trigger word: the new word the embedding teaches (--trigger)');
    const tokSpec = manifest.tokenizer;
    check(!!tokSpec?.vocabulary, "textual inversion needs the model's word tokenizer with an inline vocabulary");
    trigger = checkTriggerWord(trigger, tokSpec!.vocabulary!);
    const tok = extendTokenizer(tokSpec!, [trigger]);
    tiWord = { word: trigger, id: tokSpec!.vocabulary!.length, pad: tok.pad, tokenize: (t) => tok.encode(t) };
  }
  progress({ phase: 'data', step: 0, total: o.steps, message: `reading ${o.data}` });
  const holdOut = o.holdOut ?? 0;
  const textTrains = textInGraph({ method: o.method, lora });
  const tokenize = tiWord?.tokenize ?? spec.tokenize;
  let ds: DatasetSummary;
  let latents: Float32Array[];
  let contexts: Float32Array[] | null;
  let ids: BigInt64Array[] | null;
  try {
    // Each picture is encoded while its pixels are at hand (or read from the latent cache), so memory
    // holds latents, not pictures.
    const latentDir = path.join(workDir, 'latents', createHash('sha256').update(`${baseSha}|${size}`).digest('hex').slice(0, 16));
    const byHash = new Map<string, Float32Array>();
    const full = await loadDataset(o.data, {
      width: size, height: size, recursive: o.recursive, triggerWord: trigger, minSide: o.minSide, limits: o.limits, signal,
      keepPixels: false,
      onPicture: async (it) => void byHash.set(it.hash, await pictureLatent(base, it, size, latentDir)),
    });
    check(full.items.length - holdOut >= 1,
      `no usable pictures in ${o.data}${holdOut ? ` beyond the ${holdOut} held out` : ''}` +
        (full.rejected.length ? ` (${full.rejected.length} rejected: ${full.rejected.slice(0, 3).map((r) => `${path.basename(r.path)}: ${r.reason}`).join('; ')})` : ''));
    latents = full.items.map((i) => byHash.get(i.hash)!);
    contexts = textTrains ? null : await encodeCaptions(base, full.items.map((i) => i.caption));
    ids = textTrains ? full.items.map((i) => BigInt64Array.from(Array.from(tokenize(i.caption), BigInt))) : null;
    // The pixels are in the latents now; keep only what the metadata needs.
    ds = { dir: full.dir, hash: full.hash, rejected: full.rejected, captions: full.items.map((i) => i.caption) };
  } finally {
    await base.release(); // the encoders are done; sampling builds its own sessions
  }
  const c = base.latentChannels;
  const h = size / f;
  const per = c * h * h;
  const L = spec.textEncoder.maxLength;
  const ctxPer = L * spec.textEncoder.width;
  // Held-out pictures: the last `holdOut` of a seeded shuffle, so the split does not follow file names.
  const order = shuffled(ds.captions.length, new Rng(BigInt(o.seed ?? 0) + 0x5eedn));
  const heldOut = order.slice(order.length - holdOut);
  const train = order.slice(0, order.length - holdOut);

  // ---- graph and trainer (resumed when the work folder holds a checkpoint of the same run)
  const fg = buildFinetuneGraph({
    method: o.method, unet: spec.unet, textEncoder: spec.textEncoder, lora, batch, height: h, width: h, latentChannels: c, base: baseWeights,
  });
  const start = new Map<string, Float32Array>();
  if (o.method === 'full') for (const n of fg.trained) start.set(n, baseWeights.get(n)!);
  if (o.method === 'ti') start.set(EMBEDDING_PARAM, meanEmbedding(baseWeights.get(TOKEN_EMBEDDING)!, spec.textEncoder.width));
  const runKey = createHash('sha256')
    .update(JSON.stringify({ method: o.method, baseSha, data: ds.hash, size, batch, lr, warmup, lora, steps: o.steps, ema: o.ema, noise: o.noiseOffset, holdOut, seed: o.seed }))
    .digest('hex');
  const ckFile = path.join(workDir, CHECKPOINT);
  const trainerOpts = {
    graph: fg.graph,
    lr,
    schedule: { kind: 'cosine' as const, warmupSteps: Math.floor(warmup * o.steps), totalSteps: o.steps },
    adam: { weightDecay: o.method === 'ti' ? 0 : 0.01 },
    clipNorm: o.clipNorm ?? FINETUNE_DEFAULTS.clipNorm,
    ema: o.ema ? { decay: o.ema } : undefined,
    seed: o.seed ?? FINETUNE_DEFAULTS.seed,
    params: start,
    session: { threads: o.threads, provider: o.provider },
    checkpoint: { file: ckFile, every: o.saveEvery ?? FINETUNE_DEFAULTS.saveEvery },
  };
  let trainer: Trainer;
  let resumedFrom: number | null = null;
  if (existsSync(ckFile)) {
    const { metadata } = await loadSafetensors(ckFile);
    const extra = JSON.parse(metadata.extra ?? '{}') as Record<string, string>;
    check(extra.run === runKey, `${workDir} holds a checkpoint of a run with other settings or data; delete it, or pick another work folder`);
    trainer = await Trainer.resume(trainerOpts, ckFile);
    resumedFrom = trainer.step;
  } else {
    trainer = await Trainer.create(trainerOpts);
    trainer.extra = { run: runKey };
  }

  const schedule = scheduleOf(spec);
  const feedsFor = batchFeeds({ batch, c, h, per, L, ctxPer, spec, latents, contexts, ids, tiWord, schedule, noiseOffset: o.noiseOffset ?? FINETUNE_DEFAULTS.noiseOffset });
  const evalHeldOut = async (): Promise<number> => {
    // fixed noise and timesteps: the same draws before and after training
    const rng = new Rng(BigInt(o.seed ?? 0) + 0x4e1dn);
    let sum = 0;
    let n = 0;
    for (let rep = 0; rep < 4; rep++) {
      for (let s = 0; s < heldOut.length; s += batch) {
        const pick = Array.from({ length: batch }, (_, b) => heldOut[(s + b) % heldOut.length]!);
        sum += await trainer.evaluate(feedsFor(pick, rng, 0));
        n++;
      }
    }
    return sum / n;
  };
  let before: number | null = null;
  if (heldOut.length) {
    before = trainer.extra.heldOutBefore ? Number(trainer.extra.heldOutBefore) : await evalHeldOut();
    trainer.extra = { ...trainer.extra, heldOutBefore: String(before) };
  }

  // ---- the loop
  const prompts = o.samplePrompts?.length ? [...o.samplePrompts] : [trigger || ds.captions[train[0]!]!];
  const sampleEvery = o.sampleEvery ?? 0;
  const samples: string[] = [];
  const adapters = (): LoadedAdapter[] => resultAdapters(o.method, trainer.exportParams(), fg.loraModules, lora, tiWord?.word ?? null);
  const makeSamples = async (step: number): Promise<void> => {
    const files = await sampleImages(spec, baseWeights, o.method, trainer.exportParams(), adapters(), manifest, prompts, {
      seed: o.sampleSeed ?? FINETUNE_DEFAULTS.sampleSeed, steps: o.sampleSteps, dir: path.join(workDir, 'samples'), step, signal, threads: o.threads, provider: o.provider,
    });
    samples.push(...files);
    progress({ phase: 'sample', step, total: o.steps, samples: files });
  };
  const losses: { step: number; loss: number }[] = [];
  const cancelled = async (): Promise<never> => {
    await trainer.save();
    await trainer.close();
    throw new PipelineAbortedError(`training was cancelled at step ${trainer.step}; the checkpoint in ${workDir} resumes it`);
  };
  try {
    while (trainer.step < o.steps) {
      if (signal?.aborted) await cancelled();
      if (o.pause) await pausePoint(o.pause, () => trainer.save());
      if (signal?.aborted) await cancelled();
      const pick = Array.from(trainer.rng.integers(batch, train.length), (i) => train[i]!);
      const r = await trainer.trainStep(feedsFor(pick, trainer.rng));
      losses.push({ step: r.step, loss: r.loss });
      progress({ phase: 'train', step: r.step, total: o.steps, loss: r.loss, lr: r.lr });
      if (sampleEvery > 0 && r.step % sampleEvery === 0 && r.step < o.steps) await makeSamples(r.step);
    }
    const after = heldOut.length ? await evalHeldOut() : null;
    await writeResult(o, manifest, baseWeights, trainer, fg.loraModules, lora, tiWord?.word ?? null, {
      baseSha, ds, size, batch, lr, warmup, trainImages: train.length,
    });
    if (sampleEvery > 0 || o.samplePrompts?.length) await makeSamples(trainer.step);
    await trainer.save();
    progress({ phase: 'done', step: trainer.step, total: o.steps, message: `wrote ${o.out}` });
    return {
      out: o.out, method: o.method, steps: trainer.step, resumedFrom, images: train.length, rejected: ds.rejected, losses,
      heldOutLoss: before !== null && after !== null ? { before, after } : null, samples, seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await trainer.close().catch(() => undefined);
    await base.release();
  }
}

/**
 * Waits on `pause`; when it does not settle at once (the job is being paused), checkpoints first, so a
 * paused run survives the studio being closed.
 */
async function pausePoint(pause: () => Promise<void>, save: () => Promise<void>): Promise<void> {
  let settled = false;
  const p = pause().finally(() => {
    settled = true;
  });
  // A pause that is not requested settles in microtasks, all of which run before setImmediate.
  await new Promise((r) => setImmediate(r));
  if (!settled) await save();
  await p;
}

function shuffled(n: number, rng: Rng): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  const u = rng.uniform(n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function scheduleOf(spec: ModelSpec): Schedule {
  const s = spec.schedulerConfig as { betaStart?: number; betaEnd?: number; trainTimesteps?: number };
  return makeSchedule({ betaStart: s.betaStart, betaEnd: s.betaEnd, trainTimesteps: s.trainTimesteps });
}

/** The scaled latent of a picture, encoded once per (base weights, size) and cached by its pixel hash. */
async function pictureLatent(model: LoadedModel, it: DatasetItem, size: number, dir: string): Promise<Float32Array> {
  const file = path.join(dir, `${it.hash}.safetensors`);
  if (existsSync(file)) {
    const t = (await loadSafetensors(file)).tensors.get('latent');
    if (t?.data instanceof Float32Array) return t.data;
  }
  const z = await model.encodeImage(tensor('float32', [1, 3, size, size], it.pixels));
  await fsp.mkdir(dir, { recursive: true });
  await saveSafetensors(file, { latent: z });
  return z.data;
}

async function encodeCaptions(model: LoadedModel, captions: readonly string[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const cap of captions) out.push((await model.encodeText([cap])).data);
  return out;
}

interface BatchInputs {
  batch: number; c: number; h: number; per: number; L: number; ctxPer: number;
  spec: ModelSpec;
  latents: Float32Array[];
  contexts: Float32Array[] | null;
  ids: BigInt64Array[] | null;
  tiWord: { id: number; pad: number } | null;
  schedule: Schedule;
  noiseOffset: number;
}

/** The feeds of one batch: every random draw comes from `rng` (the trainer's, so checkpoints capture it). */
function batchFeeds(x: BatchInputs): (pick: readonly number[], rng: Rng, noiseOffset?: number) => Feeds {
  const { batch: B, c, h, per, L, ctxPer } = x;
  return (pick, rng, offset = x.noiseOffset) => {
    const z = new Float32Array(B * per);
    const noise = rng.normal(B * per);
    const ts = rng.integers(B, x.schedule.trainTimesteps);
    if (offset > 0) {
      const off = rng.normal(B * c);
      for (let i = 0; i < B * c; i++) for (let k = 0; k < h * h; k++) noise[i * h * h + k] = noise[i * h * h + k]! + offset * off[i]!;
    }
    const sa = new Float32Array(B);
    const sb = new Float32Array(B);
    pick.forEach((item, b) => {
      z.set(x.latents[item]!, b * per);
      const ab = x.schedule.alphasCumprod[ts[b]!]!;
      sa[b] = Math.sqrt(ab);
      sb[b] = Math.sqrt(1 - ab);
    });
    const feeds: Feeds = {
      latents: tensor('float32', [B, c, h, h], z),
      noise: tensor('float32', [B, c, h, h], noise),
      sqrt_alpha_bar: tensor('float32', [B], sa),
      sqrt_one_minus_alpha_bar: tensor('float32', [B], sb),
      timestep_embedding: timestepEmbedding(Array.from(ts), x.spec.unet.modelChannels),
    };
    if (x.contexts) {
      const ctx = new Float32Array(B * ctxPer);
      pick.forEach((item, b) => ctx.set(x.contexts![item]!, b * ctxPer));
      feeds.encoder_hidden_states = tensor('float32', [B, L, x.spec.textEncoder.width], ctx);
    } else {
      const all = new BigInt64Array(B * L);
      pick.forEach((item, b) => all.set(x.ids![item]!, b * L));
      if (x.tiWord) {
        const { ids, mask } = tiFeeds(all, x.tiWord.id, x.tiWord.pad);
        feeds.input_ids = tensor('int64', [B, L], ids);
        feeds[TI_MASK] = tensor('float32', [B, L, 1], mask);
      } else {
        feeds.input_ids = tensor('int64', [B, L], all);
      }
    }
    return feeds;
  };
}

/** The trained result as adapters (LoRA tensors or the embedding), for samples and for the output file. */
function resultAdapters(
  method: FinetuneMethod, params: ReadonlyMap<string, Float32Array>, modules: readonly LoraModule[], lora: Parameters<typeof loraTensors>[2] | undefined, word: string | null,
): LoadedAdapter[] {
  if (method === 'lora') return [{ kind: 'lora', file: 'training.safetensors', tensors: loraTensors(modules, params, lora!), metadata: {}, token: null }];
  if (method === 'ti') {
    const e = params.get(EMBEDDING_PARAM)!;
    return [{ kind: 'embedding', file: 'training.safetensors', tensors: new Map([[EMBEDDING_PARAM, tensor('float32', [1, e.length], e)]]), metadata: {}, token: word }];
  }
  return [];
}

function trainedWeights(base: ReadonlyMap<string, Float32Array>, method: FinetuneMethod, params: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  const w = new Map<string, Float32Array>();
  for (const [k, v] of base) w.set(k, method === 'full' && params.has(k) ? params.get(k)! : v.slice());
  return w;
}

interface SampleOptions {
  seed: number; steps?: number; dir: string; step: number; signal?: AbortSignal; threads?: number; provider?: Provider | 'auto';
}

async function sampleImages(
  spec: ModelSpec, base: ReadonlyMap<string, Float32Array>, method: FinetuneMethod, params: ReadonlyMap<string, Float32Array>,
  adapters: readonly LoadedAdapter[], manifest: ModelManifest, prompts: readonly string[], s: SampleOptions,
): Promise<string[]> {
  const weights = trainedWeights(base, method, params);
  const model = new LoadedModel(adaptSpec(spec, weights, adapters.map((adapter) => ({ adapter, strength: 1 })), manifest.tokenizer), {
    threads: s.threads, provider: s.provider,
  });
  await fsp.mkdir(s.dir, { recursive: true });
  const files: string[] = [];
  try {
    for (const [i, prompt] of prompts.entries()) {
      const [img] = await txt2img(model, { prompt, seed: s.seed + i, steps: s.steps, signal: s.signal, previewEvery: 0 });
      const file = path.join(s.dir, `step-${String(s.step).padStart(6, '0')}-${i}.png`);
      await writeBytesAtomic(file, await generatedPng(img!));
      files.push(file);
    }
  } finally {
    await model.release();
  }
  return files;
}

/** What the run keeps of the data set once its latents are encoded. */
interface DatasetSummary {
  dir: string; hash: string; rejected: readonly RejectedFile[]; captions: readonly string[];
}

interface RunFacts {
  baseSha: string; ds: DatasetSummary; size: number; batch: number; lr: number; warmup: number; trainImages: number;
}

async function writeResult(
  o: FinetuneOptions, manifest: ModelManifest, base: ReadonlyMap<string, Float32Array>, trainer: Trainer,
  modules: readonly LoraModule[], lora: Parameters<typeof loraTensors>[2] | undefined, word: string | null, f: RunFacts,
): Promise<void> {
  const params = trainer.exportParams();
  const name = o.name ?? path.basename(o.out).replace(/\.safetensors$/, '');
  const tagFrequency: Record<string, number> = {};
  for (const cap of f.ds.captions) for (const t of cap.split(',').map((s) => s.trim()).filter(Boolean)) tagFrequency[t] = (tagFrequency[t] ?? 0) + 1;
  const meta: Record<string, string> = {
    ss_output_name: name,
    ss_sd_model_name: manifest.name,
    ss_sd_model_hash: f.baseSha.slice(0, 10),
    ss_new_sd_model_hash: f.baseSha,
    ss_num_train_images: String(f.trainImages),
    ss_max_train_steps: String(o.steps),
    ss_steps: String(trainer.step),
    ss_learning_rate: String(f.lr),
    ss_lr_scheduler: 'cosine',
    ss_lr_warmup_steps: String(Math.floor(f.warmup * o.steps)),
    ss_batch_size_per_device: String(f.batch),
    ss_resolution: `(${f.size}, ${f.size})`,
    ss_seed: String(o.seed ?? FINETUNE_DEFAULTS.seed),
    ss_noise_offset: String(o.noiseOffset ?? FINETUNE_DEFAULTS.noiseOffset),
    ss_tag_frequency: JSON.stringify({ [path.basename(f.ds.dir)]: tagFrequency }),
    ss_training_finished_at: String(Math.floor(Date.now() / 1000)),
    'ldm_studio.method': o.method,
    'ldm_studio.base_model': manifest.name,
    'ldm_studio.base_model_sha256': f.baseSha,
    'ldm_studio.dataset': JSON.stringify({ images: f.trainImages, rejected: f.ds.rejected.length, sha256: f.ds.hash, trigger: o.triggerWord ?? '' }),
    'ldm_studio.hyperparameters': JSON.stringify({ steps: o.steps, lr: f.lr, batch: f.batch, warmup: f.warmup, clipNorm: o.clipNorm ?? FINETUNE_DEFAULTS.clipNorm, ema: o.ema ?? null, ...lora }),
  };
  await fsp.mkdir(path.dirname(path.resolve(o.out)), { recursive: true });
  if (o.method === 'lora') {
    const t = resultAdapters('lora', params, modules, lora, null)[0]!.tensors;
    await saveSafetensors(o.out, t, {
      ...meta,
      ss_network_module: 'networks.lora',
      ss_network_dim: String(lora!.rank),
      ss_network_alpha: String(lora!.alpha),
      ss_network_args: JSON.stringify({ targets: lora!.targets.join(',') }),
    });
  } else if (o.method === 'ti') {
    const e = params.get(EMBEDDING_PARAM)!;
    await saveSafetensors(o.out, { [EMBEDDING_PARAM]: tensor('float32', [1, e.length], e) }, { ...meta, [TOKEN_METADATA]: word! });
  } else {
    const { files: _files, format: _format, version: _version, ...desc } = manifest;
    await saveModelPackage(o.out, {
      ...desc,
      name,
      provenance: { ...manifest.provenance, finetunedFrom: { name: manifest.name, sha256: f.baseSha }, finetune: meta },
    }, trainedWeights(base, 'full', params) as ReadonlyMap<string, TensorData | Float32Array>);
  }
}
