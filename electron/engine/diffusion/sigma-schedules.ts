// σ lists for the σ-space samplers, as k-diffusion and AUTOMATIC1111 build them.
//
// A model's discrete σ table (k-diffusion's DiscreteSchedule, wrapped by CompVisDenoiser): σ_t =
// √((1 − ᾱ_t)/ᾱ_t) for t = 0 … T−1; t ↔ σ by linear interpolation of log σ between neighbouring whole
// timesteps (not rounded). A1111's "Schedule type" picks the σ list (modules/sd_schedulers.py):
// - Uniform: get_sigmas(n): t = linspace(T−1, 0, n), σ(t), then a final 0
// - Karras / Exponential: get_sigmas_karras / get_sigmas_exponential(n, σ_min = σ(0), σ_max = σ(T−1)), then 0
// - SGM Uniform: t = linspace(t(σ_max), t(σ_min), n + 1) without its last point, σ(t), then 0
// - Polyexponential (ρ = 1), KL Optimal (ends at σ_min, not 0), Align Your Steps (SD 1.5's list),
//   Simple and DDIM (every (T/n)-th table entry), as A1111 1.10 builds them; not Beta.
// Our extra types take σ at diffusers' whole-number spaced timesteps (leading, trailing, linspace), then 0.
// k-diffusion keeps these tables in float32; we compute in float64 (they agree to ~1e-7 relative).

import {
  ScheduleError,
  exponentialSigmas,
  karrasSigmas,
  sigmaToTimestep,
  spacedTimesteps,
  timestepToSigma,
  type Schedule,
  type Spacing,
} from './schedule.ts';

/** A1111's schedule types (name, label as its `Schedule type` field writes it), then diffusers' spacings. */
export const SCHEDULE_TYPES = [
  { name: 'automatic', label: 'Automatic' },
  { name: 'uniform', label: 'Uniform' },
  { name: 'karras', label: 'Karras' },
  { name: 'exponential', label: 'Exponential' },
  { name: 'sgm_uniform', label: 'SGM Uniform' },
  { name: 'polyexponential', label: 'Polyexponential' },
  { name: 'kl_optimal', label: 'KL Optimal' },
  { name: 'align_your_steps', label: 'Align Your Steps' },
  { name: 'simple', label: 'Simple' },
  { name: 'ddim_uniform', label: 'DDIM' },
  { name: 'leading', label: 'Leading' },
  { name: 'trailing', label: 'Trailing' },
  { name: 'linspace', label: 'Linspace' },
] as const;

export type ScheduleType = (typeof SCHEDULE_TYPES)[number]['name'];
/** The names alone, for contracts (z.enum). */
export const SCHEDULE_TYPE_NAMES = SCHEDULE_TYPES.map((t) => t.name) as [ScheduleType, ...ScheduleType[]];
/** A schedule type with 'automatic' resolved to the sampler's own. */
export type ResolvedSchedule = Exclude<ScheduleType, 'automatic'>;

export function isScheduleType(s: string): s is ScheduleType {
  return SCHEDULE_TYPES.some((t) => t.name === s);
}

export function scheduleLabel(s: ScheduleType): string {
  return SCHEDULE_TYPES.find((t) => t.name === s)!.label;
}

/** A schedule type from a label or name as other tools write it (A1111 labels, its aliases, ComfyUI names). */
export function scheduleTypeFromLabel(label: string): ScheduleType | null {
  const l = label.trim().toLowerCase();
  const hit = SCHEDULE_TYPES.find((t) => t.label.toLowerCase() === l || t.name === l);
  if (hit) return hit.name;
  // A1111's alias "SGMUniform"; ComfyUI's "normal" is k-diffusion's get_sigmas.
  if (l === 'sgmuniform') return 'sgm_uniform';
  if (l === 'normal') return 'uniform'; // A1111's Normal is the same list as Uniform
  if (l === 'ddim') return 'ddim_uniform';
  return null;
}

/** The σ table a σ-space sampler runs on, and how it turns σ into the model's timestep. */
export interface SigmaTable {
  /** Ascending σ of the table. */
  readonly sigmas: Float64Array;
  sigmaToT(sigma: number): number;
  tToSigma(t: number): number;
  /** get_sigmas(n) without the final 0. */
  uniform(n: number): Float64Array;
  /** The timestep the model is called with at σ. */
  modelTimestep(sigma: number): number;
}

/** k-diffusion's CompVisDenoiser over a model's schedule. */
export function compvisTable(schedule: Schedule): SigmaTable {
  const last = schedule.trainTimesteps - 1;
  const table: SigmaTable = {
    sigmas: schedule.sigmas,
    sigmaToT: (s) => sigmaToTimestep(schedule, s),
    tToSigma: (t) => timestepToSigma(schedule, t),
    uniform: (n) => linspace(last, 0, n).map((t) => timestepToSigma(schedule, t)),
    modelTimestep: (s) => sigmaToTimestep(schedule, s),
  };
  return table;
}

/**
 * A1111's LCM denoiser (modules/sd_samplers_lcm.py LCMCompVisDenoiser): a table of 50 σ taken at
 * timesteps 19, 39, …, 999 (every T/50-th, ending at T−1); σ → t picks the nearest table entry
 * (index·20 + 19), t → σ interpolates log σ at (t − 19)/20; get_sigmas(n) runs t from 999 to 19.
 */
export function lcmTable(schedule: Schedule, originalSteps = 50): SigmaTable {
  const T = schedule.trainTimesteps;
  const skip = Math.floor(T / originalSteps);
  const sigmas = new Float64Array(originalSteps);
  for (let x = 0; x < originalSteps; x++) sigmas[originalSteps - 1 - x] = schedule.sigmas[T - 1 - x * skip]!;
  const inner = { sigmas };
  const logs = Array.from(sigmas, Math.log);
  const sigmaToT = (s: number): number => {
    const ls = Math.log(s);
    let best = 0;
    for (let k = 1; k < logs.length; k++) if (Math.abs(ls - logs[k]!) < Math.abs(ls - logs[best]!)) best = k;
    return best * skip + (skip - 1);
  };
  const tToSigma = (t: number): number => timestepToSigma(inner, Math.min(Math.max((t - (skip - 1)) / skip, 0), originalSteps - 1));
  return {
    sigmas,
    sigmaToT,
    tToSigma,
    uniform: (n) => linspace(sigmaToT(sigmas[originalSteps - 1]!), sigmaToT(sigmas[0]!), n).map(tToSigma),
    modelTimestep: sigmaToT,
  };
}

/**
 * The σ list (n values, then a final 0) for schedule type `type`. `discardPenultimate` is A1111's
 * option for DPM2, DPM2 a and DPM++ 3M SDE: build n + 1 σ and drop the one before the final 0.
 */
export function sigmaList(type: ResolvedSchedule, n: number, table: SigmaTable, schedule: Schedule, discardPenultimate = false): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new ScheduleError(`steps must be a whole number ≥ 1, got ${n}`);
  const m = discardPenultimate ? n + 1 : n;
  const s = table.sigmas;
  const sMin = s[0]!;
  const sMax = s[s.length - 1]!;
  let body: Float64Array;
  switch (type) {
    case 'uniform':
      body = table.uniform(m);
      break;
    case 'karras':
      body = karrasSigmas(m, sMin, sMax);
      break;
    case 'exponential':
      body = exponentialSigmas(m, sMin, sMax);
      break;
    case 'sgm_uniform':
      body = linspace(table.sigmaToT(sMax), table.sigmaToT(sMin), m + 1).subarray(0, m).map(table.tToSigma);
      break;
    case 'polyexponential': {
      // get_sigmas_polyexponential with A1111's default ρ = 1.
      const ramp = linspace(1, 0, m);
      body = ramp.map((r) => Math.exp(r * (Math.log(sMax) - Math.log(sMin)) + Math.log(sMin)));
      break;
    }
    case 'kl_optimal': {
      // n + 1 values ending at σ_min: the last step goes to σ_min, not to 0.
      const aMin = Math.atan(sMin);
      const aMax = Math.atan(sMax);
      const out = Float64Array.from({ length: m + 1 }, (_, i) => Math.tan((i / m) * aMin + (1 - i / m) * aMax));
      return discardPenultimate ? dropPenultimate(out) : out;
    }
    case 'align_your_steps': {
      // NVIDIA's 10-step list for SD 1.5 (A1111 uses it for every non-XL model), log-linearly resampled.
      const ays = [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029];
      body = m === ays.length ? Float64Array.from(ays) : logLinearResample(ays, m);
      break;
    }
    case 'simple': {
      const ss = s.length / m;
      body = Float64Array.from({ length: m }, (_, x) => s[s.length - 1 - Math.floor(x * ss)]!);
      break;
    }
    case 'ddim_uniform': {
      const ss = Math.max(Math.floor(s.length / m), 1);
      const picked: number[] = [];
      for (let x = 1; x < s.length; x += ss) picked.push(s[x]!);
      body = Float64Array.from(picked.reverse());
      break;
    }
    case 'leading':
    case 'trailing':
    case 'linspace':
      body = Float64Array.from(spacedTimesteps(m, schedule.trainTimesteps, type as Spacing), (t) => schedule.sigmas[t]!);
      break;
    default:
      throw new ScheduleError(`unknown schedule type "${String(type)}"`);
  }
  const out = new Float64Array(body.length + 1);
  out.set(body);
  return discardPenultimate ? dropPenultimate(out) : out;
}

/** A1111's discard_next_to_last_sigma: torch.cat([sigmas[:-2], sigmas[-1:]]). */
function dropPenultimate(s: Float64Array): Float64Array {
  const out = new Float64Array(s.length - 1);
  out.set(s.subarray(0, s.length - 2));
  out[out.length - 1] = s[s.length - 1]!;
  return out;
}

/** A1111's loglinear_interp: a decreasing list resampled to n points, linearly in log σ over [0, 1]. */
function logLinearResample(list: readonly number[], n: number): Float64Array {
  const ys = list.map(Math.log).reverse();
  const xs = linspace(0, 1, ys.length);
  const out = new Float64Array(n);
  const nx = linspace(0, 1, n);
  for (let i = 0; i < n; i++) {
    const x = nx[i]!;
    let k = 0;
    while (k < xs.length - 2 && x > xs[k + 1]!) k++;
    const w = (x - xs[k]!) / (xs[k + 1]! - xs[k]!);
    out[n - 1 - i] = Math.exp(ys[k]! + w * (ys[k + 1]! - ys[k]!));
  }
  return out;
}

/** torch.linspace / numpy.linspace (n = 1 gives [start]). */
export function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i === n - 1 ? stop : start + i * step;
  return out;
}
