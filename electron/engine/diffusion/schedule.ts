// Noise schedules and timestep spacing, in float64 (shared/reference/ldm-facts.md §2).

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

export interface ScheduleConfig {
  /**
   * 'linear' is LDM's schedule: β = linspace(√β₀, √β₁, T)²; diffusers calls it 'scaled_linear'.
   * 'cosine' is Nichol & Dhariwal's ᾱ(t) = cos²((t/T + 0.008)/1.008 · π/2) with β capped at 0.999
   * (diffusers 'squaredcos_cap_v2'); betaStart/betaEnd do not apply to it.
   */
  readonly kind?: 'linear' | 'scaled_linear' | 'cosine';
  readonly betaStart?: number;
  readonly betaEnd?: number;
  readonly trainTimesteps?: number;
}

export interface Schedule {
  readonly trainTimesteps: number;
  readonly betas: Float64Array;
  /** ᾱ_t = Π(1 − β). */
  readonly alphasCumprod: Float64Array;
  /** σ_t = √((1 − ᾱ_t)/ᾱ_t), increasing in t. */
  readonly sigmas: Float64Array;
}

/** What SD v1 and the CompVis LDM configs use. */
export const DEFAULT_SCHEDULE: Required<ScheduleConfig> = {
  kind: 'linear',
  betaStart: 0.00085,
  betaEnd: 0.012,
  trainTimesteps: 1000,
};

export function makeSchedule(config: ScheduleConfig = {}): Schedule {
  const c = { ...DEFAULT_SCHEDULE, ...stripUndefined(config) };
  if (c.kind !== 'linear' && c.kind !== 'scaled_linear' && c.kind !== 'cosine') {
    throw new ScheduleError(`unknown noise schedule "${String(c.kind)}": use 'linear' (alias 'scaled_linear') or 'cosine'`);
  }
  const T = c.trainTimesteps;
  if (!Number.isInteger(T) || T < 2 || T > 100_000) {
    throw new ScheduleError(`trainTimesteps must be a whole number from 2 to 100000, got ${T}`);
  }
  if (!(c.betaStart > 0 && c.betaEnd >= c.betaStart && c.betaEnd < 1)) {
    throw new ScheduleError(`need 0 < betaStart ≤ betaEnd < 1, got ${c.betaStart} and ${c.betaEnd}`);
  }
  const betas = c.kind === 'cosine' ? cosineBetas(T) : scaledLinearBetas(T, c.betaStart, c.betaEnd);
  const alphasCumprod = new Float64Array(T);
  const sigmas = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) {
    prod *= 1 - betas[i]!;
    alphasCumprod[i] = prod;
    sigmas[i] = Math.sqrt((1 - prod) / prod);
  }
  return { trainTimesteps: T, betas, alphasCumprod, sigmas };
}

function scaledLinearBetas(T: number, betaStart: number, betaEnd: number): Float64Array {
  const betas = new Float64Array(T);
  const a = Math.sqrt(betaStart);
  const b = Math.sqrt(betaEnd);
  const step = (b - a) / (T - 1);
  for (let i = 0; i < T; i++) {
    // As numpy's linspace rounds: i·step + start, with the last point exactly `stop`.
    const s = i === T - 1 ? b : i * step + a;
    betas[i] = s * s;
  }
  return betas;
}

function cosineBetas(T: number): Float64Array {
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999);
  return betas;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * How inference steps pick training timesteps (descending):
 * - 'leading' (diffusers, steps_offset 1): k·(T div S) + 1 for k = S−1 … 0
 * - 'trailing' (diffusers): round(T − k·T/S) − 1 for k = 0 … S−1, rounding half to even as numpy does
 * - 'uniform' (CompVis DDIM): range(0, T, T div S) + 1, which gives more than S steps when S does not
 *   divide T (30 steps → 31 timesteps, as the CompVis samplers run)
 */
export type Spacing = 'leading' | 'trailing' | 'uniform';
export const SPACINGS: readonly Spacing[] = ['leading', 'trailing', 'uniform'];

export function spacedTimesteps(steps: number, trainTimesteps: number, spacing: Spacing = 'leading'): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > trainTimesteps) {
    throw new ScheduleError(`steps must be a whole number from 1 to ${trainTimesteps}, got ${steps}`);
  }
  const T = trainTimesteps;
  const out: number[] = [];
  switch (spacing) {
    case 'leading': {
      const ratio = Math.floor(T / steps);
      for (let k = steps - 1; k >= 0; k--) out.push(k * ratio + 1);
      break;
    }
    case 'trailing': {
      const ratio = T / steps;
      for (let k = 0; k < steps; k++) out.push(roundHalfEven(T - k * ratio) - 1);
      break;
    }
    case 'uniform': {
      const c = Math.floor(T / steps);
      for (let t = 0; t < T; t += c) out.push(t + 1);
      out.reverse();
      break;
    }
    default:
      throw new ScheduleError(`unknown timestep spacing "${String(spacing)}": use ${SPACINGS.join(', ')}`);
  }
  // The +1 offset of leading and uniform spacing runs past the schedule when steps are dense
  // (CompVis and diffusers fail there with an index error).
  if (out[0]! >= T) {
    throw new ScheduleError(`${steps} steps with ${spacing} spacing reach timestep ${out[0]}, past the schedule's last (${T - 1}); use fewer steps or trailing spacing`);
  }
  return out;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Karras et al. (2022) σ_i = (σ_max^(1/ρ) + i/(n−1)·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ, i = 0 … n−1. */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 7): Float64Array {
  if (!(sigmaMin > 0 && sigmaMax >= sigmaMin)) throw new ScheduleError(`need 0 < sigmaMin ≤ sigmaMax, got ${sigmaMin}, ${sigmaMax}`);
  const lo = sigmaMin ** (1 / rho);
  const hi = sigmaMax ** (1 / rho);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ramp = n === 1 ? 0 : i / (n - 1);
    out[i] = (hi + ramp * (lo - hi)) ** rho;
  }
  return out;
}

/** The (fractional) training timestep whose σ is `sigma`, interpolating linearly in log σ. */
export function sigmaToTimestep(schedule: Schedule, sigma: number): number {
  const s = schedule.sigmas;
  const ls = Math.log(sigma);
  if (ls <= Math.log(s[0]!)) return 0;
  const last = s.length - 1;
  if (ls >= Math.log(s[last]!)) return last;
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (Math.log(s[mid]!) <= ls) lo = mid;
    else hi = mid;
  }
  const a = Math.log(s[lo]!);
  const b = Math.log(s[hi]!);
  return lo + (ls - a) / (b - a);
}
