// The bridge from a model's scheduler config (model.json `scheduler`) to engine/diffusion's samplers
// and seeded generator.
import {
  betaScheduleFromModelJson,
  createSampler,
  makeSchedule,
  Rng,
  ScheduleError,
  type NoiseSource,
  type Prediction,
  type Sampler,
  type Schedule,
  type ScheduleConfig,
} from '../diffusion/index.ts';
import type { BrownianNoiseFactory } from '../diffusion/sampler-base.ts';
import { PipelineError } from './errors.ts';

export type { NoiseSource, Sampler };

/** Image i's generator: the engine's seeded Philox stream for seed + i. */
export function createNoiseSource(seed: number): NoiseSource {
  return new Rng(seed);
}

/**
 * A fresh sampler for one image. The scheduler config uses model.json's keys: betaSchedule
 * ('scaled_linear', or CompVis's 'linear' meaning the same LDM schedule; 'cosine'), betaStart, betaEnd,
 * trainTimesteps and prediction ('epsilon' or 'v_prediction', which the sampler converts). The job's
 * schedule type (A1111's, default 'automatic') picks the σ or timestep list; model.json's
 * timestepSpacing no longer does.
 */
export function createImageSampler(
  name: string,
  steps: number,
  eta: number,
  config: Readonly<Record<string, unknown>>,
  scheduleType = 'automatic',
  brownianNoise?: BrownianNoiseFactory,
): Sampler {
  const prediction = (config.prediction ?? 'epsilon') as Prediction;
  if (prediction !== 'epsilon' && prediction !== 'v_prediction') {
    throw new PipelineError(`the model predicts '${String(config.prediction)}'; the samplers take epsilon or v_prediction`);
  }
  return createSampler(name, { steps, eta, scheduleType, prediction, schedule: scheduleConfig(config), brownianNoise });
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
  let kind;
  try {
    kind = betaScheduleFromModelJson(config.betaSchedule);
  } catch (err) {
    if (err instanceof ScheduleError) throw new PipelineError(`the model's ${err.message}`);
    throw err;
  }
  return {
    kind,
    betaStart: config.betaStart as number | undefined,
    betaEnd: config.betaEnd as number | undefined,
    trainTimesteps: config.trainTimesteps as number | undefined,
  };
}
