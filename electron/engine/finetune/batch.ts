// The data side of a fine-tuning step: latents and text contexts prepared once, then each batch's
// feeds drawn from the trainer's RNG (batch, noise, timesteps, noise offset), so a checkpoint, which
// stores that RNG, reproduces the rest of the run exactly.
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Rng } from '../diffusion/rng.ts';
import type { Prediction } from '../families/index.ts';
import { makeSchedule, type Schedule } from '../diffusion/schedule.ts';
import type { DatasetItem } from '../io/dataset.ts';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.ts';
import { timestepEmbedding } from '../nn/unet.ts';
import type { LoadedModel, ModelSpec } from '../pipelines/loaded-model.ts';
import { tensor } from '../tensor.ts';
import type { Feeds } from '../training/index.ts';
import { TI_MASK, tiFeeds } from './ti.ts';

export function shuffled(n: number, rng: Rng): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  const u = rng.uniform(n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export function scheduleOf(spec: ModelSpec): Schedule {
  const s = spec.schedulerConfig as { betaStart?: number; betaEnd?: number; trainTimesteps?: number };
  return makeSchedule({ betaStart: s.betaStart, betaEnd: s.betaEnd, trainTimesteps: s.trainTimesteps });
}

/** The scaled latent of a picture (at its size: the training size or its bucket), encoded once per base weights and cached by its pixel hash. */
export async function pictureLatent(model: LoadedModel, it: DatasetItem, dir: string): Promise<Float32Array> {
  const file = path.join(dir, `${it.hash}.safetensors`);
  if (existsSync(file)) {
    const t = (await loadSafetensors(file)).tensors.get('latent');
    if (t?.data instanceof Float32Array) return t.data;
  }
  const z = await model.encodeImage(tensor('float32', [1, 3, it.size[1], it.size[0]], it.pixels));
  await fsp.mkdir(dir, { recursive: true });
  await saveSafetensors(file, { latent: z });
  return z.data;
}

export async function encodeCaptions(model: LoadedModel, captions: readonly string[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const cap of captions) out.push((await model.encodeText([cap])).data);
  return out;
}

export interface BatchInputs {
  batch: number; c: number; h: number; per: number; L: number; ctxPer: number;
  /** Aspect-ratio buckets: each item's latent [height, width] (a batch takes its first item's); else h × h for all. */
  sizes?: readonly (readonly [number, number])[];
  spec: ModelSpec;
  latents: Float32Array[];
  contexts: Float32Array[] | null;
  ids: BigInt64Array[] | null;
  tiWord: { id: number; pad: number } | null;
  schedule: Schedule;
  /** v-prediction changes the min-SNR weight (the target is v, not ε). */
  prediction?: Prediction;
  noiseOffset: number;
  /**
   * min-SNR-γ loss weighting (Hang et al. 2023): w = min(SNR, γ)/SNR for ε, min(SNR, γ)/(SNR + 1) for v
   * (as kohya's sd-scripts); 0 = equal weights.
   */
  minSnrGamma: number;
}

/**
 * The feeds of one batch: every random draw comes from `rng` (the trainer's, so checkpoints capture it).
 * `plain` (held-out evaluation): no noise offset and equal weights, the bare ε-MSE.
 */
export function batchFeeds(x: BatchInputs): (pick: readonly number[], rng: Rng, plain?: boolean) => Feeds {
  const { batch: B, c, L, ctxPer } = x;
  return (pick, rng, plain = false) => {
    const [h, wd] = x.sizes ? x.sizes[pick[0]!]! : [x.h, x.h];
    const per = x.sizes ? c * h * wd : x.per;
    for (const item of pick) {
      if (x.latents[item]!.length !== per) throw new Error(`batch items of different sizes: draw each batch within one bucket`);
    }
    const offset = plain ? 0 : x.noiseOffset;
    const gamma = plain ? 0 : x.minSnrGamma;
    const z = new Float32Array(B * per);
    const noise = rng.normal(B * per);
    const ts = rng.integers(B, x.schedule.trainTimesteps);
    if (offset > 0) {
      const off = rng.normal(B * c);
      for (let i = 0; i < B * c; i++) for (let k = 0; k < h * wd; k++) noise[i * h * wd + k] = noise[i * h * wd + k]! + offset * off[i]!;
    }
    const sa = new Float32Array(B);
    const sb = new Float32Array(B);
    const w = new Float32Array(B).fill(1);
    pick.forEach((item, b) => {
      z.set(x.latents[item]!, b * per);
      const ab = x.schedule.alphasCumprod[ts[b]!]!;
      sa[b] = Math.sqrt(ab);
      sb[b] = Math.sqrt(1 - ab);
      const snr = ab / (1 - ab);
      if (gamma > 0) w[b] = Math.min(snr, gamma) / (x.prediction === 'v_prediction' ? snr + 1 : snr);
    });
    const feeds: Feeds = {
      latents: tensor('float32', [B, c, h, wd], z),
      noise: tensor('float32', [B, c, h, wd], noise),
      sqrt_alpha_bar: tensor('float32', [B], sa),
      sqrt_one_minus_alpha_bar: tensor('float32', [B], sb),
      timestep_embedding: timestepEmbedding(Array.from(ts), x.spec.unet.modelChannels),
      loss_weights: tensor('float32', [B], w),
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
