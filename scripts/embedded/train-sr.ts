// Stages 'sr' and 'sr-decoder': the ×4 super-resolution LDM (paper §4.4, concat conditioning). The
// embedded model's f=4 KL encoder (from its shipped package) encodes every 128² picture once (posterior
// mean and std, cached); the decoder is fine-tuned on those latents at 128² with the paper's 32 GroupNorm
// groups (config.ts says why); the UNet sees the noisy latents with the 32² low-resolution picture concatenated and
// learns ε on random crops (SR is local: a step costs a crop, sampling takes the whole picture), with
// min-SNR-γ weighting, then the v-prediction loss (config.ts says why), and an EMA copy. Resumable
// from training/embedded-sr/sr.ckpt.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import { loadSafetensors } from '../../electron/engine/io/safetensors.ts';
import { autoencoderFactor } from '../../electron/engine/nn/config.ts';
import { vaeDecode, vaeEncode } from '../../electron/engine/nn/autoencoder.ts';
import { buildDiffusionLossGraph } from '../../electron/engine/nn/losses.ts';
import { Graph, type Value } from '../../electron/engine/onnx/graph.ts';
import { buildVaeEncoderGraph } from '../../electron/engine/nn/models.ts';
import { timestepEmbedding } from '../../electron/engine/nn/unet.ts';
import { createSession } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import type { Rng } from '../../electron/engine/diffusion/rng.ts';
import { loadCheckpoint, Trainer } from '../../electron/engine/training/index.ts';
import { AE_TRAINING, AUTOENCODER, CACHE_DIR, MODEL_NAME, SR_AUTOENCODER, SR_DECODER_TRAINING, SR_IMAGE_SIZE, SR_SCHEDULE, SR_TRAINING, SR_UNET, SR_WORK_DIR } from './config.ts';
import { loadSrDataset, toSigned, type SrDataset } from './sr-data.ts';
import { latentScaleFactor } from './latent-scale.ts';
import { stepLogger } from './step-log.ts';
import type { StageOptions } from './train-autoencoder.ts';

export const SR_CHECKPOINT = path.join(SR_WORK_DIR, 'sr.ckpt');
/** The decoder fine-tuned at 128² with 32 groups on the embedded encoder's latents (stage 'sr-decoder'). */
export const SR_DECODER_CHECKPOINT = path.join(SR_WORK_DIR, 'decoder-128.ckpt');
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

/**
 * The encoder re-fitted with 32 groups to give the embedded encoder's latents (stage 'sr-encoder'): the
 * release layout runs every GroupNorm with 32 groups, and the embedded encoder was trained with 16.
 */
export const SR_ENCODER_CHECKPOINT = path.join(SR_WORK_DIR, 'encoder-128.ckpt');

/**
 * The SR model's autoencoder: the embedded one with the 128² decoder and the 32-group encoder where they
 * exist (the decoder's step; 0 = none yet; and the encoder's).
 */
export async function srAutoencoderWeights(): Promise<{ weights: Map<string, Float32Array>; step: number; encoderStep: number }> {
  const weights = await embeddedAutoencoderWeights();
  let step = 0;
  let encoderStep = 0;
  if (existsSync(SR_DECODER_CHECKPOINT)) {
    const ck = await loadCheckpoint(SR_DECODER_CHECKPOINT);
    for (const [name, data] of ck.params) weights.set(name, data);
    step = ck.step;
  }
  if (existsSync(SR_ENCODER_CHECKPOINT)) {
    const ck = await loadCheckpoint(SR_ENCODER_CHECKPOINT);
    for (const [name, data] of ck.params) weights.set(name, data);
    encoderStep = ck.step;
  }
  return { weights, step, encoderStep };
}

export interface SrLatents {
  /** posterior mean and std per picture, unscaled: [count, 2, C, s, s] */
  moments: Float32Array;
  scaleFactor: number;
  channels: number;
  size: number;
}

/**
 * Encodes the 128² set once with the embedded encoder (16 groups, as it was trained); the scale factor
 * is 1/std of the training latents.
 */
export async function srLatentCache(ds: SrDataset, log: (line: string) => void): Promise<SrLatents> {
  const f = autoencoderFactor(AUTOENCODER);
  const size = SR_IMAGE_SIZE / f;
  const channels = AUTOENCODER.embedDim;
  const per = channels * size * size;
  const count = ds.high.samples.length;
  if (existsSync(LATENTS_FILE) && existsSync(LATENTS_META)) {
    const meta = JSON.parse(readFileSync(LATENTS_META, 'utf8')) as { scaleFactor: number; count: number };
    const b = readFileSync(LATENTS_FILE);
    if (meta.count === count) return { moments: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), scaleFactor: meta.scaleFactor, channels, size };
  }
  const batch = 16;
  const ae = await embeddedAutoencoderWeights();
  const g = buildVaeEncoderGraph(AUTOENCODER, batch, SR_IMAGE_SIZE, SR_IMAGE_SIZE);
  const enc = await createSession(
    toModelProto(g, { kind: 'embedded', get: (name) => ({ dtype: 'float32', shape: g.params.get(name)!.shape, data: ae.get(name)! }) }),
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
  const scaleFactor = latentScaleFactor(moments, count, per, (i) => ds.high.samples[i]!.heldOut);
  mkdirSync(SR_WORK_DIR, { recursive: true });
  writeFileSync(LATENTS_FILE, moments);
  writeFileSync(LATENTS_META, JSON.stringify({ scaleFactor, count }));
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
  const lat = await srLatentCache(ds, log);
  const { batch, crop, lr, warmup, emaDecay, minSnrGamma, vLossFrom, maxWeight } = SR_TRAINING;
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
  const report = stepLogger('sr', log);
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
      weights[b] = trainer.step >= vLossFrom ? Math.min(1 / ab, maxWeight) : Math.min(snr, minSnrGamma) / snr;
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
    report(r);
  }
  await trainer.save();
  await trainer.close();
}


/**
 * The decoder's loss on cached latents: `latent_sample` [B, C, h, w] (a posterior sample, unscaled) →
 * picture, against `image` [B, 3, 4h, 4w]: mean L1 + gradientWeight · L1 of the image gradients, as the
 * embedded autoencoder was trained (no encoder in the graph, so a step costs the decoder only).
 */
export function buildDecoderLossGraph(batch: number, latentSize: number, gradientWeight: number): { graph: Graph; loss: Value } {
  const g = new Graph('decoder_loss');
  const f = autoencoderFactor(SR_AUTOENCODER);
  const n = latentSize * f;
  const z = g.input('latent_sample', 'float32', [batch, SR_AUTOENCODER.embedDim, latentSize, latentSize]);
  const image = g.input('image', 'float32', [batch, 3, n, n]);
  const recon = vaeDecode(g, SR_AUTOENCODER, z);
  const all = [0, 1, 2, 3];
  const meanAbs = (a: Value, b: Value) => g.reduceMean(g.abs(g.sub(a, b)), all, false);
  const grads = (x: Value): [Value, Value] => [
    g.sub(g.slice(x, [1], [n], [3]), g.slice(x, [0], [n - 1], [3])),
    g.sub(g.slice(x, [1], [n], [2]), g.slice(x, [0], [n - 1], [2])),
  ];
  const [ix, iy] = grads(image);
  const [rx, ry] = grads(recon);
  const loss = g.output(g.add(meanAbs(image, recon), g.mul(g.add(meanAbs(ix, rx), meanAbs(iy, ry)), gradientWeight)), 'loss');
  return { graph: g, loss };
}

/** Random crops of posterior samples (unscaled) and the matching crops of the 128² pictures in [−1, 1]. */
export function decoderCropBatch(ds: SrDataset, lat: SrLatents, indices: readonly number[], crop: number, rng: Rng): { z: Float32Array; image: Float32Array } {
  const { channels: c, size: s } = lat;
  const hs = ds.high.size;
  const f = hs / s;
  const per = c * s * s;
  const pc = crop * f;
  const b = indices.length;
  const z = new Float32Array(b * c * crop * crop);
  const image = new Float32Array(b * 3 * pc * pc);
  const offs = rng.integers(2 * b, s - crop + 1);
  const post = rng.normal(z.length);
  for (let k = 0; k < b; k++) {
    const i = indices[k]!;
    const oy = offs[2 * k]!;
    const ox = offs[2 * k + 1]!;
    for (let ch = 0; ch < c; ch++) for (let y = 0; y < crop; y++) for (let x = 0; x < crop; x++) {
      const src = i * 2 * per + ch * s * s + (oy + y) * s + ox + x;
      const o = ((k * c + ch) * crop + y) * crop + x;
      z[o] = lat.moments[src]! + lat.moments[src + per]! * post[o]!;
    }
    for (let ch = 0; ch < 3; ch++) for (let y = 0; y < pc; y++) for (let x = 0; x < pc; x++) {
      image[((k * 3 + ch) * pc + y) * pc + x] = ds.high.pixels[i * 3 * hs * hs + ch * hs * hs + (oy * f + y) * hs + ox * f + x]! / 127.5 - 1;
    }
  }
  return { z, image };
}

/** Stage 'sr-decoder': the decoder fine-tuned at 128² with 32 groups on random crops of the cached latents. */
export async function trainSrDecoder(o: StageOptions): Promise<void> {
  const log = o.log ?? console.log;
  mkdirSync(SR_WORK_DIR, { recursive: true });
  const ds = await loadSrDataset(SR_IMAGE_SIZE, CACHE_DIR, log);
  const lat = await srLatentCache(ds, log);
  const { batch, crop, lr, warmup } = SR_DECODER_TRAINING;
  const lg = buildDecoderLossGraph(batch, crop, AE_TRAINING.gradientWeight);
  const graph = buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()]);
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: warmup },
    adam: { beta1: 0.5, beta2: 0.9, weightDecay: 0 },
    clipNorm: 1,
    seed: 4005,
    session: { threads: SR_THREADS },
    checkpoint: { file: SR_DECODER_CHECKPOINT, every: 50 },
  };
  const ae = await embeddedAutoencoderWeights();
  const start = new Map([...lg.graph.params.keys()].map((n) => [n, Float32Array.from(ae.get(n)!)]));
  const trainer = existsSync(SR_DECODER_CHECKPOINT) ? await Trainer.resume(opts, SR_DECODER_CHECKPOINT) : await Trainer.create({ ...opts, params: start });
  const train = ds.high.samples.flatMap((s, i) => (s.heldOut ? [] : [i]));
  log(`sr-decoder: ${train.length} training pictures, latent crops ${crop}² (${crop * 4}² pixels), ${trainer.trained.length} tensors, resuming at step ${trainer.step}`);
  const f = autoencoderFactor(SR_AUTOENCODER);
  const deadline = Date.now() + o.minutes * 60_000;
  const report = stepLogger('sr-decoder', log, 20);
  while (Date.now() < deadline) {
    const pick = Array.from(trainer.rng.integers(batch, train.length), (j) => train[j]!);
    const { z, image } = decoderCropBatch(ds, lat, pick, crop, trainer.rng);
    const r = await trainer.trainStep({
      latent_sample: { dtype: 'float32', shape: [batch, lat.channels, crop, crop], data: z },
      image: { dtype: 'float32', shape: [batch, 3, crop * f, crop * f], data: image },
    });
    report(r);
  }
  await trainer.save();
  await trainer.close();
}

/**
 * The encoder's distillation loss: the 32-group encoder's moments on whole 128² pictures against the
 * cached moments of the embedded (16-group) encoder: MSE of the means + 0.1 · MSE of the log-variances.
 */
export function buildEncoderLossGraph(batch: number): { graph: Graph; loss: Value } {
  const g = new Graph('encoder_distill');
  const n = SR_IMAGE_SIZE;
  const s = n / autoencoderFactor(SR_AUTOENCODER);
  const c = SR_AUTOENCODER.embedDim;
  const image = g.input('image', 'float32', [batch, 3, n, n]);
  const target = g.input('target_moments', 'float32', [batch, 2 * c, s, s]);
  const moments = vaeEncode(g, SR_AUTOENCODER, image);
  const all = [0, 1, 2, 3];
  const sq = (a: Value, b: Value) => g.reduceMean(g.mul(g.sub(a, b), g.sub(a, b)), all, false);
  const part = (v: Value, from: number) => g.slice(v, [from], [from + c], [1]);
  const loss = g.output(g.add(sq(part(moments, 0), part(target, 0)), g.mul(sq(part(moments, c), part(target, c)), 0.1)), 'loss');
  return { graph: g, loss };
}

/** Stage 'sr-encoder': the encoder re-fitted with 32 groups, from the embedded weights, on the training pictures. */
export async function trainSrEncoder(o: StageOptions): Promise<void> {
  const log = o.log ?? console.log;
  mkdirSync(SR_WORK_DIR, { recursive: true });
  const ds = await loadSrDataset(SR_IMAGE_SIZE, CACHE_DIR, log);
  const lat = await srLatentCache(ds, log);
  const batch = 8;
  const lg = buildEncoderLossGraph(batch);
  const graph = buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()]);
  const opts = {
    graph,
    lr: 1e-4,
    schedule: { kind: 'warmup' as const, warmupSteps: 50 },
    adam: { weightDecay: 0 },
    clipNorm: 1,
    seed: 4006,
    session: { threads: SR_THREADS },
    checkpoint: { file: SR_ENCODER_CHECKPOINT, every: 50 },
  };
  const ae = await embeddedAutoencoderWeights();
  const start = new Map([...lg.graph.params.keys()].map((n) => [n, Float32Array.from(ae.get(n)!)]));
  const trainer = existsSync(SR_ENCODER_CHECKPOINT) ? await Trainer.resume(opts, SR_ENCODER_CHECKPOINT) : await Trainer.create({ ...opts, params: start });
  const train = ds.high.samples.flatMap((s, i) => (s.heldOut ? [] : [i]));
  log(`sr-encoder: ${train.length} training pictures at ${SR_IMAGE_SIZE}², ${trainer.trained.length} tensors, resuming at step ${trainer.step}`);
  const { channels: c, size: s } = lat;
  const per = c * s * s;
  const n = 3 * SR_IMAGE_SIZE * SR_IMAGE_SIZE;
  const deadline = Date.now() + o.minutes * 60_000;
  const report = stepLogger('sr-encoder', log, 20);
  while (Date.now() < deadline) {
    const pick = Array.from(trainer.rng.integers(batch, train.length), (j) => train[j]!);
    const image = new Float32Array(batch * n);
    const target = new Float32Array(batch * 2 * per);
    pick.forEach((i, k) => {
      toSigned(ds.high.pixels.subarray(i * n, (i + 1) * n), image, k * n);
      const m = lat.moments.subarray(i * 2 * per, (i + 1) * 2 * per);
      target.set(m.subarray(0, per), k * 2 * per);
      // the cache holds std; the encoder outputs log-variance
      for (let j = 0; j < per; j++) target[k * 2 * per + per + j] = 2 * Math.log(m[per + j]!);
    });
    const r = await trainer.trainStep({
      image: { dtype: 'float32', shape: [batch, 3, SR_IMAGE_SIZE, SR_IMAGE_SIZE], data: image },
      target_moments: { dtype: 'float32', shape: [batch, 2 * c, s, s], data: target },
    });
    report(r);
  }
  await trainer.save();
  await trainer.close();
}
