// What every sampler shares: the interface the denoising loop drives, and its argument checks.
//
// The loop calls `step(i, x, model, noise)` once per step; the sampler calls `model` as often as its
// method needs (Heun, DPM2, DPM++ 2S a and DPM++ SDE twice, PLMS twice on its first step) and returns
// x for step i + 1. The model is called with the sampler's model input and timestep and answers its raw
// output (ε, or v for v-prediction models): the sampler does the scaling and the conversion itself.

export class SamplerError extends Error {
  override name = 'SamplerError';
}

/** What a sampler needs from the job's random source (the engine's Rng satisfies it). */
export interface NoiseSource {
  normal(n: number): Float32Array;
}

/**
 * Noise for a stochastic step from σ to σ_next (k-diffusion's noise_sampler). By default it draws from the
 * job's NoiseSource; the SDE samplers can take a Brownian-tree one instead (see BrownianNoiseFactory).
 */
export type NoiseSampler = (sigma: number, sigmaNext: number) => Float32Array;

/**
 * Builds the noise sampler of one image for the SDE samplers (DPM++ SDE, 2M SDE, 3M SDE), given the latent
 * size and the σ range (k-diffusion's BrownianTreeNoiseSampler(x, σ_min, σ_max, seed)). A1111 seeds it from
 * the image's seed with torchsde's BrownianTree: brownian-tree.ts (docs/samplers.md).
 */
export type BrownianNoiseFactory = (size: number, sigmaMin: number, sigmaMax: number) => NoiseSampler;

/** The model's raw output for a model input at a (possibly fractional) training timestep. */
export type ModelFn = (input: Float32Array, timestep: number) => Promise<Float32Array>;

export type Prediction = 'epsilon' | 'v_prediction';

export interface StepResult {
  /** x for step i + 1. */
  readonly x: Float32Array;
  /** The step's first model call: its input (√ᾱ·x0 + √(1−ᾱ)·ε in every sampler) and the ε it implies. */
  readonly input: Float32Array;
  readonly eps: Float32Array;
}

export interface Sampler {
  readonly name: string;
  /** The schedule type the σ or timestep list was built with ('automatic' resolved). */
  readonly schedule: string;
  /** Model timestep of each step's first model call; its length is the number of steps. */
  readonly timesteps: readonly number[];
  /** σ-space samplers: σ per step and a final 0 (timesteps.length + 1 values); null otherwise. */
  readonly sigmas: Float64Array | null;
  /** Multiply unit noise by this to start txt2img. */
  readonly initNoiseSigma: number;
  /** x0 noised to the level of step i (img2img start, inpaint blending). */
  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array;
  /** Runs step i from x. Call in order, one sampler per image; the first call may start anywhere (img2img). */
  step(i: number, x: Float32Array, model: ModelFn, noise: NoiseSource): Promise<StepResult>;
}

export abstract class BaseSampler {
  private expected = -1;
  abstract readonly timesteps: readonly number[];

  /** Checks the call: i in range and in order (the first call may start anywhere, for img2img). */
  protected begin(i: number): void {
    this.checkIndex(i);
    if (this.expected !== -1 && i !== this.expected) {
      throw new SamplerError(`step ${i} called after step ${this.expected - 1}: steps run in order; create a new sampler per image`);
    }
    this.expected = i + 1;
  }

  protected checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.timesteps.length) {
      throw new SamplerError(`step index ${i} is outside 0…${this.timesteps.length - 1}`);
    }
  }

  protected checkNoise(x0: Float32Array, noise: Float32Array, i: number): void {
    this.checkIndex(i);
    if (x0.length !== noise.length) throw new SamplerError(`x0 has ${x0.length} values but noise has ${noise.length}`);
  }
}

/** Calls the model and checks its answer has x's size. */
export async function callModel(model: ModelFn, input: Float32Array, t: number): Promise<Float32Array> {
  const out = await model(input, t);
  if (out.length !== input.length) throw new SamplerError(`the model answered ${out.length} values for an input of ${input.length}`);
  return out;
}
