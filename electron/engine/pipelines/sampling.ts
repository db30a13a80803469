// The pipelines' view of samplers and randomness (engine/diffusion owns the real ones).
export interface NoiseSource {
  /** n standard-normal samples. */
  normal(n: number): Float32Array;
}

export interface LoopSampler {
  readonly timesteps: readonly number[];
  readonly initNoiseSigma: number;
  scaleModelInput(x: Float32Array, i: number): Float32Array;
  step(eps: Float32Array, i: number, x: Float32Array, rng: NoiseSource): Float32Array;
  /** Clean latents noised to the level of step i. */
  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array;
}
