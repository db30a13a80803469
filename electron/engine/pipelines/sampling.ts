// The bridge from a model's scheduler config (model.json `scheduler`) to engine/diffusion's samplers
// and seeded generator.
import {
  createSampler,
  makeSchedule,
  Rng,
  SPACINGS,
  type NoiseSource,
  type Sampler,
  type Schedule,
  type ScheduleConfig,
  type Spacing,
} from '../diffusion/index.ts';
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
  if (config.prediction !== undefined && config.prediction !== 'epsilon') {
    throw new PipelineError(`the model predicts '${String(config.prediction)}'; the pipelines sample ε-prediction models only`);
  }
  const spacing = (config.timestepSpacing ?? 'leading') as Spacing;
  if (!SPACINGS.includes(spacing)) throw new PipelineError(`unknown timestep spacing '${String(spacing)}': use ${SPACINGS.join(', ')}`);
  return createSampler(name, { steps, eta, spacing, schedule: scheduleConfig(config) });
}

/** The model's noise schedule (ᾱ per training timestep), as its samplers use it. */
export function modelSchedule(config: Readonly<Record<string, unknown>>): Schedule {
  return makeSchedule(scheduleConfig(config));
}

/** ᾱ at a possibly fractional model timestep (Karras σ), interpolated linearly between neighbours. */
export function alphaBarAt(schedule: Schedule, t: number): number {
  const a = schedule.alphasCumprod;
  const lo = Math.max(0, Math.min(a.length - 1, Math.floor(t)));
  const hi = Math.min(a.length - 1, lo + 1);
  const w = Math.min(1, Math.max(0, t - lo));
  return a[lo]! * (1 - w) + a[hi]! * w;
}

function scheduleConfig(config: Readonly<Record<string, unknown>>): ScheduleConfig {
  const kind = config.betaSchedule ?? 'scaled_linear';
  if (kind !== 'scaled_linear' && kind !== 'linear') {
    throw new PipelineError(`the model's noise schedule '${String(kind)}' is not supported by the samplers (use scaled_linear)`);
  }
  return {
    kind,
    betaStart: config.betaStart as number | undefined,
    betaEnd: config.betaEnd as number | undefined,
    trainTimesteps: config.trainTimesteps as number | undefined,
  };
}
