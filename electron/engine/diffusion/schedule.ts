// Noise schedules and timestep spacing, in float64 (shared/reference/ldm-facts.md §2).

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

/**
 * β schedules, named as diffusers names them:
 * - 'scaled_linear': β = linspace(√β₀, √β₁, T)². LDM and SD use it; CompVis calls it "linear".
 * - 'linear': β = linspace(β₀, β₁, T) (DDPM; CompVis calls it "sqrt_linear").
 * - 'cosine': Nichol & Dhariwal's ᾱ(t) = cos²((t/T + 0.008)/1.008 · π/2) with β capped at 0.999
 *   (diffusers 'squaredcos_cap_v2', CompVis 'cosine'); betaStart/betaEnd do not apply to it.
 */
export type BetaSchedule = 'scaled_linear' | 'linear' | 'cosine';
export const BETA_SCHEDULES: readonly BetaSchedule[] = ['scaled_linear', 'linear', 'cosine'];

export interface ScheduleConfig {
  readonly kind?: BetaSchedule;
  readonly betaStart?: number;
  readonly betaEnd?: number;
  readonly trainTimesteps?: number;
}

export interface Schedule {
  readonly kind: BetaSchedule;
  readonly trainTimesteps: number;
  readonly betas: Float64Array;
  /** ᾱ_t = Π(1 − β). */
  readonly alphasCumprod: Float64Array;
  /** σ_t = √((1 − ᾱ_t)/ᾱ_t), increasing in t. */
  readonly sigmas: Float64Array;
}

/** What SD v1 and the CompVis LDM configs use. */
export const DEFAULT_SCHEDULE: Required<ScheduleConfig> = {
  kind: 'scaled_linear',
  betaStart: 0.00085,
  betaEnd: 0.012,
  trainTimesteps: 1000,
};

/**
 * A β schedule from the name a model package (model.json `scheduler.betaSchedule`) gives it. model.json
 * follows CompVis: 'linear' there is CompVis's "linear", i.e. scaled-linear (what every model written so
 * far means by it); 'scaled_linear' and 'cosine' say the same in both worlds; diffusers' names
 * 'squaredcos_cap_v2' and CompVis's 'sqrt_linear' (true linear β) are read too.
 */
export function betaScheduleFromModelJson(name: unknown): BetaSchedule {
  switch (name ?? 'scaled_linear') {
    case 'scaled_linear':
    case 'linear':
      return 'scaled_linear';
    case 'sqrt_linear':
      return 'linear';
    case 'cosine':
    case 'squaredcos_cap_v2':
      return 'cosine';
    default:
      throw new ScheduleError(
        `noise schedule ${JSON.stringify(name)} is not one the samplers run: use scaled_linear (CompVis "linear"), sqrt_linear (linear β) or cosine`,
      );
  }
}

export function makeSchedule(config: ScheduleConfig = {}): Schedule {
  const c = { ...DEFAULT_SCHEDULE, ...stripUndefined(config) };
  if (!BETA_SCHEDULES.includes(c.kind)) {
    throw new ScheduleError(`unknown noise schedule "${String(c.kind)}": use ${BETA_SCHEDULES.join(', ')}`);
  }
  const T = c.trainTimesteps;
  if (!Number.isInteger(T) || T < 2 || T > 100_000) {
    throw new ScheduleError(`trainTimesteps must be a whole number from 2 to 100000, got ${T}`);
  }
  if (!(c.betaStart > 0 && c.betaEnd >= c.betaStart && c.betaEnd < 1)) {
    throw new ScheduleError(`need 0 < betaStart ≤ betaEnd < 1, got ${c.betaStart} and ${c.betaEnd}`);
  }
  const betas =
    c.kind === 'cosine'
      ? cosineBetas(T)
      : c.kind === 'linear'
        ? linspace(c.betaStart, c.betaEnd, T)
        : linspace(Math.sqrt(c.betaStart), Math.sqrt(c.betaEnd), T).map((s) => s * s);
  const alphasCumprod = new Float64Array(T);
  const sigmas = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) {
    prod *= 1 - betas[i]!;
    alphasCumprod[i] = prod;
    sigmas[i] = Math.sqrt((1 - prod) / prod);
  }
  return { kind: c.kind, trainTimesteps: T, betas, alphasCumprod, sigmas };
}

/** numpy's linspace: i·step + start, with the last point exactly `stop`. */
function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i === n - 1 ? stop : i * step + start;
  return out;
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
 * How inference steps pick training timesteps (descending, whole numbers):
 * - 'compvis' (CompVis DDIM/PLMS, A1111's DDIM/PLMS/UniPC): range(0, T, T div S) + 1 clipped to T − 1 as
 *   A1111 does, which gives more than S steps when S does not divide T (30 steps → 31 timesteps, 7 → 8,
 *   as those samplers run)
 * - 'leading' (diffusers, steps_offset 1): k·(T div S) + 1 for k = S−1 … 0
 * - 'trailing' (diffusers): round(T − k·T/S) − 1 for k = 0 … S−1, rounding half to even as numpy does
 * - 'linspace' (diffusers): round(linspace(0, T − 1, S)), reversed
 */
export type Spacing = 'compvis' | 'leading' | 'trailing' | 'linspace';
export const SPACINGS: readonly Spacing[] = ['compvis', 'leading', 'trailing', 'linspace'];

export function spacedTimesteps(steps: number, trainTimesteps: number, spacing: Spacing = 'compvis'): number[] {
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
    case 'linspace': {
      const l = linspace(0, T - 1, steps);
      for (let k = steps - 1; k >= 0; k--) out.push(roundHalfEven(steps === 1 ? 0 : l[k]!));
      break;
    }
    case 'compvis': {
      // A1111 clips to T − 1 (CompVis fails with an index error where c divides T − 1, e.g. 3 steps).
      const c = Math.floor(T / steps);
      for (let t = 0; t < T; t += c) out.push(Math.min(t + 1, T - 1));
      out.reverse();
      if (out.length > 1 && out[0] === out[1]) {
        throw new ScheduleError(`${steps} steps with compvis spacing repeat timestep ${out[0]}; use at most ${Math.floor(T / 2)} steps or trailing spacing`);
      }
      break;
    }
    default:
      throw new ScheduleError(`unknown timestep spacing "${String(spacing)}": use ${SPACINGS.join(', ')}`);
  }
  // The +1 offset of leading spacing runs past the schedule when steps are dense (diffusers fails there
  // with an index error).
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

/** k-diffusion's get_sigmas_exponential: exp(linspace(log σ_max, log σ_min, n)). */
export function exponentialSigmas(n: number, sigmaMin: number, sigmaMax: number): Float64Array {
  if (!(sigmaMin > 0 && sigmaMax >= sigmaMin)) throw new ScheduleError(`need 0 < sigmaMin ≤ sigmaMax, got ${sigmaMin}, ${sigmaMax}`);
  const l = n === 1 ? Float64Array.of(Math.log(sigmaMax)) : linspace(Math.log(sigmaMax), Math.log(sigmaMin), n);
  return l.map(Math.exp);
}

/**
 * The (fractional) training timestep whose σ is `sigma`, interpolating linearly in log σ (k-diffusion's
 * DiscreteSchedule.sigma_to_t, not quantized); clamped to 0 … T−1.
 */
export function sigmaToTimestep(schedule: Pick<Schedule, 'sigmas'>, sigma: number): number {
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

/** σ at a fractional timestep: log σ interpolated linearly between its integer neighbours (t_to_sigma). */
export function timestepToSigma(schedule: Pick<Schedule, 'sigmas'>, t: number): number {
  const s = schedule.sigmas;
  const tc = Math.min(Math.max(t, 0), s.length - 1);
  const lo = Math.floor(tc);
  const hi = Math.ceil(tc);
  const w = tc - lo;
  return Math.exp((1 - w) * Math.log(s[lo]!) + w * Math.log(s[hi]!));
}
