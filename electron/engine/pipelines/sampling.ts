// The bridge from a model's scheduler config (model.json `scheduler`) to engine/diffusion's samplers
// and seeded generator.
import { createSampler, Rng, SPACINGS, type NoiseSource, type Sampler, type Spacing } from '../diffusion/index.ts';
import { PipelineError } from './errors.ts';

export type { NoiseSource, Sampler };

/** Image i's generator: the engine's seeded Philox stream for seed + i. */
export function createNoiseSource(seed: number): NoiseSource {
  return new Rng(seed);
}

/**
 * A fresh sampler for one image. The scheduler config uses model.json's keys: betaSchedule
 * ('scaled_linear', or 'linear' meaning the same LDM schedule), betaStart, betaEnd, trainTimesteps,
 * prediction ('epsilon' only) and optionally timestepSpacing.
 */
export function createImageSampler(name: string, steps: number, eta: number, config: Readonly<Record<string, unknown>>): Sampler {
  const kind = config.betaSchedule ?? 'scaled_linear';
  if (kind !== 'scaled_linear' && kind !== 'linear') {
    throw new PipelineError(`the model's noise schedule '${String(kind)}' is not supported by the samplers (use scaled_linear)`);
  }
  if (config.prediction !== undefined && config.prediction !== 'epsilon') {
    throw new PipelineError(`the model predicts '${String(config.prediction)}'; the pipelines sample ε-prediction models only`);
  }
  const spacing = (config.timestepSpacing ?? 'leading') as Spacing;
  if (!SPACINGS.includes(spacing)) throw new PipelineError(`unknown timestep spacing '${String(spacing)}': use ${SPACINGS.join(', ')}`);
  return createSampler(name, {
    steps,
    eta,
    spacing,
    schedule: {
      kind,
      betaStart: config.betaStart as number | undefined,
      betaEnd: config.betaEnd as number | undefined,
      trainTimesteps: config.trainTimesteps as number | undefined,
    },
  });
}
