// Stages 'sr-autoencoder' and 'sr': the ×4 super-resolution LDM (paper §4.4, concat conditioning).
// The embedded model's f=4 KL autoencoder (from its shipped package) is fine-tuned at 128² with the
// paper's 32 GroupNorm groups (config.ts says why), then encodes every 128² picture once (posterior mean
// and std, cached); the UNet sees the noisy latents with the 32² low-resolution picture concatenated and
// learns ε on random crops (SR is local: a step costs a crop, sampling takes the whole picture), with
// min-SNR-γ weighting and an EMA copy. Resumable from training/embedded-sr/sr.ckpt.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import { loadSafetensors } from '../../electron/engine/io/safetensors.ts';
import { autoencoderFactor } from '../../electron/engine/nn/config.ts';
import { buildAutoencoderLossGraph, buildDiffusionLossGraph } from '../../electron/engine/nn/losses.ts';
import { buildVaeEncoderGraph } from '../../electron/engine/nn/models.ts';
import { timestepEmbedding } from '../../electron/engine/nn/unet.ts';
import { createSession } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import type { Rng } from '../../electron/engine/diffusion/rng.ts';
import { loadCheckpoint, Trainer } from '../../electron/engine/training/index.ts';
import { AE_TRAINING, CACHE_DIR, MODEL_NAME, SR_AE_TRAINING, SR_AUTOENCODER, SR_IMAGE_SIZE, SR_SCHEDULE, SR_TRAINING, SR_UNET, SR_WORK_DIR } from './config.ts';
import { loadSrDataset, toSigned, type SrDataset } from './sr-data.ts';
import type { StageOptions } from './train-autoencoder.ts';

export const SR_CHECKPOINT = path.join(SR_WORK_DIR, 'sr.ckpt');
/** The autoencoder fine-tuned at 128² with 32 groups (stage 'sr-autoencoder'). */
export const SR_AE_CHECKPOINT = path.join(SR_WORK_DIR, 'autoencoder-128.ckpt');
const LATENTS_FILE = path.join(SR_WORK_DIR, 'latents-128.bin');
const LATENTS_META = path.join(SR_WORK_DIR, 'latents-128.json');
/** The runs share a 2-core machine: one intra-op thread. */
export const SR_THREADS = 1;

/** The embedded model's autoencoder (first_stage_model.*) as float32, from its shipped package. */
export async function embeddedAutoencoderWeights(): Promise<Map<string, Float32Array>> {
  const file = path.join('resources/models', MODEL_NAME, 'model.safetensors');
  const st = await loadSafetensors(file);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of st.tensors) if (name.startsWith('first_stage_model.')) out.set(name, t.data as Float32Array);
  if (out.size === 0) throw new Error(`${file} has no first_stage_model.* tensors`);
  return out;
}

/** The SR model's autoencoder: the 128² fine-tune when it exists, else the embedded one (step 0). */
export async function srAutoencoderWeights(): Promise<{ weights: Map<string, Float32Array>; step: number }> {
  if (!existsSync(SR_AE_CHECKPOINT)) return { weights: await embeddedAutoencoderWeights(), step: 0 };
  const ck = await loadCheckpoint(SR_AE_CHECKPOINT);
  return { weights: ck.params, step: ck.step };
}

export interface SrLatents {
  /** posterior mean and std per picture, unscaled: [count, 2, C, s, s] */
  moments: Float32Array;
  scaleFactor: number;
  channels: number;
  size: number;
}

/**
 * Encodes the 128² set once with the autoencoder (cached for the autoencoder step it was made with); the
 * scale factor is 1/std of the training latents.
 */
export async function srLatentCache(ds: SrDataset, ae: { weights: ReadonlyMap<string, Float32Array>; step: number }, log: (line: string) => void): Promise<SrLatents> {
  const f = autoencoderFactor(SR_AUTOENCODER);
  const size = SR_IMAGE_SIZE / f;
  const channels = SR_AUTOENCODER.embedDim;
  const per = channels * size * size;
  const count = ds.high.samples.length;
  if (existsSync(LATENTS_FILE) && existsSync(LATENTS_META)) {
    const meta = JSON.parse(readFileSync(LATENTS_META, 'utf8')) as { scaleFactor: number; count: number; aeStep: number };
    const b = readFileSync(LATENTS_FILE);
    if (meta.count === count && meta.aeStep === ae.step) return { moments: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), scaleFactor: meta.scaleFactor, channels, size };
  }
  const batch = 16;
  const g = buildVaeEncoderGraph(SR_AUTOENCODER, batch, SR_IMAGE_SIZE, SR_IMAGE_SIZE);
  const enc = await createSession(
    toModelProto(g, { kind: 'embedded', get: (name) => ({ dtype: 'float32', shape: g.params.get(name)!.shape, data: ae.weights.get(name)! }) }),
    { threads: SR_THREADS },
  );
  const moments = new Float32Array(count * 2 * per);
  const n = 3 * SR_IMAGE_SIZE * SR_IMAGE_SIZE;
  const t0 = Date.now();
  for (let s = 0; s < count; s += batch) {
    const x = new Float32Array(batch * n);
    for (let i = 0; i < batch && s + i < count; i++) toSigned(ds.high.pixels.subarray((s + i) * n, (s + i + 1) * n), x, i * n);
    const out = Object.values(await enc.run({ [g.inputs[0]!.name]: { dtype: 'float32', shape: [batch, 3, SR_IMAGE_SIZE, SR_IMAGE_SIZE], data: x } }))[0]!;
    const m = out.data as Float32Array;
    for (let i = 0; i < batch && s + i < count; i++) {
      const base = (s + i) * 2 * per;
      for (let k = 0; k < per; k++) {
        moments[base + k] = m[i * 2 * per + k]!;
        moments[base + per + k] = Math.exp(0.5 * Math.max(-30, Math.min(20, m[i * 2 * per + per + k]!)));
      }
    }
    if ((s / batch) % 20 === 0) log(`sr: encoded ${Math.min(s + batch, count)} of ${count} pictures (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  await enc.release();
  let sum = 0;
  let sq = 0;
  let cnt = 0;
  for (let i = 0; i < count; i++) {
    if (ds.high.samples[i]!.heldOut) continue;
    for (let k = 0; k < per; k++) {
      const v = moments[i * 2 * per + k]!;
      sum += v;
      sq += v * v;
      cnt++;
    }
  }
  const mean = sum / cnt;
  const scaleFactor = 1 / Math.sqrt(sq / cnt - mean * mean);
  mkdirSync(SR_WORK_DIR, { recursive: true });
  writeFileSync(LATENTS_FILE, moments);
  writeFileSync(LATENTS_META, JSON.stringify({ scaleFactor, count, aeStep: ae.step }));
  return { moments, scaleFactor, channels, size };
}

/**
 * One training batch of random crops: latents sampled from the posterior (× scale), the matching crop of
 * the low-resolution picture in [−1, 1], and a random horizontal flip of both.
 */
export function srCropBatch(
  ds: SrDataset, lat: SrLatents, indices: readonly number[], crop: number, rng: Rng,
): { latents: Float32Array; concat: Float32Array } {
  const { channels: c, size: s } = lat;
  const b = indices.length;
  if (crop > s) throw new Error(`crop ${crop} is larger than the ${s}² latents`);
  if (ds.lowSize !== s) throw new Error(`the low-resolution pictures are ${ds.lowSize}², the latents ${s}²`);
  const per = c * s * s;
  const lowN = 3 * s * s;
  const latents = new Float32Array(b * c * crop * crop);
  const concat = new Float32Array(b * 3 * crop * crop);
  const offs = rng.integers(2 * b, s - crop + 1);
  const flips = rng.uniform(b);
  const post = rng.normal(b * c * crop * crop);
  for (let k = 0; k < b; k++) {
    const i = indices[k]!;
    const oy = offs[2 * k]!;
    const ox = offs[2 * k + 1]!;
    const flip = flips[k]! < 0.5;
    for (let y = 0; y < crop; y++) {
      for (let x = 0; x < crop; x++) {
        const sx = ox + (flip ? crop - 1 - x : x);
        const src = (oy + y) * s + sx;
        for (let ch = 0; ch < c; ch++) {
          const o = ((k * c + ch) * crop + y) * crop + x;
          const mean = lat.moments[i * 2 * per + ch * s * s + src]!;
          const std = lat.moments[i * 2 * per + per + ch * s * s + src]!;
          latents[o] = (mean + std * post[o]!) * lat.scaleFactor;
        }
        for (let ch = 0; ch < 3; ch++) concat[((k * 3 + ch) * crop + y) * crop + x] = ds.low[i * lowN + ch * s * s + src]! / 127.5 - 1;
      }
    }
  }
  return { latents, concat };
}

export async function trainSr(o: StageOptions): Promise<void> {
  const log = o.log ?? console.log;
  mkdirSync(SR_WORK_DIR, { recursive: true });
  const ds = await loadSrDataset(SR_IMAGE_SIZE, CACHE_DIR, log);
  const lat = await srLatentCache(ds, await srAutoencoderWeights(), log);
  const { batch, crop, lr, warmup, emaDecay, minSnrGamma } = SR_TRAINING;
  const c = lat.channels;
  const lg = buildDiffusionLossGraph(SR_UNET, { batch, height: crop, width: crop, latentChannels: c, weighted: true });
  const graph = buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()]);
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: warmup },
    adam: { weightDecay: 0.01 },
    clipNorm: 1,
    ema: { decay: emaDecay },
    seed: 4004,
    session: { threads: SR_THREADS },
    checkpoint: { file: SR_CHECKPOINT, every: 100 },
  };
  const trainer = existsSync(SR_CHECKPOINT) ? await Trainer.resume(opts, SR_CHECKPOINT) : await Trainer.create(opts);
  const train = ds.high.samples.flatMap((s, i) => (s.heldOut ? [] : [i]));
  log(`sr: ${train.length} training pictures, latents ${c}×${lat.size}², crops ${crop}², scale ${lat.scaleFactor.toFixed(4)}, ${trainer.trained.length} tensors, resuming at step ${trainer.step}`);
  const schedule = makeSchedule(SR_SCHEDULE);
  const sa = new Float32Array(batch);
  const sb = new Float32Array(batch);
  const weights = new Float32Array(batch);
  const shape = [batch, c, crop, crop];
  const deadline = Date.now() + o.minutes * 60_000;
  let t0 = Date.now();
  let lossAvg = 0;
  while (Date.now() < deadline) {
    const rng = trainer.rng;
    const pick = Array.from(rng.integers(batch, train.length), (j) => train[j]!);
    const { latents, concat } = srCropBatch(ds, lat, pick, crop, rng);
    const eps = rng.normal(batch * c * crop * crop);
    const ts = rng.integers(batch, schedule.alphasCumprod.length);
    for (let b = 0; b < batch; b++) {
      const ab = schedule.alphasCumprod[ts[b]!]!;
      sa[b] = Math.sqrt(ab);
      sb[b] = Math.sqrt(1 - ab);
      const snr = ab / (1 - ab);
      weights[b] = Math.min(snr, minSnrGamma) / snr;
    }
    const r = await trainer.trainStep({
      latents: { dtype: 'float32', shape, data: latents },
      noise: { dtype: 'float32', shape, data: eps },
      concat: { dtype: 'float32', shape: [batch, 3, crop, crop], data: concat },
      sqrt_alpha_bar: { dtype: 'float32', shape: [batch], data: sa },
      sqrt_one_minus_alpha_bar: { dtype: 'float32', shape: [batch], data: sb },
      timestep_embedding: timestepEmbedding(Array.from(ts), SR_UNET.modelChannels),
      loss_weights: { dtype: 'float32', shape: [batch], data: weights },
    });
    lossAvg += r.loss;
    if (r.step % 25 === 0) {
      const dt = (Date.now() - t0) / 25 / 1000;
      t0 = Date.now();
      log(`sr step ${r.step} loss ${(lossAvg / 25).toFixed(4)} grad ${r.gradNorm.toFixed(3)} lr ${r.lr.toExponential(2)} ${dt.toFixed(2)} s/step`);
      lossAvg = 0;
    }
  }
  await trainer.save();
  await trainer.close();
}


/** Random size×size crops of the 128² pictures in [−1, 1], each flipped left–right at random. */
export function pictureCropBatch(ds: SrDataset, indices: readonly number[], crop: number, rng: Rng): Float32Array {
  const s = ds.high.size;
  const b = indices.length;
  const out = new Float32Array(b * 3 * crop * crop);
  const offs = rng.integers(2 * b, s - crop + 1);
  const flips = rng.uniform(b);
  for (let k = 0; k < b; k++) {
    const base = indices[k]! * 3 * s * s;
    const flip = flips[k]! < 0.5;
    for (let c = 0; c < 3; c++) for (let y = 0; y < crop; y++) for (let x = 0; x < crop; x++) {
      const sx = offs[2 * k + 1]! + (flip ? crop - 1 - x : x);
      out[((k * 3 + c) * crop + y) * crop + x] = ds.high.pixels[base + c * s * s + (offs[2 * k]! + y) * s + sx]! / 127.5 - 1;
    }
  }
  return out;
}

/**
 * Stage 'sr-autoencoder': the embedded autoencoder fine-tuned, encoder and decoder, on random crops of
 * the 128² pictures with the paper's 32 GroupNorm groups (its loss: L1 + image-gradient L1 + KL).
 */
export async function trainSrAutoencoder(o: StageOptions): Promise<void> {
  const log = o.log ?? console.log;
  mkdirSync(SR_WORK_DIR, { recursive: true });
  const ds = await loadSrDataset(SR_IMAGE_SIZE, CACHE_DIR, log);
  const { batch, crop, lr, warmup } = SR_AE_TRAINING;
  const { klWeight, gradientWeight } = AE_TRAINING;
  const lg = buildAutoencoderLossGraph(SR_AUTOENCODER, { batch, height: crop, width: crop, klWeight, gradientWeight });
  const graph = buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()]);
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: warmup },
    adam: { beta1: 0.5, beta2: 0.9, weightDecay: 0 },
    clipNorm: 1,
    seed: 4005,
    session: { threads: SR_THREADS },
    checkpoint: { file: SR_AE_CHECKPOINT, every: 50 },
  };
  const trainer = existsSync(SR_AE_CHECKPOINT)
    ? await Trainer.resume(opts, SR_AE_CHECKPOINT)
    : await Trainer.create({ ...opts, params: await embeddedAutoencoderWeights() });
  const train = ds.high.samples.flatMap((s, i) => (s.heldOut ? [] : [i]));
  log(`sr-autoencoder: ${train.length} training pictures, crops ${crop}², ${trainer.trained.length} tensors, resuming at step ${trainer.step}`);
  const f = autoencoderFactor(SR_AUTOENCODER);
  const zShape = [batch, SR_AUTOENCODER.embedDim, crop / f, crop / f];
  const deadline = Date.now() + o.minutes * 60_000;
  let t0 = Date.now();
  let lossAvg = 0;
  while (Date.now() < deadline) {
    const pick = Array.from(trainer.rng.integers(batch, train.length), (j) => train[j]!);
    const image = pictureCropBatch(ds, pick, crop, trainer.rng);
    const r = await trainer.trainStep({
      image: { dtype: 'float32', shape: [batch, 3, crop, crop], data: image },
      noise: { dtype: 'float32', shape: zShape, data: trainer.rng.normal(zShape.reduce((a, b) => a * b, 1)) },
    });
    lossAvg += r.loss;
    if (r.step % 20 === 0) {
      const dt = (Date.now() - t0) / 20 / 1000;
      t0 = Date.now();
      log(`sr-autoencoder step ${r.step} loss ${(lossAvg / 20).toFixed(4)} grad ${r.gradNorm.toFixed(3)} lr ${r.lr.toExponential(2)} ${dt.toFixed(2)} s/step`);
      lossAvg = 0;
    }
  }
  await trainer.save();
  await trainer.close();
}
