// What every pipeline does the same way: resolve options against the model's defaults, encode the
// prompts once, run the batch image by image (seed + i each) and report progress with previews.
import { tensor, type TensorData } from '../tensor.ts';
import { PipelineError, throwIfAborted } from './errors.ts';
import { checkMultiple, type RgbImage } from './image.ts';
import { denoise, type InpaintGuide, type StepPrediction } from './denoise.ts';
import type { DiffusionModel } from './model.ts';
import { projectPreview } from './preview.ts';
import { brownianTreeNoise } from '../diffusion/brownian-tree.ts';
import { ImageNoise, imageSeeds, seedRecord } from '../diffusion/noise.ts';
import { alphaBarAt, createImageSampler, modelSchedule, type NoiseSource, type Sampler } from './sampling.ts';
import type { GeneratedImage, GenerateOptions, GenerationRecord, PipelineKind } from './types.ts';

export interface Resolved {
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly sampler: string;
  readonly scheduleType: string;
  readonly steps: number;
  readonly guidance: number;
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  readonly batchCount: number;
  readonly eta: number;
  readonly clipSkip: number;
  readonly previewEvery: number;
}

export const MAX_SEED = 2 ** 32 - 1;

export function resolveOptions(model: DiffusionModel, o: GenerateOptions, size?: { width: number; height: number }): Resolved {
  const d = model.defaults;
  const r: Resolved = {
    prompt: o.prompt,
    negativePrompt: o.negativePrompt ?? '',
    sampler: o.sampler ?? d.sampler,
    scheduleType: o.scheduleType ?? 'automatic',
    steps: o.steps ?? d.steps,
    guidance: o.guidance ?? d.guidance,
    seed: o.seed,
    width: size?.width ?? o.width ?? d.width,
    height: size?.height ?? o.height ?? d.height,
    batchCount: o.batchCount ?? 1,
    eta: o.eta ?? 0,
    clipSkip: o.clipSkip ?? 1,
    previewEvery: o.previewEvery ?? 1,
  };
  if (typeof r.prompt !== 'string') throw new PipelineError('the prompt must be a string');
  intIn('steps', r.steps, 1, 1000);
  intIn('seed', r.seed, 0, MAX_SEED);
  intIn('batch count', r.batchCount, 1, 10_000);
  intIn('preview interval', r.previewEvery, 0, 1_000_000);
  intIn('clip skip', r.clipSkip, 1, 12);
  if (r.seed + r.batchCount - 1 > MAX_SEED) {
    throw new PipelineError(`seed ${r.seed} + batch of ${r.batchCount} passes ${MAX_SEED}; use a smaller seed`);
  }
  if (!Number.isFinite(r.guidance) || r.guidance < 0) throw new PipelineError(`guidance must be a number ≥ 0, got ${r.guidance}`);
  if (!Number.isFinite(r.eta) || r.eta < 0 || r.eta > 1) throw new PipelineError(`eta must be between 0 and 1, got ${r.eta}`);
  checkMultiple(r.width, r.height, model.downscale, 'image');
  return r;
}

export function strengthIn(strength: number): number {
  if (!Number.isFinite(strength) || strength < 0 || strength > 1) {
    throw new PipelineError(`strength must be between 0 and 1, got ${strength}`);
  }
  return strength;
}

/**
 * Index of the first step to run for a denoising strength, as AUTOMATIC1111 picks it
 * (sd_samplers_common.setup_img2img_steps: t_enc = int(min(strength, 0.999)·steps), start at
 * steps − t_enc − 1, so t_enc + 1 steps run; diffusers runs one step fewer, ⌊steps·strength⌋). Strength 0
 * keeps the picture (A1111 would still run its last step).
 */
export function startIndexFor(steps: number, strength: number): number {
  if (strength === 0) return steps;
  return Math.max(0, steps - Math.trunc(Math.min(strength, 0.999) * steps) - 1);
}

export interface ImageJob {
  readonly index: number;
  readonly seed: number;
  readonly sampler: Sampler;
  readonly rng: NoiseSource;
  readonly cond: TensorData<'float32'>;
  readonly uncond: TensorData<'float32'> | null;
  /** The latent shape [1, C, h, w] for this size. */
  readonly shape: [number, number, number, number];
  /** Progress hook for `denoise`'s onStep. */
  readonly onStep: (index: number, latents: Float32Array, step: StepPrediction) => void;
  /** The shared denoising loop for this image: its sampler, prompts, guidance, noise, abort and progress. */
  denoise(latents: TensorData<'float32'>, startIndex: number, guide: InpaintGuide | undefined): Promise<TensorData<'float32'>>;
}

export interface BatchSpec {
  readonly kind: PipelineKind;
  readonly strength: number | null;
  readonly feather: number | null;
  /** Index of the first step each image runs (img2img/inpaint strength); 0 for txt2img. */
  readonly startIndex: number;
}

/** Runs `one` for images 0…n−1 with A1111's seeds (seed+i, or variation seed+i); prompts are encoded once for the whole batch. */
export async function runBatch(
  model: DiffusionModel,
  r: Resolved,
  o: GenerateOptions,
  spec: BatchSpec,
  one: (job: ImageJob) => Promise<RgbImage>,
): Promise<GeneratedImage[]> {
  throwIfAborted(o.signal);
  // Prompt and negative prompt in one call, so long prompts are padded to the same number of chunks.
  const text = { clipSkip: r.clipSkip };
  const [cond, uncond] = r.guidance === 1 ? [await model.encodeText([r.prompt], text), null] : splitBatch(await model.encodeText([r.prompt, r.negativePrompt], text));
  const f = model.downscale;
  const shape: [number, number, number, number] = [1, model.latentChannels, r.height / f, r.width / f];
  // The sampler's own step count: CompVis timesteps give 8 steps for 7, DPM2's list drops one σ, ….
  const stepsRun = createImageSampler(r.sampler, r.steps, r.eta, model.schedulerConfig, r.scheduleType).timesteps.length - spec.startIndex;
  const record: Omit<GenerationRecord, 'seed'> = {
    kind: spec.kind,
    prompt: r.prompt,
    negativePrompt: r.negativePrompt,
    sampler: r.sampler,
    scheduleType: r.scheduleType,
    steps: r.steps,
    guidance: r.guidance,
    width: r.width,
    height: r.height,
    eta: r.eta,
    ...(r.clipSkip > 1 ? { clipSkip: r.clipSkip } : {}),
    strength: spec.strength,
    feather: spec.feather,
    model: { name: model.name, hash: model.hash },
  };
  const schedule = modelSchedule(model.schedulerConfig);
  const results: GeneratedImage[] = [];
  for (let index = 0; index < r.batchCount; index++) {
    throwIfAborted(o.signal);
    const { seed, variationSeed } = imageSeeds(r.seed, index, o);
    // A1111's SDE samplers take their noise from a Brownian tree seeded with the image's seed.
    const brownian = (n: number, lo: number, hi: number) => brownianTreeNoise(seed, o.rngSource ?? 'gpu', n, lo, hi);
    const sampler = createImageSampler(r.sampler, r.steps, r.eta, model.schedulerConfig, r.scheduleType, brownian);
    const onStep = (i: number, latents: Float32Array, pred: StepPrediction): void => {
      if (!o.onProgress) return;
      const step = i - spec.startIndex + 1;
      const wantPreview = r.previewEvery > 0 && model.preview !== null && (step % r.previewEvery === 0 || step === stepsRun);
      o.onProgress({
        image: index,
        images: r.batchCount,
        step,
        steps: stepsRun,
        done: index * stepsRun + step,
        total: r.batchCount * stepsRun,
        preview: wantPreview ? previewOf(model, pred, alphaBarAt(schedule, sampler.timesteps[i]!), shape) : null,
      });
    };
    // A1111's per-image generator: its first draw is the initial noise, later ones the sampler's.
    const rng = new ImageNoise({ ...o, seed, variationSeed: variationSeed ?? undefined, shape: [shape[1], shape[2], shape[3]], downscale: f });
    const image = await one({
      index, seed, sampler, rng, cond, uncond, shape, onStep,
      denoise: (latents, startIndex, guide) =>
        denoise({ model, sampler, latents, startIndex, cond, uncond, guidance: r.guidance, rng, guide, signal: o.signal, onStep }),
    });
    const done: GeneratedImage = { image, record: { ...record, seed, ...seedRecord(o, variationSeed) } };
    results.push(done);
    await o.onImage?.(done, index);
  }
  return results;
}

/**
 * The step's estimate of the clean latents, x̂0 = (x − √(1−ᾱ)·ε)/√ᾱ in the model's input space (the same
 * for every sampler), projected to RGB: it shows the picture forming from the first step, not noise.
 */
function previewOf(model: DiffusionModel, pred: StepPrediction, alphaBar: number, shape: readonly number[]): RgbImage {
  const a = Math.sqrt(alphaBar);
  const b = Math.sqrt(1 - alphaBar);
  const x0 = new Float32Array(pred.input.length);
  for (let k = 0; k < x0.length; k++) x0[k] = (pred.input[k]! - b * pred.eps[k]!) / a;
  return projectPreview(x0, model.preview!, shape);
}

/** Initial latents for a run starting at `startIndex`: pure noise, or the picture's latents noised to that step. */
export function initialLatents(
  job: ImageJob,
  startIndex: number,
  noise: Float32Array,
  known: Float32Array | null,
): TensorData<'float32'> {
  const x =
    startIndex === 0 || known === null
      ? noise.map((v) => v * job.sampler.initNoiseSigma)
      : Float32Array.from(job.sampler.addNoise(known, noise, startIndex));
  return tensor('float32', job.shape, x);
}

function intIn(what: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new PipelineError(`${what} must be a whole number from ${lo} to ${hi}, got ${v}`);
}

/**
 * For txt2img / img2img on a 9-channel inpainting model: everything is to be repainted, so the UNet
 * sees a mask of ones and the latents of a blank (mid-grey) picture, as it was trained for that case.
 */
export async function repaintAllGuide(model: DiffusionModel, width: number, height: number): Promise<InpaintGuide | undefined> {
  const c = model.latentChannels;
  if (model.unetInChannels === c) return undefined;
  if (model.unetInChannels !== 2 * c + 1) {
    throw new PipelineError(`model ${model.name} has a UNet with ${model.unetInChannels} input channels; expected ${c} or ${2 * c + 1}`);
  }
  const f = model.downscale;
  const blank = await model.encodeImage(tensor('float32', [1, 3, height, width]));
  return { kind: 'concat', mask: new Float32Array((width / f) * (height / f)).fill(1), maskedLatents: blank.data };
}

/** [2, …] → its two rows as [1, …] tensors. */
function splitBatch(t: TensorData<'float32'>): [TensorData<'float32'>, TensorData<'float32'>] {
  const half = t.data.length / 2;
  const shape = [1, ...t.shape.slice(1)];
  return [tensor('float32', shape, t.data.slice(0, half)), tensor('float32', shape, t.data.slice(half))];
}
