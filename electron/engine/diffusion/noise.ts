// Initial and per-step noise the way AUTOMATIC1111 draws it (modules/rng.py ImageRNG), so a seed from an
// A1111 picture gives the same starting latents here:
// - Source ("Random number generator source"): 'gpu' (A1111's default: torch's CUDA generator) and 'nv'
//   (A1111's CPU copy of it) are the same numbers, PhiloxNormal; 'cpu' is torch's CPU generator, TorchCpuNormal.
// - Image i of a batch: seed + i, or, with a variation strength ≠ 0, the same seed for every image and
//   variation seed + i (A1111's all_seeds / all_subseeds).
// - Variation seed: slerp(strength, noise(seed), noise(variation seed)), A1111's slerp (below).
// - Resize seed from W×H: the noise (with its variation) is drawn at W/f × H/f and pasted centred into
//   the image's own first noise of its seed, cropping or leaving a border as A1111 does.
// - Later draws (ancestral sampler steps, DDIM with η > 0) continue the image's own generator, or
//   with an eta noise seed delta (ENSD) come from a fresh generator seeded with seed + ENSD. The SDE
//   samplers (DPM++ SDE, 2M SDE, 3M SDE) draw from a Brownian tree instead (brownian-tree.ts).
// Where this cannot match A1111 exactly: its 'gpu' numbers are CUDA's float32 arithmetic (ours and its 'nv'
// are float64 rounded once: ≤ ~2e-7 apart), and CUDA lays values out as 'nv' only while a latent has at
// most SMs × 2048 values (every SD size at 512², 4×128×128 needs ≥ 32 SMs); torch's CPU kernel varies
// with the CPU (TorchCpuKernel: we take x86 AVX2's; Apple silicon differs by up to 1.5e-6).
import { PhiloxNormal, TorchCpuNormal } from './rng.ts';
import type { NoiseSource } from './samplers.ts';

export type RngSource = 'gpu' | 'cpu' | 'nv';
export const RNG_SOURCES: readonly RngSource[] = ['gpu', 'cpu', 'nv'];

/** A1111's seed settings beside the seed itself (its "Extra" seed options and two settings). */
export interface SeedOptions {
  /** A1111's "Random number generator source"; default 'gpu' (the same numbers as 'nv'). */
  readonly rngSource?: RngSource;
  /** "Variation seed" (A1111's subseed); used when variationStrength ≠ 0. */
  readonly variationSeed?: number;
  /** "Variation strength", 0…1: 0 is the seed's noise, 1 the variation seed's. */
  readonly variationStrength?: number;
  /** "Resize seed from": the size in pixels the seed's noise is drawn at, then pasted centred. */
  readonly resizeSeedFrom?: { readonly width: number; readonly height: number } | null;
  /** "Eta noise seed delta": per-step noise comes from seed + ensd. */
  readonly ensd?: number;
}

export interface ImageNoiseOptions extends SeedOptions {
  /** This image's seed (after the batch rule: see imageSeeds). */
  readonly seed: number;
  /** Latent shape [C, H, W] of one image. */
  readonly shape: readonly [number, number, number];
  /** Pixels per latent cell, to turn resizeSeedFrom into a latent size (8 for SD). */
  readonly downscale: number;
}

export class NoiseError extends Error {
  override name = 'NoiseError';
}

/** A fresh generator for a seed from a source, as torch.Generator(...).manual_seed(seed) is. */
export function createGenerator(source: RngSource, seed: number | bigint): NoiseSource {
  switch (source) {
    case 'gpu':
    case 'nv':
      return new PhiloxNormal(seed);
    case 'cpu':
      return new TorchCpuNormal(seed);
    default:
      throw new NoiseError(`unknown random number source '${String(source)}': use ${RNG_SOURCES.join(', ')}`);
  }
}

/** The seed and variation seed of image `index` of a batch (A1111's all_seeds / all_subseeds). */
export function imageSeeds(seed: number, index: number, o: SeedOptions): { seed: number; variationSeed: number | null } {
  const varies = (o.variationStrength ?? 0) !== 0;
  return {
    seed: seed + (varies ? 0 : index),
    variationSeed: varies ? (o.variationSeed ?? 0) + index : null,
  };
}

/**
 * One image's noise stream, as A1111's ImageRNG with one seed: the first normal(n) call is the initial
 * noise (n must be the latent size), later calls are the sampler's per-step noise.
 */
export class ImageNoise implements NoiseSource {
  private readonly o: ImageNoiseOptions;
  private generator: NoiseSource;
  private first = true;

  constructor(o: ImageNoiseOptions) {
    checkOptions(o);
    this.o = o;
    this.generator = createGenerator(o.rngSource ?? 'gpu', o.seed);
  }

  normal(n: number): Float32Array {
    if (!this.first) return this.generator.normal(n);
    const size = numel(this.o.shape);
    if (n !== size) throw new NoiseError(`the first draw is the initial noise of ${this.o.shape.join('×')} = ${size} values, asked for ${n}`);
    this.first = false;
    const x = firstNoise(this.o, this.generator);
    const ensd = this.o.ensd ?? 0;
    if (ensd !== 0) this.generator = createGenerator(this.o.rngSource ?? 'gpu', BigInt(this.o.seed) + BigInt(ensd));
    return x;
  }
}

/** The initial noise of one image (ImageNoise's first draw). */
export function initialNoise(o: ImageNoiseOptions): Float32Array {
  return new ImageNoise(o).normal(numel(o.shape));
}

function firstNoise(o: ImageNoiseOptions, own: NoiseSource): Float32Array {
  const source = o.rngSource ?? 'gpu';
  const [c, h, w] = o.shape;
  const from = o.resizeSeedFrom ? [c, Math.floor(o.resizeSeedFrom.height / o.downscale), Math.floor(o.resizeSeedFrom.width / o.downscale)] as const : null;
  const resized = from !== null && from[0] * from[1] * from[2] > 0 && (from[1] !== h || from[2] !== w);
  const drawShape = resized ? from : o.shape;
  let noise = resized ? createGenerator(source, o.seed).normal(numel(drawShape)) : own.normal(numel(drawShape));
  const strength = o.variationStrength ?? 0;
  if (strength !== 0) {
    const sub = createGenerator(source, o.variationSeed ?? 0).normal(numel(drawShape));
    noise = slerp(strength, noise, sub, drawShape);
  }
  if (!resized) return noise;
  const x = own.normal(numel(o.shape));
  pasteCentred(noise, drawShape, x, o.shape);
  return x;
}

/**
 * A1111's create_random_tensors paste: `src` (drawn at another size) centred on `dst`, both [C, H, W];
 * offsets use floor division as Python's //, so an odd shrink leaves the last row/column of dst as it was.
 */
export function pasteCentred(src: Float32Array, srcShape: readonly number[], dst: Float32Array, dstShape: readonly number[]): void {
  const [c, sh, sw] = srcShape as [number, number, number];
  const [, dh, dw] = dstShape as [number, number, number];
  let dx = Math.floor((dw - sw) / 2);
  let dy = Math.floor((dh - sh) / 2);
  const w = dx >= 0 ? sw : sw + 2 * dx;
  const h = dy >= 0 ? sh : sh + 2 * dy;
  const tx = Math.max(dx, 0);
  const ty = Math.max(dy, 0);
  dx = Math.max(-dx, 0);
  dy = Math.max(-dy, 0);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < h; y++) {
      const s = (k * sh + dy + y) * sw + dx;
      dst.set(src.subarray(s, s + w), (k * dh + ty + y) * dw + tx);
    }
  }
}

/**
 * A1111's slerp(val, low, high) on one image's [C, H, W] noise: normalised along H (its torch.norm(dim=1)),
 * one angle per (channel, column); if the mean cosine is above 0.9995 it falls back to
 * low·val + high·(1 − val) (sic: the weights are the other way round from the slerp).
 */
export function slerp(val: number, low: Float32Array, high: Float32Array, shape: readonly number[]): Float32Array {
  const [c, h, w] = shape as [number, number, number];
  if (low.length !== c * h * w || high.length !== low.length) throw new NoiseError(`slerp needs two tensors of ${shape.join('×')}`);
  const cols = c * w;
  const dot = new Float64Array(cols);
  for (let k = 0; k < c; k++) {
    for (let x = 0; x < w; x++) {
      let nl = 0;
      let nh = 0;
      for (let y = 0; y < h; y++) {
        const i = (k * h + y) * w + x;
        nl += low[i]! * low[i]!;
        nh += high[i]! * high[i]!;
      }
      const a = Math.fround(Math.sqrt(nl));
      const b = Math.fround(Math.sqrt(nh));
      let d = 0;
      for (let y = 0; y < h; y++) {
        const i = (k * h + y) * w + x;
        d += Math.fround(low[i]! / a) * Math.fround(high[i]! / b);
      }
      dot[k * w + x] = Math.fround(d);
    }
  }
  let mean = 0;
  for (const d of dot) mean += d;
  mean /= cols;
  const out = new Float32Array(low.length);
  if (mean > 0.9995) {
    for (let i = 0; i < out.length; i++) out[i] = low[i]! * val + high[i]! * (1 - val);
    return out;
  }
  for (let k = 0; k < c; k++) {
    for (let x = 0; x < w; x++) {
      const omega = Math.acos(dot[k * w + x]!);
      const so = Math.sin(omega);
      const wl = Math.fround(Math.sin((1 - val) * omega) / so);
      const wh = Math.fround(Math.sin(val * omega) / so);
      for (let y = 0; y < h; y++) {
        const i = (k * h + y) * w + x;
        out[i] = Math.fround(wl * low[i]!) + Math.fround(wh * high[i]!);
      }
    }
  }
  return out;
}

/** A1111's samplers whose noise its "ENSD" entry is written for (uses_ensd), when their η ≠ 0. */
const ENSD_SAMPLERS = new Set(['euler a', 'dpm2 a', 'dpm++ 2s a', 'dpm fast', 'dpm adaptive']);

/** Whether A1111 writes "ENSD" for this sampler label (schedule suffix ignored) and ancestral η. */
export function writesEnsd(samplerLabel: string, ensd: number, eta = 1): boolean {
  if (!ensd || eta === 0) return false;
  return ENSD_SAMPLERS.has(samplerLabel.toLowerCase().replace(/\s+(karras|exponential|polyexponential|uniform|sgm uniform)$/, ''));
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function checkOptions(o: ImageNoiseOptions): void {
  const int = (v: number | undefined, what: string, max = 2 ** 53 - 1) => {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0 || v > max)) throw new NoiseError(`${what} must be a whole number from 0 to ${max}, got ${v}`);
  };
  int(o.seed, 'seed');
  int(o.variationSeed, 'variation seed');
  if (o.ensd !== undefined && !Number.isSafeInteger(o.ensd)) throw new NoiseError(`eta noise seed delta must be a whole number, got ${o.ensd}`);
  if (o.ensd && o.seed + o.ensd < 0) throw new NoiseError(`seed ${o.seed} + eta noise seed delta ${o.ensd} is below 0`);
  const s = o.variationStrength ?? 0;
  if (!Number.isFinite(s) || s < 0 || s > 1) throw new NoiseError(`variation strength must be between 0 and 1, got ${s}`);
  if (o.rngSource !== undefined && !RNG_SOURCES.includes(o.rngSource)) {
    throw new NoiseError(`unknown random number source '${String(o.rngSource)}': use ${RNG_SOURCES.join(', ')}`);
  }
  if (o.resizeSeedFrom) {
    const { width, height } = o.resizeSeedFrom;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
      throw new NoiseError(`resize seed from must be a width and height in whole pixels, got ${width}x${height}`);
    }
  }
  if (o.shape.length !== 3 || o.shape.some((d) => !Number.isInteger(d) || d < 1)) throw new NoiseError(`latent shape must be [C, H, W], got [${o.shape.join(', ')}]`);
  if (!Number.isInteger(o.downscale) || o.downscale < 1) throw new NoiseError(`downscale must be a whole number ≥ 1, got ${o.downscale}`);
}

/** The seed extras worth keeping in an image's record: only those that change its noise, with its own variation seed. */
export function seedRecord(o: SeedOptions, variationSeed: number | null): SeedOptions {
  const r: { -readonly [K in keyof SeedOptions]: SeedOptions[K] } = {};
  if (o.rngSource && o.rngSource !== 'gpu') r.rngSource = o.rngSource;
  if (variationSeed !== null && o.variationStrength) {
    r.variationSeed = variationSeed;
    r.variationStrength = o.variationStrength;
  }
  if (o.resizeSeedFrom && o.resizeSeedFrom.width > 0 && o.resizeSeedFrom.height > 0) r.resizeSeedFrom = { ...o.resizeSeedFrom };
  if (o.ensd) r.ensd = o.ensd;
  return r;
}

/** The infotext fields (GenerationParams names) A1111 writes for these seed extras. */
export interface SeedParams {
  variationSeed?: number;
  variationStrength?: number;
  seedResizeFrom?: { width: number; height: number };
  ensd?: number;
  rng?: string;
}

/**
 * A record's seed extras as A1111 writes them: "Variation seed" and "Variation seed strength" when the
 * strength ≠ 0, "Seed resize from" when both sides > 0, "ENSD" for its ancestral samplers only
 * (writesEnsd; our name 'euler_a' or its label), and "RNG: CPU" (nothing for GPU, and nothing for NV either).
 */
export function seedParams(r: SeedOptions & { readonly sampler?: string | null }): SeedParams {
  const p: SeedParams = {};
  if (r.variationStrength && r.variationSeed !== undefined) {
    p.variationSeed = r.variationSeed;
    p.variationStrength = r.variationStrength;
  }
  if (r.resizeSeedFrom && r.resizeSeedFrom.width > 0 && r.resizeSeedFrom.height > 0) p.seedResizeFrom = { ...r.resizeSeedFrom };
  const label = (r.sampler ?? '').replace(/_/g, ' ').replace(/^dpmpp\b/i, 'DPM++');
  if (r.ensd && writesEnsd(label, r.ensd)) p.ensd = r.ensd;
  if (r.rngSource === 'cpu') p.rng = 'CPU';
  return p;
}

/** The source an infotext's "RNG" entry names: 'CPU' → cpu, 'NV' → nv, missing or anything else → gpu (A1111's default). */
export function rngSourceFromInfotext(rng: string | undefined): RngSource {
  const v = rng?.trim().toUpperCase();
  return v === 'CPU' ? 'cpu' : v === 'NV' ? 'nv' : 'gpu';
}
