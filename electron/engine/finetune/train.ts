// Fine-tuning a model on a local folder: LoRA on any model the families open (packages, SD 1.x/2.x files,
// diffusers folders; v-prediction models train toward v), full UNet fine-tuning or textual inversion (packages).
// Read the folder (io/dataset) and encode each picture once with the base autoencoder (latents cached
// per picture), then train with the engine trainer (AdamW, warm-up + cosine, clipping, optional EMA),
// checkpointing every few steps so a killed run resumes where it stopped, with sample images at fixed
// seeds, loss reported as progress, pause at step boundaries and cancel by AbortSignal.
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../diffusion/rng.ts';
import { bucketDefaults, bucketMetadata, type BucketTable } from '../io/buckets.ts';
import { loadDataset } from '../io/dataset.ts';
import { loadSafetensors } from '../io/safetensors.ts';
import { PipelineAbortedError } from '../pipelines/errors.ts';
import { Trainer } from '../training/index.ts';
import { openTrainingBase } from './base.ts';
import { batchFeeds, encodeCaptions, pictureLatent, scheduleOf, shuffled } from './batch.ts';
import { FINETUNE_DEFAULTS } from './defaults.ts';
import { FinetuneError } from './errors.ts';
import { buildFinetuneGraph } from './graph.ts';
import type { TrainingMemory } from './memory.ts';
import type { ExternalWeights } from '../onnx/serialize.ts';
import { finetuneMethod } from './methods/index.ts';
import type { FinetuneOptions, FinetuneResult } from './options.ts';
import { sampleImages, writeResult, type DatasetSummary } from './output.ts';

export { FINETUNE_DEFAULTS } from './defaults.ts';
export type { FinetuneOptions, FinetuneProgress, FinetuneResult } from './options.ts';

const CHECKPOINT = 'checkpoint.safetensors';

function check(cond: boolean, msg: string): void {
  if (!cond) throw new FinetuneError(msg);
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const started = Date.now();
  const method = finetuneMethod(o.method);
  check(Number.isInteger(o.steps) && o.steps >= 1, `steps must be a whole number ≥ 1, got ${o.steps}`);
  const batch = o.batchSize ?? FINETUNE_DEFAULTS.batchSize;
  const accumulate = o.accumulate ?? 1;
  check(Number.isInteger(accumulate) && accumulate >= 1 && accumulate <= 1024, `accumulate must be a whole number from 1 to 1024, got ${accumulate}`);
  check(Number.isInteger(batch) && batch >= 1 && batch <= 256, `batch size must be a whole number from 1 to 256, got ${batch}`);
  const lr = o.learningRate ?? method.learningRate;
  check(lr > 0 && lr < 1, `learning rate must be between 0 and 1, got ${lr}`);
  const warmup = o.warmup ?? FINETUNE_DEFAULTS.warmup;
  check(o.minSnrGamma === undefined || (o.minSnrGamma >= 0 && Number.isFinite(o.minSnrGamma)), `min-SNR γ must be a number ≥ 0 (0 = off), got ${o.minSnrGamma}`);
  check(warmup >= 0 && warmup < 1, `warm-up must be a fraction from 0 to below 1, got ${warmup}`);
  // Options the method does not need are checked only by the methods that read them.
  const opened = await openTrainingBase(o.base, { threads: o.threads, provider: o.provider }, o.prediction, { sha256: o.baseSha256 });
  const { manifest, prediction } = opened;
  let setup;
  try {
    setup = method.setup(o, manifest);
  } catch (e) {
    await opened.model.release();
    throw e;
  }
  const signal = o.signal;
  const progress = o.onProgress ?? (() => {});
  const workDir = o.workDir ?? `${o.out}.work`;
  await fsp.mkdir(workDir, { recursive: true });

  // ---- base model and data
  const base = opened.model;
  const baseWeights = opened.weights;
  const baseSha = opened.sha256;
  const spec = base.spec;
  const size = o.resolution ?? spec.defaults.width;
  const f = base.downscale;
  check(Number.isInteger(size) && size % (f * 2 ** (spec.unet.channelMult.length - 1)) === 0,
    `resolution ${size} must be a multiple of ${f * 2 ** (spec.unet.channelMult.length - 1)} for this model`);
  const bucketStep = o.buckets?.steps ?? 64;
  check(!o.buckets || (Number.isInteger(bucketStep) && bucketStep % (f * 2 ** (spec.unet.channelMult.length - 1)) === 0),
    `bucket step ${bucketStep} must be a multiple of ${f * 2 ** (spec.unet.channelMult.length - 1)} for this model`);
  const trigger = setup.trigger;
  const tiWord = setup.word ?? null;
  progress({ phase: 'data', step: 0, total: o.steps, message: `reading ${o.data}` });
  const holdOut = o.holdOut ?? 0;
  const textTrains = method.trainsText(setup);
  const tokenize = tiWord?.tokenize ?? spec.tokenize;
  let ds: DatasetSummary;
  let latents: Float32Array[];
  let contexts: Float32Array[] | null;
  let ids: BigInt64Array[] | null;
  let sizes: (readonly [number, number])[] | null;
  let bucketMeta: Record<string, string>;
  try {
    // Each picture is encoded while its pixels are at hand (or read from the latent cache), so memory
    // holds latents, not pictures.
    const latentDir = path.join(workDir, 'latents', createHash('sha256').update(`${baseSha}|${size}`).digest('hex').slice(0, 16));
    const byHash = new Map<string, Float32Array>();
    const full = await loadDataset(o.data, {
      width: size, height: size, recursive: o.recursive, triggerWord: trigger, minSide: o.minSide, limits: o.limits, signal,
      keepPixels: false,
      buckets: o.buckets ? { ...o.buckets, resolution: size } : undefined,
      onPicture: async (it) => void byHash.set(it.hash, await pictureLatent(base, it, latentDir)),
    });
    check(full.items.length - holdOut >= 1,
      `no usable pictures in ${o.data}${holdOut ? ` beyond the ${holdOut} held out` : ''}` +
        (full.rejected.length ? ` (${full.rejected.length} rejected: ${full.rejected.slice(0, 3).map((r) => `${path.basename(r.path)}: ${r.reason}`).join('; ')})` : ''));
    latents = full.items.map((i) => byHash.get(i.hash)!);
    // Buckets: each picture's latent [h, w]; batches are drawn within one bucket, one training graph per bucket shape.
    sizes = full.buckets ? full.items.map((i) => [i.size[1] / base.downscale, i.size[0] / base.downscale] as const) : null;
    bucketMeta = full.buckets ? bucketRunMetadata(full.buckets, o.buckets!, size) : {};
    contexts = textTrains ? null : await encodeCaptions(base, full.items.map((i) => i.caption));
    ids = textTrains ? full.items.map((i) => BigInt64Array.from(Array.from(tokenize(i.caption), BigInt))) : null;
    // The pixels are in the latents now; keep only what the metadata needs.
    ds = { dir: full.dir, hash: full.hash, rejected: full.rejected, captions: full.items.map((i) => i.caption) };
  } finally {
    await base.release(); // the encoders are done; sampling builds its own sessions
  }
  const warnings = vocabularyWarnings(opened.vocabulary, ds.captions, tiWord ? '' : trigger);
  for (const message of warnings) progress({ phase: 'data', step: 0, total: o.steps, message });
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
  // With buckets, one graph per bucket shape (same weights, gradients and optimiser); padding would change what the UNet sees.
  const shapes = sizes ? [...new Map(sizes.map((s) => [s.join('x'), s])).values()] : [[h, h] as const];
  // The trainer's own graph is the first shape's; the others are added by key.
  const shapeKey = (item: number): string | undefined => {
    const k = sizes?.[item]!.join('x');
    return k === shapes[0]!.join('x') ? undefined : k;
  };
  // A file-backed base's frozen UNet stays in its file (external data, fp16 widened once into the weights
  // cache) when only UNet weights train; otherwise the frozen weights are embedded as constants.
  const frozen = opened.frozenUNet && !method.trainsText(setup) ? await opened.frozenUNet() : null;
  const graphAt = ([gh, gw]: readonly [number, number]) => buildFinetuneGraph({
    method, setup, prediction, unet: spec.unet, textEncoder: spec.textEncoder, batch, height: gh, width: gw, latentChannels: c, base: baseWeights,
    frozenAsParams: frozen !== null, recompute: o.recompute ?? 'auto', memoryBudget: o.memoryBudget, ema: o.ema !== undefined,
  });
  const fg = graphAt(shapes[0]!);
  progress({ phase: 'data', step: 0, total: o.steps, message: trainingMemoryLine(fg.memory) });
  const machine = os.totalmem();
  check(fg.memory.total <= 0.9 * machine, `this training run would need about ${(fg.memory.total / 2 ** 30).toFixed(1)} GiB of memory${fg.memory.recompute ? ' even with activations recomputed' : ''}, `
    + `and this computer has ${(machine / 2 ** 30).toFixed(1)} GiB (a run may use ${(0.9 * machine / 2 ** 30).toFixed(1)}); lower the batch size or the resolution`);
  const start = method.initialParams(fg.trained, baseWeights, spec.textEncoder);
  const runKey = createHash('sha256')
    .update(JSON.stringify({ method: o.method, baseSha, data: ds.hash, size, batch, accumulate, lr, warmup, lora: setup.lora, steps: o.steps, ema: o.ema, noise: o.noiseOffset, minSnr: o.minSnrGamma, holdOut, seed: o.seed, ...(prediction === 'v_prediction' ? { prediction } : {}), ...(o.buckets ? { buckets: o.buckets } : {}) }))
    .digest('hex');
  const ckFile = path.join(workDir, CHECKPOINT);
  const trainerOpts = {
    graph: fg.graph,
    lr,
    schedule: { kind: 'cosine' as const, warmupSteps: Math.floor(warmup * o.steps), totalSteps: o.steps },
    adam: { weightDecay: method.weightDecay },
    clipNorm: o.clipNorm ?? FINETUNE_DEFAULTS.clipNorm,
    ema: o.ema ? { decay: o.ema } : undefined,
    seed: o.seed ?? FINETUNE_DEFAULTS.seed,
    params: start,
    session: { threads: o.threads, provider: o.provider, weightsFile: frozen?.weightsFile },
    frozen: frozen?.mode as ExternalWeights | undefined,
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

  if (sizes) for (const s of shapes.slice(1)) trainer.addShape(s.join('x'), graphAt(s).graph);
  const schedule = scheduleOf(spec);
  const feedsFor = batchFeeds({ batch, c, h, per, L, ctxPer, sizes: sizes ?? undefined, spec, latents, contexts, ids, tiWord, schedule, prediction,
    noiseOffset: o.noiseOffset ?? FINETUNE_DEFAULTS.noiseOffset, minSnrGamma: o.minSnrGamma ?? FINETUNE_DEFAULTS.minSnrGamma });
  const evalHeldOut = async (): Promise<number> => {
    // fixed noise and timesteps: the same draws before and after training
    const rng = new Rng(BigInt(o.seed ?? 0) + 0x4e1dn);
    let sum = 0;
    let n = 0;
    for (let rep = 0; rep < 4; rep++) {
      for (let s = 0; s < heldOut.length; s += batch) {
        // with buckets, a batch of one held-out picture (batches hold one shape)
        const pick = Array.from({ length: batch }, (_, b) => heldOut[sizes ? s : (s + b) % heldOut.length]!);
        sum += await trainer.evaluate(feedsFor(pick, rng, true), shapeKey(pick[0]!));
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
  const makeSamples = async (step: number): Promise<void> => {
    const params = trainer.exportParams();
    const files = await sampleImages(spec, baseWeights, params, method.adapters(params, fg.loraModules, setup), manifest?.tokenizer, prompts, {
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
      for (let m = 0; m < accumulate; m++) {
        const pick = sizes ? bucketBatch(train, sizes, batch, trainer.rng) : Array.from(trainer.rng.integers(batch, train.length), (i) => train[i]!);
        await trainer.backward(feedsFor(pick, trainer.rng), shapeKey(pick[0]!));
      }
      const r = await trainer.update();
      losses.push({ step: r.step, loss: r.loss });
      progress({ phase: 'train', step: r.step, total: o.steps, loss: r.loss, lr: r.lr });
      if (sampleEvery > 0 && r.step % sampleEvery === 0 && r.step < o.steps) await makeSamples(r.step);
    }
    const after = heldOut.length ? await evalHeldOut() : null;
    await writeResult(o, method, setup, { name: opened.name, manifest }, baseWeights, trainer, fg.loraModules, {
      baseSha, ds, size, batch, accumulate, lr, warmup, trainImages: train.length, extraMetadata: bucketMeta,
    });
    if (sampleEvery > 0 || o.samplePrompts?.length) await makeSamples(trainer.step);
    await trainer.save();
    progress({ phase: 'done', step: trainer.step, total: o.steps, message: `wrote ${o.out}` });
    return {
      out: o.out, method: o.method, steps: trainer.step, resumedFrom, images: train.length, rejected: ds.rejected, losses,
      heldOutLoss: before !== null && after !== null ? { before, after } : null, samples, seconds: (Date.now() - started) / 1000, warnings,
    };
  } finally {
    await trainer.close().catch(() => undefined);
    await base.release();
  }
}

/** The estimate said before training starts, e.g. "training step ≈ 6.1 GiB (weights 3.2, activations 1.9, recomputed per block)". */
export function trainingMemoryLine(m: TrainingMemory): string {
  const g = (b: number) => (b / 2 ** 30).toFixed(1);
  return `training step ≈ ${g(m.total)} GiB of memory (frozen weights ${g(m.weights)}, trained ${g(m.trained)}, activations ${g(m.activations)}`
    + `${m.recompute ? ', recomputed per block to fit' : ''})`;
}

/** A batch within one bucket: a random training picture, then `batch` pictures drawn from its bucket. */
function bucketBatch(train: readonly number[], sizes: readonly (readonly [number, number])[], batch: number, rng: Rng): number[] {
  const anchor = train[rng.integers(1, train.length)[0]!]!;
  const key = sizes[anchor]!.join('x');
  const pool = train.filter((i) => sizes[i]!.join('x') === key);
  return Array.from(rng.integers(batch, pool.length), (i) => pool[i]!);
}

/** kohya's bucket keys of the run's metadata (ss_enable_bucket, min/max bucket sides, ss_bucket_info, ss_bucket_no_upscale). */
function bucketRunMetadata(table: BucketTable & { noUpscale: boolean }, o: NonNullable<FinetuneOptions['buckets']>, size: number): Record<string, string> {
  const d = bucketDefaults({ ...o, resolution: size });
  return { ss_enable_bucket: 'True', ss_min_bucket_reso: String(d.minSize), ss_max_bucket_reso: String(d.maxSize), ...bucketMetadata(table, table.noUpscale) };
}

/**
 * A word-level tokenizer drops words it does not know, so an unknown trigger word cannot tie a LoRA or
 * fine-tune to itself, and unknown caption words teach nothing: say so before training.
 */
export function vocabularyWarnings(vocabulary: readonly string[] | undefined, captions: readonly string[], trigger: string): string[] {
  if (!vocabulary) return [];
  const known = new Set(vocabulary);
  const out: string[] = [];
  const t = trigger.toLowerCase();
  if (t && !(t.match(/[\p{L}\p{N}]+/gu) ?? []).every((w) => known.has(w))) {
    out.push(`the trigger word '${trigger}' is not in the model's vocabulary, so prompts cannot call it up; use --method ti to teach a new word`);
  }
  const unknown = new Map<string, number>();
  for (const cap of captions) {
    for (const w of cap.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) if (!known.has(w) && w !== t) unknown.set(w, (unknown.get(w) ?? 0) + 1);
  }
  if (unknown.size) {
    const top = [...unknown].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([w]) => w);
    out.push(`${unknown.size} caption word${unknown.size > 1 ? 's are' : ' is'} not in the model's vocabulary and ${unknown.size > 1 ? 'are' : 'is'} ignored: ${top.join(', ')}${unknown.size > 8 ? ', …' : ''}`);
  }
  return out;
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
